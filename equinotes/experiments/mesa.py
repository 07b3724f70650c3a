"""Chapter 3's experiments: the plumbing behind "Iterated mesa-optimizers".

The ideas live in the concept modules (``equinotes.mesa``: the iteration, unrolled training, TwoStep;
``equinotes.periodic``: the circle toy; ``equinotes.pointclouds``: rigid point clouds and ICP). This
module holds what the chapter needs to *run* them: the problem samplers, the four training recipes and
their replications, the scoring along the iteration, the equivariance checks over groups and random
(W, U), the basins, and the figures and compact tables the page shows. Every random choice derives
from the chapter's ``SEED`` through ``utils.generator(SEED, stream)`` with the stream numbers given
below, so a notebook cell runs an experiment in one line and gets the same numbers at every build.

Shapes: signals ``[B, N]`` (float32 for the learned optimizers of section 3.1, float64 for the
registration steps of sections 3.3-3.4); shifts and states ``[B]`` (radians); rigid motions
``[B, 3, 3]``; trajectories ``[K + 1, B]`` (states ``y_0 ... y_K``) or ``[K, B]`` (``Psi_1 ... Psi_K``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch

from .. import equivariance, mesa, periodic, pointclouds, training, utils
from ..tables import html_table  # noqa: F401 (the notebook calls runs.html_table)

__all__ = [
    "Setting",
    "RECIPES",
    "BASIN_STARTS",
    "BASIN_STEPS",
    "PERIOD_PI",
    "sample_problems",
    "outer_loss",
    "learned_step",
    "train_optimizer",
    "train_recipes",
    "score_along",
    "recipe_curves",
    "recipe_summary",
    "per_replication",
    "circle_table",
    "perturbed_table",
    "cloud_table",
    "worst_equivariance_errors",
    "train_phi",
    "wu_test",
    "second_zero_attracts",
    "add_basins",
    "two_answers",
    "final_alignment_loss",
    "restart_gap",
    "perturbed_errors",
    "cloud_test",
    "plot_toy_pair",
    "plot_recipe_curves",
    "trajectory_frames",
    "plot_correction",
    "plot_wu_errors",
    "plot_clouds",
    "summary_figure",
]

#: The four training recipes of section 3.1, as name -> (where the loss is scored, random length?).
RECIPES = {
    "loss at step K only": ("last", False),
    "loss at every step, random length": ("every", True),
    "loss at every step, fixed length K": ("every", False),
    "loss at the last step, random length": ("last", True),
}
#: The two corners of the 2x2 design: the overshooting recipe and the plateauing one.
LAST, EVERY = "loss at step K only", "loss at every step, random length"

#: The basin of a fixed point is measured from a grid of this many starts, each run this many steps.
BASIN_STARTS, BASIN_STEPS = 16, 32

#: Amplitudes of Fourier modes 1-3 of a period-pi signal (mode 2 only).
PERIOD_PI = [(0, 0), (0.6, 1.0), (0, 0)]


@dataclass(frozen=True)
class Setting:
    """The sizes of chapter 3's experiments.

    Attributes:
        n_samples: N, samples per periodic signal. n_modes: highest Fourier mode of a signal.
        batch: problems per training batch. train_steps: optimizer updates per trained model.
        unroll: K, steps unrolled during training. n_test: test problems. k_max: the longest
        iteration looked at. span_phi: largest relative shift the one-step registration is trained on.
        n_cloud_points: points per cloud (section 3.5).
    """

    n_samples: int = 32
    n_modes: int = 3
    batch: int = 128
    train_steps: int = 600
    unroll: int = 4
    n_test: int = 512
    k_max: int = 64
    span_phi: float = 1.0
    n_cloud_points: int = 24

    @classmethod
    def for_scale(cls, scale: int) -> "Setting":
        """The book's setting at ``SCALE = scale`` (batch, training steps and test set grow with it)."""
        scale = utils.check_int("scale", scale, minimum=1)
        return cls(batch=128 * scale, train_steps=600 * scale, n_test=512 * scale)

    def smaller(self, **changes) -> "Setting":
        """A copy with some sizes changed (for tests and quick looks)."""
        return replace(self, **changes)


def _check_setting(setting) -> Setting:
    if not isinstance(setting, Setting):
        raise TypeError(f"setting must be a Setting, got {type(setting).__name__}")
    return setting


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    return seeds


# --- section 3.1: four recipes for training an unrolled optimizer ---------------------------------


