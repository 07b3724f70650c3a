"""Chapter 2's experiments: the plumbing behind "Commutative diagrams".

The ideas of the chapter live in the concept modules: ``equinotes.diagrams`` (squares, pasting, the
exact solver, the Reynolds average, orbits), ``equinotes.name_swap`` (the name-swap toys) and
``equinotes.affine`` (the swap-consistent registration). This module runs the chapter's experiments
with them, one function per experiment, each seeded from the chapter's ``SEED`` through fixed streams
(``utils.derive_seed(seed, k)``), so that a notebook cell runs an experiment in one line:

* ``train_set_stack`` / ``pasting_variants``: the pasting experiment (a trained permutation-equivariant
  stack of ``SetLayer``\\ s on sets ``[B, 5, 3]``, three ways to break a square, every square checked
  over all 120 permutations of S5);
* ``permutation_solutions``, ``c4_dimensions``, ``reynolds_check``, ``orbit_check``: the exact solver,
  the character formula, the Reynolds projection and the orbit basis on every case of the chapter;
* ``reynolds_render``: the frames of the slider that walks a map into the equivariant subspace;
* ``name_toys``, ``swap_table``, ``invariant_feedback``, ``train_report_models``, ``report_table``,
  ``report_feedback``: the nine repetitions of the name-swap toys (invariant and equivariant cases);
* ``train_affine_registrations`` / ``inverse_consistency_table``: swap equivariance as inverse
  consistency on warped MNIST digits;
* the chapter's figures (``plot_*``), ``html_table`` for compact result tables and ``summary_figure``.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import sympy as sp
import torch

from .. import affine, data, diagrams, groups, name_swap, tables, training, utils
from ..equivariance import invariant_action

__all__ = [
    "N_ITEMS",
    "D_FEAT",
    "SumPool",
    "FixedReorder",
    "set_stack",
    "train_set_stack",
    "set_inputs",
    "pasting_variants",
    "plot_pasting",
    "s_n_generators",
    "rotation",
    "permutation_solutions",
    "C4_CASES",
    "c4_dimensions",
    "s_n_character_dimensions",
    "reynolds_check",
    "reynolds_render",
    "translations",
    "orbit_check",
    "translation_orbits_are_offsets",
    "plot_sharing_maps",
    "NAMES",
    "name_toys",
    "swap_table",
    "plot_swap_scatter",
    "invariant_feedback",
    "plot_feedback_rounds",
    "train_report_models",
    "report_table",
    "report_feedback",
    "plot_report",
    "train_affine_registrations",
    "inverse_consistency_table",
    "plot_round_trip",
    "html_table",
    "spread_rows",
    "plot_chapter_squares",
    "summary_figure",
]


def _check_seed_scale(seed, scale):
    return utils.check_int("seed", seed, minimum=0), utils.check_int(
        "scale", scale, minimum=1
    )


# ------------------------------------------------------------------------------- pasting squares
#: Sets of ``N_ITEMS`` items with ``D_FEAT`` features each: inputs ``[B, N_ITEMS, D_FEAT]``.
N_ITEMS, D_FEAT = 5, 3
#: (d_in, d_out) of the three layers; the last one is linear (no tanh).
_SET_SIZES = [(D_FEAT, 16), (16, 16), (16, 1)]


class SumPool(torch.nn.Module):
    """Sum over the items: ``[B, n, d] -> [B, d]``, invariant to permuting them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1)


class FixedReorder(torch.nn.Module):
    """Item i moves to position i + 1 (cyclically), the same for every input ``[B, n, d]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        return groups.permute(x, [(i + 1) % n for i in range(n)], dim=1)


def set_stack(broken_layer: int | None = None) -> torch.nn.Sequential:
    """Three ``diagrams.SetLayer``\\ s ``[B, 5, 3] -> [B, 5, 1]`` (tanh, tanh, linear).

    Args:
        broken_layer: ``None``, or the index (0, 1, 2) of the layer that gets a learned per-position
            bias (its square no longer commutes).
    """
    if broken_layer is not None and broken_layer not in (0, 1, 2):
        raise ValueError(f"broken_layer must be None, 0, 1 or 2, got {broken_layer!r}")
    layers = [diagrams.SetLayer(*_SET_SIZES[i], activation=i < 2) for i in range(3)]
    if broken_layer is not None:
        layers[broken_layer] = diagrams.SetLayer(
            *_SET_SIZES[broken_layer],
            n=N_ITEMS,
            broken=True,
            activation=broken_layer < 2,
        )
    return torch.nn.Sequential(*layers)


def set_inputs(seed: int, n: int = 8, device=None) -> torch.Tensor:
    """``n`` random sets ``[n, 5, 3]`` from stream 1 of ``seed`` (the inputs the squares are checked on)."""
    seed = utils.check_int("seed", seed, minimum=0)
    n = utils.check_int("n", n, minimum=1)
    return torch.randn(n, N_ITEMS, D_FEAT, generator=utils.generator(seed, 1)).to(
        device or "cpu"
    )


def train_set_stack(seed: int, scale: int = 1, device=None, steps: int = 300):
    """Train ``set_stack()`` to predict each item's distance to the set's mean (``steps * scale`` Adam
    steps, batches of 64 sets). Initial weights and batches come from stream 0 of ``seed``.

    Returns:
        ``(stack, log)``: the trained ``torch.nn.Sequential`` and its ``training.TrainLog``.
    """
    seed, scale = _check_seed_scale(seed, scale)
    steps = utils.check_int("steps", steps, minimum=1)
    device = device or "cpu"

    def batch(step, generator):
        x = torch.randn(64, N_ITEMS, D_FEAT, generator=generator)
        target = (x - x.mean(dim=1, keepdim=True)).norm(dim=2, keepdim=True)
        return x.to(device), target.to(device)

    def loss(model, b):
        return ((model(b[0]) - b[1]) ** 2).mean()

    torch.manual_seed(utils.derive_seed(seed, 0))
    stack = set_stack().to(device)
    log = training.train(
        stack,
        loss,
        batch,
        n_steps=steps * scale,
        seed=utils.derive_seed(seed, 0),
        lr=3e-3,
        device=device,
        desc="set network",
    )
    return stack, log


def _act_on_set(p, x):
    return groups.permute(x, p, dim=1)  # item i moves to position p[i]


def pasting_variants(stack: torch.nn.Sequential, seed: int, x=None) -> dict:
    """Every square of four stacks, and their pasted diagram, over all 120 permutations of S5.

    The variants share the trained weights of ``stack``: ``"equivariant stack"`` (as trained, then a
    sum pool), ``"layer 2 broken"`` (a per-position bias in layer 2, drawn from stream 6),
    ``"layer 3 broken"`` (the same in the last, linear layer, stream 8) and ``"reorder in front"``
    (a ``FixedReorder`` before the stack).

    Args:
        stack: a trained ``set_stack()``. seed: the chapter's SEED.
        x: the input sets ``[B, 5, 3]`` (default ``set_inputs(seed)`` on the stack's device).
    Returns:
        ``{variant: {"squares": [max error of each square], "composite": max error of the whole}}``.
    """
    if not isinstance(stack, torch.nn.Sequential) or len(stack) != 3:
        raise TypeError("stack must be the 3-layer torch.nn.Sequential of set_stack()")
    seed = utils.check_int("seed", seed, minimum=0)
    device = next(stack.parameters()).device
    x = set_inputs(seed, device=device) if x is None else x
    S5 = groups.symmetric_group(N_ITEMS)
    actions = [_act_on_set] * 4 + [invariant_action]

    def broken_copy(layer, stream):
        torch.manual_seed(utils.derive_seed(seed, stream))
        model = set_stack(broken_layer=layer).to(device)
        model.load_state_dict(stack.state_dict(), strict=False)
        return model

    def errors(layers, acts):
        return diagrams.pasting_errors(list(layers) + [SumPool()], acts, S5, x)

    return {
        "equivariant stack": errors(stack, actions),
        "layer 2 broken": errors(broken_copy(1, 6), actions),
        "layer 3 broken": errors(broken_copy(2, 8), actions),
        "reorder in front": errors([FixedReorder(), *stack], [_act_on_set] + actions),
    }


def plot_pasting(variants: dict, ax=None, floor: float = 1e-12):
    """Bars of each square's error and the whole diagram's, for the first three variants (log axis;
    exact zeros are drawn at ``floor``). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(9, 3.6))
    labels = ["layer 1", "layer 2", "layer 3", "sum pool", "whole"]
    colours = ["tab:blue", "tab:red", "tab:orange"]
    for offset, ((name, r), colour) in enumerate(
        zip(list(variants.items())[:3], colours)
    ):
        values = np.maximum(np.array(r["squares"] + [r["composite"]]), floor)
        ax.bar(
            np.arange(5) + 0.27 * offset, values, width=0.27, label=name, color=colour
        )
    ax.axhline(1e-5, color="k", ls="--", lw=1, label="exact-check tolerance (float32)")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(5) + 0.27)
    ax.set_xticklabels(labels)
    ax.set_ylabel("max |f(g·x) − g·f(x)| over S5")
    ax.set_title("Each square, and the pasted diagram")
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------- solving the square exactly
def s_n_generators(n: int) -> list:
    """Two generators of the symmetric group S_n as ``n x n`` permutation matrices (sympy): the swap of
    items 0 and 1, and the n-cycle i -> i + 1."""
    n = utils.check_int("n", n, minimum=2)
    swap, cycle = [1, 0] + list(range(2, n)), [(i + 1) % n for i in range(n)]
    return [diagrams.permutation_matrix(swap), diagrams.permutation_matrix(cycle)]


