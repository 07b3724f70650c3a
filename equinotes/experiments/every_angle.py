"""Chapter 6's experiments: five networks and two wrappers, at every angle, against their baselines.

The ideas live in the concept modules (``steerable``: harmonic filters, C_N and harmonic networks, the
interpolation floor; ``canonical``: orientation estimates, canonicalization, frames). This module runs the
chapter's experiments on them, so that the page calls each in one line:

* ``networks`` / ``wrappers``: the builders compared, with widths matched to chapter 1's C4 network;
* ``costs``: parameters and multiply-adds per digit;
* ``invariance_at_init``: invariance error against the interpolation floor at every angle, untrained
  networks on smooth blobs, one network per replication seed;
* ``analytic_invariance``: the same without any resampling: blobs *drawn* at each angle;
* ``load_digits`` / ``train_and_sweep`` / ``train_all``: train upright, evaluate at every angle and on the
  control (the same resampling, upright);
* ``accuracy_summary``, ``direct_gaps``, ``noise_jumps``, ``quarter_search``: the tables the claims read;
* ``plot_*``, ``*_html``, ``summary_figure``: the chapter's figures and compact tables.

Angles are in degrees in this module's arguments (the chapter's grids are whole degrees) and converted to
radians for ``steerable``.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from .. import canonical, data, diagrams, groups, models, steerable, training, utils

__all__ = [
    "QUARTER_INVARIANT",
    "solver_vs_harmonics",
    "networks",
    "wrappers",
    "compute_matched",
    "costs",
    "invariance_at_init",
    "analytic_blobs",
    "analytic_invariance",
    "Digits",
    "load_digits",
    "train_and_sweep",
    "train_all",
    "accuracy_summary",
    "direct_gaps",
    "noise_jumps",
    "quarter_search",
    "plot_invariance_at_init",
    "plot_accuracy",
    "plot_lost_to_turn",
    "plot_probabilities",
    "table_html",
    "summary_figure",
    "BUDGET_FILE",
    "load_budget_run",
    "budget_summary",
    "plot_budget",
    "budget_table_html",
    "budget_findings",
]

# The networks that are exactly invariant to groups.rot90 (each layer commutes with the pixel permutation).
QUARTER_INVARIANT = ("C4", "C8", "C16", "harmonic")


def _check_angles(angles_deg) -> list:
    if isinstance(angles_deg, (str, bytes)) or not hasattr(angles_deg, "__iter__"):
        raise TypeError(
            f"angles must be a sequence of degrees, got {type(angles_deg).__name__}"
        )
    out = list(angles_deg)
    if not out or not all(
        isinstance(a, (int, float)) and not isinstance(a, bool) for a in out
    ):
        raise ValueError("angles must be a non-empty sequence of numbers (degrees)")
    return out


def _check_seeds(seeds) -> list:
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of ints, got {type(seeds).__name__}")
    seeds = [utils.check_int("seed", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one replication seed")
    return seeds


def _check_builders(builders) -> dict:
    if not isinstance(builders, dict) or not builders:
        raise TypeError(
            "builders must be a non-empty dict name -> callable() -> nn.Module"
        )
    for name, build in builders.items():
        if not callable(build):
            raise TypeError(
                f"builders[{name!r}] must be callable, got {type(build).__name__}"
            )
    return builders


# --------------------------------------------------------------------------- the solver's filter spaces
def _distance_from_span(elements: torch.Tensor, space: torch.Tensor) -> float:
    """Relative distance of a filter bank ``[d, k, k]`` from the span of ``space [n, d, k, k]``."""
    w = elements.reshape(1, -1)
    proj = diagrams.project_onto_span(w, space.reshape(space.shape[0], 1, -1))
    return ((proj - w).norm() / w.norm()).item()


def solver_vs_harmonics(size: int = 5, irreps=(0, 1, 2)) -> dict:
    """Chapter 2's solver against the sampled circular harmonics, for C4 on a ``size x size`` grid.

    For each real irrep k of C4: the dimension of the solver's filter space (``steerable.cn_filter_basis``)
    and the one the character formula predicts; and the distance from that space of every sampled harmonic
    of frequency m = 1..4 (as a bank that turns by the irrep: one filter for k = 0 or 2, the pair
    (real, ±imaginary) for k = 1), split by whether m aliases onto k (m ≡ ±k mod 4).

    Returns:
        ``{"rows": [(k, solver dimension, formula dimension)], "inside": [distances], "outside":
        [distances]}``.
    """
    size = utils.check_int("size", size, minimum=3)
    filters, freqs = steerable.circular_harmonic_basis(size)
    rows, inside, outside = [], [], []
    for k in irreps:
        space = steerable.cn_filter_basis(4, size, k)
        irrep = steerable.cn_irrep(4, k)
        dim = diagrams.character_dimension(
            groups.C4,
            lambda g: diagrams.rotation_representation(size, g),
            lambda g, irrep=irrep: torch.linalg.matrix_power(irrep, g),
        )
        for m in range(1, 5):
            both = filters[freqs == m]  # (real, imaginary) on each ring carrying m
            for re, im in zip(both[0::2], both[1::2]):
                if irrep.shape[0] == 1:
                    banks = [(re[None], m % 4 == k), (im[None], m % 4 == k)]
                else:
                    sign = 1 if m % 4 == k else -1
                    banks = [(torch.stack([re, sign * im]), m % 4 in (k, 4 - k))]
                for bank, aliased in banks:
                    (inside if aliased else outside).append(
                        _distance_from_span(bank, space)
                    )
        rows.append((k, space.shape[0], int(dim)))
    return {"rows": rows, "inside": inside, "outside": outside}


# ------------------------------------------------------------------------------------------ the models
def networks() -> dict:
    """Builders of the five networks, parameter counts matched to chapter 1's ``C4CNN``.

    Returns:
        ``{"plain", "C4", "C8", "C16", "harmonic"} -> callable() -> nn.Module`` (``[B, 1, 28, 28] ->
        [B, 10]``).
    """
    widths = {n: steerable.CNCNN(n).widths for n in (8, 16)}
    harmonic = steerable.HarmonicCNN().widths
    return {
        "plain": lambda: models.PlainCNN(),
        "C4": lambda: models.C4CNN(),
        "C8": lambda: steerable.CNCNN(8, widths=widths[8]),
        "C16": lambda: steerable.CNCNN(16, widths=widths[16]),
        "harmonic": lambda: steerable.HarmonicCNN(widths=harmonic),
    }


def _axis(images: torch.Tensor) -> torch.Tensor:
    return canonical.orientation_estimate(images, order=2)


def wrappers() -> dict:
    """Builders of the plain CNN canonicalized (order-1 moment) and averaged over the axis frame.

    The axis frame is ``{b(x), b(x) + pi}`` with ``b`` the order-2 orientation estimate (an axis, defined
    up to a half turn, which the two elements cover).
    """
    return {
        "canonicalized": lambda: canonical.Canonicalized(models.PlainCNN()),
        "axis frame": lambda: canonical.FrameAveraged(
            models.PlainCNN(), [0.0, math.pi], estimator=_axis
        ),
    }


def compute_matched(target: str = "harmonic") -> dict:
    """The plain CNN widened to ``target``'s multiply-adds per digit (a compute-matched control).

    Returns:
        ``{"plain, wide": callable() -> nn.Module}``; ``[B, 1, 28, 28] -> [B, 10]``.
    """
    builders = networks()
    if target not in builders:
        raise ValueError(f"target must be one of {sorted(builders)}, got {target!r}")
    budget = steerable.multiply_adds(builders[target](), (1, 1, 28, 28))
    widths = steerable.match_widths(
        lambda w: models.PlainCNN(widths=w), budget, measure="multiply_adds"
    )
    return {"plain, wide": lambda: models.PlainCNN(widths=widths)}


def costs(builders: dict, input_shape=(1, 1, 28, 28)) -> dict:
    """Parameters and multiply-adds of one forward pass of each model.

    Returns:
        ``name -> {"parameters": int, "multiply_adds": int}``.
    """
    builders = _check_builders(builders)
    out = {}
    for name, build in builders.items():
        model = build()
        out[name] = {
            "parameters": models.count_parameters(model),
            "multiply_adds": steerable.multiply_adds(model, input_shape),
        }
    return out


# ------------------------------------------------------------------------------- invariance at init
def _check_shortcut(net: nn.Module, images: torch.Tensor, name: str) -> None:
    """``outputs_by_angle(quarter_periodic=True)`` is valid only for an exactly rot90-invariant net."""
    with torch.no_grad():
        direct = net(steerable.turn(images, math.radians(95)))
        short = net(steerable.turn(images, math.radians(5)))
    gap = (direct - short).abs().max().item()
    if gap >= 1e-4:
        raise AssertionError(
            f"{name} is not invariant to quarter turns (gap {gap:.1e} between 95° and 5°): "
            "the quarter-periodic shortcut would be wrong"
        )


def invariance_at_init(
    builders: dict, images: torch.Tensor, angles_deg: Sequence, seeds: Sequence
) -> dict:
    """Invariance error and interpolation floor of untrained networks at every angle, one net per seed.

    For each seed and network (``torch.manual_seed(seed)`` before building it): the relative change of the
    outputs (``steerable.relative_change``, in units of the outputs' spread) when the images are turned
    by each angle, and when they are only resampled (turned by the remainder and back: the floor).
    Networks named in ``QUARTER_INVARIANT`` are evaluated once per remainder (checked at 95° first).

    Args:
        builders: name -> callable() -> nn.Module. images: ``[N, C, H, W]`` square, N >= 2.
        angles_deg: the angles, degrees. seeds: one replication per seed.
    Returns:
        ``{"error": {name: [seeds, angles]}, "floor": {name: [seeds, angles]}, "ratio": {name: [seeds]}
        (median over the angles that are not quarter turns of error / floor), "quarter": {name: [seeds]}
        (largest error at a quarter turn)}``, numpy arrays.
    """
    builders = _check_builders(builders)
    utils.check_images(images, square=True)
    angles_deg, seeds = _check_angles(angles_deg), _check_seeds(seeds)
    rad = [math.radians(a) for a in angles_deg]
    off = [i for i, a in enumerate(angles_deg) if a % 90]
    quarter = [i for i, a in enumerate(angles_deg) if a % 90 == 0]
    out = {
        key: {n: [] for n in builders} for key in ("error", "floor", "ratio", "quarter")
    }
    for seed in seeds:
        for name, build in builders.items():
            torch.manual_seed(seed)
            net = build().eval()
            periodic = name in QUARTER_INVARIANT
            if periodic:
                _check_shortcut(net, images, name)
            turned = steerable.outputs_by_angle(
                net, images, rad, quarter_periodic=periodic
            )
            back = steerable.outputs_by_angle(net, images, rad, turned_back=True)
            err = steerable.relative_change(turned, turned[0]).median(dim=1).values
            floor = steerable.relative_change(back, turned[0]).median(dim=1).values
            out["error"][name].append(err.numpy())
            out["floor"][name].append(floor.numpy())
            out["ratio"][name].append(
                (err[off] / floor[off]).median().item() if off else np.nan
            )
            out["quarter"][name].append(
                err[quarter].max().item() if quarter else np.nan
            )
    return {key: {n: np.asarray(v) for n, v in d.items()} for key, d in out.items()}


def analytic_blobs(
    batch: int,
    angle_deg: float,
    size: int = 28,
    n_blobs: int = 6,
    sigma: float = 2.5,
    seed: int = 0,
) -> torch.Tensor:
    """Sums of Gaussian blobs *drawn* turned by ``angle_deg``: the centres are turned, not the pixels.

    The same random blobs as ``steerable.smooth_blobs(batch, size, n_blobs, sigma, seed)`` at angle 0
    (same generator draws), each centre turned counter-clockwise as displayed about the image centre.
    No interpolation is involved, so an exactly SO(2)-invariant network on the continuous plane would
    change only by what sampling the network's own filters costs.

    Returns:
        ``[batch, 1, size, size]`` float32.
    """
    batch = utils.check_int("batch", batch, minimum=1)
    size = utils.check_int("size", size, minimum=2)
    n_blobs = utils.check_int("n_blobs", n_blobs, minimum=1)
    seed = utils.check_int("seed", seed, minimum=0)
    if isinstance(angle_deg, bool) or not isinstance(angle_deg, (int, float)):
        raise TypeError(f"angle_deg must be a number, got {type(angle_deg).__name__}")
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, (int, float))
        or not 0 < sigma < size / 6
    ):
        raise ValueError(f"sigma must be a number in (0, size / 6), got {sigma!r}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    r, theta, weight = torch.rand(
        3, batch, n_blobs, 1, 1, generator=g, dtype=torch.float64
    )
    r = (size / 2 - 3 * sigma) * r.sqrt()
    # y grows down the rows, so a counter-clockwise turn as displayed lowers the row angle
    theta = 2 * math.pi * theta - math.radians(angle_deg)
    d2 = (xx - r * torch.cos(theta)) ** 2 + (yy - r * torch.sin(theta)) ** 2
    images = ((0.2 + weight) * torch.exp(-d2 / (2 * sigma**2))).sum(dim=1, keepdim=True)
    return images.float()


def analytic_invariance(
    builders: dict,
    batch: int,
    angles_deg: Sequence,
    seeds: Sequence,
    blob_seed: int = 0,
) -> dict:
    """Invariance error with no resampling: untrained networks on blobs drawn at each angle.

    For each seed and network, ``relative_change`` of the outputs on ``analytic_blobs(angle)`` against
    those at angle 0, median over the images, then median over the angles.

    Returns:
        ``name -> [seeds]`` numpy array of median errors.
    """
    builders = _check_builders(builders)
    angles_deg, seeds = _check_angles(angles_deg), _check_seeds(seeds)
    drawn = [analytic_blobs(batch, a, seed=blob_seed) for a in [0, *angles_deg]]
    out = {n: [] for n in builders}
    for seed in seeds:
        for name, build in builders.items():
            torch.manual_seed(seed)
            net = build().eval()
            with torch.no_grad():
                outputs = torch.stack([net(x) for x in drawn])
            change = (
                steerable.relative_change(outputs[1:], outputs[0]).median(dim=1).values
            )
            out[name].append(change.median().item())
    return {n: np.asarray(v) for n, v in out.items()}


# ------------------------------------------------------------------------------- train, then sweep
@dataclass
class Digits:
    """Upright MNIST digits: ``x_train [N, 1, 28, 28]``, ``y_train [N]``, ``x_test``, ``y_test``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits(seed: int, n_test: int) -> Digits:
    """The bundled training split (shuffled, stream 1 of ``seed``) and ``n_test`` test digits (stream 2)."""
    seed = utils.check_int("seed", seed, minimum=0)
    n_test = utils.check_int("n_test", n_test, minimum=2)
    x_train, y_train = data.load_mnist(
        split="train", shuffle_seed=utils.derive_seed(seed, 1)
    )
    x_test, y_test = data.load_mnist(
        split="test", n=n_test, shuffle_seed=utils.derive_seed(seed, 2)
    )
    return Digits(x_train, y_train, x_test, y_test)


def train_and_sweep(
    name: str,
    build: Callable,
    seed: int,
    digits: Digits,
    angles_deg: Sequence,
    steps: int,
    batch: int = 32,
    lr: float = 1e-2,
    device=None,
) -> tuple:
    """Train one model on upright digits, then evaluate it at every angle and on the control.

    Adam, ``steps`` batches of ``batch`` upright training digits (``torch.manual_seed(seed)`` first), batch
    norm recalibrated on 1000 training digits. Then the test digits turned by each angle
    (``steerable.turn``), and the control: turned by the remainder and back (upright, equally resampled).

    Returns:
        ``(model, sweep)`` with ``sweep = {"accuracy", "control": [angles] float64 tensors, "error",
        "floor": [angles] median relative output change}``.
    """
    if not isinstance(digits, Digits):
        raise TypeError(
            f"digits must be a Digits (see load_digits), got {type(digits).__name__}"
        )
    seed = utils.check_int("seed", seed, minimum=0)
    steps = utils.check_int("steps", steps, minimum=1)
    rad = [math.radians(a) for a in _check_angles(angles_deg)]
    device = utils.get_device() if device is None else device
    torch.manual_seed(seed)
    model = build().to(device)
    training.fit_classifier(
        model, digits.x_train, digits.y_train, steps, batch, lr=lr, seed=seed,
        device=device, progress=False,
    )  # fmt: skip
    models.recalibrate_batchnorm(model, digits.x_train[:1000])
    periodic = name in QUARTER_INVARIANT
    out = steerable.outputs_by_angle(
        model, digits.x_test, rad, quarter_periodic=periodic
    )
    back = steerable.outputs_by_angle(model, digits.x_test, rad, turned_back=True)
    y = digits.y_test
    sweep = {
        "accuracy": (out.argmax(-1) == y).double().mean(-1),
        "control": (back.argmax(-1) == y).double().mean(-1),
        "error": steerable.relative_change(out, out[0]).median(-1).values,
        "floor": steerable.relative_change(back, out[0]).median(-1).values,
    }
    return model, sweep


def train_all(
    builders: dict,
    seeds: Sequence,
    digits: Digits,
    angles_deg: Sequence,
    steps: int,
    desc: str = "training upright",
    **kwargs,
) -> tuple:
    """``train_and_sweep`` for every (model, seed), with a progress bar.

    Returns:
        ``(trained, sweeps)``: dicts keyed by ``(name, seed)``.
    """
    builders, seeds = _check_builders(builders), _check_seeds(seeds)
    trained, sweeps = {}, {}
    runs = [(name, seed) for seed in seeds for name in builders]
    for name, seed in utils.progress(runs, desc=desc):
        trained[name, seed], sweeps[name, seed] = train_and_sweep(
            name, builders[name], seed, digits, angles_deg, steps, **kwargs
        )
    return trained, sweeps


def accuracy_summary(
    sweeps: dict, names: Sequence, seeds: Sequence, angles_deg: Sequence
) -> dict:
    """Per model, one number per seed: upright, worst-angle and worst ÷ best accuracy, and the accuracy
    lost to the turn beyond the control (mean over the angles that are not quarter turns).

    Returns:
        ``name -> {"upright", "worst", "worst_over_best", "lost_to_turn"}``, numpy arrays ``[seeds]``.
    """
    seeds, angles_deg = _check_seeds(seeds), _check_angles(angles_deg)
    off = [i for i, a in enumerate(angles_deg) if a % 90]
    out = {}
    for name in names:
        if any((name, s) not in sweeps for s in seeds):
            raise KeyError(f"sweeps has no entry for {name!r} at every seed")
        acc = np.stack([sweeps[name, s]["accuracy"].numpy() for s in seeds])
        ctrl = np.stack([sweeps[name, s]["control"].numpy() for s in seeds])
        out[name] = {
            "upright": acc[:, 0],
            "worst": acc.min(1),
            "worst_over_best": acc.min(1) / acc.max(1),
            "lost_to_turn": (ctrl[:, off] - acc[:, off]).mean(1),
        }
    return out


def direct_gaps(trained: dict, sweeps: dict, names: Sequence, seeds: Sequence, digits: Digits,
                angles_deg: Sequence) -> tuple:  # fmt: skip
    """Evaluate without the quarter-periodic shortcut: the accuracy gap between 90° and upright, and
    between 105° evaluated directly and the sweep's value at 105°.

    Returns:
        ``(quarter_gap, direct_gap)``: per seed, the largest gap over ``names``.
    """
    angles_deg = _check_angles(angles_deg)
    at105 = angles_deg.index(105)
    x, y = digits.x_test, digits.y_test
    quarter_gap, direct_gap = [], []
    for s in _check_seeds(seeds):
        q, d = [], []
        for n in names:
            model, acc = trained[n, s], sweeps[n, s]["accuracy"]
            q.append(
                abs(
                    training.accuracy(model, steerable.turn(x, math.pi / 2), y)
                    - acc[0].item()
                )
            )
            acc105 = training.accuracy(model, steerable.turn(x, math.radians(105)), y)
            d.append(abs(acc105 - acc[at105].item()))
        quarter_gap.append(max(q))
        direct_gap.append(max(d))
    return quarter_gap, direct_gap


# ------------------------------------------------------------------------- where canonicalization jumps
def _tv(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Total-variation distance between the softmax distributions of two logit batches ``[N, K]``."""
    return 0.5 * (torch.softmax(a, dim=1) - torch.softmax(b, dim=1)).abs().sum(1)


def noise_jumps(
    models_by_seed: dict,
    images: torch.Tensor,
    seed: int,
    sigma: float = 0.02,
    share: float = 0.1,
) -> dict:
    """How far invisible pixel noise moves each model, on the most and least ambiguous digits.

    Two independent noisy copies (standard deviation ``sigma``, stream 6 of ``seed``) of every image; the
    ``share`` of images with the highest and lowest ``canonical.orientation_ambiguity`` form the groups
    "ambiguous" and "clear". For each model (and each replication), the mean total-variation distance of
    its predicted probabilities between the two copies, per group. For every ``canonical.Canonicalized``
    model, also "<name>, angle held": the same backbone with the angle estimated on the *clean* image and
    held for both copies (the ablation that isolates the estimate's jump).

    Args:
        models_by_seed: name -> list of models, one per replication. images: ``[N, 1, H, W]``.
    Returns:
        ``{"tv": {name: {group: [replications]}}, "angle_move": {group: median degrees the estimate
        moves}, "noisy": the two noisy copies, "ambiguity": [N], "groups": {group: indices}}``.
    """
    utils.check_images(images, square=True)
    if not isinstance(models_by_seed, dict) or not models_by_seed:
        raise TypeError(
            "models_by_seed must be a non-empty dict name -> list of models"
        )
    if not 0 < share <= 0.5:
        raise ValueError(f"share must lie in (0, 0.5], got {share}")
    amb = canonical.orientation_ambiguity(images)
    order = amb.argsort()
    k = max(1, int(len(order) * share))
    groups_ = {"clear": order[:k], "ambiguous": order[-k:]}
    gen = utils.generator(seed, 6)
    noisy = [
        images + sigma * torch.randn(images.shape, generator=gen) for _ in range(2)
    ]
    est = [canonical.orientation_estimate(x) for x in noisy]
    move = torch.remainder(est[1] - est[0] + math.pi, 2 * math.pi) - math.pi
    tv: dict = {}
    for name, replicas in models_by_seed.items():
        for model in replicas:
            outs = [training.predict(model, x) for x in noisy]
            per_group = {g: _tv(*outs)[idx].mean().item() for g, idx in groups_.items()}
            for g, v in per_group.items():
                tv.setdefault(name, {}).setdefault(g, []).append(v)
            if isinstance(model, canonical.Canonicalized):
                held = canonical.orientation_estimate(images)
                outs = [
                    training.predict(model.backbone, groups.rotate(x, -held))
                    for x in noisy
                ]
                for g, idx in groups_.items():
                    tv.setdefault(f"{name}, angle held", {}).setdefault(g, []).append(
                        _tv(*outs)[idx].mean().item()
                    )
    return {
        "tv": tv,
        "angle_move": {
            g: move[idx].abs().rad2deg().median().item() for g, idx in groups_.items()
        },
        "noisy": noisy,
        "ambiguity": amb,
        "groups": groups_,
    }


def quarter_search(
    score: Callable, model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> dict:
    """Chapter 4's search over the C4 orbit as a canonicalization, scored by ``score(images) -> [B]``.

    Returns:
        ``{"follows": share of (image, turn j in 1..3) whose chosen quarter turn moves by j, "accuracy":
        [4] the model's accuracy on the search's choice for inputs turned by 0, 90, 180, 270°}``.
    """
    utils.check_images(images, square=True)
    if not callable(score):
        raise TypeError("score must be a callable images [B, C, H, W] -> [B]")
    _, k0 = canonical.quarter_turn_canonical(images, score)
    follows, acc = [], []
    for j in range(4):
        chosen, k = canonical.quarter_turn_canonical(groups.rot90(images, j), score)
        if j:
            follows.append(((k - k0 - j) % 4 == 0).double())
        acc.append(training.accuracy(model, chosen, labels))
    return {"follows": torch.cat(follows).mean().item(), "accuracy": acc}


# ---------------------------------------------------------------------------------- figures, tables
def plot_invariance_at_init(result: dict, angles_deg: Sequence, names: Sequence):
    """Left: median error per angle (median over seeds) and the floor; right: error ÷ floor per seed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for name in names:
        axes[0].plot(angles_deg, np.median(result["error"][name], axis=0), label=name)
    floor = np.concatenate([result["floor"][n] for n in names])
    axes[0].plot(angles_deg, np.median(floor, axis=0), "k--", label="floor")
    axes[0].set(
        xlabel="angle (°)", ylabel="relative output change", xticks=range(0, 361, 45)
    )
    axes[0].legend(fontsize=8)
    axes[0].set_title("untrained, smooth blobs: error and floor", fontsize=10)
    for name in names:
        r = result["ratio"][name]
        axes[1].scatter([name] * len(r), r)
    axes[1].axhline(1, color="k", ls="--", lw=1)
    axes[1].set(yscale="log", ylabel="error ÷ floor")
    axes[1].set_title("median over angles, one point per seed", fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy(
    sweeps: dict, names: Sequence, seeds: Sequence, angles_deg: Sequence, ax=None
):
    """Accuracy against test angle: mean over seeds, band from min to max, control dotted, chance."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for name in names:
        acc = np.stack([sweeps[name, s]["accuracy"].numpy() for s in seeds])
        ctrl = np.stack([sweeps[name, s]["control"].numpy() for s in seeds])
        line = ax.plot(angles_deg, acc.mean(0), marker=".", label=name)[0]
        ax.fill_between(
            angles_deg, acc.min(0), acc.max(0), alpha=0.15, color=line.get_color()
        )
        ax.plot(angles_deg, ctrl.mean(0), ls=":", color=line.get_color())
    ax.axhline(0.1, color="k", lw=1, ls="--", label="chance")
    ax.set(
        xlabel="test angle (°)",
        ylabel="accuracy",
        ylim=(0, 1),
        xticks=range(0, 361, 45),
    )
    ax.legend(fontsize=8, ncol=2)
    return ax


def plot_lost_to_turn(
    sweeps: dict, names: Sequence, seeds: Sequence, angles_deg: Sequence, ax=None
):
    """Control accuracy minus accuracy against test angle (mean over seeds): what the turn itself costs
    beyond resampling."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for name in names:
        lost = np.stack(
            [
                (sweeps[name, s]["control"] - sweeps[name, s]["accuracy"]).numpy()
                for s in seeds
            ]
        )
        ax.plot(angles_deg, lost.mean(0), marker=".", label=name)
    ax.axhline(0, color="k", ls="--", lw=1)
    ax.set(
        xlabel="test angle (°)",
        ylabel="control accuracy − accuracy",
        xticks=range(0, 361, 45),
    )
    ax.legend(fontsize=8)
    return ax


def plot_probabilities(models_: dict, image: torch.Tensor, label: int, degrees: float):
    """One test digit turned by ``degrees`` and each model's predicted probabilities (a heat map row per
    model). ``models_``: name -> model; ``image``: ``[1, 1, H, W]``."""
    import matplotlib.pyplot as plt

    utils.check_images(image, square=True)
    img = steerable.turn(image, math.radians(degrees))
    probs = torch.cat(
        [torch.softmax(training.predict(m, img), dim=1) for m in models_.values()]
    )
    fig, axes = plt.subplots(
        1, 2, figsize=(8.5, 2.9), gridspec_kw={"width_ratios": [1, 2.6]}
    )
    axes[0].imshow(img[0, 0], cmap="gray")
    axes[0].set_title(f"digit {int(label)} turned {degrees}°")
    axes[0].axis("off")
    axes[1].imshow(probs, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes[1].set_yticks(range(len(models_)), list(models_), fontsize=8)
    axes[1].set(xticks=range(10), xlabel="class")
    axes[1].set_title("predicted probabilities", fontsize=9)
    fig.tight_layout()
    return fig


def table_html(rows: dict, columns: Sequence, formats: dict | None = None) -> str:
    """A small HTML table: one row per key of ``rows`` (``name -> {column: value}``).

    Numbers are formatted with ``formats[column]`` (a format spec, default ``".2f"``); a sequence of
    numbers (one per seed) is shown as its range ``low–high``.
    """
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["", *columns])
    body = []
    for name, row in rows.items():
        cells = [f"<td><b>{html.escape(str(name))}</b></td>"]
        for c in columns:
            v, spec = row.get(c, ""), formats.get(c, ".2f")
            if isinstance(v, (list, tuple, np.ndarray)):
                lo, hi = float(np.min(v)), float(np.max(v))
                text = (
                    f"{lo:{spec}}"
                    if f"{lo:{spec}}" == f"{hi:{spec}}"
                    else f"{lo:{spec}}–{hi:{spec}}"
                )
            elif isinstance(v, (int, float, np.floating)):
                text = f"{v:{spec}}"
            else:
                text = html.escape(str(v))
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def summary_figure(summary: dict, cost: dict, names: Sequence):
    """The chapter in one picture: worst-angle accuracy (over every test angle) against multiply-adds
    per digit, upright accuracy as a hollow marker above each model; bars span the seeds."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name in names:
        macs = cost[name]["multiply_adds"] / 1e6
        worst, up = summary[name]["worst"], summary[name]["upright"]
        line = ax.errorbar(
            macs, worst.mean(), yerr=[[worst.mean() - worst.min()], [worst.max() - worst.mean()]],
            fmt="o", capsize=3, label=name,
        )  # fmt: skip
        ax.scatter(macs, up.mean(), facecolors="none", edgecolors=line[0].get_color())
        ax.annotate(
            name,
            (macs, worst.mean()),
            xytext=(6, -3),
            textcoords="offset points",
            fontsize=8,
        )
        ax.plot(
            [macs, macs], [worst.mean(), up.mean()], color=line[0].get_color(), lw=0.6
        )
    ax.axhline(0.1, color="k", ls="--", lw=1, label="chance")
    ax.set(
        xscale="log",
        xlabel="multiply-adds per digit (millions, log scale)",
        ylim=(0, 1),
    )
    ax.set_ylabel("accuracy: worst angle (●), upright (○)")
    ax.set_title(
        "trained upright, tested at every angle: flatness and its price", fontsize=10
    )
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- longer budgets (a committed run)
# Written by scripts/every_angle_budget.py (its predictions: results/every_angle_budget_prediction.md).
BUDGET_FILE = (
    Path(__file__).resolve().parent.parent / "_data" / "every_angle_budget.json"
)
_BUDGET_KEYS = ("schema_version", "config", "costs", "results", "provenance")


def load_budget_run(path=None) -> dict:
    """Read (and check) a run of ``scripts/every_angle_budget.py``; default: the committed one.

    Returns:
        the file's dict, with ``sweeps``: ``(model, steps, seed) -> {"accuracy", "control": numpy
        [angles]}`` added. Raises ``ValueError`` on a file that is not such a run or is unfinished.
    """
    path = Path(BUDGET_FILE if path is None else path)
    run = json.loads(path.read_text())
    missing = [k for k in _BUDGET_KEYS if k not in run]
    if missing or run["schema_version"] != 1:
        raise ValueError(f"{path} is not a budget run (schema 1): missing {missing}")
    config = run["config"]
    sweeps = {}
    for r in run["results"]:
        key = (r["model"], r["steps"], r["seed"])
        if len(r["accuracy"]) != len(config["angles_deg"]) or key in sweeps:
            raise ValueError(f"{path}: bad or repeated entry {key}")
        sweeps[key] = {
            k: np.asarray(r[k], dtype=float) for k in ("accuracy", "control")
        }
    wanted = {
        (m, s, k)
        for m in config["models"]
        for s in config["steps"]
        for k in config["replications"]
    }
    if set(sweeps) != wanted or not run["provenance"].get("finished"):
        raise ValueError(
            f"{path}: unfinished run ({len(sweeps)} of {len(wanted)} trained models)"
        )
    return {**run, "sweeps": sweeps}


def budget_summary(run: dict) -> dict:
    """Per (model, budget), one number per replication: upright and worst-angle accuracy.

    Returns:
        ``(model, steps) -> {"upright", "worst": numpy [replications]}``.
    """
    if not isinstance(run, dict) or "sweeps" not in run:
        raise TypeError("run must come from load_budget_run")
    config = run["config"]
    out = {}
    for m in config["models"]:
        for s in config["steps"]:
            acc = np.stack(
                [run["sweeps"][m, s, k]["accuracy"] for k in config["replications"]]
            )
            out[m, s] = {"upright": acc[:, 0], "worst": acc.min(1)}
    return out


def plot_budget(run: dict, names: Sequence | None = None):
    """Worst-angle (left) and upright (right) accuracy against the training budget: the median over
    the replications as a line, the range as a band; chance dashed."""
    import matplotlib.pyplot as plt

    summary = budget_summary(run)
    steps = run["config"]["steps"]
    names = list(run["config"]["models"] if names is None else names)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, key, title in (
        (axes[0], "worst", "worst angle"),
        (axes[1], "upright", "upright"),
    ):
        for name in names:
            values = np.stack([summary[name, s][key] for s in steps])  # [budgets, reps]
            line = ax.plot(steps, np.median(values, 1), marker="o", label=name)[0]
            ax.fill_between(
                steps, values.min(1), values.max(1), alpha=0.15, color=line.get_color()
            )
        ax.axhline(0.1, color="k", lw=1, ls="--")
        ax.set(
            xscale="log", xticks=steps, xlabel="Adam steps of 32 digits", ylim=(0, 1)
        )
        ax.set_xticklabels([str(s) for s in steps])
        ax.set_title(f"{title} accuracy", fontsize=10)
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def budget_table_html(run: dict) -> str:
    """One row per model: its worst-angle accuracy at each budget, its upright accuracy at the largest
    (ranges over the replications) and its multiply-adds per digit (millions)."""
    summary = budget_summary(run)
    steps = run["config"]["steps"]
    rows = {
        m: {
            **{f"worst, {s} steps": summary[m, s]["worst"] for s in steps},
            f"upright, {steps[-1]} steps": summary[m, steps[-1]]["upright"],
            "M mult-adds": run["costs"][m]["multiply_adds"] / 1e6,
        }
        for m in run["config"]["models"]
    }
    columns = [*(f"worst, {s} steps" for s in steps), f"upright, {steps[-1]} steps"]
    return table_html(rows, [*columns, "M mult-adds"], {"M mult-adds": ".1f"})


def budget_findings(run: dict) -> dict:
    """The numbers the predictions of the budget run are judged on (all from ``budget_summary``).

    Returns a dict (``steps`` are the run's budgets, in order; medians over the replications):
        ``upright_rises``: model -> in how many replications the upright accuracy is higher at the
        second budget than at the first; ``upright_lead``: steps -> the plain CNN's median upright
        accuracy minus the best median of C4, C8 and the harmonic network; ``median_worst``: steps ->
        model -> median worst-angle accuracy; ``harmonic_minus_c4_worst`` and
        ``wide_minus_c4_worst`` / ``plain_minus_c4_worst``: steps -> the smallest and the largest,
        over the replications, of the worst-angle gap; ``wide_minus_plain_upright``: steps ->
        difference of median upright accuracies.
    """
    summary = budget_summary(run)
    models, steps = run["config"]["models"], run["config"]["steps"]
    needed = {"plain", "plain, wide", "C4", "C8", "harmonic"}
    if not needed <= set(models) or len(steps) < 2:
        raise ValueError(
            f"the run needs the models {sorted(needed)} and two budgets or more"
        )

    def med(m, s, key):
        return float(np.median(summary[m, s][key]))

    def gap(a, b, s):
        return summary[a, s]["worst"] - summary[b, s]["worst"]

    first, second = steps[0], steps[1]
    return {
        "upright_rises": {
            m: int((summary[m, second]["upright"] > summary[m, first]["upright"]).sum())
            for m in models
        },
        "upright_lead": {
            s: med("plain", s, "upright")
            - max(med(m, s, "upright") for m in ("C4", "C8", "harmonic"))
            for s in steps
        },
        "median_worst": {s: {m: med(m, s, "worst") for m in models} for s in steps},
        "harmonic_minus_c4_worst": {
            s: float(gap("harmonic", "C4", s).min()) for s in steps
        },
        "wide_minus_c4_worst": {
            s: float(gap("plain, wide", "C4", s).max()) for s in steps
        },
        "plain_minus_c4_worst": {s: float(gap("plain", "C4", s).max()) for s in steps},
        "wide_minus_plain_upright": {
            s: med("plain, wide", s, "upright") - med("plain", s, "upright")
            for s in steps
        },
    }