def sample_problems(
    setting: Setting,
    generator: torch.Generator,
    batch=None,
    span=math.pi / 2,
    device="cpu",
):
    """Pairs ``(A, B = A o T_delta)`` with ``|delta| <= span`` and the start state ``y0 = 0``.

    Returns:
        ``((A [B, N], B [B, N]), y0 [B])`` in float32 on ``device``.
    """
    _check_setting(setting)
    batch = (
        setting.batch if batch is None else utils.check_int("batch", batch, minimum=1)
    )
    A = periodic.random_signals(
        batch, setting.n_samples, setting.n_modes, generator=generator, device=device
    )
    delta = ((2 * torch.rand(batch, generator=generator) - 1) * span).to(device)
    return (A, periodic.shift_signal(A, delta)), torch.zeros(batch, device=device)


def outer_loss(x, y: torch.Tensor) -> torch.Tensor:
    """``L(x, y)``: the mismatch ``mean (A(. + y) - B)^2`` of the pair ``x = (A, B)`` at the state
    ``y [B]``, per pair ``[B]``."""
    return periodic.alignment_loss(x[0], x[1], y)


def learned_step(net: torch.nn.Module):
    """The learned optimizer's step ``f((A, B), y) = y + g_theta(A, B, y)`` for ``mesa.iterate``."""
    if not callable(net):
        raise TypeError("net must be callable as net(A, B, y)")
    return lambda x, y: y + net(x[0], x[1], y)


def train_optimizer(
    setting: Setting,
    seed: int,
    recipe: str,
    device="cpu",
    progress: bool = True,
) -> torch.nn.Module:
    """One learned step (a ``periodic.ShiftNet`` with state input), trained by unrolling K steps.

    Args:
        setting: the sizes. seed: fixes the initial weights and the training batches (every recipe of
            one seed starts from the same weights). recipe: a key of ``RECIPES``.
    Returns:
        the trained network (float32, on ``device``).
    """
    _check_setting(setting)
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    weighting, random_unroll = RECIPES[recipe]
    torch.manual_seed(seed)
    net = periodic.ShiftNet(setting.n_modes, hidden=32, state_input=True).to(device)
    mesa.train_unrolled(
        net,
        learned_step(net),
        lambda generator: sample_problems(setting, generator, device=device),
        outer_loss,
        n_unroll=setting.unroll,
        n_steps=setting.train_steps,
        weighting=weighting,
        random_unroll=random_unroll,
        seed=seed,
        progress=progress,
        desc=f"{recipe}, seed {seed}",
    )
    return net


def train_recipes(
    setting: Setting, seeds, recipes=None, device="cpu", progress: bool = True
) -> dict:
    """Every recipe trained once per replication seed: ``{recipe: [net per seed]}``."""
    seeds = _check_seeds(seeds)
    recipes = list(RECIPES) if recipes is None else list(recipes)
    return {
        name: [train_optimizer(setting, s, name, device, progress) for s in seeds]
        for name in recipes
    }


def score_along(net, x, y0: torch.Tensor, n_steps: int):
    """The mean outer loss of ``y_0 ... y_n_steps`` and the median move of each step.

    Returns:
        ``(loss [n_steps + 1], move [n_steps])`` on the CPU; ``move[n]`` is the median over pairs of
        ``|y_{n+1} - y_n|``, the fixed-point residual.
    """
    with torch.no_grad():
        trajectory = mesa.iterate(learned_step(net), x, y0, n_steps)
    loss = torch.stack([outer_loss(x, y).mean() for y in trajectory])
    move = (trajectory[1:] - trajectory[:-1]).abs().median(dim=1).values
    return loss.cpu(), move.cpu()


def recipe_curves(learned: dict, x, y0: torch.Tensor, n_steps: int):
    """``score_along`` for every trained optimizer.

    Returns:
        ``(curves, moves)``: ``{recipe: [replication, n_steps + 1]}`` and ``{recipe: [replication,
        n_steps]}``.
    """
    curves, moves = {}, {}
    for name, nets in learned.items():
        scored = [score_along(net, x, y0, n_steps) for net in nets]
        curves[name] = torch.stack([loss for loss, _ in scored])
        moves[name] = torch.stack([move for _, move in scored])
    return curves, moves