def rotation(m: int):
    """``k -> rho(k)``: the quarter-turn representation of C4 on ``m x m`` images (``m^2 x m^2``)."""
    m = utils.check_int("m", m, minimum=1)
    return lambda k: diagrams.rotation_representation(m, k)


def _trivial(k):
    return diagrams.trivial_representation(1)


def permutation_solutions(ns: Sequence[int] = range(2, 8)) -> tuple[dict, dict]:
    """The exact solutions of the permutation square on R^n for each n, and their span.

    Returns:
        ``(results, bases)``: ``results[n] = {"dim": dimension, "span_is_I_and_11T": bool}`` (True
        when the basis spans exactly the plane of I and 11ᵀ, by exact rank), ``bases[n]`` the
        sympy basis of ``diagrams.intertwiner_basis``.
    """
    ns = [utils.check_int("n", n, minimum=2) for n in ns]
    if not ns:
        raise ValueError("ns is empty")
    results, bases = {}, {}
    for n in ns:
        gens = s_n_generators(n)
        bases[n] = basis = diagrams.intertwiner_basis(gens, gens)
        together = sp.Matrix(
            [list(b) for b in basis] + [list(sp.eye(n)), list(sp.ones(n, n))]
        )
        results[n] = {
            "dim": len(basis),
            "span_is_I_and_11T": together.rank() == 2 == len(basis),
        }
    return results, bases


#: The C4 cases of the character check, as (name, m_in, m_out); ``None`` is the trivial output.
C4_CASES = [(f"{m}x{m} -> {m}x{m}", m, m) for m in (2, 3, 4, 5)] + [
    ("3x3 -> 4x4", 3, 4),
    ("4x4 -> 3x3", 4, 3),
    ("3x3 -> number", 3, None),
    ("5x5 -> number", 5, None),
]


def _c4_reps(m_in, m_out):
    return rotation(m_in), (_trivial if m_out is None else rotation(m_out))


def c4_dimensions(cases=C4_CASES) -> tuple[dict, dict]:
    """For C4 turning small images: the dimension of the exact solution space (from the one generator,
    a quarter turn) and the character formula's prediction, case by case.

    Returns:
        ``(results, bases)``: ``results[name] = {"sympy": int, "characters": int}`` and ``bases[name]``
        the sympy basis.
    """
    results, bases = {}, {}
    for name, m_in, m_out in cases:
        rho_in, rho_out = _c4_reps(m_in, m_out)
        bases[name] = diagrams.intertwiner_basis([rho_in(1)], [rho_out(1)])
        predicted = diagrams.character_dimension(groups.C4, rho_in, rho_out)
        results[name] = {"sympy": len(bases[name]), "characters": int(predicted)}
    return results, bases


def s_n_character_dimensions(ns: Sequence[int] = range(2, 6)) -> dict:
    """``{n: character formula for S_n acting on R^n by permutations, in and out}`` (the group is
    enumerated: keep n small)."""
    out = {}
    for n in ns:
        n = utils.check_int("n", n, minimum=2)
        if n > 7:
            raise ValueError(f"n = {n} would enumerate {n}! permutations; keep n <= 7")
        out[n] = int(
            diagrams.character_dimension(
                groups.symmetric_group(n),
                diagrams.permutation_matrix,
                diagrams.permutation_matrix,
            )
        )
    return out


