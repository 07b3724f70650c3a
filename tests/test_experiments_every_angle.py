"""Chapter 6's experiment plumbing (equinotes.experiments.every_angle): small, fast configurations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equinotes import canonical, groups, models, steerable
from equinotes.experiments import every_angle as ea


@pytest.fixture(scope="module")
def tiny_digits():
    torch.manual_seed(0)
    x = torch.rand(40, 1, 28, 28)
    y = torch.randint(0, 10, (40,))
    return ea.Digits(x[:30], y[:30], x[30:], y[30:])


def test_networks_have_matched_parameters_and_known_names():
    nets = ea.networks()
    assert list(nets) == ["plain", "C4", "C8", "C16", "harmonic"]
    cost = ea.costs({n: nets[n] for n in ("plain", "C4", "harmonic")})
    counts = [c["parameters"] for c in cost.values()]
    assert max(counts) / min(counts) < 1.15
    assert cost["harmonic"]["multiply_adds"] > 10 * cost["plain"]["multiply_adds"]
    assert set(ea.wrappers()) == {"canonicalized", "axis frame"}


def test_costs_rejects_bad_builders():
    with pytest.raises(TypeError, match="builders"):
        ea.costs({})
    with pytest.raises(TypeError, match="callable"):
        ea.costs({"x": 3})


def test_invariance_at_init_separates_plain_from_c4():
    nets = ea.networks()
    blobs = steerable.smooth_blobs(4, seed=1, dtype=torch.float32)
    res = ea.invariance_at_init(
        {n: nets[n] for n in ("plain", "C4")}, blobs, [0, 30, 90], seeds=[0]
    )
    assert res["error"]["C4"].shape == (1, 3)
    assert res["quarter"]["C4"][0] < 1e-5 < res["quarter"]["plain"][0]
    assert np.isfinite(res["ratio"]["plain"]).all()


def test_invariance_at_init_refuses_the_shortcut_for_a_non_invariant_net():
    blobs = steerable.smooth_blobs(4, seed=1, dtype=torch.float32)
    with pytest.raises(AssertionError, match="quarter turns"):
        ea.invariance_at_init({"C4": models.PlainCNN}, blobs, [0, 30], seeds=[0])


def test_invariance_at_init_checks_its_arguments():
    blobs = steerable.smooth_blobs(4, seed=1, dtype=torch.float32)
    nets = {"plain": models.PlainCNN}
    with pytest.raises(ValueError, match="angles"):
        ea.invariance_at_init(nets, blobs, [], seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        ea.invariance_at_init(nets, blobs, [0], seeds=[])
    with pytest.raises(TypeError, match="angles"):
        ea.invariance_at_init(nets, blobs, "30", seeds=[0])


def test_analytic_blobs_are_smooth_blobs_drawn_turned():
    base = steerable.smooth_blobs(3, seed=5, dtype=torch.float32)
    assert torch.allclose(ea.analytic_blobs(3, 0, seed=5), base)
    # a quarter turn drawn analytically equals the exact pixel permutation
    turned = ea.analytic_blobs(3, 90, seed=5)
    assert torch.allclose(turned, groups.rot90(base, 1), atol=1e-5)
    assert not torch.allclose(turned, groups.rot90(base, -1), atol=1e-3)
    with pytest.raises(TypeError, match="angle_deg"):
        ea.analytic_blobs(3, "90")
    with pytest.raises(ValueError, match="sigma"):
        ea.analytic_blobs(3, 0, sigma=10)


def test_analytic_invariance_is_zero_for_a_rotation_invariant_map():
    class Mass(torch.nn.Module):  # total ink: invariant to any turn of the drawing
        def forward(self, x):
            return x.sum(dim=(1, 2, 3)).unsqueeze(1).repeat(1, 2)

    res = ea.analytic_invariance({"mass": Mass}, 4, [30, 60], seeds=[0])
    assert res["mass"][0] < 0.05
    res = ea.analytic_invariance({"plain": models.PlainCNN}, 4, [30, 60], seeds=[0])
    assert res["plain"][0] > 0.05


def test_train_and_sweep_and_summary_shapes(tiny_digits):
    angles = [0, 45, 90, 105, 180, 270]
    trained, sweeps = ea.train_all(
        {"C4": models.C4CNN}, [0], tiny_digits, angles, steps=2, device="cpu"
    )
    sweep = sweeps["C4", 0]
    assert sweep["accuracy"].shape == (6,)
    # exact quarter turns: the same accuracy at 0, 90, 180 and 270
    acc = sweep["accuracy"][[0, 2, 4, 5]]
    assert (acc == acc[0]).all()
    summary = ea.accuracy_summary(sweeps, ["C4"], [0], angles)
    assert summary["C4"]["worst"][0] <= summary["C4"]["upright"][0]
    q, d = ea.direct_gaps(trained, sweeps, ["C4"], [0], tiny_digits, angles)
    assert q == [0.0] and d == [0.0]
    with pytest.raises(KeyError):
        ea.accuracy_summary(sweeps, ["plain"], [0], angles)


def test_train_and_sweep_checks_its_arguments(tiny_digits):
    with pytest.raises(TypeError, match="Digits"):
        ea.train_and_sweep("plain", models.PlainCNN, 0, (1, 2), [0], steps=1)
    with pytest.raises(ValueError):
        ea.train_and_sweep("plain", models.PlainCNN, 0, tiny_digits, [0], steps=0)


def test_noise_jumps_holding_the_angle_removes_the_estimates_jump(tiny_digits):
    torch.manual_seed(0)
    canon = canonical.Canonicalized(models.PlainCNN()).eval()
    res = ea.noise_jumps(
        {"canonicalized": [canon]}, tiny_digits.x_test, seed=0, share=0.5
    )
    assert set(res["tv"]) == {"canonicalized", "canonicalized, angle held"}
    assert set(res["tv"]["canonicalized"]) == {"clear", "ambiguous"}
    assert res["angle_move"]["ambiguous"] >= 0
    with pytest.raises(ValueError, match="share"):
        ea.noise_jumps({"c": [canon]}, tiny_digits.x_test, seed=0, share=0.9)


def test_quarter_search_is_exact(tiny_digits):
    torch.manual_seed(0)
    net = models.PlainCNN().eval()

    def score(x):
        return net(x).amax(dim=1)

    res = ea.quarter_search(score, net, tiny_digits.x_test, tiny_digits.y_test)
    assert res["follows"] == 1.0
    assert max(res["accuracy"]) == min(res["accuracy"])


def test_table_html_shows_ranges_and_escapes():
    text = ea.table_html({"a<b": {"x": [0.1, 0.3], "y": 2.0}}, ["x", "y"], {"y": ".0f"})
    assert "a&lt;b" in text and "0.10–0.30" in text and "<td>2</td>" in text


def test_figures_draw(tiny_digits):
    import matplotlib

    matplotlib.use("Agg")
    angles = [0, 45, 90]
    _, sweeps = ea.train_all(
        {"plain": models.PlainCNN}, [0], tiny_digits, angles, steps=1
    )
    ax = ea.plot_accuracy(sweeps, ["plain"], [0], angles)
    assert ax.get_ylim() == (0, 1)
    summary = ea.accuracy_summary(sweeps, ["plain"], [0], angles)
    fig = ea.summary_figure(summary, {"plain": {"multiply_adds": 5e5}}, ["plain"])
    assert fig.axes
    assert math.isfinite(summary["plain"]["worst_over_best"][0])


def test_solver_vs_harmonics_on_a_small_grid():
    res = ea.solver_vs_harmonics(size=3, irreps=(0, 1))
    assert all(a == b for _, a, b in res["rows"])
    assert max(res["inside"]) < 1e-10 < min(res["outside"])
    with pytest.raises(ValueError):
        ea.solver_vs_harmonics(size=2)


# ---------------------------------------------------------------------- the committed budget run
def test_compute_matched_plain_costs_what_the_harmonic_network_costs():
    wide = ea.compute_matched("harmonic")["plain, wide"]()
    target = steerable.multiply_adds(ea.networks()["harmonic"](), (1, 1, 28, 28))
    cost = steerable.multiply_adds(wide, (1, 1, 28, 28))
    plain = steerable.multiply_adds(models.PlainCNN(), (1, 1, 28, 28))
    assert abs(cost - target) < 0.1 * target
    assert cost > 10 * plain  # the point of the control: it is not the page's plain CNN
    assert wide(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="target"):
        ea.compute_matched("C5")


@pytest.fixture(scope="module")
def smoke_budget_run(tmp_path_factory):
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("budget") / "run.json"
    script = (
        Path(__file__).resolve().parent.parent / "scripts" / "every_angle_budget.py"
    )
    subprocess.run(
        [sys.executable, str(script), "--preset", "smoke", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_budget_script_smoke_run_loads_and_summarizes(smoke_budget_run):
    run = ea.load_budget_run(smoke_budget_run)
    config = run["config"]
    assert len(run["sweeps"]) == len(config["models"]) * len(config["steps"])
    summary = ea.budget_summary(run)
    for (model, steps), row in summary.items():
        acc = run["sweeps"][model, steps, config["replications"][0]]["accuracy"]
        assert row["upright"][0] == acc[0] and row["worst"][0] == acc.min()
        assert 0 <= row["worst"][0] <= row["upright"][0] <= 1
    assert run["provenance"]["finished"] and run["provenance"]["commit_at_start"]
    table = ea.budget_table_html(run)
    assert table.count("<tr>") == 1 + len(config["models"]) and "plain, wide" in table
    with pytest.raises(ValueError, match="two budgets"):
        ea.budget_findings(run)  # the smoke run has one budget


def test_budget_findings_on_a_made_up_run():
    """Each finding is the difference the docstring names, on numbers chosen by hand."""
    angles = list(range(0, 360, 15))
    models_ = ["plain", "plain, wide", "C4", "C8", "harmonic"]
    upright = {"plain": 0.9, "plain, wide": 0.95, "C4": 0.6, "C8": 0.7, "harmonic": 0.8}
    worst = {"plain": 0.1, "plain, wide": 0.15, "C4": 0.3, "C8": 0.5, "harmonic": 0.6}
    sweeps = {}
    for m in models_:
        for s, bonus in ((10, 0.0), (20, 0.05)):
            for k in (1, 2):
                acc = np.full(len(angles), upright[m] + bonus)
                acc[3] = worst[m] + bonus + 0.01 * k  # replication 2 a point better
                sweeps[m, s, k] = {"accuracy": acc, "control": acc}
    run = {"config": {"models": models_, "steps": [10, 20], "replications": [1, 2]},
           "sweeps": sweeps}  # fmt: skip
    found = ea.budget_findings(run)
    assert found["upright_rises"] == {m: 2 for m in models_}
    assert found["upright_lead"][10] == pytest.approx(0.1)
    assert found["median_worst"][20]["C8"] == pytest.approx(0.565)
    assert found["harmonic_minus_c4_worst"][10] == pytest.approx(0.3)
    assert found["wide_minus_c4_worst"][20] == pytest.approx(-0.15)
    assert found["plain_minus_c4_worst"][10] == pytest.approx(-0.2)
    assert found["wide_minus_plain_upright"][10] == pytest.approx(0.05)


def test_load_budget_run_rejects_unfinished_and_foreign_files(
    smoke_budget_run, tmp_path
):
    import json

    run = json.loads(smoke_budget_run.read_text())
    run["results"] = run["results"][:-1]
    short = tmp_path / "short.json"
    short.write_text(json.dumps(run))
    with pytest.raises(ValueError, match="unfinished"):
        ea.load_budget_run(short)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema_version": 2, "results": []}))
    with pytest.raises(ValueError, match="not a budget run"):
        ea.load_budget_run(foreign)
    with pytest.raises(TypeError, match="load_budget_run"):
        ea.budget_summary({"results": []})


def test_committed_budget_run_is_complete_and_matches_its_prediction_file():
    """The committed run covers every model, budget and replication its predictions name."""
    from pathlib import Path

    run = ea.load_budget_run()
    config = run["config"]
    assert config["preset"] == "cpu" and config["steps"] == [100, 400, 1600]
    assert len(config["replications"]) == 5 and config["n_test"] == 1000
    prediction = (
        Path(__file__).resolve().parent.parent
        / "results"
        / "every_angle_budget_prediction.md"
    )
    assert "written before the run" in prediction.read_text()