def recipe_summary(curves: dict, unroll: int) -> list[list[str]]:
    """The 2x2 design in one table: per recipe, the largest ``L_n / L_0`` for ``K <= n <= k_max``
    (plateau if small) and ``min(L_4K, L_kmax) / L_K`` (overshoot if large), as the range over the
    replications. Returns rows ``[recipe, plateau range, overshoot range]`` of strings."""
    unroll = utils.check_int("unroll", unroll, minimum=1)
    rows = []
    for name, c in curves.items():
        if c.dim() != 2 or c.shape[1] <= 4 * unroll:
            raise ValueError(
                f"curves[{name!r}] must be [replication, n_steps + 1] with n_steps >= 4 * unroll"
                f" = {4 * unroll}, got shape {tuple(c.shape)}"
            )
        plateau = c[:, unroll:].amax(dim=1) / c[:, 0]
        over = torch.minimum(c[:, 4 * unroll], c[:, -1]) / c[:, unroll]
        rows.append(
            [
                name,
                f"{plateau.min():.1e} – {plateau.max():.1e}",
                f"{over.min():.2g} – {over.max():.2g}",
            ]
        )
    return rows


def per_replication(**columns) -> list[dict]:
    """The ledger's values: one dict per replication from tensors ``[replication]`` (one per keyword)."""
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1:
        raise ValueError(
            f"every column needs one value per replication, got lengths {lengths}"
        )
    n = lengths.pop()
    return [
        {key: float(column[r]) for key, column in columns.items()} for r in range(n)
    ]


# --- section 3.2: equivariant steps give equivariant iterates ------------------------------------


def worst_equivariance_errors(
    learned: dict, x, y0: torch.Tensor, kept, n_steps: int, n_pairs: int = 64
) -> dict:
    """``max |y_n(g.x) - g.y_n(x)|`` over the dihedral group of the circle, the iterates ``kept`` and
    the first ``n_pairs`` test pairs, for every trained optimizer, in float32 and float64.

    The whole orbit ``{g.x}`` runs as one batch, so the iteration runs once per net and dtype.

    Returns:
        ``{dtype: {recipe: [error per replication]}}``.
    """
    n_pairs = utils.check_int("n_pairs", n_pairs, minimum=1)
    group = periodic.dihedral_elements(x[0].shape[-1])
    kept = list(kept)

    def worst(net, dtype):
        pair = tuple(s[:n_pairs].to(dtype) for s in x)
        start = y0[:1].to(dtype)  # y_0 = 0, fixed by every group element
        step = learned_step(copy.deepcopy(net).to(dtype))
        report = equivariance.equivariance_error(
            lambda p: mesa.iterate(step, p, start.expand(len(p[0])), n_steps)[kept],
            pair,
            periodic.act_on_pair_orbit,
            periodic.act_on_shift_orbit,
            [group],  # one "element": the whole group, stacked along the batch
        )
        return report.max_abs

    return {
        dtype: {
            name: [worst(net, dtype) for net in nets] for name, nets in learned.items()
        }
        for dtype in (torch.float32, torch.float64)
    }


# --- sections 3.3-3.4: the fixed-point argument on the circle ------------------------------------


def _registration_pairs(setting: Setting, generator, device):
    """Half generic, half period-pi signals A; ``B = A o T_delta``, ``|delta| <= span_phi``."""
    half = setting.batch // 2
    A = torch.cat(
        [
            periodic.random_signals(
                half, setting.n_samples, setting.n_modes, generator=generator
            ),
            periodic.random_signals(
                setting.batch - half,
                setting.n_samples,
                setting.n_modes,
                generator=generator,
                amplitudes=PERIOD_PI,
            ),
        ]
    ).to(device)
    delta = (2 * torch.rand(setting.batch, generator=generator) - 1) * setting.span_phi
    return A, periodic.shift_signal(A, delta.to(device))


def train_phi(setting: Setting, seed: int, device="cpu", progress: bool = True):
    """A one-step registration Phi (``ShiftNet`` without state input, [U,U]-equivariant by
    construction), trained in one shot on relative shifts ``|delta| <= span_phi``.

    Returns:
        the network in float64 (so that the float floor of the checks is ~1e-16).
    """
    _check_setting(setting)
    torch.manual_seed(seed)
    net = periodic.ShiftNet(setting.n_modes, hidden=32).to(device)
    training.train(
        net,
        lambda net, pair: periodic.alignment_loss(*pair, net(*pair)).mean(),
        lambda index, generator: _registration_pairs(setting, generator, device),
        n_steps=setting.train_steps,
        lr=3e-3,
        seed=seed,
        device=device,
        progress=progress,
        desc=f"one-step registration Φ, seed {seed}",
    )
    return copy.deepcopy(net).double()