def reynolds_check(seed: int, n_competitors: int = 2000, n_close: int = 200) -> dict:
    """The Reynolds average against the exact basis, for C4 on 4x4 images and S5 on R^5 (float64).

    For a random W (stream 3 of ``seed``): R(W)'s equivariance error over the generators, its distance to
    the least-squares projection onto the sympy basis, the distance from W to R(W) and to the nearest of
    ``n_competitors`` random equivariant maps (``n_close`` of them within 1e-3 of R(W)), and the largest
    residual of Pythagoras' identity over the competitors, relative to ``|W|^2``.

    Returns:
        ``{case: {"equivariance_error", "reynolds_minus_least_squares", "distance_to_R(W)",
        "closest_competitor", "pythagoras_residual"}}`` (floats).
    """
    seed = utils.check_int("seed", seed, minimum=0)
    n_competitors = utils.check_int("n_competitors", n_competitors, minimum=1)
    n_close = utils.check_int("n_close", n_close, minimum=0)
    if n_close > n_competitors:
        raise ValueError("n_close must not exceed n_competitors")
    gen = utils.generator(seed, 3)
    results = {}
    for name, group, rho, gens in [
        (
            "C4 on 4x4 images",
            groups.C4,
            rotation(4),
            [diagrams.rotation_representation(4)],
        ),
        (
            "S5 on R^5",
            groups.symmetric_group(5),
            diagrams.permutation_matrix,
            s_n_generators(5),
        ),
    ]:
        basis = diagrams.basis_to_tensor(diagrams.intertwiner_basis(gens, gens))
        m = basis.shape[-1]
        W = torch.randn(m, m, generator=gen, dtype=torch.float64)
        WR = diagrams.reynolds(W, group, rho, rho)
        nearest = diagrams.project_onto_span(W, basis)
        G_mats = diagrams.basis_to_tensor(gens)
        coefficients = torch.randn(
            n_competitors, len(basis), generator=gen, dtype=torch.float64
        )
        competitors = torch.einsum("ck,kij->cij", coefficients, basis)
        competitors = torch.cat([competitors, WR + 1e-3 * competitors[:n_close]])
        to_competitors = (W - competitors).flatten(1).norm(dim=1)
        pythagoras = (
            to_competitors**2
            - (W - WR).norm() ** 2
            - (WR - competitors).flatten(1).norm(dim=1) ** 2
        ).abs().max() / W.norm() ** 2
        results[name] = {
            "equivariance_error": max(
                (g @ WR - WR @ g).abs().max().item() for g in G_mats
            ),
            "reynolds_minus_least_squares": (WR - nearest).abs().max().item(),
            "distance_to_R(W)": (W - WR).norm().item(),
            "closest_competitor": to_competitors.min().item(),
            "pythagoras_residual": pythagoras.item(),
        }
    return results


