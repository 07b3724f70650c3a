"""Chapter 1's experiment plumbing (equinotes.experiments.basics), on small, fast configurations."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
import torch.nn as nn

from equinotes import models
from equinotes.experiments import basics

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def task():
    return basics.RotatedDigits(seed=0, steps=3, batch_size=16, device="cpu")


@pytest.fixture(scope="module")
def probes():
    return basics.probe_sets(seed=0, n_eval=12)


def test_shift_errors_tell_exact_from_broken_layers():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    circular = nn.Conv2d(1, 2, 5, padding=2, padding_mode="circular", bias=False)
    circular = circular.double()
    zero = nn.Conv2d(1, 2, 5, padding=2, bias=False).double()
    zero.weight.data = circular.weight.data.clone()
    strided = nn.Conv2d(1, 2, 5, padding=2, padding_mode="circular", stride=2)
    strided = strided.double()
    assert max(a for a, _ in basics.shift_errors(circular, images, [1, 2])) < 1e-12
    assert min(r for _, r in basics.shift_errors(zero, images, [1, 2])) > 1e-3
    assert max(a for a, _ in basics.shift_errors(zero, images, [1, 3], reach=2)) < 1e-12
    even, odd = basics.shift_errors(strided, images, [2, 1], stride=2)
    assert even[0] < 1e-12 and odd[1] > 0.1


def test_shift_errors_reject_bad_arguments():
    images = torch.rand(1, 1, 8, 8)
    layer = nn.Identity()
    with pytest.raises(ValueError, match="stride"):
        basics.shift_errors(layer, images, [1], stride=3)
    with pytest.raises(ValueError, match="reach"):
        basics.shift_errors(layer, images, [1], stride=2, reach=1)
    with pytest.raises(ValueError, match="empty"):
        basics.shift_errors(layer, images, [])
    with pytest.raises(ValueError):
        basics.shift_errors(layer, torch.rand(8, 8), [1])


def test_model_costs_c4_costs_about_four_plain_passes():
    costs = basics.model_costs()
    ratio = costs["C4CNN"]["multiply_adds"] / costs["PlainCNN"]["multiply_adds"]
    assert 3 <= ratio <= 5
    assert costs["wide PlainCNN"]["parameters"] > costs["PlainCNN"]["parameters"]


def test_probe_sets_are_seeded_and_bounded(probes):
    assert list(probes) == ["digits 0-4", "digits 5-9", "uniform noise"]
    assert all(v.shape == (12, 1, 28, 28) for v in probes.values())
    again = basics.probe_sets(seed=0, n_eval=12)
    assert all(torch.equal(probes[k], again[k]) for k in probes)
    other = basics.probe_sets(seed=1, n_eval=12)
    assert not torch.equal(probes["digits 0-4"], other["digits 0-4"])
    with pytest.raises(ValueError):
        basics.probe_sets(seed=0, n_eval=0)


def test_invariance_errors_separate_c4_from_plain(probes):
    torch.manual_seed(0)
    c4 = models.C4CNN(n_classes=5).eval()
    plain = models.PlainCNN(n_classes=5).eval()
    assert max(basics.invariance_errors(c4, probes).values()) <= 1e-5
    err64 = basics.invariance_errors(c4, probes, torch.float64, n_images=3)
    assert max(err64.values()) <= 1e-10
    assert min(basics.invariance_errors(plain, probes, relative=True).values()) > 1e-4
    assert (
        next(c4.parameters()).dtype == torch.float32
    )  # the model passed in is untouched
    with pytest.raises(TypeError, match="dtype"):
        basics.invariance_errors(c4, probes, torch.float16)
    with pytest.raises(TypeError, match="Module"):
        basics.invariance_errors(lambda x: x, probes)


def test_rotated_digits_trains_once_per_key(task):
    assert task.x_pool.shape[1:] == (1, 28, 28) and len(task.x_pool) == len(task.y_pool)
    assert set(task.y_test.tolist()) == set(basics.CLASSES)
    first = task.fit("plain", 20, seed=5)
    assert task.fit("plain", 20, seed=5) is first
    assert task.fit("plain", 20, seed=6) is not first
    assert 0 <= task.accuracy(first) <= 1
    with pytest.raises(ValueError, match="kind"):
        task.fit("resnet", 20, seed=5)
    with pytest.raises(ValueError, match="pool"):
        task.fit("plain", len(task.x_pool) + 1, seed=5)


def test_learned_vs_builtin_records_every_kind_and_seed(task, probes):
    probes = dict(probes, **{"shifted digits 0-4": probes["digits 0-4"].roll(6, -1)})
    study = basics.learned_vs_builtin(task, probes, [1, 2], long_steps=2, c4_n=20)
    assert study.sets == list(probes)
    for kind in basics.KINDS:
        assert len(study.change[kind]) == 2 and len(study.noise_share[kind]) == 2
        assert all(0 <= v <= 1 for row in study.change[kind] for v in row.values())
    assert max(max(row.values()) for row in study.change["C4"]) <= 1e-5
    ratios = study.off_on_ratios("augmented")
    assert set(ratios) == set(probes) - {"digits 0-4"}
    assert len(study.normalized("plain")) == 2
    assert "<table>" in study.table().data
    assert "noise-normalized" in study.ratio_table().data
    assert isinstance(study.models["C4"], models.C4CNN)
    with pytest.raises(ValueError, match="seeds"):
        basics.learned_vs_builtin(task, probes, [], long_steps=2, c4_n=20)


def test_data_efficiency_grid_finds_each_crossing(task):
    grid = basics.data_efficiency_grid(task, [10, 20], [1], target=0.05)
    # every curve starts above a 5 % target: each needs at most the first n
    assert all(grid.needed[k] == 10 for k in (*basics.KINDS, "wide"))
    assert grid.ratio("plain") == 1 and len(grid.curves["wide"]) == 2
    assert ("C4", 20, 1) in grid.accuracy and "<table>" in grid.table().data
    never = basics.data_efficiency_grid(task, [10, 20], [1], target=1.0)
    assert math.isinf(never.needed["plain"]) or never.needed["plain"] <= 20
    with pytest.raises(ValueError, match="increasing"):
        basics.data_efficiency_grid(task, [20, 10], [1])
    with pytest.raises(ValueError, match="target"):
        basics.data_efficiency_grid(task, [10, 20], [1], target=1.5)


def test_six_vs_nine_c4_is_right_on_exactly_half_of_the_pairs():
    result = basics.six_vs_nine(seed=0, seeds=[1], steps=2, device="cpu")
    assert result.accuracy_pairs["C4"] == [0.5]
    assert result.n_train > 1000 and result.n_test > 100
    assert 0 <= result.mean("plain") <= 1
    with pytest.raises(ValueError, match="seeds"):
        basics.six_vs_nine(seed=0, seeds=[], steps=2)


def test_figures_draw(task, probes):
    import matplotlib.pyplot as plt

    x = probes["digits 0-4"][:1]
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular").double()
    noise = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    errors = {"circular": basics.shift_errors(conv, noise, [1, 2])}
    study = basics.learned_vs_builtin(task, probes, [1], long_steps=2, c4_n=20)
    grid = basics.data_efficiency_grid(task, [10, 20], [1], target=0.05)
    six = basics.SixVsNine(
        [1], 10, 10, {"plain": [0.9], "C4": [0.8]}, {"plain": [0.9], "C4": [0.5]}
    )
    figures = [
        basics.plot_actions(x),
        basics.plot_shift_errors(errors, [1, 2]),
        basics.plot_shift_gaps(conv, conv, noise),
        basics.plot_lifted_planes(models.LiftingConv2d(1, 2), x),
        basics.plot_learned_vs_builtin(study),
        basics.plot_data_efficiency(grid),
        basics.plot_six_vs_nine(six),
        basics.render_turned_digit(x, {"C4": study.models["C4"]}, 45),
        basics.summary_figure(study, grid, six),
    ]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figures)
    plt.close("all")
    with pytest.raises(ValueError, match="shifts"):
        basics.plot_shift_errors(errors, [1, 2, 3])
    with pytest.raises(TypeError, match="LiftingConv2d"):
        basics.plot_lifted_planes(nn.Conv2d(1, 1, 3), x)