def wu_test(
    phi, setting: Setting, seed: int, stream: int, amplitudes=None, device="cpu"
) -> dict:
    """Test pairs and the [W,U] and [U,U] errors of ``Psi_1 ... Psi_kmax`` on them.

    The pairs are ``(A, B = A o T_delta)``, ``|delta| <= span_phi``, with rotations ``w, u`` uniform on
    the circle, drawn from ``utils.generator(seed, stream)`` (the same for every Phi).

    Returns:
        ``{"A", "B": [n_test, N], "delta", "w", "u": [n_test]}`` and what
        ``periodic.equivariance_gaps`` returns: ``"wu", "uu", "psi", "psi_wu": [k_max, n_test]``.
    """
    _check_setting(setting)
    g = utils.generator(seed, stream)
    n = setting.n_test
    A = periodic.random_signals(
        n,
        setting.n_samples,
        setting.n_modes,
        generator=g,
        amplitudes=amplitudes,
        dtype=torch.float64,
        device=device,
    )
    delta, w, u = [
        ((2 * torch.rand(n, generator=g, dtype=torch.float64) - 1) * s).to(device)
        for s in (setting.span_phi, math.pi, math.pi)
    ]
    B = periodic.shift_signal(A, delta)
    gaps = periodic.equivariance_gaps(phi, A, B, w, u, setting.k_max)
    return dict(A=A, B=B, delta=delta, w=w, u=u, **gaps)


def second_zero_attracts(phi, run: dict) -> torch.Tensor:
    """Per pair ``[n_test]`` bool: whether Phi's zero at pi from the alignment attracts the iteration
    ``t -> t + Phi[A o T_t, B]``, i.e. whether the slope of Phi there lies in (-2, 0).

    At ``t = delta + pi`` the pair's cross-spectrum is real, and a reflection-odd Phi returns exactly
    0 for real features: every Phi of the chapter has this second zero.
    """
    t, h = run["delta"] + math.pi, 1e-5
    with torch.no_grad():
        up, down = (
            phi(periodic.shift_signal(run["A"], s), run["B"]) for s in (t + h, t - h)
        )
    slope = (up - down) / (2 * h)
    return (slope > -2) & (slope < 0)


def add_basins(
    phi,
    run: dict,
    n_starts: int = BASIN_STARTS,
    n_steps: int = BASIN_STEPS,
    k_max: int = 64,
) -> dict:
    """Adds to ``run`` (in place, and returns it) what the basin checks read, per pair ``[n_test]``:

    ``"share"``: the share of a grid of ``n_starts`` starts on the circle from which ``n_steps`` steps
    reach the fixed point that the start id reaches (within 1e-6 rad); ``"attracts"``: see
    ``second_zero_attracts``; ``"zero at Δ+π"``: ``|Phi[A o T_(delta+pi), B]|``; ``"stays on the second
    zero"``: whether ``k_max`` steps started exactly there are still within 1e-6 rad of it.
    """
    run["share"] = periodic.start_basin(
        phi,
        run["A"],
        run["B"],
        run["psi"][-1],
        n_starts=n_starts,
        n_steps=n_steps,
        tol=1e-6,
    )["share"]
    run["attracts"] = second_zero_attracts(phi, run)
    second = run["delta"] + math.pi
    with torch.no_grad():
        run["zero at Δ+π"] = phi(
            periodic.shift_signal(run["A"], second), run["B"]
        ).abs()
        on_zero = mesa.iterate(
            periodic.correction_step(phi), (run["A"], run["B"]), second, k_max
        )[-1]
    run["stays on the second zero"] = periodic.wrap_angle(on_zero - second).abs() < 1e-6
    return run


def final_alignment_loss(run: dict, t=None) -> torch.Tensor:
    """``[n_test]``: the alignment loss of every moved pair ``(A o W, B o U)`` at the shift ``t``, by
    default at ``Psi_kmax[A o W, B o U]``."""
    moved = (
        periodic.shift_signal(run["A"], run["w"]),
        periodic.shift_signal(run["B"], run["u"]),
    )
    return periodic.alignment_loss(*moved, run["psi_wu"][-1] if t is None else t)


def two_answers(run: dict) -> dict:
    """At ``K = k_max``: the fractions of pairs whose [W,U] error is ~0 and ~pi (within 1e-6 rad), and
    the largest distance of an error to the nearer of 0 and pi."""
    final = run["wu"][-1]
    to_pi = (final - math.pi).abs()
    return {
        "fraction ~0": (final < 1e-6).double().mean().item(),
        "fraction ~pi": (to_pi < 1e-6).double().mean().item(),
        "max distance to 0 or pi": torch.minimum(final, to_pi).max().item(),
    }


