"""Chapter 5's experiment plumbing (equinotes.experiments.nfa): small, fast configurations."""

import math

import numpy as np
import pytest
import torch

from equinotes.experiments import nfa


def fake_run(values, fit):
    """A run dict with one layer whose "cos" record takes ``values`` at steps 0, 100, ..."""
    history = [(100 * i, [{"cos": v}]) for i, v in enumerate(values)]
    return {"history": history, "fit": fit}


def test_setup_sizes_follow_scale():
    s = nfa.Setup(scale=2)
    assert (s.n_train, s.steps) == (1024, 6000)
    assert s.checkpoints[:4] == [0, 25, 50, 100] and s.checkpoints[-1] == 6000
    assert torch.equal(s.p12.diag()[:3], torch.tensor([1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="scale"):
        nfa.Setup(scale=0)


def test_score_reads_init_fit_peak_end():
    run = fake_run([0.3, 0.9, 0.95, 0.8], fit=1)
    assert nfa.score(run, "cos", "init") == 0.3
    assert nfa.score(run, "cos", "fit") == 0.9
    assert nfa.score(run, "cos", "peak") == 0.95
    assert nfa.score(run, "cos", "end") == 0.8
    assert nfa.fit_step(run) == 100
    never = fake_run([0.3, 0.4], fit=None)
    assert math.isnan(nfa.score(never, "cos", "fit")) and nfa.fit_step(never) is None
    with pytest.raises(ValueError, match="when"):
        nfa.score(run, "cos", "middle")


def test_compound_and_replicate():
    holds, margin = nfa.compound([(0.5, 1.0, "<="), (2.0, 1.0, ">=")])
    assert holds and margin == pytest.approx(2.0)
    assert not nfa.compound([(1.5, 1.0, "<=")])[0]
    with pytest.raises(ValueError):
        nfa.compound([])
    with pytest.raises(ValueError):
        nfa.compound([(1.0, 2.0, "<")])
    rows, passes = nfa.replicate(lambda k: ({"k": k}, [(k, 1, "<=")]), [0, 1, 2])
    assert passes == [True, True, False] and [r["k"] for r in rows] == [0, 1, 2]
    assert "margin" in rows[0]
    with pytest.raises(TypeError):
        nfa.replicate(3, [0])


def test_spearman_is_rank_correlation():
    assert nfa.spearman([1, 2, 3, 4], [10, 20, 30, 100]) == pytest.approx(1.0)
    assert nfa.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        nfa.spearman([1, 2], [1, 2, 3])


def test_protocol_effect_averages_over_the_other_choices():
    grid = [
        {"weights": w, "alpha": a, "measure": m, "gop": g, "value": v}
        for (w, a, m, g), v in {
            ("W", 1.0, "cosine", "raw"): 0.5,
            ("W", 0.5, "cosine", "raw"): 0.8,
            ("W", 1.0, "pearson", "raw"): 0.6,
            ("W", 0.5, "pearson", "raw"): 0.7,
        }.items()
    ]
    assert nfa.protocol_effect(grid, "alpha", 0.5, 1.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="key"):
        nfa.protocol_effect(grid, "colour", 0.5, 1.0)


def test_html_table_rounds_and_checks_shape():
    table = nfa.html_table(["name", "value"], [["a", 0.12345], ["b", float("nan")]])
    assert "0.123" in table.data and "–" in table.data and "<table" in table.data
    with pytest.raises(ValueError, match="cells"):
        nfa.html_table(["a", "b"], [[1]])


def test_per_layer_tracking_separates_degenerate_checkpoints():
    rng = np.random.default_rng(0)
    n = 30
    points = {
        "layer": np.zeros(n, int),
        "rank_used": np.r_[np.full(20, 5), np.full(10, 1)],
        "tight_used": rng.random(n),
    }
    points["cos"] = points["tight_used"] + 0.01 * rng.random(n)
    row = nfa.per_layer_tracking(points, 0)
    assert row["points"] == 20 and row["degenerate_points"] == 10
    assert row["spearman_used"] > 0.9


def test_product_run_small_network_records_and_fits():
    setup = nfa.Setup(scale=1, width=16)
    run = nfa.product_run(setup, 0.2, seed=0)
    assert len(run["history"]) == len(setup.checkpoints) == len(run["mse"])
    assert run["fit"] is not None and run["train_error"] < 0.1
    assert {"cos", "pearson", "nfm_reference"} <= set(run["history"][0][1][0])
    assert len(run["dead"]) == setup.depth
    points = nfa.tight_frame_points({(0.2, 0): run})
    assert len(points["cos"]) == setup.depth * len(setup.checkpoints)
    row = nfa.centred_row(run, 0, n_random=4)
    assert -1 <= row["centred"] <= 1 and row["random_max"] >= row["random_median"]
    with pytest.raises(ValueError, match="task"):
        nfa.product_run(setup, 0.2, seed=0, task="sum")
    with pytest.raises(TypeError, match="Setup"):
        nfa.product_run({"scale": 1}, 0.2, seed=0)


def test_best_alpha_rows_finds_the_power_of_a_linear_layer():
    # a deep linear net from a balanced start: the first of two layers follows alpha = 1/2
    g = torch.Generator().manual_seed(0)
    W1 = torch.randn(3, 3, generator=g, dtype=torch.float64)
    U, S, Vh = torch.linalg.svd(W1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False)
    ).double()
    with torch.no_grad():
        net[0].weight.copy_(W1)
        net[1].weight.copy_(torch.diag(S) @ U.T)  # W2ᵀW2 = W1 W1ᵀ (balanced)
    run = {"model": net, "x": torch.randn(50, 3, generator=g, dtype=torch.float64)}
    (row,) = nfa.best_alpha_rows({"linear": {0: run}})
    assert row["best_alpha"] == [0.5] and row["cos_at_best"][0] > 0.999


def test_with_init_scales_adds_only_the_missing_runs_and_fit_scores_reads_them():
    setup = nfa.Setup()
    sentinel = {"fit": None}
    runs = nfa.with_init_scales(setup, [0], {(0.2, 0): sentinel}, extra=(0.2, 0.3))
    assert runs[0.2, 0] is sentinel  # already there: not re-run
    assert set(runs) == {(0.2, 0), (0.3, 0)}
    scales, values = nfa.fit_scores({(0.3, 0): runs[0.3, 0]}, [0])
    assert scales == [0.3] and values.shape == (1, 1)
    when = "fit" if runs[0.3, 0]["fit"] is not None else "end"
    assert values[0, 0] == nfa.score(runs[0.3, 0], "cos", when)
    _, base = nfa.fit_scores({(0.3, 0): runs[0.3, 0]}, [0], key="nfm_reference")
    assert base[0, 0] == nfa.score(runs[0.3, 0], "nfm_reference", when)
    with pytest.raises(ValueError, match="positive"):
        nfa.with_init_scales(setup, [0], {}, extra=(0.0,))
    with pytest.raises(TypeError, match="dict"):
        nfa.with_init_scales(setup, [0], [], extra=(0.1,))
