"""Chapter 4's experiment plumbing: held-out sets, training runs, replication tables and figures.

The ideas of the chapter live in ``equinotes.registration`` (warps, losses, the step, its C4
symmetrization, the iteration, the search over the C4 orbit) and ``equinotes.registration_metrics``
(angle errors, equivariance errors in pixels, regularity). This module runs the chapter's experiments
with them, so that a notebook cell does so in one line:

- ``held_out_sets``: every held-out pair and probe angle of the chapter, drawn from one seed stream;
- ``train_step``: the chapter's training recipe (LNCC + GradICON, Adam) for a fresh step network;
- ``one_shot_errors``, ``gradient_basin``, ``equivariance_errors``, ``iteration_curves``,
  ``attraction_basin``, ``search_accuracy``, ``search_wu_quarter_turns``, ``continuous_wu``,
  ``regularity``: the measurements behind each section's claims, against the identity map;
- ``plot_*``, ``gallery``, ``render_iterates`` and ``summary_figure``: the figures the page shows (its
  compact tables come from ``equinotes.tables.html_table``).

Shapes: images ``[B, 1, H, W]`` (square), transforms ``[B, H, W, 2]``, angles in radians unless a name
ends in ``_deg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .. import registration as reg
from .. import registration_metrics as rm
from .. import thesis, training
from ..groups import rotation_transform
from ..tables import html_table  # noqa: F401  (the chapter's tables: rx.html_table)
from ..utils import check_images, check_int, generator

__all__ = [
    "DEG",
    "ANGLE_EDGES",
    "identity_map",
    "gradicon_charge",
    "HeldOut",
    "held_out_sets",
    "train_step",
    "angle_errors",
    "bin_medians",
    "one_shot_errors",
    "basin_edge",
    "gradient_basin",
    "equivariance_errors",
    "iteration_curves",
    "attraction_basin",
    "search_accuracy",
    "search_wu_quarter_turns",
    "continuous_wu",
    "regularity",
    "plot_pairs",
    "gallery",
    "plot_one_shot",
    "plot_shared",
    "plot_iteration",
    "plot_attraction_basin",
    "plot_continuous_wu",
    "render_iterates",
    "summary_figure",
]

DEG = math.pi / 180
ANGLE_EDGES = (0, 45, 90, 135, 180)  # the 45-degree bins of |delta| the chapter reports


def _check_callable(name: str, f) -> None:
    if not callable(f):
        raise TypeError(f"{name} must be callable: (A, B) -> transform [B, H, W, 2]")


def _check_edges(edges) -> tuple:
    edges = tuple(edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(
            f"edges must be increasing with at least two entries, got {edges}"
        )
    return edges


def _labels(edges) -> list:
    return [f"{lo}-{hi}°" for lo, hi in zip(edges, edges[1:])]


def identity_map(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """The baseline registration: ignores its inputs and returns the identity ``[B, H, W, 2]``."""
    reg.check_pair(moving, fixed)
    size = moving.shape[-1]
    return reg.identity_grid(size, size, len(moving), device=moving.device)


# ------------------------------------------------------------------------------------ the loss
def gradicon_charge(angles_deg, size: int, device=None) -> dict:
    """GradICON of exact rotation pairs ``(R_theta, R_-theta)`` on the square and on the disc.

    Returns ``{"square": {deg: value}, "disc": {deg: value}}`` for each angle in ``angles_deg``.
    """
    size = check_int("size", size, minimum=2)
    angles = [int(a) for a in angles_deg]
    if not angles:
        raise ValueError("angles_deg must name at least one angle")
    charge = {"square": {}, "disc": {}}
    for degrees in angles:
        rotation = rotation_transform(degrees * DEG, size, size, device=device)
        inverse = rotation_transform(-degrees * DEG, size, size, device=device)
        for region in charge:
            charge[region][degrees] = reg.gradicon(
                rotation, inverse, region=region
            ).item()
    return charge


# ------------------------------------------------------------------------------------ the data
@dataclass
class HeldOut:
    """Every held-out set of chapter 4, drawn in a fixed order from one seed stream.

    ``same``: one 9 at two independent angles (the truth is known); ``diff``: two different 9s;
    ``base``: pairs turned together (relative angle 0) with probe angles ``w``, ``u`` (uniform in
    [0, 2pi)); ``small``: pairs turned together with probes ``w_small``, ``u_small`` within +-20
    degrees; ``w_cont``, ``u_cont``: uniform probes for the continuous check of the search.
    """

    same: reg.RotatedPairs
    diff: reg.RotatedPairs
    base: reg.RotatedPairs
    u: torch.Tensor
    w: torch.Tensor
    small: reg.RotatedPairs
    w_small: torch.Tensor
    u_small: torch.Tensor
    w_cont: torch.Tensor
    u_cont: torch.Tensor


def held_out_sets(
    digits: torch.Tensor, seed: int, n_test: int, n_sub: int, stream: int = 3
):
    """Draw the chapter's held-out pairs and probe angles from stream ``stream`` of ``seed``.

    Args:
        digits: held-out 9s ``[N, 1, H, W]``.
        n_test: pairs in ``same``, ``base`` (and probes).
        n_sub: a smaller count for the costlier checks (``diff`` and ``small`` get ``2 * n_sub``,
            the continuous probes ``n_sub``).
    Returns:
        a ``HeldOut``, on the device of ``digits``.
    """
    check_images(digits, "digits", square=True)
    n_test = check_int("n_test", n_test, minimum=1)
    n_sub = check_int("n_sub", n_sub, minimum=1)
    g = generator(seed, stream)
    dev = digits.device

    def angles(n, scale):
        return (scale * torch.rand(n, generator=g)).to(dev)

    same = reg.rotated_pairs(digits, n_test, g, same_fraction=1.0)
    diff = reg.rotated_pairs(digits, 2 * n_sub, g, same_fraction=0.0)
    base = reg.rotated_pairs(digits, n_test, g, shared=True, same_fraction=0.0)
    u, w = angles(n_test, 2 * math.pi), angles(n_test, 2 * math.pi)
    small = reg.rotated_pairs(digits, 2 * n_sub, g, shared=True, same_fraction=0.5)
    w_small = (2 * torch.rand(2 * n_sub, generator=g) - 1).to(dev) * 20 * DEG
    u_small = (2 * torch.rand(2 * n_sub, generator=g) - 1).to(dev) * 20 * DEG
    w_cont, u_cont = angles(n_sub, 2 * math.pi), angles(n_sub, 2 * math.pi)
    return HeldOut(same, diff, base, u, w, small, w_small, u_small, w_cont, u_cont)


# ---------------------------------------------------------------------------------- training
def train_step(
    digits: torch.Tensor,
    seed: int,
    steps: int,
    *,
    k: int = 1,
    batch: int = 32,
    lam: float = 0.5,
    lr: float = 2e-3,
    device=None,
    desc: str = "training",
    **pair_options,
):
    """A new ``reg.StepNet`` trained from ``seed`` (its initial weights and its pairs).

    The loss is ``reg.registration_loss(k, lam=lam)`` (LNCC + lam * GradICON with ``k`` steps
    unrolled); each step draws ``batch`` fresh pairs with ``reg.rotated_pairs(**pair_options)`` from
    ``digits [N, 1, H, W]``. Returns ``(model, training.TrainLog)``.
    """
    check_images(digits, "digits", square=True)
    seed = check_int("seed", seed, minimum=0)
    steps = check_int("steps", steps, minimum=1)
    torch.manual_seed(seed)
    model = reg.StepNet(digits.shape[-1])
    log = training.train(
        model,
        reg.registration_loss(k=k, lam=lam),
        reg.pair_sampler(digits, batch, **pair_options),
        steps,
        lr=lr,
        device=device,
        seed=seed,
        desc=desc,
    )
    return model, log


# ------------------------------------------------------------------------ measurements, 4.1
def angle_errors(phi: torch.Tensor, pairs: reg.RotatedPairs):
    """Angle error (degrees) of the best rigid fit to ``phi`` and LNCC after warping, per pair:
    ``(error [B], lncc [B])``."""
    rm.check_transform(phi)
    err = rm.angle_error_deg(rm.recovered_angle(phi, pairs.fixed), pairs.delta)
    sim = rm.similarity_after_warp(pairs.moving, pairs.fixed, phi, reg.lncc)
    return err, sim


def bin_medians(
    values: torch.Tensor, pairs: reg.RotatedPairs, edges=ANGLE_EDGES
) -> list:
    """Median of per-pair ``values [B]`` in each bin of ``|delta|`` (degrees ``edges``)."""
    edges = _check_edges(edges)
    return [v.median().item() for v in rm.by_angle_bin(values, pairs.delta, edges)]


def one_shot_errors(models, pairs: reg.RotatedPairs, edges=ANGLE_EDGES) -> dict:
    """Median angle error per bin of each model and of the identity map, and median LNCC.

    Returns ``{"labels", "by_model": [[per bin] per model], "identity": [per bin],
    "lncc_first": [per bin] (first model), "lncc_identity": [per bin], "phi_first": [B, H, W, 2]}``.
    """
    models = list(models)
    if not models:
        raise ValueError("models must hold at least one registration")
    for m in models:
        _check_callable("each model", m)
    with torch.no_grad():
        phis = [m(pairs.moving, pairs.fixed) for m in models]
    by_model = [bin_medians(angle_errors(phi, pairs)[0], pairs, edges) for phi in phis]
    err_none, sim_none = angle_errors(identity_map(pairs.moving, pairs.fixed), pairs)
    return {
        "labels": _labels(edges),
        "by_model": by_model,
        "identity": bin_medians(err_none, pairs, edges),
        "lncc_first": bin_medians(angle_errors(phis[0], pairs)[1], pairs, edges),
        "lncc_identity": bin_medians(sim_none, pairs, edges),
        "phi_first": phis[0],
    }


def basin_edge(shares, edges, level: float = 0.8) -> int:
    """The largest angle up to which every bin's share (``shares[i]`` for ``[edges[i],
    edges[i+1])``) is at least ``level``; 0 when the first bin is below it."""
    shares, edges = list(shares), _check_edges(edges)
    if len(shares) != len(edges) - 1:
        raise ValueError(f"need one share per bin: {len(edges) - 1}, got {len(shares)}")
    edge = 0
    for share, hi in zip(shares, edges[1:]):
        if share < level:
            break
        edge = hi
    return edge


def gradient_basin(pairs: reg.RotatedPairs, edges, loss: Callable = reg.lncc) -> list:
    """Share of pairs per bin of ``|delta|`` whose ``loss`` gradient along rigid rotations turns the
    moving image towards the true angle (``rm.rotation_gradient_points_right``)."""
    edges = _check_edges(edges)
    right = rm.rotation_gradient_points_right(
        pairs.moving, pairs.fixed, pairs.delta, loss
    ).float()
    return [v.mean().item() for v in rm.by_angle_bin(right, pairs.delta, edges)]


# ------------------------------------------------------------------------ measurements, 4.2
def equivariance_errors(model: Callable, held: HeldOut) -> dict:
    """Mean [U,U] error (random U; quarter turns), [W,U] error and how far the model moves the
    digit (``|Phi - id|``), in pixels, on ``held.base`` with probes ``held.w``, ``held.u``."""
    _check_callable("model", model)
    m, f, w, u = held.base.moving, held.base.fixed, held.w, held.u
    f_u = reg.pull_back(f, u)
    with torch.no_grad():
        phi = model(reg.pull_back(m, w), f_u)
    quarter = [
        rm.equivariance_error_px(model, m, f, k * math.pi / 2, k * math.pi / 2)
        for k in (1, 2, 3)
    ]
    return {
        "uu_px": rm.equivariance_error_px(model, m, f, u, u).mean().item(),
        "uu_quarter_px": torch.stack(quarter).mean().item(),
        "wu_px": rm.equivariance_error_px(model, m, f, w, u).mean().item(),
        "moved_px": rm.distance_px(phi, identity_map(m, f), rm.digit_mask(f_u))
        .mean()
        .item(),
    }


# ------------------------------------------------------------------------ measurements, 4.3
def iteration_curves(
    f_sym: Callable, raw: Callable, held: HeldOut, ks=thesis.KS
) -> dict:
    """Mean errors (px) of every iterate ``Psi_K``, K in ``ks``, on ``held.small``, and LNCC.

    Returns ``{"wu_small", "uu_small", "wu_quarter", "wu_small_raw", "uu_small_raw", "lncc_small"}``
    (each ``{K: mean}``; ``lncc_small`` on the pairs of ``held.same`` with ``|delta| < 45``
    degrees) and the identity map's ``"wu_small_identity"`` and ``"wu_quarter_identity"``.
    ``f_sym`` is the symmetrized step, ``raw`` the same step unsymmetrized (the control).
    """
    _check_callable("f_sym", f_sym)
    _check_callable("raw", raw)
    ks = tuple(check_int("K", K, minimum=1) for K in ks)
    m, f = held.small.moving, held.small.fixed
    probes = {
        "small": (held.w_small, held.u_small),
        "uu": (held.u_small, held.u_small),
        "quarter": (math.pi / 2, 0.0),
    }

    def means(errors):
        return {K: e.mean().item() for K, e in errors.items()}

    sym = thesis.wu_errors_by_probe(f_sym, m, f, probes, ks)
    unsym = thesis.wu_errors_by_probe(
        raw, m, f, {p: probes[p] for p in ("small", "uu")}, ks
    )
    inside = held.same.delta.abs() < 45 * DEG
    mi, fi = held.same.moving[inside], held.same.fixed[inside]
    with torch.no_grad():
        iterates = thesis.unroll(f_sym, mi, fi, max(ks))
        lncc = {
            K: rm.similarity_after_warp(mi, fi, iterates[K - 1], reg.lncc).mean().item()
            for K in ks
        }
    ident = {
        name: rm.equivariance_error_px(identity_map, m, f, *probes[p]).mean().item()
        for name, p in (
            ("wu_small_identity", "small"),
            ("wu_quarter_identity", "quarter"),
        )
    }
    return {
        "wu_small": means(sym["small"]),
        "uu_small": means(sym["uu"]),
        "wu_quarter": means(sym["quarter"]),
        "wu_small_raw": means(unsym["small"]),
        "uu_small_raw": means(unsym["uu"]),
        "lncc_small": lncc,
        **ident,
    }


def attraction_basin(
    step: Callable,
    digits: torch.Tensor,
    seed: int,
    k: int,
    n: int = 16,
    stream: int = 4,
) -> dict:
    """Where ``Psi_1`` and ``Psi_k`` end from every relative angle in steps of 10 degrees.

    ``n`` pairs of one 9 turned together (stream ``stream`` of ``seed``), the moving copy then turned
    by each true angle in ``[-180, 180)``. Returns ``{"truth_deg", "found_first_deg"}`` and the
    entries of ``thesis.basin`` at ``k`` (``found_deg``, ``error_deg``, ``residual_px``,
    ``to_truth_px``), each ``[36 * n]``.
    """
    _check_callable("step", step)
    check_images(digits, "digits", square=True)
    k = check_int("k", k, minimum=1)
    n = check_int("n", n, minimum=1)
    upright = reg.rotated_pairs(
        digits, n, generator(seed, stream), shared=True, same_fraction=1.0
    )
    true_deg = list(range(-180, 180, 10))
    moving = torch.cat([reg.pull_back(upright.moving, -t * DEG) for t in true_deg])
    fixed = upright.fixed.repeat(len(true_deg), 1, 1, 1)
    truth = torch.tensor(true_deg, device=digits.device).repeat_interleave(n).float()
    end = thesis.basin(step, moving, fixed, truth, k)
    first = thesis.basin(step, moving, fixed, truth, 1)
    return {"truth_deg": truth, "found_first_deg": first["found_deg"], **end}


# ------------------------------------------------------------------------ measurements, 4.4
def search_accuracy(
    search: Callable, held: HeldOut, edges=ANGLE_EDGES, off_deg: float = 15.0
) -> dict:
    """The search's angle errors: per bin of ``held.same``, the median and the share of pairs off by
    more than ``off_deg``; on ``held.diff``, the median and the share within ``off_deg``.

    Returns ``{"labels", "median_deg", "share_off", "diff_median_deg", "diff_within",
    "phi_same", "lncc_same", "lncc_diff"}``.
    """
    _check_callable("search", search)
    edges = _check_edges(edges)
    same, diff = held.same, held.diff
    with torch.no_grad():
        phi_same = search(same.moving, same.fixed)
        phi_diff = search(diff.moving, diff.fixed)
    err, sim = angle_errors(phi_same, same)
    err_diff, sim_diff = angle_errors(phi_diff, diff)
    return {
        "labels": _labels(edges),
        "median_deg": bin_medians(err, same, edges),
        "share_off": [
            (v > off_deg).float().mean().item()
            for v in rm.by_angle_bin(err, same.delta, edges)
        ],
        "diff_median_deg": err_diff.median().item(),
        "diff_within": (err_diff < off_deg).float().mean().item(),
        "phi_same": phi_same,
        "lncc_same": sim,
        "lncc_diff": sim_diff,
    }


def search_wu_quarter_turns(search: Callable, moving, fixed) -> float:
    """The largest [W,U] error (px) of ``search`` over all 16 pairs of quarter turns ``(W, U)``."""
    _check_callable("search", search)
    reg.check_pair(moving, fixed)
    from ..utils import progress

    pairs = [(i, j) for i in range(4) for j in range(4)]
    return max(
        rm.equivariance_error_px(
            search, moving, fixed, i * math.pi / 2, j * math.pi / 2
        )
        .max()
        .item()
        for i, j in progress(pairs, desc="[W,U] check", leave=False)
    )


def continuous_wu(search: Callable, held: HeldOut) -> dict:
    """[W,U] error (px) of ``search`` and of the identity map for continuous probes
    ``held.w_cont``, ``held.u_cont`` on the first pairs of ``held.diff``: ``{"search": [n],
    "identity": [n]}``."""
    _check_callable("search", search)
    n = len(held.w_cont)
    m, f = held.diff.moving[:n], held.diff.fixed[:n]
    return {
        name: rm.equivariance_error_px(model, m, f, held.w_cont, held.u_cont)
        for name, model in (("search", search), ("identity", identity_map))
    }


# ------------------------------------------------------------------------ measurements, 4.5
def regularity(models: dict, moving, fixed) -> dict:
    """For each ``{name: registration}``: mean share of pixels with a negative Jacobian determinant and
    median inverse consistency (px). Returns ``{"negative": {name: share}, "inverse": {name: px}}``."""
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty {name: registration} dict")
    reg.check_pair(moving, fixed)
    negative, inverse = {}, {}
    with torch.no_grad():
        for name, model in models.items():
            _check_callable(f"model {name!r}", model)
            phi = model(moving, fixed)
            negative[name] = rm.negative_jacobian_fraction(phi).mean().item()
            inverse[name] = (
                rm.inverse_consistency_px(model, moving, fixed).median().item()
            )
    return {"negative": negative, "inverse": inverse}


# ---------------------------------------------------------------------------- tables, figures
def _plain(axes) -> None:
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def plot_pairs(same: reg.RotatedPairs, diff: reg.RotatedPairs, n: int = 3):
    """``n`` pairs of each kind, moving above fixed, titled with their relative angle."""
    import matplotlib.pyplot as plt

    n = check_int("n", n, minimum=1)
    fig, axes = plt.subplots(2, 2 * n, figsize=(1.5 * 2 * n, 3.2), squeeze=False)
    for j in range(2 * n):
        pairs, i = (same, j) if j < n else (diff, j - n)
        axes[0, j].imshow(pairs.moving[i, 0].cpu(), cmap="gray")
        axes[1, j].imshow(pairs.fixed[i, 0].cpu(), cmap="gray")
        kind = "same 9" if j < n else "two 9s"
        axes[0, j].set_title(
            f"{kind}, Δθ={pairs.delta[i].item() / DEG:.0f}°", fontsize=8
        )
    _plain(axes.flat)
    axes[0, 0].set_ylabel("moving A")
    axes[1, 0].set_ylabel("fixed B")
    fig.suptitle("Held-out registration pairs")
    fig.tight_layout()
    return fig


def gallery(rows, pairs: reg.RotatedPairs, title: str):
    """One row per ``(label, transforms [B, H, W, 2], pair index)``: moving, fixed, warped, grid."""
    import matplotlib.pyplot as plt

    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one (label, phi, index)")
    fig, axes = plt.subplots(len(rows), 4, figsize=(7, 1.85 * len(rows)), squeeze=False)
    for r, (label, phi, i) in enumerate(rows):
        warped = reg.warp(pairs.moving[i : i + 1], phi[i : i + 1])
        for c, img in enumerate([pairs.moving[i, 0], pairs.fixed[i, 0], warped[0, 0]]):
            axes[r, c].imshow(img.detach().cpu(), cmap="gray", vmin=0, vmax=1)
        axes[r, 3].imshow(pairs.fixed[i, 0].cpu(), cmap="gray", alpha=0.35)
        reg.draw_grid(axes[r, 3], phi[i], every=3)
        found = rm.recovered_angle(phi[i : i + 1], pairs.fixed[i : i + 1]).item() / DEG
        axes[r, 0].set_ylabel(
            f"{label}\nΔθ={pairs.delta[i].item() / DEG:.0f}°, found {found:.0f}°",
            fontsize=8,
        )
    for c, t in enumerate(["moving A", "fixed B", "A ∘ Φ", "grid Φ over B"]):
        axes[0, c].set_title(t, fontsize=9)
    _plain(axes.flat)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _centres(edges) -> list:
    return [(lo + hi) / 2 for lo, hi in zip(edges, edges[1:])]


def plot_one_shot(result: dict, seeds, shares: dict, fine_edges, edges=ANGLE_EDGES):
    """Three panels: the one-shot models' median angle error per bin (``one_shot_errors``), LNCC
    after warping, and the share of LNCC gradients that turn A the right way (``shares``: ``{label:
    [per fine bin]}``)."""
    import matplotlib.pyplot as plt

    centres = _centres(_check_edges(edges))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(centres, result["identity"], "k:", label="identity map")
    for s, med in zip(seeds, result["by_model"]):
        axes[0].plot(centres, med, "o-", alpha=0.8, label=f"one-shot, seed {s}")
    axes[0].set(
        xlabel="|Δθ| (degrees)",
        ylabel="median angle error (degrees)",
        title="One-shot: recovered angle",
    )
    axes[1].plot(centres, result["lncc_identity"], "o--", label="unregistered")
    axes[1].plot(
        centres, result["lncc_first"], "o-", label=f"one-shot, seed {seeds[0]}"
    )
    axes[1].set(
        xlabel="|Δθ| (degrees)",
        ylabel="median LNCC loss (lower is better)",
        title="Similarity after warping",
    )
    fine = _centres(_check_edges(fine_edges))
    for (label, share), marker in zip(shares.items(), "os^v"):
        axes[2].plot(fine, share, f"{marker}-", label=label)
    axes[2].axhline(0.8, color="gray", lw=0.8, ls=":")
    axes[2].axhline(0.5, color="gray", lw=0.8)
    axes[2].set(
        xlabel="|Δθ| (degrees)",
        ylabel="share of pairs",
        ylim=(0, 1.05),
        title="LNCC gradient turns A the right way",
    )
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_shared(errors: list, identity: dict, seeds):
    """Bars of the [U,U] and [W,U] errors (``equivariance_errors``) per replication, with the identity
    map's [W,U] error as a line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.axhline(identity["wu_px"], color="k", ls=":", lw=1, label="[W,U], identity map")
    for j, (key, name) in enumerate((("uu_px", "[U,U]"), ("wu_px", "[W,U]"))):
        ax.bar(
            [r + 0.4 * j for r in range(len(errors))],
            [e[key] for e in errors],
            width=0.4,
            label=name,
        )
    ax.set_xticks([r + 0.2 for r in range(len(errors))], [f"seed {s}" for s in seeds])
    ax.set(ylabel="mean error (px)", title="Shared-rotation model, random W, U")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_iteration(curves: dict, k_train: int):
    """Left: the equivariance errors of ``Psi_K`` against K (``iteration_curves``), with the identity
    map's; right: LNCC after warping inside the basin."""
    import matplotlib.pyplot as plt

    ks = sorted(curves["wu_small"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, style, label in (
        ("wu_small", "o-", "[W,U], W, U within ±20°"),
        ("wu_small_raw", "o:", "the same, raw step (control)"),
        ("uu_small", "s--", "[U,U], same angles"),
        ("wu_quarter", "^-", "[W,U], W = 90° turn"),
    ):
        axes[0].plot(ks, [curves[key][K] for K in ks], style, label=label)
    axes[0].axhline(
        curves["wu_quarter_identity"], color="k", ls=":", lw=1, label="identity, 90°"
    )
    axes[0].axhline(
        curves["wu_small_identity"], color="gray", ls=":", lw=1, label="identity, ±20°"
    )
    axes[0].set(
        yscale="log",
        ylim=(0.05, 200),
        ylabel="mean error (px, over the digit)",
        title="Equivariance error of Ψ_K",
    )
    axes[0].legend(fontsize=6.5, ncol=2, loc="upper center")
    axes[1].plot(ks, [curves["lncc_small"][K] for K in ks], "o-")
    axes[1].set(ylabel="mean LNCC loss", title="Similarity after warping, |Δθ| < 45°")
    for ax in axes:
        ax.axvline(k_train, color="gray", lw=0.6)
        ax.set(
            xscale="log",
            xticks=ks,
            xticklabels=ks,
            xlabel=f"iterations K (trained: {k_train})",
        )
        ax.minorticks_off()
    fig.tight_layout()
    return fig


def plot_attraction_basin(basin: dict, k: int, right_deg: float = 15.0):
    """Left: the angle ``Psi_1`` and ``Psi_k`` find against the true one (``attraction_basin``);
    right: the fixed-point residual, right answers (within ``right_deg``) apart from wrong ones."""
    import matplotlib.pyplot as plt

    t = basin["truth_deg"].cpu()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].scatter(
        t, basin["found_first_deg"].cpu(), s=4, alpha=0.4, label="Ψ_1 (one step)"
    )
    axes[0].scatter(t, basin["found_deg"].cpu(), s=4, alpha=0.6, label=f"Ψ_{k}")
    axes[0].plot([-180, 180], [-180, 180], "k--", lw=0.8, label="right answer")
    axes[0].axhline(0, color="gray", lw=0.8, ls=":", label="identity map")
    axes[0].set(
        xlabel="true relative angle (°)",
        ylabel="recovered angle (°)",
        title="Where the iteration ends",
    )
    right = (basin["error_deg"] < right_deg).cpu()
    residual = basin["residual_px"].cpu()
    axes[1].scatter(t[right], residual[right], s=4, label=f"right (< {right_deg:.0f}°)")
    axes[1].scatter(t[~right], residual[~right], s=4, label="wrong")
    axes[1].set(
        xlabel="true relative angle (°)",
        ylabel="one more step moves (px)",
        yscale="log",
        title="Fixed-point residual",
    )
    for ax in axes:
        ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig


def plot_continuous_wu(errors: dict):
    """Histogram of the [W,U] errors of ``continuous_wu`` (search and identity map), log counts."""
    import matplotlib.pyplot as plt

    top = float(max(e.max() for e in errors.values()))
    bins = torch.linspace(0, top, 30)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    for (name, e), alpha in zip(errors.items(), (0.7, 0.5)):
        ax.hist(e.cpu(), bins=bins, alpha=alpha, label=name)
    ax.set(
        xlabel="[W,U] error (px, over the digit)",
        ylabel="pairs",
        yscale="log",
        title="Continuous W, U: the search's error and its tail",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def render_iterates(
    f_sym: Callable, pairs: reg.RotatedPairs, index: int, ks
) -> Callable:
    """``render(K) -> Figure`` for a slider: the fixed image, ``A o Psi_K`` and the grid of ``Psi_K``
    for pair ``index`` (all iterates computed once, up front)."""
    import matplotlib.pyplot as plt

    _check_callable("f_sym", f_sym)
    ks = sorted(check_int("K", K, minimum=1) for K in ks)
    a, b = pairs.moving[index : index + 1], pairs.fixed[index : index + 1]
    with torch.no_grad():
        iterates = thesis.unroll(f_sym, a, b, max(ks))
    truth = pairs.delta[index].item() / DEG

    def render(K):
        phi = iterates[K - 1]
        fig, axes = plt.subplots(1, 3, figsize=(6.6, 2.4))
        axes[0].imshow(b[0, 0].cpu(), cmap="gray")
        axes[0].set_title("fixed B", fontsize=9)
        axes[1].imshow(reg.warp(a, phi)[0, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[1].set_title(f"A ∘ Ψ_{K}", fontsize=9)
        axes[2].imshow(b[0, 0].cpu(), cmap="gray", alpha=0.35)
        reg.draw_grid(axes[2], phi[0])
        found = rm.recovered_angle(phi, b).item() / DEG
        axes[2].set_title(f"grid, angle {found:.0f}° (true {truth:.0f}°)", fontsize=9)
        _plain(axes)
        fig.suptitle(f"K = {K} iterations of the symmetrized step", fontsize=10)
        return fig

    return render


def summary_figure(
    errors_by_method: dict, curves: dict, wu_search_px: float, edges=ANGLE_EDGES
):
    """The chapter in one figure. Left: median angle error per bin of ``|delta|`` for each method
    (``{name: [per bin]}``, the identity map first). Right: the [W,U] error of ``Psi_K`` against K
    inside the basin and for a quarter turn (``iteration_curves``), with the search's quarter-turn
    error ``wu_search_px`` (floored at 1e-6 to show on a log axis) and the identity map's."""
    import matplotlib.pyplot as plt

    centres = _centres(_check_edges(edges))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for (name, med), style in zip(
        errors_by_method.items(), (":", "o-", "s-", "^-", "v-")
    ):
        axes[0].plot(
            centres, med, style, color="k" if style == ":" else None, label=name
        )
    axes[0].set(
        xlabel="|Δθ| (degrees)",
        ylabel="median angle error (°)",
        title="Which method recovers the rotation",
    )
    axes[0].set_xticks(centres, _labels(edges))
    ks = sorted(curves["wu_small"])
    axes[1].plot(
        ks, [curves["wu_small"][K] for K in ks], "o-", label="Ψ_K, W, U within ±20°"
    )
    axes[1].plot(
        ks, [curves["wu_quarter"][K] for K in ks], "^-", label="Ψ_K, W = 90° turn"
    )
    axes[1].axhline(
        curves["wu_quarter_identity"],
        color="k",
        ls=":",
        lw=1,
        label="identity map, 90° turn",
    )
    axes[1].axhline(
        max(wu_search_px, 1e-6),
        color="tab:red",
        lw=1.2,
        label="C4 search, every quarter turn",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xticks=ks,
        xticklabels=ks,
        xlabel="iterations K",
        ylabel="[W,U] error (px)",
        title="What iteration and the search buy",
    )
    axes[1].minorticks_off()
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