def restart_gap(phi, run: dict) -> float:
    """The largest gap, over pairs and ``K = 1 ... k_max``, between ``Psi_K[A o W, B o U]`` and
    ``W^-1 o (K steps on (A, B) started at W o U^-1) o U`` (the start identity; radians)."""
    k_max = run["psi_wu"].shape[0]
    with torch.no_grad():
        pair, w, u = (run["A"], run["B"]), run["w"], run["u"]
        from_start = mesa.iterate(periodic.correction_step(phi), pair, w - u, k_max)[1:]
    gap = periodic.wrap_angle((from_start + u - w) - run["psi_wu"])
    return gap.abs().max().item()


def perturbed_errors(phi, run: dict, epsilons) -> dict:
    """The [W,U] errors of the perturbed step ``Phi_eps = Phi + eps sin(arg a_1)`` on ``run``'s pairs.

    Returns:
        ``{eps: (errors at K = 1 [n_test], errors at K = k_max [n_test])}`` on the CPU.
    """
    k_max = run["wu"].shape[0]
    out = {}
    for eps in epsilons:
        gaps = periodic.equivariance_gaps(
            periodic.perturbed(phi, eps), run["A"], run["B"], run["w"], run["u"], k_max
        )
        out[eps] = (gaps["wu"][0].cpu(), gaps["wu"][-1].cpu())
    return out


def circle_table(generic: list, period_pi: list, seeds) -> tuple[list, list]:
    """Per replication, what the circle runs found (after ``add_basins``): ``(header, rows)`` for
    ``html_table``."""
    header = [
        "seed",
        "generic: largest [W,U] error, K = max",
        "second zero attracts (pairs)",
        "basin share, mean (min)",
        "started on the second zero, stay",
        "period-π: error ~0 / ~π",
        "period-π: worst alignment loss",
    ]
    rows = []
    for seed, run, run_p in zip(seeds, generic, period_pi):
        answers = two_answers(run_p)
        rows.append(
            [
                seed,
                f"{run['wu'][-1].max().item():.1e}",
                f"{int(run['attracts'].sum())} of {len(run['attracts'])}",
                f"{run['share'].mean().item():.3f} ({run['share'].min().item():.2f})",
                f"{int(run['stays on the second zero'].sum())}",
                f"{answers['fraction ~0']:.0%} / {answers['fraction ~pi']:.0%}",
                f"{final_alignment_loss(run_p).max().item():.1e}",
            ]
        )
    return header, rows


def perturbed_table(generic: list, perturbed: list, seeds) -> tuple[list, list]:
    """[W,U] errors of the exact and the perturbed steps per replication and eps: ``(header, rows)``
    (``perturbed``: one ``perturbed_errors`` result per replication)."""
    header = ["seed", "ε", "K = 1: mean", "K = max: median", "K = max: max"]
    rows = []
    for seed, run, by_eps in zip(seeds, generic, perturbed):
        rows.append(
            [
                seed,
                "0",
                f"{run['wu'][0].mean():.2e}",
                f"{run['wu'][-1].median():.2e}",
                "",
            ]
        )
        for eps, (first, final) in by_eps.items():
            rows.append(
                [
                    seed,
                    f"{eps:g}",
                    f"{first.mean():.2e}",
                    f"{final.median():.2e}",
                    f"{final.max():.2e}",
                ]
            )
    return header, rows


def cloud_table(clouds: list, seeds, tol: float = 1e-10) -> tuple[list, list]:
    """ICP per replication: mean [W,U] error and share of (W, U) within ``tol`` at K = 1 and K = max,
    the largest [U,U] error and start-identity gap: ``(header, rows)``."""
    header = [
        "seed",
        "[W,U] mean, K = 1",
        "[W,U] mean, K = max",
        f"share ≤ {tol:g}, K = 1",
        f"share ≤ {tol:g}, K = max",
        "[U,U] max",
        "identity gap max",
    ]
    rows = []
    for seed, run in zip(seeds, clouds):
        wu = run["wu"]
        rows.append(
            [
                seed,
                f"{wu[0].mean():.2f}",
                f"{wu[-1].mean():.2f}",
                f"{(wu[0] <= tol).double().mean():.3f}",
                f"{(wu[-1] <= tol).double().mean():.3f}",
                f"{run['uu'].max():.1e}",
                f"{run['identity gap'].max():.1e}",
            ]
        )
    return header, rows


