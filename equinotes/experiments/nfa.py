"""Chapter 5's experiment plumbing: training runs, replications, baselines and result tables.

The ideas of the chapter (NFM, AGOP = WᵀKW, the similarity measures, FACT, the centred NFA) live in
``equinotes.dnfa``. This module runs the chapter's experiments with them, so that a notebook cell runs
an experiment in a line and shows a figure or a compact table:

* ``Setup`` fixes the toy problem's sizes from ``SCALE`` (inputs 10, width 64, two hidden layers,
  ``512 · SCALE`` training points, ``3000 · SCALE`` full-batch steps, checkpoints every 100 steps);
* ``product_run`` trains one network on y = x₁x₂ (or the rotated target) and records the scores;
  ``init_scale_runs`` and ``run_group`` repeat it over init scales and replications;
* ``score``, ``fit_step``, ``compound`` and ``replicate`` read runs for the claim checks;
* the ``*_rows`` functions compute each later section's measurements (protocol grid, digits, deep
  linear networks, FACT, centred NFA, tight-frame points), and the ``*_figure`` functions draw them;
* ``html_table`` renders a result table that fits the page (``equinotes.tables``, floats with a
  fixed number of decimals).

A run is a dict (see ``product_run``); ``runs`` maps ``(init_scale, seed)`` to a run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import data, dnfa, tables, utils

__all__ = [
    "Setup",
    "product_run",
    "run_group",
    "init_scale_runs",
    "score",
    "fit_step",
    "curve",
    "compound",
    "replicate",
    "random_network_baseline",
    "score_table",
    "diagnostics",
    "w2_spike",
    "input_weights",
    "singles_out_x1_x2",
    "protocol_grids",
    "protocol_effect",
    "protocol_table",
    "digit_runs",
    "deep_linear_rows",
    "fact_rows",
    "fact_floor",
    "centred_row",
    "spearman",
    "tight_frame_points",
    "per_layer_tracking",
    "html_table",
    "score_curves_figure",
    "heatmaps_figure",
    "spectra_figure",
    "tight_frame_figure",
    "controls_figure",
    "summary_figure",
    "protocol_effects_table",
    "rotated_first_layer",
    "rfm_row",
    "rotation_table",
    "matrices_figure",
    "best_alpha_rows",
    "fit_score_figure",
    "with_init_scales",
    "fit_scores",
]

FIT_WHEN = ("init", "fit", "peak", "end")


@dataclass(frozen=True)
class Setup:
    """The sizes of chapter 5's toy problem at one ``SCALE``.

    Attributes:
        scale: ``SCALE`` (≥ 1): more data and longer training; the width stays 64 (a wider random layer
            starts closer to the identity, which moves every baseline at initialisation).
        device: where the networks train (a ``torch.device``).
        d_in, width, depth: the network ``d_in → width → … → 1`` with ``depth`` hidden layers.
        init_scales: multiples of the He standard deviation compared in section 5.2.
        fit: a run has "fit" once its training MSE is below this fraction of the mean squared target.
        n_test: fresh test inputs for the test error.
        subspace_weights: the rotated target ``y = z₁z₂ + 0.5 z₃z₄``.
    """

    scale: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    d_in: int = 10
    width: int = 64
    depth: int = 2
    init_scales: tuple = (0.02, 0.05, 0.2, 1.0)
    fit: float = 0.1
    n_test: int = 2048
    subspace_weights: tuple = (1.0, 0.5)

    def __post_init__(self):
        utils.check_int("scale", self.scale, minimum=1)
        object.__setattr__(self, "device", torch.device(self.device))

    @property
    def n_train(self) -> int:
        return 512 * self.scale

    @property
    def steps(self) -> int:
        """Full-batch gradient descent steps."""
        return 3000 * self.scale

    @property
    def checkpoints(self) -> list[int]:
        """The steps at which a run is scored, every 100 and twice early on (to catch the fit)."""
        return sorted({0, 25, 50, *range(100, self.steps + 1, 100)})

    @property
    def p12(self) -> torch.Tensor:
        """The projector onto the two relevant inputs x₁, x₂ ``[d_in, d_in]``: every score's baseline."""
        P = torch.zeros(self.d_in, self.d_in)
        P[0, 0] = P[1, 1] = 1.0
        return P


def _check_setup(setup) -> Setup:
    if not isinstance(setup, Setup):
        raise TypeError(f"setup must be an nfa.Setup, got {type(setup).__name__}")
    return setup