def reynolds_render(seed: int, m: int = 10):
    """The frames of a slider (``widgets.slider_explorer``) along the line from a random W on ``m x m``
    images (stream 4) to its Reynolds average R(W).

    Returns:
        ``render(t) -> matplotlib Figure`` for ``W_t = (1 - t) W + t R(W)``: both paths of the square
        for one quarter turn of one MNIST 7 (stream 7) shrunk to ``m x m``, and their difference.
    """
    import matplotlib.pyplot as plt

    seed = utils.check_int("seed", seed, minimum=0)
    m = utils.check_int("m", m, minimum=2)
    W = (
        torch.randn(
            m * m, m * m, generator=utils.generator(seed, 4), dtype=torch.float64
        )
        / m
    )
    WR = diagrams.reynolds(W, groups.C4, rotation(m), rotation(m))
    x, _ = data.load_mnist(
        digits=7, n=1, dtype=torch.float64, shuffle_seed=utils.derive_seed(seed, 7)
    )
    x = torch.nn.functional.interpolate(x, size=(m, m), mode="area")[0, 0]

    def paths(t):  # turn then map, map then turn
        Wt = (1 - t) * W + t * WR
        f = lambda img: (Wt @ img.reshape(-1)).reshape(m, m)  # noqa: E731
        return f(groups.rot90(x, 1)), groups.rot90(f(x), 1)

    first = paths(0.0)
    vmax_out = max(p.abs().max().item() for p in first)
    vmax_diff = (
        (first[0] - first[1]).abs().max().item()
    )  # one colour scale for all frames

    def render(t):
        turn_then_map, map_then_turn = paths(t)
        fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
        panels = [
            (x, "input x", 0, 1),
            (turn_then_map, "f(turn x)", -vmax_out, vmax_out),
            (map_then_turn, "turn f(x)", -vmax_out, vmax_out),
            ((turn_then_map - map_then_turn).abs(), "|difference|", 0, vmax_diff),
        ]
        for ax, (img, title, lo, hi) in zip(axes, panels):
            ax.imshow(img.numpy(), cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(title)
            ax.axis("off")
        err = (turn_then_map - map_then_turn).abs().max().item()
        fig.suptitle(f"W_t = (1-t) W + t R(W),  t = {t:.2f}:  max difference {err:.2e}")
        return fig

    return render


# ------------------------------------------------------------------------------------------- orbits
def translations(m: int) -> list:
    """The two generators of the cyclic translations of ``m x m`` images (one pixel right, one down)."""
    return [
        diagrams.translation_representation(m, 0, 1),
        diagrams.translation_representation(m, 1, 0),
    ]


def orbit_check(perm_bases: dict, c4_bases: dict) -> dict:
    """Orbits of (output index, input index) pairs against the exact solver, case by case.

    Cases: S_n on R^n for every n in ``perm_bases``, every C4 case of ``c4_bases`` (named as in
    ``C4_CASES``), and cyclic translations of 4x4 images without and with quarter turns.

    Args:
        perm_bases: ``{n: sympy basis}`` from ``permutation_solutions``.
        c4_bases: ``{case name: sympy basis}`` from ``c4_dimensions``.
    Returns:
        ``{case: {"orbits", "burnside", "sympy": ints, "same_basis": bool}}``; ``same_basis`` compares
        the orbit indicators with the sympy basis (both in reduced echelon form, which is unique).
    """
    cases = {f"S{n} on R^{n}": (s_n_generators(n),) * 2 for n in perm_bases}
    bases = {f"S{n} on R^{n}": b for n, b in perm_bases.items()}
    known = {name: (m_in, m_out) for name, m_in, m_out in C4_CASES}
    for name, basis in c4_bases.items():
        if name not in known:
            raise ValueError(
                f"unknown C4 case {name!r}; the cases are those of C4_CASES"
            )
        rho_in, rho_out = _c4_reps(*known[name])
        cases[f"C4 {name}"] = ([rho_in(1)], [rho_out(1)])
        bases[f"C4 {name}"] = basis
    cases["translations 4x4"] = (translations(4),) * 2
    cases["translations + quarter turns 4x4"] = (
        translations(4) + [rotation(4)(1)],
    ) * 2
    for name in ("translations 4x4", "translations + quarter turns 4x4"):
        bases[name] = diagrams.intertwiner_basis(*cases[name])
    results = {}
    for name, (gens_in, gens_out) in cases.items():
        pattern = diagrams.orbit_pattern(gens_in, gens_out)
        results[name] = {
            "orbits": int(pattern.max()) + 1,
            "burnside": int(diagrams.burnside_count(gens_in, gens_out)),
            "sympy": len(bases[name]),
            "same_basis": diagrams.orbit_basis(gens_in, gens_out) == bases[name],
        }
    return results


def translation_orbits_are_offsets(m: int = 4) -> bool:
    """Whether the orbits of pixel pairs (p, q) under cyclic translations of ``m x m`` images are
    exactly the ``m^2`` offsets ``q - p`` (mod m in each axis): a circular convolution."""
    m = utils.check_int("m", m, minimum=2)
    pattern = diagrams.orbit_pattern(translations(m), translations(m))
    idx = torch.arange(m * m)
    offset = ((idx % m)[None, :] - (idx % m)[:, None]) % m + m * (
        ((idx // m)[None, :] - (idx // m)[:, None]) % m
    )
    pairs = set(zip(pattern.flatten().tolist(), offset.flatten().tolist()))
    return len(pairs) == len(set(offset.flatten().tolist())) == m * m


def _sharing_map(gens, m):
    """Orbit labels as an ``[m*m, m*m]`` picture: tile (r, c) shows, for output pixel (r, c), which
    weight each input pixel gets."""
    labels = diagrams.orbit_pattern(gens, gens).reshape(m, m, m, m)
    return labels.permute(0, 2, 1, 3).reshape(m * m, m * m)


def _label_colours(labels: torch.Tensor) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb

    hue = (
        labels.numpy() * 0.618034
    ) % 1.0  # golden-ratio steps around the colour wheel
    saturation = 0.55 + 0.45 * ((labels.numpy() * 0.37) % 1.0)
    return hsv_to_rgb(np.stack([hue, saturation, np.full_like(hue, 0.95)], -1))


def plot_sharing_maps(m: int = 5):
    """The weight-sharing pattern of the equivariant linear maps on ``m x m`` images under quarter
    turns, translations, and both (one colour = one shared weight). Returns the figure."""
    import matplotlib.pyplot as plt

    m = utils.check_int("m", m, minimum=2)
    panels = [
        ("quarter turns", [rotation(m)(1)]),
        ("translations (convolution)", translations(m)),
        ("translations + quarter turns", translations(m) + [rotation(m)(1)]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (title, gens) in zip(axes, panels):
        labels = _sharing_map(gens, m)
        ax.imshow(_label_colours(labels), interpolation="nearest")
        for k in range(1, m):  # tile borders
            ax.axhline(k * m - 0.5, color="k", lw=1.2)
            ax.axvline(k * m - 0.5, color="k", lw=1.2)
        ax.set_title(f"{title}: {int(labels.max()) + 1} weights", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"tile = one output pixel; cells = its {m}x{m} input pixels")
    fig.suptitle(
        f"Equivariant linear maps on {m}x{m} images: input pixels of one colour share a weight"
    )
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- the name-swap toys
#: The toy's sizes, 24 names with 8 features and situations in R^6; the training names are the first 8
#: and vary only in the first 4 name features.
NAMES = {
    "n_names": 24,
    "d_name": 8,
    "d_situation": 6,
    "seen": list(range(8)),
    "unseen": list(range(8, 24)),
    "seen_dims": 4,
}
_bce = torch.nn.functional.binary_cross_entropy_with_logits


def _decision_loss(model, batch):
    return _bce(model(batch[0], batch[1]), batch[2])


def name_toys(
    seed: int, scale: int = 1, n_reps: int = 9, device=None, steps: int = 300
):
    """Draw and train the ``n_reps`` repetitions of the name-swap toy.

    Repetition r has the seed ``utils.replicate_seeds(seed, n_reps)[r]``; its stream k is
    ``derive_seed(rep_seed, k)``: 0 name features, 1 rule, 2 initial weights (the same MLP for both
    models), 3 training batches (``steps * scale`` Adam steps of 128 cases over the training names).

    Returns:
        a list of dicts, one per repetition: ``"seed"``, ``"w"`` (the rule ``[6]``),
        ``"trained-only"`` (a ``name_swap.DecisionModel``), ``"invariant"`` (a
        ``name_swap.NameInvariantModel``) and ``"unused_weights_change"`` (the largest change of the
        trained-only model's first-layer weights on the name features the training names never vary).
    """
    seed, scale = _check_seed_scale(seed, scale)
    n_reps = utils.check_int("n_reps", n_reps, minimum=1)
    steps = utils.check_int("steps", steps, minimum=1)
    device = device or "cpu"
    toys = []
    for rep_seed in utils.progress(utils.replicate_seeds(seed, n_reps), desc="toys"):
        stream = lambda k, s=rep_seed: utils.derive_seed(s, k)  # noqa: E731
        features = name_swap.name_features(
            NAMES["n_names"],
            d_name=NAMES["d_name"],
            seen=NAMES["seen"],
            seen_dims=NAMES["seen_dims"],
            seed=stream(0),
        ).to(device)
        w = name_swap.rule_direction(NAMES["d_situation"], seed=stream(1))
        toy = {"seed": rep_seed, "w": w}
        for name, cls in [
            ("trained-only", name_swap.DecisionModel),
            ("invariant", name_swap.NameInvariantModel),
        ]:
            torch.manual_seed(stream(2))
            toy[name] = cls(features, NAMES["d_situation"]).to(device)
        first_layer = toy["trained-only"].mlp[0].weight
        initial = first_layer.detach().clone()

        def batch(step, generator, w=w):
            cases = name_swap.make_cases(128, NAMES["seen"], w, generator)
            return tuple(t.to(device) for t in cases)

        for name in ("trained-only", "invariant"):
            training.train(
                toy[name],
                _decision_loss,
                batch,
                n_steps=steps * scale,
                lr=1e-2,
                seed=stream(3),
                device=device,
                progress=False,
            )
        # columns of the name features the training names never vary (the situation follows)
        unused = (first_layer.detach() - initial)[
            :, NAMES["seen_dims"] : NAMES["d_name"]
        ]
        toy["unused_weights_change"] = unused.abs().max().item()
        toys.append(toy)
    return toys


def _check_toys(toys, keys=("trained-only", "invariant")):
    if not isinstance(toys, list) or not toys:
        raise TypeError("toys must be the non-empty list that name_toys returns")
    for toy in toys:
        if not isinstance(toy, dict) or any(k not in toy for k in ("seed", *keys)):
            raise ValueError(f"each toy must be a dict with 'seed' and {list(keys)}")


def swap_table(toys: list, n_test: int = 2000) -> dict:
    """How each model of each repetition treats swapped names, on ``n_test`` situations (stream 4).

    Returns:
        ``{"trained-only": [row per repetition], "invariant": [...]}``; a row holds
        ``accuracy_seen``/``accuracy_unseen`` (against the rule), ``disagreement_seen`` /
        ``disagreement_unseen`` (the fraction of (name, other name, situation) triples among the
        training names / the unseen names in which swapping the names changes the decision) and
        ``max_logit_gap`` (the largest spread of the 24 names' logits in one situation, float64) and
        ``unseen_over_seen`` (the ratio of the two disagreements; the seen one is floored at one
        disagreeing triple, ``1 / (8 * 7 * n_test)``).
    """
    _check_toys(toys)
    n_test = utils.check_int("n_test", n_test, minimum=1)
    seen, unseen = NAMES["seen"], NAMES["unseen"]
    one_triple = 1 / (len(seen) * (len(seen) - 1) * n_test)
    results = {"trained-only": [], "invariant": []}
    for toy in toys:
        device = next(toy["trained-only"].parameters()).device
        situations = torch.randn(
            n_test, NAMES["d_situation"], generator=utils.generator(toy["seed"], 4)
        ).to(device)
        truth = situations @ toy["w"].to(device) > 0
        for name, rows in results.items():
            model64, situations64 = (
                copy.deepcopy(toy[name]).double(),
                situations.double(),
            )
            with torch.no_grad():
                logits = torch.stack(
                    [
                        model64(torch.full((n_test,), a, device=device), situations64)
                        for a in range(NAMES["n_names"])
                    ]
                )
            table = logits > 0
            ds = name_swap.swap_disagreement(table, seen)
            du = name_swap.swap_disagreement(table, unseen)
            rows.append(
                {
                    "accuracy_seen": (table[seen] == truth).float().mean().item(),
                    "accuracy_unseen": (table[unseen] == truth).float().mean().item(),
                    "disagreement_seen": ds,
                    "disagreement_unseen": du,
                    # one disagreeing triple is the floor: the ratio stays finite when a
                    # model never disagrees about two training names
                    "unseen_over_seen": du / max(ds, one_triple),
                    "max_logit_gap": (logits.max(0).values - logits.min(0).values)
                    .max()
                    .item(),
                }
            )
    return results


def _s_star(w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The corrected situation: ``w . s* = 0.5`` (the rule clearly says "act") plus noise orthogonal to w."""
    noise = torch.randn(w.shape[0], generator=generator)
    return 0.5 * w + 0.3 * (noise - (noise @ w) * w)


def invariant_feedback(toys: list, steps: int = 60) -> dict:
    """One operator, one situation s*, corrections one name at a time (``name_swap.feedback_rounds``,
    ``steps`` Adam steps each, replaying 256 old cases), for each model of each repetition. Streams of
    a repetition: 5 situation s* and replayed cases, 6 the order in which the operator meets the names.

    Returns:
        ``{"trained-only": [row per repetition], "invariant": [...]}``; a row holds ``acting_before``
        (names for which the model acts in s* before feedback), ``names_changed_by_one_feedback``,
        ``feedback_needed``, ``all_fixed`` and ``fixed_after`` (names fixed after each correction).
    """
    _check_toys(toys)
    results = {"trained-only": [], "invariant": []}
    for toy in utils.progress(toys, desc="feedback"):
        device = next(toy["trained-only"].parameters()).device
        g_fb, w = utils.generator(toy["seed"], 5), toy["w"]
        replay = tuple(
            t.to(device) for t in name_swap.make_cases(256, NAMES["seen"], w, g_fb)
        )
        s_star = _s_star(w, g_fb).to(device)
        order = torch.randperm(
            NAMES["n_names"], generator=utils.generator(toy["seed"], 6)
        ).tolist()
        for name, rows in results.items():
            full = name_swap.feedback_rounds(
                toy[name], s_star, False, replay, order=order, steps=steps
            )
            after_one = full.after[0] if full.after else full.before
            rows.append(
                {
                    "acting_before": sum(full.before),
                    "names_changed_by_one_feedback": sum(
                        a != b for a, b in zip(full.before, after_one)
                    ),
                    "feedback_needed": full.n_feedback,
                    "all_fixed": full.all_fixed,
                    "fixed_after": full.fixed_after,
                }
            )
    return results


def _name_pairs(names, device):
    return torch.tensor([[a, b] for a in names for b in names if a != b], device=device)


def train_report_models(toys: list, scale: int = 1, steps: int = 300) -> None:
    """Add the two report models to each repetition (in place), trained on pairs of training names.

    Streams 7-9 of a repetition: 7 the rule w' ("report the first person when w' . s > 0"), 8 initial
    weights (the same MLP for both), 9 training batches. Adds ``"w_report"``, ``"report trained-only"``
    (``name_swap.ReportModel`` reading both names) and ``"report equivariant"`` (``read_names=False``).
    """
    _check_toys(toys)
    scale = utils.check_int("scale", scale, minimum=1)
    steps = utils.check_int("steps", steps, minimum=1)
    for toy in utils.progress(toys, desc="report toys"):
        stream = lambda k, s=toy["seed"]: utils.derive_seed(s, k)  # noqa: E731
        features = toy["trained-only"].features
        device = features.device
        toy["w_report"] = w = name_swap.rule_direction(
            NAMES["d_situation"], seed=stream(7)
        )

        def batch(step, generator, w=w):
            cases = name_swap.make_report_cases(128, NAMES["seen"], w, generator)
            return tuple(t.to(device) for t in cases)

        for name, reads in [
            ("report trained-only", True),
            ("report equivariant", False),
        ]:
            torch.manual_seed(stream(8))
            model = name_swap.ReportModel(
                features, NAMES["d_situation"], read_names=reads
            )
            toy[name] = model.to(device)
            training.train(
                toy[name],
                _decision_loss,
                batch,
                n_steps=steps * scale,
                lr=1e-2,
                seed=stream(9),
                device=device,
                progress=False,
            )


_REPORT_KEYS = ("report trained-only", "report equivariant")


def report_table(toys: list, n_test: int = 1000, n_cases: int = 2000) -> dict:
    """The renaming square of each report model of each repetition.

    Streams: 10 the ``n_test`` test situations, 11 ``n_cases`` random cases over all 24 names and three
    random renamings.

    Returns:
        ``{"report trained-only": [row per repetition], "report equivariant": [...]}``; a row holds
        ``accuracy_seen``/``accuracy_unseen``, ``disagreement_seen``/``disagreement_unseen`` (the
        fraction of (pair, other pair, situation) triples with different roles reported, among ordered
        pairs of training names / unseen names), ``renaming_violations`` (the worst fraction of cases
        over the renamings in which the square fails) and ``reported_name_changed`` (the smallest
        fraction in which the renaming changed the reported name), and ``unseen_over_seen`` (the
        ratio of the two disagreements, the seen one floored at one triple).
    """
    _check_toys(toys, _REPORT_KEYS)
    n_test = utils.check_int("n_test", n_test, minimum=1)
    n_cases = utils.check_int("n_cases", n_cases, minimum=1)
    n_pairs = len(NAMES["seen"]) * (len(NAMES["seen"]) - 1)
    one_triple = 1 / (
        n_pairs * (n_pairs - 1) * n_test
    )  # the floor of the seen disagreement
    results = {name: [] for name in _REPORT_KEYS}
    for toy in toys:
        device = toy["report trained-only"].features.device
        seen_pairs = _name_pairs(NAMES["seen"], device)
        unseen_pairs = _name_pairs(NAMES["unseen"], device)
        situations = torch.randn(
            n_test, NAMES["d_situation"], generator=utils.generator(toy["seed"], 10)
        ).to(device)
        truth = situations @ toy["w_report"].to(device) > 0  # True: report the first
        g_rename = utils.generator(toy["seed"], 11)
        people, case_situations, _ = name_swap.make_report_cases(
            n_cases, range(NAMES["n_names"]), toy["w_report"], g_rename
        )
        renamings = [
            torch.randperm(NAMES["n_names"], generator=g_rename) for _ in range(3)
        ]
        for name, rows in results.items():
            model = toy[name]
            on_seen = name_swap.decisions(model, situations, cases=seen_pairs)
            on_unseen = name_swap.decisions(model, situations, cases=unseen_pairs)
            squares = [
                name_swap.report_equivariance(
                    model, people.to(device), case_situations.to(device), r
                )
                for r in renamings
            ]
            # a renaming that moves one pair onto another breaks the square in s exactly
            # when the two pairs get different roles
            ds = name_swap.swap_disagreement(on_seen, range(len(seen_pairs)))
            du = name_swap.swap_disagreement(on_unseen, range(len(unseen_pairs)))
            rows.append(
                {
                    "accuracy_seen": (on_seen == truth).float().mean().item(),
                    "accuracy_unseen": (on_unseen == truth).float().mean().item(),
                    "disagreement_seen": ds,
                    "disagreement_unseen": du,
                    "unseen_over_seen": du / max(ds, one_triple),
                    "renaming_violations": max(sq["violations"] for sq in squares),
                    "reported_name_changed": min(sq["changed"] for sq in squares),
                }
            )
    return results


def report_feedback(toys: list, most_corrections: int = 6, steps: int = 60) -> dict:
    """The operator corrects whom to report in one situation s*, on 24 checked pairs of people.

    The pairs are the neighbours in a random cycle through the 24 names (stream 12), so every name
    appears twice; stream 13 draws s* (where the rule says "report the first person"; the operator
    wants the second) and the replayed cases, stream 14 the order of the pairs. The operator gives at
    most ``most_corrections`` corrections.

    Returns:
        ``{"report trained-only": [row per repetition], "report equivariant": [...]}``; a row holds
        ``first_reported_before``, ``pairs_changed_by_one_feedback``, ``feedback_needed`` and
        ``all_fixed``.
    """
    _check_toys(toys, _REPORT_KEYS)
    most_corrections = utils.check_int("most_corrections", most_corrections, minimum=1)
    results = {name: [] for name in _REPORT_KEYS}
    n = NAMES["n_names"]
    for toy in utils.progress(toys, desc="report feedback"):
        device = toy["report trained-only"].features.device
        w = toy["w_report"]
        cycle = torch.randperm(n, generator=utils.generator(toy["seed"], 12))
        fb_pairs = torch.stack([cycle, cycle.roll(-1)], dim=1).to(device)
        g_fb = utils.generator(toy["seed"], 13)
        replay = tuple(
            t.to(device)
            for t in name_swap.make_report_cases(256, NAMES["seen"], w, g_fb)
        )
        s_star = _s_star(w, g_fb).to(device)
        order = torch.randperm(n, generator=utils.generator(toy["seed"], 14)).tolist()
        for name, rows in results.items():
            full = name_swap.feedback_rounds(
                toy[name],
                s_star,
                False,
                replay,
                order=order,
                steps=steps,
                cases=fb_pairs,
                max_rounds=most_corrections,
            )
            after_one = full.after[0] if full.after else full.before
            rows.append(
                {
                    "first_reported_before": sum(full.before),
                    "pairs_changed_by_one_feedback": sum(
                        a != b for a, b in zip(full.before, after_one)
                    ),
                    "feedback_needed": full.n_feedback,
                    "all_fixed": full.all_fixed,
                }
            )
    return results


def _swap_scatter(ax, rows, invariant_label, xlabel, ylabel, title):
    ds = np.array([r["disagreement_seen"] for r in rows])
    du = np.array([r["disagreement_unseen"] for r in rows])
    top = 1.15 * max(du.max(), 2 * ds.max(), 1e-6)
    ax.plot([0, top], [0, top], color="0.6", lw=1, label="unseen = seen")
    ax.plot([0, top / 2], [0, top], color="k", ls="--", lw=1, label="unseen = 2 × seen")
    ax.scatter(
        ds, du, color="tab:red", zorder=3, label="trained-only (one per repetition)"
    )
    ax.scatter([0], [0], color="tab:blue", s=80, zorder=4, label=invariant_label)
    ax.set_xlim(-0.02 * top, top)
    ax.set_ylim(-0.02 * top, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")


def plot_swap_scatter(swap: dict):
    """Disagreement on unseen names against training names, one point per repetition (the output of
    ``swap_table``). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _swap_scatter(
        ax,
        swap["trained-only"],
        "invariant (0 and 0 in every repetition)",
        "fraction of swaps of two training names that change the decision",
        "fraction of swaps of two unseen names",
        "Swapping names, one point per repetition",
    )
    return fig


def plot_feedback_rounds(feedback: dict):
    """Names with the corrected decision after each correction, one line per repetition (the output of
    ``invariant_feedback``). Returns the figure."""
    import matplotlib.pyplot as plt

    n = NAMES["n_names"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, colour in [("trained-only", "tab:red"), ("invariant", "tab:blue")]:
        for i, row in enumerate(feedback[name]):
            fixed = [n - row["acting_before"]] + row["fixed_after"]
            ax.step(
                range(len(fixed)),
                fixed,
                where="post",
                marker="o",
                ms=3,
                alpha=0.6,
                color=colour,
                label=name if i == 0 else None,
            )
    ax.axhline(n, color="k", ls="--", lw=1, label="all names")
    ax.set_xlabel("feedback examples given")
    ax.set_ylabel("names with the corrected decision")
    ax.set_title("Fixing the decision in situation s*, one line per repetition")
    ax.legend(fontsize=8)
    return fig


def plot_report(report: dict, feedback: dict, most_corrections: int = 6):
    """Left: the renaming scatter of the report models (``report_table``); right: pairs changed by one
    correction and corrections given, per repetition (``report_feedback``). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    _swap_scatter(
        ax,
        report["report trained-only"],
        "equivariant",
        "fraction of pairs of training-name pairs with different roles",
        "the same, pairs of unseen names",
        "Renaming the people in a case",
    )
    reps = np.arange(len(feedback["report trained-only"]))
    for shift, (name, colour) in enumerate(
        [("report trained-only", "tab:red"), ("report equivariant", "tab:blue")]
    ):
        short = name.split()[1]
        ax2.bar(
            reps + 0.4 * shift,
            [r["pairs_changed_by_one_feedback"] for r in feedback[name]],
            width=0.4,
            color=colour,
            label=f"{short}: pairs changed by one correction",
        )
        ax2.plot(
            reps + 0.4 * shift,
            [r["feedback_needed"] for r in feedback[name]],
            "k^" if shift == 0 else "kv",
            label=f"{short}: corrections given (at most {most_corrections})",
        )
    ax2.set_xticks(reps + 0.2)
    ax2.set_xticklabels([str(i + 1) for i in reps])
    ax2.set_xlabel("repetition")
    ax2.set_ylabel("pairs / corrections")
    ax2.set_title("One correction in situation s*", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- swap equivariance (registration)
def _affine_pairs(seed: int, device):
    digits, _ = data.load_mnist(
        split="train", n=2000, pad=4, shuffle_seed=utils.derive_seed(seed, 0)
    )
    test_A, _ = data.load_mnist(
        split="test", n=128, pad=4, shuffle_seed=utils.derive_seed(seed, 1)
    )
    test_A = test_A.to(device)
    test_B = affine.warp_affine(
        test_A, affine.random_affine(128, 0.15, utils.generator(seed, 5)).to(device)
    )
    return digits, test_A, test_B


def train_affine_registrations(
    seed: int, scale: int = 1, device=None, steps: int = 250
):
    """Train ``exp(N(A,B) - N(B,A))`` and ``exp(N(A,B))`` (the same ``affine.AffineNet`` initial
    weights, stream 0) for ``steps * scale`` Adam steps on pairs (a training digit, the digit warped by a
    random affine map of size 0.15), with the loss ``|A o Phi[A,B] - B|^2``.

    Returns:
        ``(registrations, untrained_ic, test_A, test_B)``: ``{name: model}``, ``{name: max inverse-
        consistency error before training (float32)}`` and the 128 test pairs ``[128, 1, 36, 36]``
        (test digits, stream 1; their warps, stream 5).
    """
    seed, scale = _check_seed_scale(seed, scale)
    steps = utils.check_int("steps", steps, minimum=1)
    device = device or "cpu"
    digits, test_A, test_B = _affine_pairs(seed, device)

    def batch(step, generator):
        A = digits[torch.randint(len(digits), (32,), generator=generator)]
        B = affine.warp_affine(A, affine.random_affine(32, 0.15, generator))
        return A.to(device), B.to(device)

    def loss(model, b):
        return ((affine.warp_affine(b[0], model(*b)) - b[1]) ** 2).mean()

    registrations, untrained = {}, {}
    for name, cls in [
        ("exp(N(A,B) - N(B,A))", affine.SwapConsistentRegistration),
        ("exp(N(A,B))", affine.PlainRegistration),
    ]:
        torch.manual_seed(utils.derive_seed(seed, 0))
        registrations[name] = cls(affine.AffineNet(init_scale=0.1)).to(device)
        untrained[name] = (
            affine.inverse_consistency_error(registrations[name], test_A, test_B)
            .max()
            .item()
        )
        training.train(
            registrations[name],
            loss,
            batch,
            n_steps=steps * scale,
            seed=utils.derive_seed(seed, 0),
            lr=3e-3,
            device=device,
            desc=name,
        )
    return registrations, untrained, test_A, test_B


def inverse_consistency_table(
    registrations: dict, untrained: dict, test_A: torch.Tensor, test_B: torch.Tensor
) -> dict:
    """Inverse consistency and fit of each trained registration on the test pairs.

    Returns:
        ``{name: {"untrained_float32", "trained_float32", "trained_float64", "test_mse_before",
        "test_mse_after"}}``: the largest ``|Phi[B,A] Phi[A,B] - I|`` before and after training (the
        trained model also in float64) and the mean squared error of ``A o Phi[A,B]`` against B.
    """
    if set(registrations) != set(untrained):
        raise ValueError("registrations and untrained must name the same models")
    if test_A.shape != test_B.shape:
        raise ValueError("test_A and test_B must have one shape")
    table = {}
    for name, model in registrations.items():
        with torch.no_grad():
            warped = affine.warp_affine(test_A, model(test_A, test_B))
        model64 = copy.deepcopy(model).double()
        table[name] = {
            "untrained_float32": untrained[name],
            "trained_float32": affine.inverse_consistency_error(model, test_A, test_B)
            .max()
            .item(),
            "trained_float64": affine.inverse_consistency_error(
                model64, test_A.double(), test_B.double()
            )
            .max()
            .item(),
            "test_mse_before": ((test_A - test_B) ** 2).mean().item(),
            "test_mse_after": ((warped - test_B) ** 2).mean().item(),
        }
    return table


def plot_round_trip(registrations: dict, test_A, test_B, i: int = 0):
    """One test pair, its registration, and the round trip ``A o Phi[A,B] o Phi[B,A]`` against A, for
    each model (one row each). Returns the figure."""
    import matplotlib.pyplot as plt

    i = utils.check_int("i", i, minimum=0)
    fig, axes = plt.subplots(
        len(registrations), 4, figsize=(10, 2.6 * len(registrations))
    )
    axes = np.atleast_2d(axes)
    A, B = test_A[i : i + 1], test_B[i : i + 1]
    for row, (name, model) in enumerate(registrations.items()):
        with torch.no_grad():
            ab, ba = model(A, B), model(B, A)
        round_trip = affine.warp_affine(affine.warp_affine(A, ab), ba)
        panels = [
            (A[0, 0], "A"),
            (B[0, 0], "B"),
            (affine.warp_affine(A, ab)[0, 0], "A∘Φ[A,B]"),
            ((round_trip[0, 0] - A[0, 0]).abs(), "|A∘Φ[A,B]∘Φ[B,A] − A|"),
        ]
        for ax, (img, title) in zip(axes[row], panels):
            ax.imshow(img.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        axes[row, 0].text(
            -8, 18, name, rotation=90, va="center", ha="center", fontsize=9
        )
    fig.suptitle(
        "Registering a warped digit, and the round trip through the swapped registration"
    )
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- tables and summary
def html_table(rows: dict, columns: dict | None = None, digits: int = 3):
    """A compact HTML table for a notebook page, from a dict of labelled rows (a thin wrapper over
    ``equinotes.tables.html_table``, whose ``HTMLTable`` it returns).

    Args:
        rows: ``{row label: {column key: value}}`` (or ``{row label: [values]}`` with ``columns``).
        columns: ``{column key: header}`` choosing and naming the columns (default: every key of the
            first row, as written).
        digits: significant digits of floats; bools show as yes / no.
    """
    if not isinstance(rows, dict) or not rows:
        raise TypeError("rows must be a non-empty dict {label: {column: value}}")
    first = next(iter(rows.values()))
    if columns is None:
        if not isinstance(first, dict):
            raise ValueError("give columns when the rows are lists")
        columns = {k: k for k in first}
    body = []
    for label, row in rows.items():
        values = [row[k] for k in columns] if isinstance(row, dict) else list(row)
        if len(values) != len(columns):
            raise ValueError(
                f"row {label!r} has {len(values)} values for {len(columns)} columns"
            )
        body.append([str(label), *values])
    return tables.html_table(["", *columns.values()], body, digits=digits)


def spread_rows(results: dict, keys: dict) -> dict:
    """Min, median and max over the repetitions, as rows for ``html_table``.

    Args:
        results: ``{model: [row per repetition]}`` (``swap_table``, ``report_table``, ...).
        keys: ``{(model, key): row label}``: which numbers to summarise, and how to call them.
    Returns:
        ``{row label: {"min", "median", "max"}}``.
    """
    rows = {}
    for (model, key), label in keys.items():
        if model not in results or not results[model] or key not in results[model][0]:
            raise ValueError(f"results has no {key!r} for {model!r}")
        values = sorted(float(r[key]) for r in results[model])
        rows[label] = {
            "min": values[0],
            "median": float(np.median(values)),
            "max": values[-1],
        }
    return rows


def plot_chapter_squares():
    """The four diagram shapes of the chapter (equivariance square, [W,U] square of a registration,
    pasted squares of a three-layer network, the name-swap triangle), drawn with ``equinotes.diagrams``.
    Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4))
    diagrams.draw_square(
        r"$X$", r"$Y$", r"$X'$", r"$Y'$",
        top=r"$f$", bottom=r"$f$", left=r"$\rho_{in}(g)$", right=r"$\rho_{out}(g)$",
        ax=axes[0, 0], title="equivariance square",
    )  # fmt: skip
    diagrams.draw_square(
        r"$(A, B)$", r"$\Phi[A,B]$", r"$(A\circ W, B\circ U)$", r"$\Phi[A\circ W, B\circ U]$",
        top=r"$\Phi$", bottom=r"$\Phi$", left=r"$[W,U]$", right=r"$W^{-1}\circ\cdot\circ U$",
        ax=axes[0, 1], title="[W,U]-equivariance of a registration", width=3.4,
    )  # fmt: skip
    diagrams.draw_pasted_squares(
        [f"$X_{i}$" for i in range(4)],
        [f"$X_{i}'$" for i in range(4)],
        [f"$f_{i}$" for i in range(1, 4)],
        [f"$f_{i}$" for i in range(1, 4)],
        [f"$\\rho_{i}(g)$" for i in range(4)],
        ax=axes[1, 0],
        title="pasted squares: a network of three layers",
    )
    diagrams.draw_swap_triangle(
        "(Ahmed, $s$)",
        "(Colin, $s$)",
        "decision",
        swap="swap the names",
        ax=axes[1, 1],
        title="a moral principle: invariance to names",
    )
    fig.tight_layout()
    return fig


def summary_figure(
    pasting: dict,
    c4: dict,
    feedback: dict,
    inverse_consistency: dict,
    floor: float = 1e-12,
):
    """The chapter on one figure, four panels: (1) an equivariant stack commutes end to end and one
    broken layer breaks it (``pasting_variants``); (2) the exact solver's dimensions equal the
    character formula (``c4_dimensions``); (3) one correction reaches every name by construction, fewer
    when learned (``invariant_feedback``); (4) the swap-consistent registration is inverse consistent to
    rounding, the plain one is not (``inverse_consistency_table``). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    ax = axes[0]
    names = ["equivariant stack", "layer 2 broken"]
    whole = [max(pasting[n]["composite"], floor) for n in names]
    ax.bar(
        ["equivariant\nlayers", "one layer\nbroken"],
        whole,
        color=["tab:blue", "tab:red"],
    )
    ax.axhline(1e-5, color="k", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_ylabel("error of the whole diagram")
    ax.set_title("Squares paste", fontsize=10)

    ax = axes[1]
    solved = [r["sympy"] for r in c4.values()]
    predicted = [r["characters"] for r in c4.values()]
    top = max(solved + predicted) * 1.3
    ax.plot([0.8, top], [0.8, top], color="0.6", lw=1)
    ax.scatter(predicted, solved, color="tab:blue", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("character formula")
    ax.set_ylabel("dimension solved by sympy")
    ax.set_title("Solving the square (C4 cases)", fontsize=10)

    ax = axes[2]
    reach = {
        name: [r["names_changed_by_one_feedback"] for r in rows]
        for name, rows in feedback.items()
    }
    positions = {"invariant": 0, "trained-only": 1}
    colours = {"invariant": "tab:blue", "trained-only": "tab:red"}
    for name, values in reach.items():
        x = positions[name] + np.linspace(-0.15, 0.15, len(values))
        ax.scatter(x, values, color=colours[name], zorder=3)
    ax.axhline(NAMES["n_names"], color="k", ls="--", lw=1)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["built in", "learned"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(0, NAMES["n_names"] + 2)
    ax.set_ylabel("names changed by one correction")
    ax.set_title("A moral rule as a diagram", fontsize=10)

    ax = axes[3]
    labels = {
        "exp(N(A,B) - N(B,A))": "exp(N(A,B)\n − N(B,A))",
        "exp(N(A,B))": "exp(N(A,B))",
    }
    values = [max(r["trained_float32"], floor) for r in inverse_consistency.values()]
    ax.bar(
        [labels.get(n, n) for n in inverse_consistency],
        values,
        color=["tab:blue", "tab:red"][: len(values)],
    )
    ax.axhline(1e-5, color="k", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_ylabel("max |Φ[B,A] Φ[A,B] − I|")
    ax.set_title("Swap equivariance", fontsize=10)
    fig.suptitle(
        "Chapter 2 in one figure: diagrams as specifications, checked and built in"
    )
    fig.tight_layout()
    return fig