# --- section 3.5: rigid point clouds -------------------------------------------------------------


def cloud_test(setting: Setting, seed: int, stream: int, device="cpu") -> dict:
    """ICP on random asymmetric clouds: pairs ``(A, B = A o T_true)`` (rotation up to 0.3 rad, shuffled
    points), independent rigid W and U (rotations uniform on the circle), and the errors of
    ``Psi_1 ... Psi_kmax``.

    Returns:
        ``{"wu", "uu", "identity gap": [k_max, n_test]}`` (Frobenius distances of the 3x3 matrices),
        ``"truth error": [n_test]`` and ``"start angle": [n_test]`` (the rotation of the start
        ``W o U^-1`` away from the truth), on the CPU, float64.
    """
    _check_setting(setting)
    g = utils.generator(seed, stream)
    n, n_points = setting.n_test, setting.n_cloud_points
    A = pointclouds.random_clouds(n, n_points, generator=g).to(device)

    def motions(max_angle, max_shift):
        angle = (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1) * max_angle
        shift = (2 * torch.rand(n, 2, generator=g, dtype=torch.float64) - 1) * max_shift
        return pointclouds.rigid_motion(angle, shift).to(device)

    truth = motions(0.3, 0.2)
    order = torch.randperm(n_points, generator=g).to(device)
    B = pointclouds.pull_back(A, truth)[:, order]
    W, U = motions(math.pi, 0.5), motions(math.pi, 0.5)
    step, pull, k_max = pointclouds.icp_step, pointclouds.pull_back, setting.k_max
    psi = pointclouds.iterate_registration(step, A, B, k_max)
    psi_wu = pointclouds.iterate_registration(step, pull(A, W), pull(B, U), k_max)
    psi_uu = pointclouds.iterate_registration(step, pull(A, U), pull(B, U), k_max)
    restart = pointclouds.restart_registration(step, A, B, W, U, k_max)
    W_inv, U_inv = torch.linalg.inv(W), torch.linalg.inv(U)
    distance = pointclouds.motion_distance
    return {
        "wu": distance(psi_wu, W_inv @ psi @ U).cpu(),
        "uu": distance(psi_uu, U_inv @ psi @ U).cpu(),
        "identity gap": distance(restart, psi_wu).cpu(),
        "truth error": distance(psi[-1], truth).cpu(),
        "start angle": pointclouds.motion_angle(
            torch.linalg.inv(truth) @ W @ U_inv
        ).cpu(),
    }


# --- figures -------------------------------------------------------------------------------------

FLOOR = 1e-17  # errors of exactly 0.0 are drawn at this floor on log axes