def product_run(
    setup: Setup,
    init_scale: float,
    seed: int,
    optimizer: str = "sgd",
    shuffle: bool = False,
    lr: float | None = None,
    task: str = "product",
    distribution: str = "normal",
    input_scales=None,
    batch_size: int | None = None,
) -> dict:
    """Train one MLP on y = x₁x₂ (replication ``seed``), recording the scores at every checkpoint.

    The init scales of one seed share the data and the direction of the initial weights; only their
    size differs. ``task="subspace"`` trains on the rotated target y = z₁z₂ + 0.5 z₃z₄ instead;
    ``shuffle=True`` permutes the targets; ``lr`` defaults to 0.1 (SGD) or 3e-3 (Adam).
    ``input_scales`` (``d_in`` positive numbers, product task only) multiplies each input coordinate
    (training and test), for anisotropic inputs; the target stays ``x₁x₂`` of the scaled inputs.
    ``batch_size`` trains with mini-batches of that size (the same number of steps) instead of the
    full batch.

    Returns:
        a dict: ``history`` (``[(step, records per layer)]``, the first layer's also compares the NFM
        with the projector onto the relevant inputs), ``mse`` (training MSE per checkpoint), ``fit``
        (index of the first checkpoint whose MSE is below ``setup.fit`` of the mean squared target, or
        None), ``train_error`` and ``test_error`` (relative to the mean squared target), ``dead``
        (fraction of dead units per hidden layer), ``moved`` (‖W₁ - W₀‖/‖W₀‖), the ``model``, its
        inputs ``x [n, d_in]`` and targets ``y [n, 1]``, its initial first-layer weight
        ``W0 [width, d_in]`` and the test set ``x_test [n_test, d_in]``, ``y_test [n_test, 1]``.
    """
    setup = _check_setup(setup)
    if task not in ("product", "subspace"):
        raise ValueError(f"task must be 'product' or 'subspace', got {task!r}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    scales = None
    if input_scales is not None:
        scales = torch.as_tensor(input_scales, dtype=torch.float32)
        if task != "product" or scales.shape != (setup.d_in,) or not (scales > 0).all():
            raise ValueError(
                f"input_scales must be {setup.d_in} positive numbers (product task only)"
            )
    device = setup.device
    g = torch.Generator().manual_seed(seed)
    if task == "product":
        x, y = dnfa.product_task(setup.n_train, setup.d_in, g)
        basis, weights, reference = None, (1.0,), setup.p12
        if scales is not None:
            x = x * scales
            y = (x[:, 0] * x[:, 1]).unsqueeze(1)
    else:
        x, y, basis = dnfa.subspace_product_task(
            setup.n_train, setup.d_in, setup.subspace_weights, g
        )
        weights = setup.subspace_weights
        reference = dnfa.subspace_projector(basis)
    if shuffle:
        y = y[torch.randperm(len(y), generator=g)]
    x, y = x.to(device), y.to(device)
    model = dnfa.relu_mlp(
        setup.d_in,
        setup.width,
        setup.depth,
        init_scale=init_scale,
        generator=g,
        distribution=distribution,
    ).to(device)
    W0 = dnfa.linear_layers(model)[0].weight.detach().clone()
    if lr is None:
        lr = 0.1 if optimizer == "sgd" else 3e-3
    history, log = dnfa.train_tracking_nfa(
        model,
        x,
        y,
        setup.steps,
        lr,
        setup.checkpoints,
        optimizer=optimizer,
        batch_size=batch_size,
        seed=seed,
        reference=reference.to(device),
    )
    # Test inputs from their own stream: the training data and weights stay as they were.
    x_test = torch.randn(setup.n_test, setup.d_in, generator=utils.generator(seed, 11))
    if scales is not None:
        x_test = x_test * scales
    z = x_test if basis is None else x_test @ basis
    y_test = sum(c * z[:, 2 * j] * z[:, 2 * j + 1] for j, c in enumerate(weights))
    x_test, y_test = x_test.to(device), y_test.unsqueeze(1).to(device)
    with torch.no_grad():
        end_mse = float(((model(x) - y) ** 2).mean())
        test_mse = float(((model(x_test) - y_test) ** 2).mean())
    # log.losses[s] is the training MSE of the model recorded at checkpoint s.
    mse = [log.losses[s] if s < setup.steps else end_mse for s, _ in history]
    fit_level = setup.fit * float((y**2).mean())
    fit = next((i for i, m in enumerate(mse) if m <= fit_level), None)
    W = dnfa.linear_layers(model)[0].weight.detach()
    return {
        "history": history,
        "mse": mse,
        "fit": fit,
        "model": model,
        "x": x,
        "y": y,
        "x_test": x_test,
        "y_test": y_test,
        "W0": W0,
        "train_error": end_mse / float((y**2).mean()),
        "test_error": test_mse / float((y_test**2).mean()),
        "dead": dnfa.dead_units(model, x),
        "moved": float((W - W0).norm() / W0.norm()),
    }


def run_group(setup: Setup, init_scale: float, seeds, desc: str = "runs", **options):
    """``{seed: product_run(setup, init_scale, seed, **options)}`` with a progress bar."""
    return {
        k: product_run(setup, init_scale, k, **options)
        for k in utils.progress(list(seeds), desc=desc)
    }


def init_scale_runs(setup: Setup, seeds) -> dict:
    """``{(init_scale, seed): run}`` for every init scale of ``setup`` and every seed (section 5.2)."""
    setup = _check_setup(setup)
    pairs = [(s, k) for s in setup.init_scales for k in seeds]
    return {
        (s, k): product_run(setup, s, k)
        for s, k in utils.progress(pairs, desc="init scales x seeds")
    }


def with_init_scales(setup: Setup, seeds, runs: dict, extra=(0.1, 0.3)) -> dict:
    """``runs`` (from ``init_scale_runs``) plus runs at the ``extra`` init scales, for a finer curve
    over the init scale (the claims of section 5.2 read ``runs`` only).

    Returns:
        ``{(init_scale, seed): run}`` over ``setup.init_scales`` and ``extra``.
    """
    setup = _check_setup(setup)
    if not isinstance(runs, dict):
        raise TypeError(
            f"runs must be a dict from init_scale_runs, got {type(runs).__name__}"
        )
    extra = [float(s) for s in extra]
    if any(not s > 0 for s in extra):
        raise ValueError(f"extra init scales must be positive, got {extra}")
    pairs = [(s, k) for s in extra for k in seeds if (s, k) not in runs]
    more = {
        (s, k): product_run(setup, s, k)
        for s, k in utils.progress(pairs, desc="more init scales")
    }
    return {**runs, **more}


def fit_scores(runs: dict, seeds, key: str = "cos") -> tuple[list, np.ndarray]:
    """The first-layer record ``key`` at each run's fit (at the end for a run that never fits):
    ``"cos"`` the α = 1 score, ``"nfm_reference"`` its baseline cos(NFM, P₁₂).

    Returns:
        ``(scales, values)``: the init scales in ``runs``, sorted, and ``values [scales, seeds]``.
    """
    scales = sorted({s for s, _ in runs})
    values = np.array(
        [
            [
                score(
                    runs[s, k], key, "fit" if runs[s, k]["fit"] is not None else "end"
                )
                for k in seeds
            ]
            for s in scales
        ]
    )
    return scales, values


def score(run: dict, key: str, when: str, layer: int = 0) -> float:
    """One record key of a run at ``"init"``, ``"fit"`` (nan if it never fits), ``"peak"`` or ``"end"``."""
    if when not in FIT_WHEN:
        raise ValueError(f"when must be one of {FIT_WHEN}, got {when!r}")
    values = [recs[layer][key] for _, recs in run["history"]]
    if when == "peak":
        return max(values)
    if when == "fit" and run["fit"] is None:
        return float("nan")
    return values[{"init": 0, "fit": run["fit"], "end": -1}[when]]


def fit_step(run: dict):
    """The step at which the run fits (None if it never does)."""
    return None if run["fit"] is None else run["history"][run["fit"]][0]


def curve(runs: dict, init_scale: float, seeds, key: str, layer: int = 0) -> np.ndarray:
    """``[seeds, checkpoints]`` array of one record key for one init scale."""
    return np.array(
        [
            [recs[layer][key] for _, recs in runs[init_scale, k]["history"]]
            for k in seeds
        ]
    )


def compound(conditions) -> tuple[bool, float]:
    """Verdict of a compound claim from ``(value, bound, "<=" or ">=")`` triples: (every condition
    holds, the tightest margin; 0 when one is undefined).

    A similarity or accuracy (at most 1) that must reach s enters as its distance to 1,
    ``(1 - score, 1 - s, "<=")``: its margin then says how much that distance could grow before the
    claim flips (0.99 against 0.9 clears it 10-fold)."""
    from .. import claims

    conditions = list(conditions)
    if not conditions:
        raise ValueError(
            "compound needs at least one (value, bound, direction) condition"
        )
    for c in conditions:
        if len(c) != 3 or c[2] not in ("<=", ">="):
            raise ValueError(
                f"each condition is (value, bound, '<=' or '>='), got {c!r}"
            )
    holds = all(v <= b if d == "<=" else v >= b for v, b, d in conditions)
    margins = [claims.margin(v, b, d) for v, b, d in conditions]
    return holds, min(0.0 if m is None else m for m in margins)


def replicate(measure, seeds) -> tuple[list[dict], list[bool]]:
    """``measure(seed) -> (row, conditions)`` for every seed: ``(rows, passes)``; each row gets the
    tightest ``margin`` of its conditions."""
    if not callable(measure):
        raise TypeError("measure must be a callable seed -> (row, conditions)")
    rows, passes = [], []
    for k in seeds:
        row, conditions = measure(k)
        holds, row["margin"] = compound(conditions)
        rows.append(row)
        passes.append(holds)
    return rows, passes


def random_network_baseline(setup: Setup, seed: int, n: int = 64) -> dict:
    """Scores of ``n`` untrained networks on fresh inputs (the init scale does not matter: a bias-free
    ReLU network is homogeneous). Returns ``{key: claims.spread(...)}`` for the first layer's
    ``cos``, ``pearson``, ``traceless`` and ``nfm_identity``."""
    from .. import claims

    setup = _check_setup(setup)
    utils.check_int("n", n, minimum=1)
    gen = utils.generator(seed, 7)
    records = []
    for _ in range(n):
        x, _ = dnfa.product_task(setup.n_train, setup.d_in, gen)
        net = dnfa.relu_mlp(setup.d_in, setup.width, setup.depth, generator=gen)
        records.append(dnfa.nfa_records(net, x)[0])
    return {
        key: claims.spread([r[key] for r in records])
        for key in ("cos", "pearson", "traceless", "nfm_identity")
    }


SCORE_ROWS = (
    ("cos", "init"),
    ("cos", "fit"),
    ("cos", "peak"),
    ("cos", "end"),
    ("pearson", "init"),
    ("pearson", "fit"),
    ("traceless", "init"),
    ("traceless", "fit"),
    ("traceless", "end"),
    ("nfm_identity", "fit"),
    ("nfm_identity", "end"),
    ("agop_identity", "end"),
    ("nfm_reference", "fit"),
    ("nfm_reference", "end"),
    ("agop_reference", "fit"),
)
SCORE_NAMES = {
    "cos": "α = 1 cosine",
    "pearson": "α = ½ Pearson",
    "traceless": "traceless cosine",
    "nfm_identity": "cos(NFM, I)",
    "agop_identity": "cos(AGOP, I)",
    "nfm_reference": "cos(NFM, P₁₂)",
    "agop_reference": "cos(AGOP, P₁₂)",
}


def score_table(runs: dict, setup: Setup, seeds, rows=SCORE_ROWS):
    """HTML table: first-layer scores (median over seeds) per init scale, one row per (key, when)."""
    setup = _check_setup(setup)
    body = [
        [f"{SCORE_NAMES.get(key, key)} at {when}"]
        + [
            float(np.median([score(runs[s, k], key, when) for k in seeds]))
            for s in setup.init_scales
        ]
        for key, when in rows
    ]
    header = ["first layer, median"] + [f"{s} × He" for s in setup.init_scales]
    return html_table(header, body)


def w2_spike(run: dict) -> float:
    """Ratio of the two largest singular values of the second layer's weight."""
    s = torch.linalg.svdvals(dnfa.linear_layers(run["model"])[1].weight.detach())
    return float(s[0] / s[1])


def diagnostics(group: dict) -> dict:
    """Median over seeds of the end-of-training diagnostics of a ``{seed: run}``."""
    runs = list(group.values())
    stats = {
        "train error": [r["train_error"] for r in runs],
        "test error": [r["test_error"] for r in runs],
        "dead, layer 1": [r["dead"][0] for r in runs],
        "dead, layer 2": [r["dead"][1] for r in runs],
        "‖W₁-W₀‖/‖W₀‖": [r["moved"] for r in runs],
        "s₁/s₂ of W₂": [w2_spike(r) for r in runs],
        "cos at fit": [score(r, "cos", "fit") for r in runs],
    }
    return {key: float(np.median(v)) for key, v in stats.items()}


def input_weights(model) -> torch.Tensor:
    """Share of the first layer's squared weight norm on each input coordinate, ‖W₁ eᵢ‖² / ‖W₁‖²_F
    (the diagonal of the NFM over its trace); ``[d_in]``."""
    w = dnfa.linear_layers(model)[0].weight.detach().cpu()
    return (w**2).sum(0) / (w**2).sum()


def singles_out_x1_x2(model) -> tuple[bool, float]:
    """(Are x₁, x₂ the two inputs with the largest weights?, the factor by which the smaller of the two
    exceeds the largest other input: > 1 means yes)."""
    share = input_weights(model)
    factor = float(share[:2].min() / share[2:].max())
    return factor > 1, factor


PROTOCOL_KEYS = ("weights", "alpha", "measure", "gop")


def protocol_grids(groups: dict) -> dict:
    """``{(group name, seed): dnfa.protocol_grid(...)}`` for the first layer at the end of training of
    every run of ``groups`` (``{name: {seed: run}}``)."""
    return {
        (name, k): dnfa.protocol_grid(run["model"], run["x"], run["W0"])
        for name, group in groups.items()
        for k, run in group.items()
    }


def protocol_effect(grid: list[dict], key: str, a, b) -> float:
    """Mean over the other protocol choices of (value with ``key = a``) − (value with ``key = b``)."""
    if key not in PROTOCOL_KEYS:
        raise ValueError(f"key must be one of {PROTOCOL_KEYS}, got {key!r}")
    index = {tuple(r[c] for c in PROTOCOL_KEYS): r["value"] for r in grid}
    pos = PROTOCOL_KEYS.index(key)
    diffs = [
        v - index[c[:pos] + (b,) + c[pos + 1 :]]
        for c, v in index.items()
        if c[pos] == a
    ]
    if not diffs:
        raise ValueError(f"no protocol row has {key} = {a!r}")
    return float(np.mean(diffs))


def protocol_table(grids: dict, names, seeds):
    """HTML table of the protocol grid: one row per choice, one column per group (median over seeds)."""
    names = list(names)
    first = grids[names[0], seeds[0]]
    body = []
    for i, r in enumerate(first):
        label = f"{r['weights']}, α = {r['alpha']:g}, {r['measure']}, {r['gop']}"
        body.append(
            [label]
            + [
                float(np.median([grids[n, k][i]["value"] for k in seeds]))
                for n in names
            ]
        )
    return html_table(["NFM, α, measure, gradient outer product"] + names, body)


def digit_runs(setup: Setup, seed: int, seeds, init_scales=(0.1, 1.0)) -> dict:
    """Ten-class digits (bundled MNIST, 14 × 14, squared error on one-hot targets): ``{(init_scale,
    seed): row}`` with the first layer's α = 1 cosine at init, its peak after training began and at
    the end, the second layer's at the end, train and test accuracy, the final MSE and the ``curves``
    (``cos`` and ``mse`` every 250 steps). ``1000 · SCALE`` digits, ``1500 · SCALE`` steps, lr 0.5."""
    setup = _check_setup(setup)
    device, steps = setup.device, 1500 * setup.scale
    images, labels = data.load_mnist(
        split="train", shuffle_seed=utils.derive_seed(seed, 0)
    )
    images, labels = images[: 1000 * setup.scale], labels[: 1000 * setup.scale]
    pooled = torch.nn.functional.avg_pool2d(images, 2).flatten(1)  # [n, 196]
    x = (pooled - pooled.mean(0)).to(device)
    y = torch.nn.functional.one_hot(labels, 10).float().to(device)
    # Held-out digits (the bundled test split, shuffled: it is stored by class), centred with the
    # training mean.
    test_images, test_labels = data.load_mnist(
        split="test", n=1000 * setup.scale, shuffle_seed=utils.derive_seed(seed, 13)
    )
    x_test = torch.nn.functional.avg_pool2d(test_images, 2).flatten(1)
    x_test = (x_test - pooled.mean(0)).to(device)
    out = {}
    pairs = [(s, k) for s in init_scales for k in seeds]
    for scale, k in utils.progress(pairs, desc="digits, 10 outputs"):
        net = dnfa.relu_mlp(
            x.shape[1],
            setup.width,
            setup.depth,
            d_out=10,
            init_scale=scale,
            generator=torch.Generator().manual_seed(k),
        ).to(device)
        history, log = dnfa.train_tracking_nfa(
            net, x, y, steps, 0.5, range(0, steps + 1, 250), seed=k
        )
        with torch.no_grad():
            acc = (net(x).argmax(1).cpu() == labels).float().mean().item()
            test_acc = (
                (net(x_test).argmax(1).cpu() == test_labels).float().mean().item()
            )
            end_mse = float(((net(x) - y) ** 2).mean())
        cos = [recs[0]["cos"] for _, recs in history]
        mse = [log.losses[s] if s < steps else end_mse for s, _ in history]
        out[scale, k] = {
            "cos_init": cos[0],
            "cos_peak": max(cos[1:]),  # the highest value after training began
            "cos_end": cos[-1],
            "layer1_cos_end": history[-1][1][1]["cos"],
            "train_accuracy": acc,
            "test_accuracy": test_acc,
            "final_mse": end_mse,
            "curves": {"cos": cos, "mse": mse},
        }
    return out


def deep_linear_rows(scale: int, seeds, device="cpu", alphas=None) -> list[dict]:
    """Deep linear networks (L = 2, 3, 4; width 16; a 3-output linear target with singular values 2,
    1.5, 1; weights with std 0.03; ``1000 · scale`` GD steps at lr 0.15): one row per (L, seed) with
    the relative loss, the best α of every layer but the readout (from ``alphas``, default 0.10 …
    1.50), the balancedness prediction 1/(L − l + 1) and the first layer's α = 1 cosine."""
    utils.check_int("scale", scale, minimum=1)
    if alphas is None:
        alphas = np.round(np.arange(0.10, 1.505, 0.01), 2)
    steps, rows = 1000 * scale, []
    pairs = [(L, k) for L in (2, 3, 4) for k in seeds]
    for depth, k in utils.progress(pairs, desc="deep linear nets"):
        g = utils.generator(k, 12)
        x = torch.randn(256, 8, generator=g)
        U, _ = torch.linalg.qr(torch.randn(8, 3, generator=g))
        V, _ = torch.linalg.qr(torch.randn(3, 3, generator=g))
        y = x @ (U @ torch.diag(torch.tensor([2.0, 1.5, 1.0])) @ V.T)
        net = dnfa.deep_linear_net([8] + [16] * (depth - 1) + [3], 0.03, g)
        x, y, net = x.to(device), y.to(device), net.to(device)
        _, log = dnfa.train_tracking_nfa(net, x, y, steps, 0.15, [], seed=k)
        mats = dnfa.layer_matrices(net, x)[:-1]
        rows.append(
            {
                "L": depth,
                "seed": k,
                "relative_loss": log.final_loss / float((y**2).mean()),
                "best_alpha": [dnfa.best_alpha(m.nfm, m.agop, alphas)[0] for m in mats],
                "predicted": [1 / (depth - layer) for layer in range(depth - 1)],
                "first_layer_cos_alpha_1": dnfa.nfa_similarity(
                    mats[0].nfm, mats[0].agop
                ),
            }
        )
    return rows


def fact_rows(setup: Setup, seeds, weight_decay: float = 0.03, init_scale: float = 0.2):
    """FACT along gradient descent with weight decay on y = x₁x₂ (first layer), one row per seed:
    FACT's cosine at init, after 100 steps and at the last iterate (with its gradient norm and
    bound), the averages of ``dnfa.fact_along_gd`` over the last ``500 · SCALE`` iterates (after
    ``1500 · SCALE`` steps at lr 0.1), the relative MSE and the NFA's α = 1 cosine and α = ½ Pearson."""
    setup = _check_setup(setup)
    device = setup.device
    steps, average = 1500 * setup.scale, 500 * setup.scale
    rows = []
    for k in utils.progress(list(seeds), desc="weight decay (FACT)"):
        g = torch.Generator().manual_seed(k)
        x, y = dnfa.product_task(setup.n_train, setup.d_in, g)
        x, y = x.to(device), y.to(device)
        net = dnfa.relu_mlp(
            setup.d_in, setup.width, setup.depth, init_scale=init_scale, generator=g
        ).to(device)
        at_init = dnfa.fact_report(net, x, y, weight_decay)
        dnfa.train_tracking_nfa(
            net, x, y, 100, 0.1, [], seed=k, weight_decay=weight_decay
        )
        early = dnfa.fact_report(net, x, y, weight_decay)
        dnfa.train_tracking_nfa(
            net, x, y, steps - 100, 0.1, [], seed=k, weight_decay=weight_decay
        )
        averaged = dnfa.fact_along_gd(net, x, y, weight_decay, 0.1, average, seed=k)
        last = averaged.pop("last")
        m = dnfa.layer_matrices(net, x)[0]
        with torch.no_grad():
            relative_mse = float(((net(x) - y) ** 2).mean() / (y**2).mean())
        rows.append(
            {
                "relative_mse": relative_mse,
                "fact_cos_init": at_init["cos"],
                "fact_cos_step_100": early["cos"],
                "fact_cos_last": last["cos"],
                "gradient_norm_last": last["gradient_norm"],
                "cos_bound_last": last["cos_bound"],
                **averaged,
                "nfa_cos": dnfa.nfa_similarity(m.nfm, m.agop),
                "nfa_pearson_half": dnfa.nfa_similarity(m.nfm, m.agop, 0.5, "pearson"),
            }
        )
    return rows


def fact_floor(setup: Setup, seed: int, weight_decay: float = 0.03) -> dict:
    """The float floor of FACT: ``dnfa.fact_report`` at the exact minimiser of a ridge regression with
    3 outputs, in float32."""
    setup = _check_setup(setup)
    g = utils.generator(seed, 14)
    x = torch.randn(setup.n_train, setup.d_in, generator=g)
    y = torch.randn(setup.n_train, 3, generator=g)
    return dnfa.fact_report(dnfa.ridge_model(x, y, weight_decay), x, y, weight_decay)


def centred_row(run: dict, seed: int, n_random: int = 64) -> dict:
    """First layer at the end of training: centred and uncentred NFA (α = 1, Pearson), and the median
    and maximum centred score of ``n_random`` structureless updates (Gaussian ΔW, the same K)."""
    utils.check_int("n_random", n_random, minimum=1)
    m = dnfa.layer_matrices(run["model"], run["x"])[0]
    zero = torch.zeros_like(m.W)
    g = utils.generator(seed, 15)
    structureless = [
        dnfa.centred_nfa(torch.randn(m.W.shape, generator=g).to(m.W), zero, m.K)
        for _ in range(n_random)
    ]
    return {
        "centred": dnfa.centred_nfa(m.W, run["W0"], m.K),
        "uncentred": dnfa.centred_nfa(m.W, zero, m.K),
        "random_median": float(np.median(structureless)),
        "random_max": max(structureless),
    }


def spearman(a, b) -> float:
    """Spearman rank correlation of two equally long 1-D sequences (no ties expected)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(
            f"a and b must be 1-D of one length >= 2, got {a.shape} and {b.shape}"
        )
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def tight_frame_points(runs: dict) -> dict:
    """Every hidden layer at every checkpoint of every run: ``{key: array}`` with the NFA cosine
    ``cos``, the tightness on the numerical range ``tight`` and on the used directions
    ``tight_used``, the flatness of W's spectrum ``flat``, the init ``scale``, the ``layer`` and the
    used rank ``rank_used``."""
    names = {
        "cos": "cos",
        "tight": "tightness",
        "tight_used": "tightness_used",
        "flat": "flatness",
        "layer": "layer",
        "rank_used": "rank_used",
    }
    points = {k: [] for k in (*names, "scale")}
    for (scale, _), run in runs.items():
        for _, recs in run["history"]:
            for rec in recs[:-1]:  # hidden layers only
                for key, name in names.items():
                    points[key].append(rec[name])
                points["scale"].append(scale)
    return {k: np.array(v) for k, v in points.items()}


def per_layer_tracking(points: dict, layer: int, degenerate: int = 2) -> dict:
    """Spearman ρ of the used-direction tightness with the NFA cosine on one hidden layer, over the
    checkpoints whose used rank exceeds ``degenerate`` (nan with fewer than 10), and the count and
    medians of the degenerate ones."""
    on_layer = points["layer"] == layer
    keep = on_layer & (points["rank_used"] > degenerate)
    low = on_layer & (points["rank_used"] <= degenerate)
    row = {
        "points": int(keep.sum()),
        "spearman_used": (
            spearman(points["tight_used"][keep], points["cos"][keep])
            if keep.sum() >= 10
            else float("nan")
        ),
        "degenerate_points": int(low.sum()),
    }
    if low.any():
        row["degenerate_median_tightness"] = float(np.median(points["tight_used"][low]))
        row["degenerate_median_cos"] = float(np.median(points["cos"][low]))
    return row


def _decimals(v, digits: int):
    """A float with ``digits`` decimals (tinier ones as 1.2e-05, NaN as "–"); other cells as given."""
    if not isinstance(v, float):
        return v
    if math.isnan(v):
        return "–"
    return f"{v:.{digits}f}" if abs(v) >= 10 ** (-digits) or v == 0 else f"{v:.1e}"


def html_table(header, rows, digits: int = 3):
    """A compact HTML table (``equinotes.tables.html_table``) whose floats have ``digits`` decimals
    (the chapter compares scores at a fixed number of decimals): ``header`` a list of column names,
    ``rows`` lists of cells. The first column is left-aligned, the others right-aligned."""
    digits = utils.check_int("digits", digits, minimum=0)
    header = list(header)
    rows = [
        r if isinstance(r, (str, bytes, dict)) else [_decimals(v, digits) for v in r]
        for r in rows
    ]
    align = ["left"] + ["right"] * (len(header) - 1) if header else None
    return tables.html_table(header, rows, align=align)


# ---------------------------------------------------------------- figures


def _colors(n: int):
    import matplotlib.pyplot as plt

    return plt.cm.viridis(np.linspace(0, 0.85, n))


def score_curves_figure(runs: dict, setup: Setup, seeds):
    """First layer during training: α = 1 cosine, α = ½ Pearson and traceless cosine per init scale
    (median and range over seeds, dots at each run's fit, dashed: NFM vs P₁₂)."""
    import matplotlib.pyplot as plt

    steps = setup.checkpoints
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    panels = [
        ("cos", "α = 1, cosine (first arXiv version)"),
        ("pearson", "α = 1/2, Pearson (Science version)"),
        ("traceless", "α = 1, traceless cosine (baseline)"),
    ]
    baselines = {"cos": "nfm_reference", "pearson": "nfm_reference_pearson"}
    for ax, (key, title) in zip(axes, panels):
        for scale, col in zip(setup.init_scales, _colors(len(setup.init_scales))):
            c = curve(runs, scale, seeds, key)
            ax.plot(steps, np.median(c, 0), color=col, label=f"init scale {scale}")
            if key in baselines:
                b = np.median(curve(runs, scale, seeds, baselines[key]), 0)
                ax.plot(steps, b, color=col, ls="--", lw=1)
            ax.fill_between(steps, c.min(0), c.max(0), color=col, alpha=0.2)
            for k in seeds:
                run = runs[scale, k]
                if run["fit"] is not None:
                    ax.plot(
                        fit_step(run),
                        score(run, key, "fit"),
                        "o",
                        color=col,
                        mec="k",
                        ms=5,
                    )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("gradient descent step")
        ax.axhline(0.9, color="grey", ls=":", lw=1)
    axes[0].plot([], [], "k--", lw=1, label="NFM vs P12 (baseline)")
    axes[0].set_ylabel("NFM–AGOP similarity, first layer")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def heatmaps_figure(run: dict, title: str, layer: int = 0):
    """NFM and AGOP of one layer of a trained run, side by side (entries over the largest absolute entry)."""
    import matplotlib.pyplot as plt

    mats = dnfa.layer_matrices(run["model"], run["x"])[layer]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4))
    for ax, M, name in zip(axes, (mats.nfm, mats.agop), ("NFM = WᵀW", "AGOP = WᵀKW")):
        M = M.cpu().numpy()
        im = ax.imshow(M / np.abs(M).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(name)
        ax.set_xlabel("input coordinate")
        ax.set_ylabel("input coordinate")
    fig.colorbar(im, ax=axes, shrink=0.8, label="entry / max |entry|")
    cos = dnfa.nfa_similarity(mats.nfm, mats.agop)
    fig.suptitle(f"{title}: cos = {cos:.3f}")
    return fig


def spectra_figure(runs: dict, setup: Setup, seed: int):
    """Singular values of W and eigenvalues of Ũ = UᵀKU of both hidden layers, per init scale."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for scale, col in zip(setup.init_scales, _colors(len(setup.init_scales))):
        run = runs[scale, seed]
        for layer, ls in ((0, "-"), (1, "--")):
            m = dnfa.layer_matrices(run["model"], run["x"])[layer]
            U_tilde, S = dnfa.rotated_moment(m.W, m.K)
            label = f"scale {scale}, layer {layer + 1}"
            axes[0].semilogy((S / S[0]).cpu(), ls, color=col, marker=".", label=label)
            ev = torch.linalg.eigvalsh(U_tilde).flip(0)
            axes[1].semilogy(
                (ev / ev[0]).clamp_min(1e-8).cpu(), ls, color=col, marker="."
            )
    axes[0].set_title("singular values of W (normalised by the largest)")
    axes[1].set_title("eigenvalues of Ũ = UᵀKU (normalised by the largest)")
    for ax in axes:
        ax.set_xlabel("index")
        ax.set_ylabel("relative size")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def tight_frame_figure(points: dict, setup: Setup):
    """The tight-frame metric against the NFA cosine (numerical range and used directions)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
    for ax, key, name in (
        (axes[0], "tight", "numerical range (s > 1e-6 s_max)"),
        (axes[1], "tight_used", "used directions (s > 0.1 s_max)"),
    ):
        for scale, col in zip(setup.init_scales, _colors(len(setup.init_scales))):
            for layer, marker in ((0, "o"), (1, "^")):
                sel = (points["scale"] == scale) & (points["layer"] == layer)
                ax.scatter(
                    points[key][sel],
                    points["cos"][sel],
                    color=col,
                    marker=marker,
                    s=14,
                    alpha=0.7,
                    label=f"scale {scale}, layer {layer + 1}",
                )
        ax.plot(
            [0, 1], [0, 1], color="grey", lw=1, ls=":", label="flat spectrum (y = x)"
        )
        ax.set_xlabel("tight-frame metric √(PR(Ũ)/r)")
        rho = spearman(points[key], points["cos"])
        ax.set_title(f"{name}: Spearman ρ = {rho:.2f}")
    axes[0].set_ylabel("NFA cosine cos(WᵀW, WᵀKW)")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def controls_figure(controls: dict, setup: Setup):
    """Left: the first-layer α = 1 score of each control group during training (median, range, dashed
    NFM vs P₁₂). Right: the first layer's weight on each input at the end (GD groups)."""
    import matplotlib.pyplot as plt

    steps = setup.checkpoints
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
    inputs = np.arange(1, setup.d_in + 1)
    for (name, group), col in zip(controls.items(), ("C0", "C3", "C2")):
        c = np.array(
            [[r[0]["cos"] for _, r in run["history"]] for run in group.values()]
        )
        b = np.array(
            [
                [r[0]["nfm_reference"] for _, r in run["history"]]
                for run in group.values()
            ]
        )
        axes[0].plot(steps, np.median(c, 0), color=col, label=name)
        axes[0].plot(steps, np.median(b, 0), color=col, ls="--", lw=1)
        axes[0].fill_between(steps, c.min(0), c.max(0), color=col, alpha=0.2)
        if "Adam" not in name:
            for i, run in enumerate(group.values()):
                axes[1].plot(
                    inputs,
                    input_weights(run["model"]),
                    "o-",
                    color=col,
                    alpha=0.6,
                    label=name if i == 0 else None,
                )
    axes[0].plot([], [], "k--", lw=1, label="NFM vs P12 (baseline)")
    axes[0].set(xlabel="step", ylabel="first-layer α = 1 cosine")
    axes[0].legend(fontsize=8)
    axes[0].set_title("the score (median and range over seeds)")
    axes[1].axhline(
        1 / setup.d_in, color="grey", ls=":", lw=1, label="every input alike"
    )
    axes[1].set_xticks(inputs)
    axes[1].set(xlabel="input coordinate i", ylabel="‖W1 e_i‖² / ‖W1‖²")
    axes[1].set_title("the feature: first-layer weight on each input, end of training")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_figure(runs: dict, controls: dict, setup: Setup, seeds):
    """The chapter in one figure: the first-layer α = 1 score at the fit (or end) per init scale,
    against its P₁₂ baseline, and for the controls (shuffled labels, Adam), one dot per seed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    groups = {f"{s} × He": {k: runs[s, k] for k in seeds} for s in setup.init_scales}
    groups.update({n: g for n, g in controls.items() if "true labels, GD" not in n})
    for i, (name, group) in enumerate(groups.items()):
        for j, run in enumerate(group.values()):
            when = "fit" if run["fit"] is not None else "end"
            ax.plot(
                i - 0.1,
                score(run, "cos", when),
                "o",
                color="C0",
                label="NFM vs AGOP (α = 1)" if i == j == 0 else None,
            )
            ax.plot(
                i + 0.1,
                score(run, "nfm_reference", when),
                "s",
                color="C1",
                mfc="none",
                label="NFM vs P₁₂ (baseline)" if i == j == 0 else None,
            )
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
    ax.set_ylabel("first-layer cosine at the fit")
    ax.set_title(
        "y = x₁x₂: the ansatz holds from a small init, and tracks its baseline"
    )
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


PROTOCOL_EFFECTS = {
    "α = ½ vs 1": ("alpha", 0.5, 1.0),
    "Pearson vs cosine": ("measure", "pearson", "cosine"),
    "centred vs raw": ("gop", "centred", "raw"),
    "W − W₀ vs W": ("weights", "W-W0", "W"),
}


def protocol_effects_table(grids: dict, names, seeds):
    """HTML table: per group, the median over seeds of each protocol choice's mean effect
    (``protocol_effect``) on the first-layer score."""
    body = [
        [name]
        + [
            float(np.median([protocol_effect(grids[name, k], *e) for k in seeds]))
            for e in PROTOCOL_EFFECTS.values()
        ]
        for name in names
    ]
    return html_table(["mean effect of"] + list(PROTOCOL_EFFECTS), body)


def _first_layer_scores(net, x, y, reference) -> dict:
    m = dnfa.layer_matrices(net, x)[0]
    with torch.no_grad():
        error = float(((net(x) - y) ** 2).mean() / (y**2).mean())
    return {
        "train_error": error,
        "cos_p12": dnfa.cosine_similarity(m.nfm, reference.to(m.nfm)),
        "cos": dnfa.nfa_similarity(m.nfm, m.agop),
        "pearson": dnfa.nfa_similarity(m.nfm, m.agop, 0.5, "pearson"),
    }


def rotated_first_layer(
    run: dict, reference: torch.Tensor, seed: int, n_rotations: int = 4
) -> dict:
    """The direct test of "at α = 1 the weights cancel": replace the trained first layer ``W₁`` by
    ``W₁Q`` (``Q`` a random orthogonal ``[d_in, d_in]``, ``n_rotations`` draws from stream 16 of
    ``seed``) and recompute everything, K included, on the same inputs.

    Returns ``{"before": scores, "after": [scores per draw]}``; scores hold the relative training
    error, ``cos_p12`` = cos(NFM, reference), the α = 1 cosine ``cos`` and the α = ½ ``pearson``.
    """
    utils.check_int("n_rotations", n_rotations, minimum=1)
    model, x, y = run["model"], run["x"], run["y"]
    before = _first_layer_scores(model, x, y, reference)
    W = dnfa.linear_layers(model)[0].weight.detach()
    g = utils.generator(seed, 16)
    after = []
    for _ in range(n_rotations):
        Q, _ = torch.linalg.qr(
            torch.randn(W.shape[1], W.shape[1], generator=g).double()
        )
        net = copy.deepcopy(model)
        with torch.no_grad():
            dnfa.linear_layers(net)[0].weight.copy_((W.double() @ Q.to(W.device)).to(W))
        after.append(_first_layer_scores(net, x, y, reference))
    return {"before": before, "after": after}


def rfm_row(
    run: dict,
    reference: torch.Tensor,
    iters: int = 5,
    bandwidth: float = 10.0,
    reg: float = 1e-3,
) -> dict:
    """RFM (``dnfa.rfm``) on a run's training data, beside the trained network: relative test errors
    of RFM, of plain Laplace kernel regression (``M = I``) and of the network, cos(M, reference),
    cos(NFM, reference) of the network's first layer, RFM's seconds, and ``M`` itself."""
    import time

    x, y = run["x"].cpu(), run["y"].cpu()
    x_test, y_test = run["x_test"].cpu().double(), run["y_test"].cpu().double()
    scale = float((y_test**2).mean())
    start = time.perf_counter()
    M, predict = dnfa.rfm(x, y, iters=iters, bandwidth=bandwidth, reg=reg)
    seconds = time.perf_counter() - start
    _, plain = dnfa.rfm(x, y, iters=0, bandwidth=bandwidth, reg=reg)
    nfm = dnfa.layer_matrices(run["model"], run["x"])[0].nfm.cpu()
    return {
        "rfm_test_error": float(((predict(x_test) - y_test) ** 2).mean()) / scale,
        "kernel_test_error": float(((plain(x_test) - y_test) ** 2).mean()) / scale,
        "net_test_error": run["test_error"],
        "rfm_cos_p12": dnfa.cosine_similarity(M, reference.double()),
        "net_cos_p12": dnfa.cosine_similarity(nfm, reference.to(nfm)),
        "seconds": seconds,
        "M": M,
    }


def rotation_table(rotated: dict):
    """HTML table of ``rotated_first_layer`` results ``{(inputs, seed): result}``: the trained layer
    and, below it, the median over the draws of ``W₁Q``."""
    keys = ("train_error", "cos_p12", "cos", "pearson")
    body = []
    for (inputs, k), r in rotated.items():
        body.append([f"{inputs}, seed {k}", "W₁"] + [r["before"][c] for c in keys])
        after = [float(np.median([a[c] for a in r["after"]])) for c in keys]
        body.append(["", f"W₁Q (median of {len(r['after'])})"] + after)
    header = ["inputs", "first layer", "train error", "cos(NFM, P₁₂)", "α = 1 cos"]
    return html_table(header + ["α = ½ Pearson"], body)


def matrices_figure(matrices: dict, title: str):
    """Square matrices side by side as heat maps (each over its largest absolute entry)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(matrices), figsize=(3.8 * len(matrices), 3.4))
    for ax, (name, M) in zip(np.atleast_1d(axes), matrices.items()):
        M = M.detach().cpu().double().numpy()
        im = ax.imshow(M / np.abs(M).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set(title=name, xlabel="input coordinate", ylabel="input coordinate")
    fig.colorbar(im, ax=axes, shrink=0.8, label="entry / max |entry|")
    fig.suptitle(title)
    return fig


ALPHAS = tuple(float(a) for a in np.round(np.arange(0.10, 1.505, 0.01), 2))


def best_alpha_rows(groups: dict, alphas=ALPHAS) -> list[dict]:
    """The best power α (``dnfa.best_alpha`` over ``alphas``) of every hidden layer at the end of
    training, for every run of ``groups`` (``{name: {seed: run}}``): one row per run with ``group``,
    ``seed``, ``best_alpha`` (one per hidden layer) and ``cos_at_best`` (its cosine)."""
    rows = []
    for name, group in groups.items():
        for k, run in group.items():
            mats = dnfa.layer_matrices(run["model"], run["x"])[:-1]
            best = [dnfa.best_alpha(m.nfm, m.agop, alphas) for m in mats]
            rows.append(
                {
                    "group": name,
                    "seed": k,
                    "best_alpha": [a for a, _ in best],
                    "cos_at_best": [c for _, c in best],
                }
            )
    return rows


def fit_score_figure(runs: dict, setup: Setup, seeds):
    """The first-layer α = 1 score at the fit (at the end for a run that never fits) against the init
    scale: one dot per seed, the median as a line, and the baseline cos(NFM, P₁₂) dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for key, style, label in (
        ("cos", "o-", "cos(NFM, AGOP), α = 1"),
        ("nfm_reference", "s--", "cos(NFM, P₁₂), baseline"),
    ):
        scales, values = fit_scores(runs, seeds, key)
        line = ax.plot(scales, np.median(values, 1), style, label=label)[0]
        for s, v in zip(scales, values):
            ax.plot([s] * len(v), v, ".", color=line.get_color(), alpha=0.6)
    ax.set_xscale("log")
    ax.set(xlabel="init scale (× He std)", ylabel="first layer, at the fit")
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
