"""Chapter 1's experiments: the plumbing behind "Equivariance basics".

The ideas of the chapter live in the concept modules (``groups``, ``equivariance``, ``models``,
``training``); this module runs the chapter's experiments with them, so that a notebook cell runs one in a
line and shows its figure:

* ``shift_errors``, ``plot_shift_errors``, ``plot_shift_gaps``: which layers commute with cyclic shifts;
* ``probe_sets``, ``invariance_errors``: exact invariance of a network on any input;
* ``RotatedDigits``: the rotated digits 0-4 task (training pool, test set, a cache of trained models);
* ``learned_vs_builtin``: augmented and plain CNNs against the C4 CNN, on and off the training
  distribution, over several seeds;
* ``data_efficiency_grid``: test accuracy against the number of training images, and the images each
  network needs to reach a target accuracy (the widened plain CNN of equal compute included);
* ``six_vs_nine``: when invariance is the wrong prior;
* figures for each, and ``summary_figure`` for the chapter's summary.

Every random choice derives from the page's ``SEED`` through ``utils.derive_seed``/``utils.generator``
streams, numbered as in the chapter, so the page's numbers do not depend on the order of its cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .. import data, groups, models, steerable, tables, training, utils
from .. import equivariance as eq

__all__ = [
    "CLASSES",
    "WIDE",
    "KINDS",
    "plot_actions",
    "shift_errors",
    "plot_shift_errors",
    "plot_shift_gaps",
    "model_costs",
    "plot_lifted_planes",
    "quarter_turned",
    "probe_sets",
    "invariance_errors",
    "RotatedDigits",
    "LearnedVsBuiltin",
    "learned_vs_builtin",
    "plot_learned_vs_builtin",
    "DataEfficiency",
    "data_efficiency_grid",
    "plot_data_efficiency",
    "SixVsNine",
    "six_vs_nine",
    "plot_six_vs_nine",
    "render_turned_digit",
    "summary_figure",
]

#: The digits of the chapter's task, which stay distinct under quarter turns (6 and 9 do not).
CLASSES = (0, 1, 2, 3, 4)
#: The plain CNN with every width doubled, about the C4 CNN's multiply-adds per image.
WIDE = (16, 32, 64)
#: The three networks of the learned-versus-built-in comparison and the data-efficiency grid.
KINDS = ("plain", "augmented", "C4")
_KIND_NAMES = ("plain", "augmented", "C4", "wide")


def _turn(k, images):
    return groups.rot90(images, k)


# ---------------------------------------------------------------------------------------------
# Groups acting on data


def plot_actions(x: torch.Tensor):
    """One digit ``x`` ``[1, 1, H, W]`` under quarter turns, a shift and a continuous rotation, and the
    interpolation floor (30 degrees twice minus 60 degrees once). Returns the figure."""
    import matplotlib.pyplot as plt

    utils.check_images(x, name="x", square=True)
    floor = groups.rotate(groups.rotate(x, math.pi / 6), math.pi / 6) - groups.rotate(
        x, math.pi / 3
    )
    panels = [
        ("the digit $x$", x),
        ("$k=1$ quarter turn", groups.rot90(x, 1)),
        ("$k=2$", groups.rot90(x, 2)),
        ("shift by (5, 7)", groups.shift(x, (5, 7))),
        ("rotate by 30°", groups.rotate(x, math.pi / 6)),
        ("30° twice − 60° once\n(colour range ±max)", floor),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.1 * len(panels), 2.4))
    for ax, (title, img) in zip(axes, panels):
        diff = img is floor
        scale = img.abs().max().item() if diff else 1.0
        ax.imshow(
            img[0, 0].numpy(),
            cmap="RdBu" if diff else "gray",
            vmin=-scale if diff else 0,
            vmax=scale,
        )
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        "One digit under group actions: exact ones permute pixels, "
        "continuous rotation interpolates"
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Convolution and translations


def _interior_mask(size: int, s: int, reach: int) -> torch.Tensor:
    """Output pixels whose window (``reach`` pixels each way) overlaps neither the border nor the
    border moved by the shift ``(s, s)``: ``[size, size]`` float64 of 0/1."""
    i = torch.arange(size)
    ok = (
        (i >= reach)
        & (i < size - reach)
        & ((i - s) % size >= reach)
        & ((i - s) % size < size - reach)
    )
    return (ok[:, None] & ok[None, :]).double()


def shift_errors(
    layer: Callable,
    images: torch.Tensor,
    shifts,
    stride: int = 1,
    reach: int | None = None,
) -> list[tuple[float, float]]:
    """How far ``layer`` is from commuting with diagonal cyclic shifts ``(s, s)``.

    Args:
        layer: a map of images ``[B, C, H, W] -> [B, C', H', W']``.
        images: ``[B, C, H, W]`` square.
        shifts: positive integer shifts s.
        stride: the layer's downsampling factor. With 1 the output is compared with the output shifted
            by ``(s, s)``; with 2 with the best of the two nearest output shifts ``s // 2`` and
            ``(s + 1) // 2`` (exact for even s when the layer commutes with shifts at all).
        reach: if given, count only output pixels whose window (``reach`` pixels each way) stays away
            from the border and from the shifted border (stride 1 only).
    Returns:
        one ``(max absolute error, relative L2 error)`` per shift.
    """
    utils.check_images(images, name="images", square=True)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    if reach is not None and stride != 1:
        raise ValueError("reach (a border mask) works with stride 1 only")
    shifts = [utils.check_int("shift", s, minimum=1) for s in shifts]
    if not shifts:
        raise ValueError("shifts is empty: give at least one shift")

    def error(s, out_s):
        mask = None if reach is None else _interior_mask(images.shape[-1], s, reach)
        row = eq.equivariance_error(
            layer,
            images,
            lambda g, img: groups.shift(img, (g, g)),
            lambda g, out: groups.shift(out, (out_s, out_s)),
            [s],
            mask=mask,
        ).rows[0]
        return row.abs, row.rel

    if stride == 1:
        return [error(s, s) for s in shifts]
    return [min(error(s, o) for o in {s // 2, (s + 1) // 2}) for s in shifts]


def plot_shift_errors(errors: dict, shifts, floor: float = 1e-10):
    """Bars of the relative shift-equivariance error of each layer (``errors[name]`` as returned by
    ``shift_errors``) at each shift, on a log scale, with the float64 exactness threshold."""
    import matplotlib.pyplot as plt

    shifts = list(shifts)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(errors), 1)
    for j, (name, row) in enumerate(errors.items()):
        if len(row) != len(shifts):
            raise ValueError(f"{name!r} has {len(row)} errors for {len(shifts)} shifts")
        ax.bar(
            np.arange(len(shifts)) + (j - (len(errors) - 1) / 2) * width,
            [max(rel, 1e-17) for _, rel in row],
            width,
            label=name,
        )
    ax.set_yscale("log")
    ax.axhline(floor, color="k", ls="--", lw=0.8)
    ax.text(
        len(shifts) - 0.5,
        1.5 * floor,
        "float64 exactness threshold",
        ha="right",
        fontsize=8,
    )
    ax.set_xticks(range(len(shifts)), [f"shift ({s}, {s})" for s in shifts])
    ax.set_ylabel("relative equivariance error")
    ax.set_title("Which layers commute with cyclic shifts (float64, random images)")
    ax.legend(fontsize=7, ncol=2, loc="center left")
    return fig


def plot_shift_gaps(
    zero_padded: Callable, strided: Callable, images: torch.Tensor, s: int = 3
):
    """Where the error lives: ``|f(shift x) - shift f(x)|`` (max over channels, first image) for a
    zero-padded layer (output shift s) and a stride-2 layer (output shift ``s // 2``)."""
    import matplotlib.pyplot as plt

    utils.check_images(images, name="images", square=True)
    s = utils.check_int("s", s, minimum=1)
    with torch.no_grad():
        moved = groups.shift(images, (s, s))
        gap_zero = (
            zero_padded(moved) - groups.shift(zero_padded(images), (s, s))
        ).abs()
        gap_stride = (
            strided(moved) - groups.shift(strided(images), (s // 2, s // 2))
        ).abs()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for ax, gap, title in [
        (axes[0], gap_zero, "zero padding: error lives on the borders"),
        (
            axes[1],
            gap_stride,
            f"stride 2, shift {s} vs output shift {s // 2}: everywhere",
        ),
    ]:
        im = ax.imshow(gap[0].amax(0).numpy(), cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(
        f"|f(shift x) − shift f(x)| for a shift by ({s}, {s}), max over channels"
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# A network that is C4-invariant by construction


def model_costs(n_classes: int = len(CLASSES), size: int = 28) -> dict:
    """Parameters and multiply-adds per image (one forward pass on ``[1, 1, size, size]``) of the
    chapter's three architectures: ``{"PlainCNN", "C4CNN", "wide PlainCNN"} -> {"parameters",
    "multiply_adds"}``."""
    nets = {
        "PlainCNN": models.PlainCNN(n_classes=n_classes),
        "C4CNN": models.C4CNN(n_classes=n_classes),
        "wide PlainCNN": models.PlainCNN(n_classes=n_classes, widths=WIDE),
    }
    return {
        name: {
            "parameters": models.count_parameters(net),
            "multiply_adds": steerable.multiply_adds(net, (1, 1, size, size)),
        }
        for name, net in nets.items()
    }


def plot_lifted_planes(lift: nn.Module, x: torch.Tensor):
    """The lifted feature map of ``x`` ``[1, 1, H, W]`` and of its three quarter turns, one column per
    turn: the first channel's four rotation planes, on one colour scale.

    ``lift`` is copied and its first filter replaced by a horizontal edge detector (an oriented filter,
    so that its four turned copies and the four planes differ); the layer passed in is not changed.
    """
    import copy

    import matplotlib.pyplot as plt

    if not isinstance(lift, models.LiftingConv2d) or lift.kernel_size != 3:
        raise TypeError("lift must be a models.LiftingConv2d with 3x3 filters")
    utils.check_images(x, name="x", square=True, channels=lift.in_channels)
    demo = copy.deepcopy(lift).cpu()
    x = x[:1].cpu()
    with torch.no_grad():
        demo.weight[0, 0] = torch.tensor([[1.0, 1, 1], [0, 0, 0], [-1, -1, -1]])
        lifted = [demo(groups.rot90(x, k))[0, 0] for k in range(4)]  # each [4, H, W]
    vmax = max(planes.abs().max().item() for planes in lifted)
    fig, axes = plt.subplots(5, 4, figsize=(7.2, 9))
    for k in range(4):
        axes[0, k].imshow(groups.rot90(x, k)[0, 0].numpy(), cmap="gray")
        axes[0, k].set_title(f"input turned k={k}", fontsize=9)
        for r in range(4):
            shown = axes[r + 1, k].imshow(
                lifted[k][r].numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax
            )
            if k == 0:
                axes[r + 1, k].set_ylabel(f"rotation channel r={r}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "An input and its lifted feature map turn together:\n"
        "each plane turns, and the planes cycle down (one colour scale)"
    )
    fig.tight_layout()
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.5)
    return fig


def quarter_turned(images: torch.Tensor, seed: int, stream: int) -> torch.Tensor:
    """Each image ``[N, C, H, W]`` turned by its own random quarter turn, drawn from ``stream`` of
    ``seed`` (the rotated-digits protocol of the chapter)."""
    return training.random_rotation(
        images, utils.generator(seed, stream), quarter_turns_only=True
    )


def probe_sets(seed: int, n_eval: int) -> dict:
    """The probe images of the chapter's invariance checks, each ``[N, 1, 28, 28]``, quarter-turned:

    * ``"digits 0-4"``: held-out test digits of the training classes (stream 3 of ``seed``);
    * ``"digits 5-9"``: test digits of the other classes (stream 4);
    * ``"uniform noise"``: ``n_eval`` images of uniform noise (stream 5).

    Each set holds at most ``n_eval`` images (the test split has 1,025 digits 0-4 and 975 digits 5-9).
    """
    n_eval = utils.check_int("n_eval", n_eval, minimum=1)

    def held_out(digit_classes, stream):
        images, _ = data.load_mnist(
            digit_classes, split="test", shuffle_seed=utils.derive_seed(seed, stream)
        )
        return quarter_turned(images[:n_eval], seed, stream)

    return {
        "digits 0-4": held_out(CLASSES, 3),
        "digits 5-9": held_out((5, 6, 7, 8, 9), 4),
        "uniform noise": torch.rand(
            n_eval, 1, 28, 28, generator=utils.generator(seed, 5)
        ),
    }


def invariance_errors(
    model: nn.Module,
    probes: dict,
    dtype: torch.dtype = torch.float32,
    relative: bool = False,
    n_images: int | None = None,
) -> dict:
    """``max |model(rot90(x, k)) - model(x)|`` over k and over each probe set's images.

    Args:
        model: a classifier ``[B, 1, H, W] -> [B, n_classes]`` (copied, cast to ``dtype``, eval mode).
        probes: ``{name: images [N, 1, H, W]}``.
        dtype: the precision of the check (float32 or float64).
        relative: divide each set's error by the largest ``|logit|`` on that set.
        n_images: use only the first ``n_images`` of each set (``None``: all).
    Returns:
        ``{name: error}``.
    """
    import copy

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if n_images is not None:
        n_images = utils.check_int("n_images", n_images, minimum=1)
    device = next(model.parameters()).device
    m = copy.deepcopy(model).to(dtype).eval()
    errors = {}
    for name, images in probes.items():
        xs = images[:n_images].to(device, dtype)
        errors[name] = eq.equivariance_error(
            m, xs, _turn, eq.invariant_action, groups.C4
        ).max_abs
        if relative:
            with torch.no_grad():
                errors[name] /= m(xs).abs().max().item()
    return errors


# ---------------------------------------------------------------------------------------------
# The rotated-digits task and its trained models


class RotatedDigits:
    """The chapter's task: classify digits 0-4, each turned by a random quarter turn.

    Holds the training pool (the bundled training split's digits 0-4, shuffled with stream 0 of
    ``seed`` and turned with stream 1) and the test set (test split, turned with stream 2), and trains
    the chapter's networks on demand, once each (a cache keyed by kind, n, seed and steps).

    Args:
        seed: the page's ``SEED``.
        steps: default number of Adam steps per run.
        batch_size: images per batch.
        device: where models train (``None``: ``utils.get_device()``).
    Attributes:
        x_pool ``[N, 1, 28, 28]``, y_pool ``[N]``, x_test ``[M, 1, 28, 28]``, y_test ``[M]``.
    """

    def __init__(self, seed: int, steps: int = 120, batch_size: int = 64, device=None):
        self.seed = utils.check_int("seed", seed, minimum=0)
        self.steps = utils.check_int("steps", steps, minimum=1)
        self.batch_size = utils.check_int("batch_size", batch_size, minimum=1)
        self.device = utils.get_device() if device is None else torch.device(device)
        shuffle = utils.derive_seed(seed, 0)
        x_pool, self.y_pool = data.load_mnist(
            CLASSES, split="train", shuffle_seed=shuffle
        )
        self.x_pool = quarter_turned(x_pool, seed, 1)
        x_test, self.y_test = data.load_mnist(
            CLASSES, split="test", shuffle_seed=shuffle
        )
        self.x_test = quarter_turned(x_test, seed, 2)
        self._trained: dict = {}

    def fit(self, kind: str, n: int, seed: int, steps: int | None = None) -> nn.Module:
        """A network of ``kind`` trained on the first ``n`` images of a seeded shuffle of the pool.

        Args:
            kind: ``"plain"`` (PlainCNN), ``"augmented"`` (PlainCNN, every batch turned again by fresh
                random quarter turns), ``"C4"`` (C4CNN) or ``"wide"`` (PlainCNN with widths ``WIDE``).
            n: training images (at most the pool's size).
            seed: the run's seed: initial weights (``torch.manual_seed(seed)``), batches, and which n
                images (a generator seeded ``seed + 100``).
            steps: Adam steps (``None``: the task's default).
        Returns:
            the trained model in eval mode, with batch-norm statistics recomputed on its n images.
        """
        if kind not in _KIND_NAMES:
            raise ValueError(f"kind must be one of {_KIND_NAMES}, got {kind!r}")
        n = utils.check_int("n", n, minimum=1)
        if n > len(self.x_pool):
            raise ValueError(
                f"n = {n} is more than the pool's {len(self.x_pool)} images"
            )
        steps = (
            self.steps if steps is None else utils.check_int("steps", steps, minimum=1)
        )
        key = (kind, n, seed, steps)
        if key not in self._trained:
            torch.manual_seed(seed)
            if kind == "C4":
                model = models.C4CNN(n_classes=len(CLASSES))
            else:
                widths = WIDE if kind == "wide" else (8, 16, 32)
                model = models.PlainCNN(n_classes=len(CLASSES), widths=widths)
            pick = torch.Generator().manual_seed(seed + 100)
            idx = torch.randperm(len(self.x_pool), generator=pick)[:n]
            training.fit_classifier(
                model,
                self.x_pool[idx],
                self.y_pool[idx],
                steps,
                self.batch_size,
                lr=3e-3,
                seed=seed,
                device=self.device,
                augment=_turn_batch if kind == "augmented" else None,
                progress=False,
            )
            # in runs this short the running averages lag behind the weights
            models.recalibrate_batchnorm(model, self.x_pool[idx])
            self._trained[key] = model
        return self._trained[key]

    def accuracy(self, model: nn.Module) -> float:
        """Test accuracy of ``model`` on the turned test digits."""
        return training.accuracy(model, self.x_test, self.y_test)


def _turn_batch(images, generator):
    return training.random_rotation(images, generator, quarter_turns_only=True)


def _majority_share(model: nn.Module, images: torch.Tensor) -> float:
    """Share of the images that the model sends to its most frequent class."""
    classes = training.predict(model, images).argmax(1)
    return classes.bincount().max().item() / len(classes)


# ---------------------------------------------------------------------------------------------
# Learned versus built-in invariance


@dataclass
class LearnedVsBuiltin:
    """Results of ``learned_vs_builtin``, one entry per kind (``KINDS``) and per seed.

    Attributes:
        seeds: the replications' seeds.
        change: ``change[kind][r][set]``, the mean prediction change under quarter turns (total
            variation, 0 to 1) on each probe set, replication r.
        noise_change: the same under random noise of the same L2 size as each quarter turn.
        noise_share: ``noise_share[kind][r]``, the share of uniform noise sent to the most frequent class.
        test_accuracy: ``test_accuracy[kind][r]`` on the turned test digits.
        models: the trained model of each kind at the first seed.
    """

    seeds: list
    change: dict
    noise_change: dict
    noise_share: dict
    test_accuracy: dict
    models: dict = field(repr=False)

    @property
    def sets(self) -> list:
        return list(self.change[KINDS[0]][0])

    def off_on_ratios(self, kind: str, on: str = "digits 0-4") -> dict:
        """``{set: [change on set / change on the training distribution, per seed]}`` for the other
        sets."""
        rows = self.change[kind]
        return {s: [row[s] / row[on] for row in rows] for s in self.sets if s != on}

    def normalized(self, kind: str) -> list:
        """Per seed, ``{set: quarter-turn change / matched-noise change}``."""
        return [
            {s: row[s] / max(noise[s], 1e-12) for s in row}
            for row, noise in zip(self.change[kind], self.noise_change[kind])
        ]

    def table(self):
        """HTML table: median over seeds of the mean prediction change per kind and probe set."""
        rows = [
            [kind]
            + [
                float(np.median([row[s] for row in self.change[kind]]))
                for s in self.sets
            ]
            for kind in KINDS
        ]
        return tables.html_table(["network"] + self.sets, rows)

    def ratio_table(self, on: str = "digits 0-4"):
        """HTML table, one column per seed: how much more the predictions change off the training
        distribution than on it (for the augmented CNN and its control), the same for the augmented
        CNN with each change divided by its matched-noise change, the control's change on ``on``
        divided by the augmented CNN's, and the share of uniform noise the augmented CNN sends to one
        class."""
        aug, ctl = self.off_on_ratios("augmented", on), self.off_on_ratios("plain", on)
        rows = [[f"augmented: {s} / {on}"] + aug[s] for s in aug]
        rows += [[f"control: {s} / {on}"] + ctl[s] for s in ctl if s != "uniform noise"]
        rows.append(
            ["augmented, noise-normalized: digits 5-9 / " + on]
            + [row["digits 5-9"] / row[on] for row in self.normalized("augmented")]
        )
        rows.append(
            [f"control / augmented, change on {on}"]
            + [
                c[on] / a[on]
                for c, a in zip(self.change["plain"], self.change["augmented"])
            ]
        )
        rows.append(
            ["augmented: share of noise in one class"] + self.noise_share["augmented"]
        )
        rows = [[r[0]] + [float(v) for v in r[1:]] for r in rows]
        return tables.html_table(["ratio"] + [f"seed {s}" for s in self.seeds], rows)


def learned_vs_builtin(
    task: RotatedDigits,
    probes: dict,
    seeds,
    long_steps: int,
    c4_n: int,
    noise_seed: int | None = None,
) -> LearnedVsBuiltin:
    """Train, for each seed, the augmented plain CNN and its matched control (the plain CNN on the same
    images, steps and initial weights, without fresh turns) on the whole pool for ``long_steps`` steps,
    and the C4 CNN on ``c4_n`` images for the task's default steps; measure each on every probe set.

    Args:
        task: the ``RotatedDigits`` task.
        probes: ``{name: images [N, 1, 28, 28]}``, the first of which is the training distribution.
        seeds: the replications' seeds.
        long_steps: Adam steps of the plain and augmented runs.
        c4_n: training images of the C4 runs.
        noise_seed: the matched noise comes from stream 6 of it (``None``: ``task.seed``), the same noise
            for every model.
    Returns:
        a ``LearnedVsBuiltin``.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one replication")
    if not probes or not all(isinstance(v, torch.Tensor) for v in probes.values()):
        raise TypeError("probes must be a non-empty dict of image tensors")
    long_steps = utils.check_int("long_steps", long_steps, minimum=1)
    noise_seed = task.seed if noise_seed is None else noise_seed
    out = {
        name: {kind: [] for kind in KINDS}
        for name in ("change", "noise", "share", "acc")
    }
    first = {}
    runs = [(kind, seed) for seed in seeds for kind in KINDS]
    for kind, seed in utils.progress(runs, desc="learned-invariance runs"):
        if kind == "C4":
            m = task.fit("C4", c4_n, seed)
        else:
            m = task.fit(kind, len(task.x_pool), seed, steps=long_steps)
        first.setdefault(kind, m)
        out["change"][kind].append(
            {
                name: models.prediction_invariance_error(m, xs.to(task.device))
                .mean()
                .item()
                for name, xs in probes.items()
            }
        )
        out["noise"][kind].append(
            {
                name: models.matched_noise_change(m, xs, utils.generator(noise_seed, 6))
                .mean()
                .item()
                for name, xs in probes.items()
            }
        )
        out["share"][kind].append(_majority_share(m, probes["uniform noise"]))
        out["acc"][kind].append(task.accuracy(m))
    return LearnedVsBuiltin(
        seeds, out["change"], out["noise"], out["share"], out["acc"], first
    )


_LABELS = {
    "plain": "plain CNN, matched control",
    "augmented": "augmented plain CNN",
    "C4": "C4 CNN",
    "wide": "plain, widened to the C4 CNN's multiply-adds",
}


def _log_bars(ax, study: LearnedVsBuiltin, sets, kinds):
    width = 0.8 / len(kinds)
    for j, kind in enumerate(kinds):
        where = np.arange(len(sets)) + (j - (len(kinds) - 1) / 2) * width
        per_seed = np.array(
            [[max(row[s], 1e-9) for s in sets] for row in study.change[kind]]
        )
        ax.bar(
            where, np.median(per_seed, axis=0), width, label=_LABELS[kind], alpha=0.8
        )
        for values in per_seed:
            ax.scatter(where, values, s=9, color="k", zorder=3)
    ax.set_yscale("log")


def plot_learned_vs_builtin(study: LearnedVsBuiltin):
    """Mean prediction change under quarter turns per probe set: bars are medians over the seeds,
    dots single runs, log scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    sets = study.sets
    _log_bars(ax, study, sets, KINDS)
    ax.set_xticks(
        range(len(sets)),
        [
            s + (" (training distribution)" if i == 0 else "")
            for i, s in enumerate(sets)
        ],
        fontsize=8,
    )
    ax.set_ylabel(
        "mean prediction change under quarter turns\n(total variation, 0 to 1)"
    )
    ax.set_title(
        "Learned (control, augmented) vs built-in (C4) invariance: bars are medians "
        f"of {len(study.seeds)} seeds, dots single runs",
        fontsize=9,
    )
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------
# Data efficiency


@dataclass
class DataEfficiency:
    """Results of ``data_efficiency_grid``.

    Attributes:
        target: the accuracy each curve must reach.
        n_grid: training-set sizes of the plain, augmented and C4 curves.
        seeds: the replications' seeds.
        accuracy: ``{(kind, n, seed): test accuracy}`` of every run.
        curves: ``{kind: [mean accuracy over seeds at each n]}`` (for ``"wide"`` at ``wide_ns``).
        wide_ns: the sizes at which the widened plain CNN was trained.
        needed: ``{kind: training images to reach target}`` (``inf`` if never reached).
    """

    target: float
    n_grid: list
    seeds: list
    accuracy: dict
    curves: dict
    wide_ns: list
    needed: dict

    def ratio(self, kind: str) -> float:
        """Images ``kind`` needs per image the C4 CNN needs to reach the target."""
        return self.needed[kind] / self.needed["C4"]

    def table(self):
        """HTML table: mean accuracy at each n and the images needed, one row per network."""
        ns = list(self.n_grid)
        rows = []
        for kind in (*KINDS, "wide"):
            at = dict(zip(self.wide_ns if kind == "wide" else ns, self.curves[kind]))
            rows.append(
                [kind]
                + [f"{at[n]:.3f}" if n in at else "" for n in ns]
                + [f"{self.needed[kind]:.0f}"]
            )
        columns = (
            ["network"] + [f"n={n}" for n in ns] + [f"n to reach {self.target:.0%}"]
        )
        return tables.html_table(columns, rows)


def data_efficiency_grid(
    task: RotatedDigits, n_grid, seeds, target: float = 0.7
) -> DataEfficiency:
    """Test accuracy against training-set size for the plain, augmented and C4 CNNs (every n of
    ``n_grid``, every seed), and for the plain CNN widened to the C4 CNN's multiply-adds.

    The widened CNN trains, to save time, only from the first grid point at or above the C4 CNN's
    crossing upwards, and stops once its mean accuracy reaches ``target`` (plus the point below when
    the first one already does, so that its crossing can be interpolated).

    Args:
        task: the ``RotatedDigits`` task (its cache is shared with other experiments).
        n_grid: increasing training-set sizes (at least 2).
        seeds: the replications' seeds; accuracies are averaged over them.
        target: the accuracy to reach, in (0, 1].
    Returns:
        a ``DataEfficiency``.
    """
    n_grid, seeds = list(n_grid), list(seeds)
    if len(n_grid) < 2 or any(b <= a for a, b in zip(n_grid, n_grid[1:])):
        raise ValueError(f"n_grid must hold at least 2 increasing sizes, got {n_grid}")
    if not seeds:
        raise ValueError("seeds is empty: give at least one replication")
    if not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
    acc = {}

    def mean_accuracy(kind, n):
        for seed in seeds:
            acc[(kind, n, seed)] = task.accuracy(task.fit(kind, n, seed))
        return float(np.mean([acc[(kind, n, s)] for s in seeds]))

    runs = [(kind, n) for kind in KINDS for n in n_grid]
    curves = {kind: [] for kind in KINDS}
    for kind, n in utils.progress(runs, desc="data-efficiency runs"):
        curves[kind].append(mean_accuracy(kind, n))
    needed = {k: training.samples_to_reach(n_grid, curves[k], target) for k in KINDS}
    first = next(
        (i for i, n in enumerate(n_grid) if n >= needed["C4"]), len(n_grid) - 1
    )
    wide = {}
    for n in utils.progress(n_grid[first:], desc="equal-compute runs"):
        wide[n] = mean_accuracy("wide", n)
        if wide[n] >= target:
            break
    if len(wide) == 1:
        extra = n_grid[first - 1] if first > 0 else n_grid[first + 1]
        wide[extra] = mean_accuracy("wide", extra)
    wide_ns = sorted(wide)
    curves["wide"] = [wide[n] for n in wide_ns]
    needed["wide"] = training.samples_to_reach(wide_ns, curves["wide"], target)
    return DataEfficiency(float(target), n_grid, seeds, acc, curves, wide_ns, needed)


def _efficiency_axes(
    ax, grid: DataEfficiency, n_classes: int, single_runs: bool = True
):
    for kind, marker in zip(KINDS, "osD"):
        ax.plot(grid.n_grid, grid.curves[kind], marker=marker, label=kind)
        if single_runs:
            colour = ax.lines[-1].get_color()
            for seed in grid.seeds:
                runs = [grid.accuracy[(kind, n, seed)] for n in grid.n_grid]
                ax.scatter(grid.n_grid, runs, s=10, alpha=0.4, color=colour)
    ax.plot(
        grid.wide_ns,
        grid.curves["wide"],
        marker="^",
        ls="--",
        color="gray",
        label=_LABELS["wide"] if single_runs else "wide (equal compute)",
    )
    ax.axhline(
        grid.target, color="k", ls="--", lw=0.8, label=f"target {grid.target:.0%}"
    )
    ax.axhline(1 / n_classes, color="gray", ls=":", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_xticks(grid.n_grid, [str(n) for n in grid.n_grid])
    ax.minorticks_off()
    ax.set_xlabel("number of training images n")
    ax.set_ylabel("test accuracy (turned digits 0-4)")


def plot_data_efficiency(grid: DataEfficiency, n_classes: int = len(CLASSES)):
    """Mean test accuracy against the number of training images (log scale), single runs as dots, the
    widened plain CNN dashed, the target and chance as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    _efficiency_axes(ax, grid, n_classes)
    ax.set_title(
        f"Accuracy against training set size (mean of {len(grid.seeds)} seeds, dots: single runs)"
    )
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# When invariance is the wrong prior


@dataclass
class SixVsNine:
    """Results of ``six_vs_nine``.

    Attributes:
        seeds: the replications' seeds.
        n_train, n_test: images of the training and test splits (6s and 9s).
        accuracy: ``{"plain" | "C4": [test accuracy on real 6s and 9s, per seed]}``.
        accuracy_pairs: the same on test 6s (labelled 6) and the same 6s turned by 180° (labelled 9).
    """

    seeds: list
    n_train: int
    n_test: int
    accuracy: dict
    accuracy_pairs: dict

    def mean(self, kind: str, pairs: bool = False) -> float:
        values = (self.accuracy_pairs if pairs else self.accuracy)[kind]
        return float(np.mean(values))


def six_vs_nine(
    seed: int, seeds, steps: int, batch_size: int = 64, device=None
) -> SixVsNine:
    """Train the plain and the C4 CNN on all upright 6s and 9s of the training split, once per seed.

    Args:
        seed: the page's ``SEED`` (shuffles the splits, stream 0).
        seeds: the replications' seeds (initial weights and batches).
        steps: Adam steps per run.
        batch_size: images per batch.
        device: where models train (``None``: ``utils.get_device()``).
    Returns:
        a ``SixVsNine``.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one replication")
    steps = utils.check_int("steps", steps, minimum=1)
    device = utils.get_device() if device is None else torch.device(device)
    shuffle = utils.derive_seed(seed, 0)
    x69, y69 = data.load_mnist((6, 9), split="train", shuffle_seed=shuffle)
    x_test, y_test = data.load_mnist((6, 9), split="test", shuffle_seed=shuffle)
    y69, y_test = (y69 == 9).long(), (y_test == 9).long()
    sixes = x_test[y_test == 0]
    x_pairs = torch.cat([sixes, groups.rot90(sixes, 2)])
    y_pairs = torch.cat([torch.zeros(len(sixes)), torch.ones(len(sixes))]).long()
    acc = {"plain": [], "C4": []}
    acc_pairs = {"plain": [], "C4": []}
    runs = [(kind, s) for kind in acc for s in seeds]
    for kind, s in utils.progress(runs, desc="6 vs 9 runs"):
        torch.manual_seed(s)
        m = models.C4CNN(n_classes=2) if kind == "C4" else models.PlainCNN(n_classes=2)
        training.fit_classifier(
            m, x69, y69, steps, batch_size, seed=s, device=device, progress=False
        )
        models.recalibrate_batchnorm(m, x69)
        acc[kind].append(training.accuracy(m, x_test, y_test))
        acc_pairs[kind].append(training.accuracy(m, x_pairs, y_pairs))
    return SixVsNine(seeds, len(x69), len(x_test), acc, acc_pairs)


def _six_nine_axes(ax, result: SixVsNine, ncol: int = 2):
    for j, (label, pairs) in enumerate(
        [("real 6s and 9s (test)", False), ("6s and turned 6s", True)]
    ):
        ax.bar(
            np.arange(2) + (j - 0.5) * 0.38,
            [result.mean(k, pairs) for k in ("plain", "C4")],
            0.38,
            label=label,
        )
    ax.axhline(0.5, color="gray", ls=":", lw=0.8)
    ax.set_xticks(range(2), ["plain CNN", "C4 CNN"])
    ax.set_ylabel("accuracy (mean over seeds)")
    ax.set_ylim(0, 1.3)  # room for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=7, loc="upper center", ncol=ncol)


def plot_six_vs_nine(result: SixVsNine):
    """Mean accuracy of the plain and C4 CNNs on real 6s and 9s and on 6s against turned 6s."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    _six_nine_axes(ax, result)
    ax.set_title("6 vs 9, trained on upright digits")
    return fig


# ---------------------------------------------------------------------------------------------
# Explore, and the chapter's summary


def render_turned_digit(
    image: torch.Tensor, networks: dict, degrees: float, classes=CLASSES
):
    """A digit ``[1, 1, H, W]`` turned by ``degrees`` and each network's class probabilities on it
    (one bar chart per entry of ``networks``, ``{name: model}``). Returns the figure."""
    import matplotlib.pyplot as plt

    utils.check_images(image, name="image", square=True)
    img = groups.rotate(image[:1], math.radians(degrees))
    fig, axes = plt.subplots(
        1,
        1 + len(networks),
        figsize=(2.8 + 2.8 * len(networks), 2.6),
        gridspec_kw={"width_ratios": [1] + [1.4] * len(networks)},
    )
    axes[0].imshow(img[0, 0].numpy(), cmap="gray")
    axes[0].axis("off")
    axes[0].set_title(f"input turned {degrees}°")
    for j, (ax, (name, m)) in enumerate(zip(axes[1:], networks.items())):
        p = torch.softmax(training.predict(m, img), dim=1)[0]
        ax.bar(list(classes), p.numpy(), color=f"C{j}")
        ax.set_ylim(0, 1)
        ax.set_xticks(list(classes))
        ax.set_xlabel("class")
        ax.set_ylabel("probability")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def summary_figure(study: LearnedVsBuiltin, grid: DataEfficiency, result: SixVsNine):
    """The chapter in one figure: (a) learned invariance weakens off the training distribution, built-in
    invariance does not; (b) built-in invariance saves training images; (c) it is the wrong prior for 6
    vs 9."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 1.2, 0.8]}
    )
    sets = study.sets
    _log_bars(axes[0], study, sets, ("augmented", "C4"))
    axes[0].set_xticks(
        range(len(sets)), [s.replace(" ", "\n", 1) for s in sets], fontsize=8
    )
    axes[0].set_ylabel("prediction change\nunder quarter turns")
    axes[0].set_title("(a) learned vs built-in invariance", fontsize=10)
    axes[0].set_ylim(top=100)  # room for the legend above the bars
    axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    _efficiency_axes(axes[1], grid, len(CLASSES), single_runs=False)
    axes[1].set_title("(b) training images saved", fontsize=10)
    axes[1].legend(fontsize=7, loc="lower right")
    _six_nine_axes(axes[2], result, ncol=1)
    axes[2].set_title("(c) 6 vs 9: the wrong prior", fontsize=10)
    fig.tight_layout()
    return fig
