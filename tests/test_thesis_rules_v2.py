"""Rules v2 of the thesis (issue 24), tested on oracles: a rule that cannot confirm its oracle is a
defect. Also the rigid-head family (equinotes.thesis_rigid) and the transform relaxation."""

import math

import pytest
import torch

from equinotes import data, thesis
from equinotes import registration as reg
from equinotes import registration_metrics as rm
from equinotes import thesis_rigid as tr


@pytest.fixture(scope="module")
def test9():
    torch.set_num_threads(1)
    nines, _ = data.load_mnist(9, split="test", pad=2)
    return nines


def _evaluate(step, test9):
    return thesis.evaluate_v2(
        lambda m, f, k: tr.rigid_unroll(step, m, f, k), test9, 0, 1, 72, 2
    )


@pytest.fixture(scope="module")
def oracle_runs(test9):
    steps = {
        "search": tr.search_step,
        "identity": tr.identity_step,
        "drift": tr.drift_step,
        "small_angles": tr.small_angle_step,
        "quarter_turns": tr.quarter_turn_step,
    }
    return {name: _evaluate(step, test9) for name, step in steps.items()}


def _verdict(runs, iterated, upright="identity", one_shot="identity"):
    results = {
        "iterated": {"0": runs[iterated], "1": runs[iterated]},
        "upright": {"0": runs[upright], "1": runs[upright]},
        "one_shot": {"0": runs[one_shot], "1": runs[one_shot]},
    }
    return thesis.verdict_v2(results)


def test_exact_search_confirms(oracle_runs):
    v = _verdict(oracle_runs, "search")
    assert v["verdict"] == "confirm"
    assert v["per_seed"] == {"0": "confirm", "1": "confirm"}
    assert v["rules_version"] == thesis.RULES_VERSION == 2


def test_search_does_not_confirm_when_a_control_is_as_good(oracle_runs):
    # the one-shot control registers every angle too: nothing is left to attribute to iteration
    v = _verdict(oracle_runs, "search", one_shot="search")
    assert v["verdict"] == "inconclusive"


@pytest.mark.parametrize("oracle", ["identity", "drift"])
def test_maps_that_do_not_register_are_underpowered(oracle_runs, oracle):
    v = _verdict(oracle_runs, oracle)
    assert v["verdict"] == "underpowered"
    assert not v["seed_detail"]["0"]["gate_passes"]


def test_small_angle_step_does_not_confirm(oracle_runs):
    v = _verdict(oracle_runs, "small_angles")
    assert v["verdict"] != "confirm"
    assert v["seed_detail"]["0"]["gate_passes"]


def test_quarter_turn_map_refutes(oracle_runs):
    v = _verdict(oracle_runs, "quarter_turns")
    assert v["verdict"] == "refute"
    # bimodal: starts near the truth end right, the rest settle at a wrong quarter turn
    basin = oracle_runs["quarter_turns"]["basin"]["4"]
    assert 0.2 <= basin["share_within_15"] <= 0.3
    assert max(basin["median_error_by_true_deg"]) >= 85


def test_mixed_seeds_are_inconclusive_and_underpowered_wins(oracle_runs):
    results = {
        "iterated": {"0": oracle_runs["search"], "1": oracle_runs["quarter_turns"]},
        "upright": {"0": oracle_runs["identity"], "1": oracle_runs["identity"]},
        "one_shot": {"0": oracle_runs["identity"], "1": oracle_runs["identity"]},
    }
    v = thesis.verdict_v2(results)
    assert v["per_seed"] == {"0": "confirm", "1": "refute"}
    assert v["verdict"] == "inconclusive"
    results["iterated"]["2"] = oracle_runs["identity"]
    results["upright"]["2"] = results["one_shot"]["2"] = oracle_runs["identity"]
    assert thesis.verdict_v2(results)["verdict"] == "underpowered"


def test_direction_field_of_search_and_identity(oracle_runs):
    right = oracle_runs["search"]["direction_field"]["right_way_share"]
    assert all(r == 1.0 for r in right if r is not None)
    still = oracle_runs["identity"]["direction_field"]["right_way_share"]
    assert all(r == 0.0 for r in still if r is not None)


def test_identity_basin_is_three_of_36(oracle_runs):
    assert oracle_runs["identity"]["identity_basin_share"] == pytest.approx(3 / 36)
    assert oracle_runs["identity"]["basin"]["4"]["share_within_15"] == pytest.approx(
        3 / 36
    )


def test_verdict_v2_needs_its_arms(oracle_runs):
    with pytest.raises(ValueError, match="lack the arms"):
        thesis.verdict_v2({"iterated": {"0": oracle_runs["search"]}})


def test_evaluate_v2_rejects_bad_input(test9):
    with pytest.raises(TypeError):
        thesis.evaluate_v2("not callable", test9, 0, 1, 8, 1)
    with pytest.raises(ValueError):
        thesis.evaluate_v2(lambda m, f, k: [], test9, 0, 0, 8, 1)