def plot_toy_pair(A: torch.Tensor, A_sym: torch.Tensor, delta: float = 1.0):
    """A pair of periodic signals (left) and the outer loss over all shifts for a generic and a
    period-pi pair (right). ``A``, ``A_sym``: ``[1, N]`` float64."""
    import matplotlib.pyplot as plt

    n = A.shape[-1]
    grid = 2 * math.pi * torch.arange(n) / n
    ts = torch.linspace(-math.pi, math.pi, 241, dtype=A.dtype)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    axes[0].plot(grid, A[0], "o-", ms=3, label="moving A")
    label = f"fixed B = A ∘ T_t, t = {delta}"
    axes[0].plot(grid, periodic.shift_signal(A, delta)[0], "s-", ms=3, label=label)
    axes[0].set(
        xlabel="x (radians)", ylabel="signal", title="A pair of periodic signals"
    )
    for name, a in [("generic pair", A), ("period-π pair", A_sym)]:
        b = periodic.shift_signal(a, delta)
        loss = periodic.alignment_loss(a.expand(len(ts), -1), b.expand(len(ts), -1), ts)
        axes[1].plot(ts, loss, label=name)
    axes[1].axvline(delta, color="k", ls=":", lw=1)
    axes[1].set(
        xlabel="shift t", ylabel="L(A, B; t)", title="Outer loss over all shifts"
    )
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_recipe_curves(curves: dict, moves: dict, unroll: int):
    """Loss along the iteration (left) and the median move of each step (right), every recipe and
    replication. ``curves[r]``: ``[replication, k_max + 1]``; ``moves[r]``: ``[replication, k_max]``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for color, name in zip(["C0", "C1", "C2", "C4"], curves):
        n_rep, length = curves[name].shape
        steps = torch.arange(length)
        for r in range(n_rep):
            label = f"{name} ({n_rep} seeds)" if r == 0 else None
            axes[0].semilogy(steps, curves[name][r], color=color, lw=1, label=label)
            move = moves[name][r].clamp_min(1e-12)  # moves of exactly 0 drawn at 1e-12
            axes[1].semilogy(steps[:-1], move, color=color, lw=1, label=label)
    for ax in axes:
        ax.axvline(unroll, color="k", ls=":", lw=1)
        ax.axvline(4 * unroll, color="grey", ls=":", lw=1)
        ax.legend(fontsize=7)
    axes[0].set(
        xlabel="step n (dotted: K and 4K)",
        ylabel="mean outer loss L(x, y_n)",
        title="Score along the iteration",
    )
    axes[1].set(
        xlabel="step n (moves of exactly 0 drawn at 1e-12)",
        ylabel="median |y_{n+1} - y_n| (radians)",
        title="How far one more step moves the state",
    )
    fig.tight_layout()
    return fig


def trajectory_frames(learned: dict, x, y0: torch.Tensor, n_steps: int, pair: int = 0):
    """A ``render(n)`` for ``widgets.slider_explorer``: one test pair, the fixed signal B and the
    moving one warped by the state ``y_n`` of the two corner recipes (first replication)."""
    import matplotlib.pyplot as plt

    A0, B0 = x[0][pair : pair + 1], x[1][pair : pair + 1]
    with torch.no_grad():
        trajectories = {
            name: mesa.iterate(
                learned_step(learned[name][0]), (A0, B0), y0[:1], n_steps
            ).cpu()
            for name in (LAST, EVERY)
        }
    A0, B0 = A0.cpu(), B0.cpu()
    grid = 2 * math.pi * torch.arange(A0.shape[-1]) / A0.shape[-1]

    def render(n):
        fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
        for ax, (name, trajectory) in zip(axes, trajectories.items()):
            y = trajectory[n]
            ax.plot(grid, B0[0], "k-", lw=2, label="fixed B")
            ax.plot(grid, periodic.shift_signal(A0, y)[0], "--", lw=2, label="A ∘ T_y")
            loss = outer_loss((A0, B0), y).item()
            ax.set(xlabel="x", title=f"{name}\nstep n = {n}, loss = {loss:.1e}")
            ax.title.set_fontsize(9)
        axes[0].set_ylabel("signal")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        return fig

    return render


def plot_correction(phi, runs: dict):
    """The correction ``Phi[A o T_t, B]`` against ``t - delta`` for the first pair of each run
    (``{label: run}``), with the exact correction ``delta - t`` dotted."""
    import matplotlib.pyplot as plt

    offsets = torch.linspace(-math.pi, math.pi, 361, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for (name, run), color in zip(runs.items(), ["C0", "C2", "C1"]):
        t = run["delta"][:1] + offsets.to(run["delta"].device)
        curve = periodic.correction_curve(phi, run["A"][:1], run["B"][:1], t)
        ax.plot(offsets, curve[0].cpu(), color=color, label=f"Φ[A∘T_t, B], {name}")
    ax.plot(offsets, -offsets, "k:", lw=1, label="exact correction Δ - t (wrapped)")
    ax.axhline(0, color="grey", lw=0.8)
    for x in (-math.pi, 0, math.pi):
        ax.axvline(x, color="grey", ls="--", lw=0.8)
    ax.set(
        xlabel="t - Δ: current shift minus the alignment (radians)",
        ylabel="correction (radians)",
        title="Both zeros of the correction: t = Δ (attracts) and t = Δ + π",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_wu_errors(generic: list, period_pi: list):
    """[W,U] and [U,U] errors against K: generic pairs (left: first replication's mean and max, the
    other replications' max) and period-pi pairs (right: mean, median)."""
    import matplotlib.pyplot as plt

    wu, uu = generic[0]["wu"].cpu(), generic[0]["uu"].cpu()
    wu_p, uu_p = period_pi[0]["wu"].cpu(), period_pi[0]["uu"].cpu()
    ks = torch.arange(1, wu.shape[0] + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    ax = axes[0]
    ax.semilogy(ks, wu.mean(1).clamp_min(FLOOR), "C0-", label="[W,U] error, mean")
    ax.semilogy(ks, wu.max(1).values.clamp_min(FLOOR), "C0:", label="[W,U] error, max")
    for r, run in enumerate(generic[1:]):
        label = "[W,U] error, max, other seeds" if r == 0 else None
        ax.semilogy(
            ks,
            run["wu"].max(1).values.cpu().clamp_min(FLOOR),
            color="grey",
            lw=0.8,
            label=label,
        )
    ax.semilogy(ks, uu.max(1).values.clamp_min(FLOOR), "C3-", label="[U,U] error, max")
    ax.set(title="Generic signals: the second zero repels", ylabel="error (radians)")
    ax = axes[1]
    ax.semilogy(ks, wu_p.mean(1).clamp_min(FLOOR), "C0-", label="[W,U] error, mean")
    ax.semilogy(
        ks, wu_p.median(1).values.clamp_min(FLOOR), "C2--", label="[W,U] error, median"
    )
    ax.semilogy(
        ks, uu_p.max(1).values.clamp_min(FLOOR), "C3-", label="[U,U] error, max"
    )
    ax.axhline(math.pi, color="grey", ls=":", lw=1, label="π")
    ax.set(title="Period-π signals: two fixed points")
    for ax in axes:
        eps = torch.finfo(torch.float64).eps
        ax.axhline(eps, color="k", ls=":", lw=1, label="float64 machine epsilon")
        ax.legend(fontsize=8)
        ax.set_xlabel("iterations K (errors of exactly 0 drawn at 1e-17)")
    fig.tight_layout()
    return fig


def plot_clouds(clouds: list, tol: float = 1e-10):
    """ICP on point clouds: the share of (W, U) with [W,U] error <= ``tol`` against K, every
    replication (left), and the error at K = 1 and K = k_max against the start's angle (right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for r, run in enumerate(clouds):
        share = (run["wu"] <= tol).double().mean(1)
        ks = torch.arange(1, len(share) + 1)
        axes[0].plot(ks, share, color="C0", lw=1, label="seeds" if r == 0 else None)
    axes[0].set(
        xscale="log",
        xlabel="iterations K",
        ylabel=f"share of (W, U) with [W,U] error <= {tol:g}",
        title="ICP on point clouds: iteration buys equivariance on a basin",
    )
    run = clouds[0]
    k_max = run["wu"].shape[0]
    axes[1].semilogy(
        run["start angle"],
        run["wu"][-1].clamp_min(FLOOR),
        ".",
        ms=3,
        label=f"K = {k_max}",
    )
    axes[1].semilogy(
        run["start angle"],
        run["wu"][0].clamp_min(FLOOR),
        "x",
        ms=3,
        alpha=0.4,
        label="K = 1",
    )
    axes[1].set(
        xlabel="rotation of the start W∘U⁻¹ away from the truth (radians)",
        ylabel="[W,U] error (exact 0 at 1e-17)",
        title="The basin of attraction, seen through the start identity",
    )
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_figure(
    curves: dict, generic: list, clouds: list, unroll: int, tol: float = 1e-10
):
    """The chapter in one figure: (left) the two corner recipes along the iteration, plateau against
    overshoot; (right) the share of random (W, U) whose [W,U] error is at most ``tol`` against K, on
    the circle and for rigid point clouds (mean over replications)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, color in [(LAST, "C0"), (EVERY, "C1")]:
        c = curves[name] / curves[name][:, :1]  # L_n / L_0
        steps = torch.arange(c.shape[1])
        axes[0].semilogy(steps, c.median(0).values, color=color, label=name)
        axes[0].fill_between(
            steps, c.min(0).values, c.max(0).values, color=color, alpha=0.2
        )
    axes[0].axvline(unroll, color="k", ls=":", lw=1)
    axes[0].set(
        xlabel="step n (dotted: the K steps unrolled in training)",
        ylabel="L(x, y_n) / L(x, y_0)",
        title="Learned optimizers: plateau or overshoot",
    )
    for label, runs, color in [
        ("circle, learned Φ", generic, "C2"),
        ("point clouds, ICP", clouds, "C4"),
    ]:
        shares = torch.stack(
            [(run["wu"].cpu() <= tol).double().mean(1) for run in runs]
        )
        ks = torch.arange(1, shares.shape[1] + 1)
        axes[1].plot(ks, shares.mean(0), color=color, label=label)
    axes[1].set(
        xscale="log",
        ylim=(-0.03, 1.03),
        xlabel="iterations K",
        ylabel=f"share of (W, U) with [W,U] error <= {tol:g}",
        title="Iterating a [U,U] step: [W,U] on a basin",
    )
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
