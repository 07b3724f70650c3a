"""Tests for equinotes.experiments.registration (chapter 4's plumbing): small, fast configurations."""

import math

import matplotlib
import pytest
import torch

from equinotes import registration as reg
from equinotes.data import load_mnist
from equinotes.experiments import registration as rx

matplotlib.use("Agg")
SIZE = 16


@pytest.fixture(scope="module")
def nines():
    x, _ = load_mnist(9, split="test", n=12, pad=2)
    return torch.nn.functional.interpolate(
        x, size=(SIZE, SIZE), mode="bilinear", align_corners=True
    )


@pytest.fixture(scope="module")
def held(nines):
    return rx.held_out_sets(nines, seed=0, n_test=8, n_sub=4)


@pytest.fixture(scope="module")
def step():
    """A non-trivial step that is not equivariant (a random last layer)."""
    torch.manual_seed(0)
    model = reg.StepNet(SIZE, hidden=16)
    torch.nn.init.normal_(model.mlp[-1].weight, std=0.05)
    return model.eval()


def test_identity_map_returns_the_identity_and_checks_its_input(nines):
    phi = rx.identity_map(nines, nines)
    assert phi.shape == (len(nines), SIZE, SIZE, 2)
    assert (reg.warp(nines, phi) - nines).abs().max() <= 1e-5
    with pytest.raises(ValueError):
        rx.identity_map(nines, nines[:3])


def test_gradicon_charge_vanishes_on_the_disc_and_at_quarter_turns():
    charge = rx.gradicon_charge([30, 90], SIZE)
    assert charge["square"][30] > 1e-3
    assert max(charge["disc"].values()) <= 1e-6 and charge["square"][90] <= 1e-6
    with pytest.raises(ValueError):
        rx.gradicon_charge([], SIZE)


def test_held_out_sets_are_reproducible_and_shaped(nines, held):
    again = rx.held_out_sets(nines, seed=0, n_test=8, n_sub=4)
    other = rx.held_out_sets(nines, seed=1, n_test=8, n_sub=4)
    assert torch.equal(held.same.moving, again.same.moving)
    assert torch.equal(held.w_cont, again.w_cont)
    assert not torch.equal(held.same.moving, other.same.moving)
    assert len(held.same.moving) == 8 and len(held.diff.moving) == 8
    assert len(held.small.moving) == 8 and len(held.w_cont) == 4
    assert held.base.delta.abs().max() <= 1e-6  # turned together
    assert held.w_small.abs().max() <= 20 * rx.DEG
    assert bool(held.same.same.all()) and not bool(held.diff.same.any())
    with pytest.raises(ValueError):
        rx.held_out_sets(nines, seed=0, n_test=0, n_sub=4)
    with pytest.raises(TypeError):
        rx.held_out_sets(nines.numpy(), seed=0, n_test=8, n_sub=4)


def test_train_step_is_reproducible_and_checks_arguments(nines):
    kw = {"batch": 2, "device": "cpu", "max_delta": math.pi}
    a, log = rx.train_step(nines, 3, 2, **kw)
    b, _ = rx.train_step(nines, 3, 2, **kw)
    assert isinstance(a, reg.StepNet) and math.isfinite(log.final_loss)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError):
        rx.train_step(nines, 3, 0, **kw)
    with pytest.raises(ValueError):
        rx.train_step(nines, -1, 2, **kw)


def test_basin_edge_reads_the_first_bin_below_the_level():
    edges = (0, 15, 30, 45)
    assert rx.basin_edge([0.9, 0.85, 0.5], edges) == 30
    assert rx.basin_edge([0.7, 0.9, 0.9], edges) == 0
    assert rx.basin_edge([0.9, 0.9, 0.9], edges) == 45
    with pytest.raises(ValueError):
        rx.basin_edge([0.9, 0.9], edges)
    with pytest.raises(ValueError):
        rx.basin_edge([0.9], (10, 5))