# ------------------------------------------------------------------------------- rigid family
def test_rigid_unroll_composes_like_grids(test9):
    pairs = reg.rotated_pairs(
        test9[:50], 6, torch.Generator().manual_seed(1), same_fraction=1.0
    )
    grids = tr.rigid_unroll(tr.drift_step, pairs.moving, pairs.fixed, 3)
    # three shifts of 0.5 px: the last iterate is the identity moved 1.5 px along x
    still = reg.identity_grid(32, 32, 6)
    shift = (grids[-1] - still)[..., 0] * 31 / 2
    assert torch.allclose(shift, torch.full_like(shift, 1.5), atol=1e-5)


def test_search_step_recovers_the_angle(test9):
    pairs = reg.rotated_pairs(
        test9[:50], 8, torch.Generator().manual_seed(2), same_fraction=1.0
    )
    phi = tr.rigid_unroll(tr.search_step, pairs.moving, pairs.fixed, 1)[0]
    err = rm.angle_error_deg(rm.recovered_angle(phi, pairs.fixed), pairs.delta)
    assert err.max() < 1.0


def test_rigid_step_starts_at_identity_and_conjugation_turns_the_shift(test9):
    torch.manual_seed(0)
    step = tr.RigidStep(32, hidden=16)
    a, b = test9[:4], test9[4:8]
    angle, shift = step(a, b)
    assert torch.all(angle == 0) and torch.all(shift == 0)
    torch.nn.init.normal_(step.net[-1].weight, std=0.05)
    conj = tr.ConjugatedRigidStep(step, seed=3).train()
    angle_c, shift_c = conj(a, b)
    assert angle_c.shape == (4,) and shift_c.shape == (4, 2)
    # a quarter-turn conjugation, computed by hand
    u = math.pi / 2
    angle_q, shift_q = step(reg.pull_back(a, u), reg.pull_back(b, u))
    rot = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    phi = tr.rigid_unroll(lambda m, f: (angle_q, shift_q @ rot.T), a, b, 1)[0]
    from equinotes.groups import conjugate_transform

    plain = tr.rigid_unroll(lambda m, f: (angle_q, shift_q), a, b, 1)[0]
    assert torch.allclose(phi, conjugate_transform(plain, -u, -u), atol=1e-5)


def test_rigid_step_rejects_bad_input():
    step = tr.RigidStep(32, hidden=8)
    with pytest.raises(ValueError):
        step(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28))
    with pytest.raises(TypeError):
        tr.rigid_unroll("no", torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), 1)
    with pytest.raises(ValueError):
        tr.curriculum_max_delta(1, 10, ramp=0)


def test_curriculum_widens_from_30_to_180_degrees():
    assert math.degrees(tr.curriculum_max_delta(0, 100)) == pytest.approx(30)
    assert math.degrees(tr.curriculum_max_delta(30, 100)) == pytest.approx(105)
    assert math.degrees(tr.curriculum_max_delta(99, 100)) == pytest.approx(180)


def test_upright_sampler_keeps_the_fixed_image_upright(test9):
    sample = tr.curriculum_sampler(test9[:50], 8, 10, upright=True)
    pairs = sample(9, torch.Generator().manual_seed(0))
    assert torch.allclose(pairs.theta_fixed, torch.zeros(8), atol=1e-6)
    assert pairs.moving.shape == (8, 1, 32, 32)


def test_training_lowers_the_loss(test9):
    torch.manual_seed(0)
    model = tr.ConjugatedRigidStep(tr.RigidStep(32, hidden=32), seed=0)
    pairs = reg.rotated_pairs(
        test9, 16, torch.Generator().manual_seed(0), max_delta=math.radians(30)
    )
    log = tr.train_rigid(model, tr.rigid_loss(2), lambda i, g: pairs, 30, lr=3e-3)
    assert sum(log["losses"][-5:]) < sum(log["losses"][:5])
    assert not model.training


# --------------------------------------------------------------------------- relaxation
def test_relax_field_keeps_affine_maps_exact():
    from equinotes.transforms import matrix_transform

    m = torch.tensor([[[0.9, 0.3], [-0.2, 1.1]]])
    phi = matrix_transform(m, 32, 32, torch.tensor([[0.1, -0.05]]))
    assert torch.allclose(thesis.relax_field(phi, 6.0), phi, atol=1e-5)


def test_relax_field_smooths_a_squish():
    phi = reg.identity_grid(32, 32, 1)
    bump = phi.clone()
    bump[0, 14:18, 14:18, 0] += 0.2
    relaxed = thesis.relax_field(bump, 3.0)
    assert (relaxed - phi).abs().max() < 0.5 * (bump - phi).abs().max()
    with pytest.raises(ValueError):
        thesis.relax_field(bump, 40.0)
    with pytest.raises(TypeError):
        thesis.relax_field(bump, "3")