def test_one_shot_errors_of_the_identity_are_the_identity_baseline(held):
    out = rx.one_shot_errors([rx.identity_map], held.same)
    assert out["by_model"][0] == out["identity"]
    assert out["labels"] == ["0-45°", "45-90°", "90-135°", "135-180°"]
    # the identity recovers no rotation: its angle error is |delta|
    err, _ = rx.angle_errors(out["phi_first"], held.same)
    assert torch.allclose(err, held.same.delta.abs() / rx.DEG, atol=1e-3)
    with pytest.raises(ValueError):
        rx.one_shot_errors([], held.same)
    with pytest.raises(TypeError):
        rx.one_shot_errors([None], held.same)


def test_gradient_basin_gives_one_share_per_bin(held):
    shares = rx.gradient_basin(held.same, (0, 90, 180))
    assert len(shares) == 2 and all(0 <= s <= 1 for s in shares)


def test_equivariance_errors_of_the_identity(held):
    e = rx.equivariance_errors(rx.identity_map, held)
    assert e["uu_quarter_px"] <= 1e-5 and e["moved_px"] <= 1e-5
    assert e["wu_px"] > 1.0
    with pytest.raises(TypeError):
        rx.equivariance_errors("identity", held)


def test_search_around_a_symmetrized_step_is_exact_for_quarter_turns(held, step):
    search = lambda m, f: reg.c4_search(reg.symmetrize_c4(step), m, f, loss=reg.lncc)
    pair = held.same.moving[:2], held.same.fixed[:2]
    assert rx.search_wu_quarter_turns(search, *pair) <= 1e-5
    raw = lambda m, f: reg.c4_search(step, m, f, loss=reg.lncc)
    assert rx.search_wu_quarter_turns(raw, *pair) > 1e-3  # the test can fail


def test_iteration_curves_cover_every_k(held, step):
    curves = rx.iteration_curves(reg.symmetrize_c4(step), step, held, ks=(1, 2))
    assert set(curves["wu_small"]) == {1, 2} and set(curves["lncc_small"]) == {1, 2}
    assert curves["wu_quarter_identity"] > 1.0
    with pytest.raises(ValueError):
        rx.iteration_curves(step, step, held, ks=(0,))


def test_attraction_basin_of_the_identity_finds_zero(nines):
    out = rx.attraction_basin(rx.identity_map, nines, seed=0, k=2, n=2)
    assert out["truth_deg"].shape == (72,)
    assert out["found_deg"].abs().max() <= 1e-3
    assert out["residual_px"].max() <= 1e-5
    with pytest.raises(ValueError):
        rx.attraction_basin(rx.identity_map, nines, seed=0, k=0)


def test_search_accuracy_and_continuous_wu_of_the_identity(held):
    acc = rx.search_accuracy(rx.identity_map, held)
    assert len(acc["median_deg"]) == 4 and 0 <= acc["diff_within"] <= 1
    cont = rx.continuous_wu(rx.identity_map, held)
    assert torch.equal(cont["search"], cont["identity"])


def test_regularity_checks_its_models(held):
    m, f = held.same.moving[:2], held.same.fixed[:2]
    out = rx.regularity({"identity": rx.identity_map}, m, f)
    assert out["negative"]["identity"] == 0 and out["inverse"]["identity"] <= 1e-5
    with pytest.raises(ValueError):
        rx.regularity({}, m, f)
    with pytest.raises(TypeError):
        rx.regularity({"bad": 3}, m, f)


def test_html_table_escapes_and_checks_rows():
    table = rx.html_table(["a", "<b>"], [[1, "x & y"]], caption="cap")
    assert "<table>" in table.data and "&lt;b&gt;" in table.data
    assert "x &amp; y" in table.data
    with pytest.raises(ValueError):
        rx.html_table(["a", "b"], [[1]])


def test_figures_draw(held, step):
    import matplotlib.pyplot as plt

    curves = rx.iteration_curves(reg.symmetrize_c4(step), step, held, ks=(1, 2))
    edges = rx.ANGLE_EDGES
    methods = {"identity map": [0.0] * 4, "search": [1.0] * 4}
    figs = [
        rx.plot_pairs(held.same, held.diff, n=1),
        rx.plot_iteration(curves, 1),
        rx.summary_figure(methods, curves, 0.0, edges),
        rx.render_iterates(step, held.same, 0, (1, 2))(2),
    ]
    assert all(len(f.axes) >= 2 for f in figs)
    plt.close("all")
    with pytest.raises(ValueError):
        rx.gallery([], held.same, "empty")
