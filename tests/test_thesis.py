"""Tests for equinotes.thesis (issue 16: the thesis at scale)."""

import copy
import json
import math

import pytest
import torch

from equinotes import groups, thesis
from equinotes import registration as reg
from equinotes import registration_metrics as rm

SIZE = 16


def random_step(seed=0):
    """A StepNet whose last layer is not zero, so that it moves pixels."""
    torch.manual_seed(seed)
    step = reg.StepNet(SIZE, hidden=16, grid=4)
    torch.nn.init.normal_(step.mlp[-1].weight, std=0.05)
    return step.eval()


def identity_map(moving, fixed):
    return reg.identity_grid(SIZE, SIZE, len(moving))


def images(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, SIZE, SIZE)
    x[:, :, 4:12, 5:10] = torch.rand(n, 1, 8, 5, generator=g)
    return x


def test_blur_commutes_with_quarter_turns_and_keeps_zero_sigma():
    x = images()
    assert torch.equal(thesis.blur(x, 0), x)
    y = thesis.blur(x, 1.5)
    assert (y - x).abs().max() > 0.01
    for k in (1, 2, 3):
        gap = thesis.blur(groups.rot90(x, k), 1.5) - groups.rot90(y, k)
        assert gap.abs().max() <= 1e-6
    assert torch.allclose(
        y.sum(), x.sum(), rtol=1e-4
    )  # the digit is far from the border


def test_blur_rejects_bad_input():
    with pytest.raises(TypeError, match="sigma"):
        thesis.blur(images(), "1")
    with pytest.raises(ValueError):
        thesis.blur(torch.zeros(SIZE, SIZE), 1.0)


def test_blur_schedule():
    assert thesis.blur_schedule(4, 3.0) == pytest.approx((3.0, 2.0, 1.0, 0.0))
    assert thesis.blur_schedule(4, 2.0, coarse_steps=2) == (2.0, 0.0, 0.0, 0.0)
    assert thesis.blur_schedule(1, 2.0) == (2.0,)
    assert thesis.blur_schedule(3, 0.0) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sigma_max"):
        thesis.blur_schedule(3, -1.0)
    with pytest.raises(ValueError):
        thesis.blur_schedule(0, 1.0)


def test_unroll_without_blur_is_the_iteration():
    step, a, b = random_step(), images(seed=1), images(seed=2)
    with torch.no_grad():
        iterates = thesis.unroll(step, a, b, 3)
        for k in (1, 2, 3):
            assert torch.allclose(
                iterates[k - 1], reg.iterate(step, k)(a, b), atol=1e-6
            )
        blurred = thesis.unroll(step, a, b, 3, sigmas=(2.0,))
    assert not torch.allclose(blurred[0], iterates[0])
    with pytest.raises(TypeError):
        thesis.unroll("step", a, b, 2)
    with pytest.raises(ValueError):
        thesis.unroll(step, a, b, 0)


def test_conjugated_leaves_an_equivariant_step_unchanged():
    a, b = images(seed=1), images(seed=2)
    sym = reg.symmetrize_c4(random_step())
    with torch.no_grad():
        plain = sym(a, b)
        for k in (1, 2, 3):
            turned = thesis.conjugated(sym, k * math.pi / 2)(a, b)
            assert (turned - plain).abs().max() <= 1e-5
        # a non-equivariant step changes under conjugation
        step = random_step()
        gap = thesis.conjugated(step, math.pi / 2)(a, b) - step(a, b)
    assert gap.abs().max() > 1e-3
    with pytest.raises(TypeError):
        thesis.conjugated(None, 0.3)


def test_conjugated_step_draws_fresh_rotations_in_training_only():
    a, b = images(seed=1), images(seed=2)
    step = random_step()
    wrapped = thesis.ConjugatedStep(copy.deepcopy(step), seed=5).eval()
    with torch.no_grad():
        assert torch.equal(wrapped(a, b), step(a, b))
        wrapped.train()
        first, second = wrapped(a, b), wrapped(a, b)
        again = thesis.ConjugatedStep(copy.deepcopy(step), seed=5).train()(a, b)
    assert not torch.allclose(first, second)  # a fresh rotation every call
    assert torch.allclose(first, again)  # reproducible from the seed
    with pytest.raises(TypeError, match="Module"):
        thesis.ConjugatedStep(lambda m, f: m)


def test_every_iterate_loss_at_k1_is_the_registration_loss():
    g = torch.Generator().manual_seed(0)
    digits = images(6, seed=3)
    pairs = reg.rotated_pairs(digits, 4, g)
    step = random_step()
    ours = thesis.every_iterate_loss(1, lam=0.5)(step, pairs)
    theirs = reg.registration_loss(k=1, lam=0.5)(step, pairs)
    assert torch.allclose(ours, theirs, atol=1e-6)
    loss = thesis.every_iterate_loss(3, sigmas=(1.0, 0.5), lam=0.5)(step, pairs)
    loss.backward()
    assert step.mlp[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="lam"):
        thesis.every_iterate_loss(2, lam=-1)
    with pytest.raises(TypeError):
        thesis.every_iterate_loss(2, similarity="lncc")


def test_wu_errors_match_the_metric_and_vanish_for_quarter_turn_uu():
    a, b = images(seed=1), images(seed=2)
    step = random_step()
    errors = thesis.wu_errors(step, a, b, 0.4, -0.3, ks=(1, 2))
    for k in (1, 2):
        expected = rm.equivariance_error_px(reg.iterate(step, k), a, b, 0.4, -0.3)
        assert torch.allclose(errors[k], expected, atol=1e-5)
    sym = reg.symmetrize_c4(step)
    uu = thesis.wu_errors(sym, a, b, math.pi / 2, math.pi / 2, ks=(1, 3), sigmas=(1.0,))
    assert max(e.max().item() for e in uu.values()) <= 1e-4
    with pytest.raises(ValueError):
        thesis.wu_errors(step, a, b, 0.1, 0.1, ks=())


def test_wu_errors_by_probe_equal_one_probe_at_a_time():
    a, b = images(seed=1), images(seed=2)
    step = random_step()
    probes = {"small": (0.4, -0.3), "quarter": (math.pi / 2, 0.0)}
    both = thesis.wu_errors_by_probe(step, a, b, probes, ks=(1, 3))
    for name, (w, u) in probes.items():
        alone = thesis.wu_errors(step, a, b, w, u, ks=(1, 3))
        for k in (1, 3):
            assert torch.allclose(both[name][k], alone[k])
    with pytest.raises(ValueError, match="non-empty"):
        thesis.wu_errors_by_probe(step, a, b, {}, ks=(1,))
    with pytest.raises(ValueError, match="pair"):
        thesis.wu_errors_by_probe(step, a, b, {"x": 0.3}, ks=(1,))


def test_basin_of_the_identity_map():
    a = images(4, seed=1)
    truth = torch.tensor([0.0, 30.0, -90.0, 180.0])
    out = thesis.basin(identity_map, a, a, truth, 4)
    assert torch.allclose(out["found_deg"], torch.zeros(4), atol=1e-4)
    assert torch.allclose(out["error_deg"], truth.abs(), atol=1e-3)
    assert out["residual_px"].abs().max() <= 1e-6
    with pytest.raises(ValueError, match="truth_deg"):
        thesis.basin(identity_map, a, a, truth[:2], 4)


# ------------------------------------------------------------------------------ verdict, schema
def fake_run(wu=1.0, floor=1.0, share=1.0, wrong=0.0, res_right=0.1, res_wrong=None):
    ks = list(thesis.KS)
    return {
        "ks": ks,
        "wu_px_by_bin": {
            g: {str(K): [wu] * 18 for K in ks} for g in ("same", "two_9s")
        },
        "uu_floor_px": {str(K): floor for K in ks},
        "median_angle_error_deg_by_bin": {str(K): [1.0] * 18 for K in ks},
        "basin": {
            "share_within_15": share,
            "share_wrong": wrong,
            "median_residual_right_px": res_right,
            "median_residual_wrong_px": res_wrong,
        },
        "seconds": 1.0,
    }


ARMS = ("learned_blur", "c4_blur")


def results(thesis_run, control_run):
    out = {a: {"0": thesis_run, "1": thesis_run} for a in ARMS}
    out["control"] = {"0": control_run, "1": control_run}
    return out


def test_verdict_rules():
    good, bad = fake_run(wu=1.4), fake_run(wu=5.0, share=0.5, wrong=0.5, res_wrong=1.0)
    stuck = fake_run(wu=5.0, share=0.5, wrong=0.5, res_wrong=0.15)
    assert thesis.verdict(results(good, bad), ARMS, "control")["verdict"] == "confirm"
    # the control confirming too makes the test uninformative
    assert (
        thesis.verdict(results(good, good), ARMS, "control")["verdict"]
        == "inconclusive"
    )
    assert thesis.verdict(results(stuck, bad), ARMS, "control")["verdict"] == "refute"
    assert (
        thesis.verdict(results(bad, bad), ARMS, "control")["verdict"] == "inconclusive"
    )
    # basin below 95% fails the confirmation even when the errors are small
    near = fake_run(wu=1.0, share=0.9)
    assert (
        thesis.verdict(results(near, bad), ARMS, "control")["verdict"] == "inconclusive"
    )
    one = thesis.arm_verdict(good)
    assert one["within_from_K"] == 1 and one["confirms"] and not one["refutes"]
    # a map that never moves ends at 0 from every start: settled, but not bimodal
    still = fake_run(wu=5.0, share=1 / 36, wrong=0.9, res_wrong=0.0, res_right=0.0)
    assert not thesis.arm_verdict(still)["refutes"]
    with pytest.raises(ValueError, match="lack"):
        thesis.verdict({"control": {}}, ARMS, "control")


def test_arm_verdict_finds_where_the_error_settles():
    run = fake_run(wu=1.0)
    for K in (1, 2):
        for g in ("same", "two_9s"):
            run["wu_px_by_bin"][g][str(K)][5] = 9.0
    assert thesis.arm_verdict(run)["within_from_K"] == 4
    run["wu_px_by_bin"]["same"]["32"][0] = 9.0  # it does not stay there up to K = 32
    assert thesis.arm_verdict(run)["within_from_K"] is None


def valid_file(tmp_path):
    res = results(fake_run(), fake_run(wu=5.0))
    payload = {
        "schema_version": thesis.SCHEMA_VERSION,
        "results": res,
        "provenance": {
            k: "x"
            for k in (
                "git_commit",
                "seeds",
                "torch",
                "python",
                "machine",
                "device",
                "preset",
                "sizes",
                "date",
            )
        },
        "verdict": thesis.verdict(res, ARMS, "control"),
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(payload))
    return path, payload


def test_load_results_accepts_a_valid_file(tmp_path):
    path, payload = valid_file(tmp_path)
    assert thesis.load_results(path)["verdict"]["verdict"] == "confirm"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.pop("provenance"), "missing key 'provenance'"),
        (lambda p: p.update(schema_version=99), "schema_version 99"),
        (lambda p: p["provenance"].pop("git_commit"), "provenance lacks 'git_commit'"),
        (lambda p: p.update(results={}), "results is empty"),
        (lambda p: p["results"]["control"]["0"].pop("basin"), "lacks 'basin'"),
        (
            lambda p: p["results"]["control"]["0"]["wu_px_by_bin"]["same"].pop("32"),
            "one entry per K",
        ),
        (lambda p: p["verdict"].update(verdict="maybe"), "verdict must be"),
        (lambda p: p.update(results=[]), "'results' must be a dict"),
    ],
)
def test_load_results_names_what_is_wrong(tmp_path, damage, message):
    path, payload = valid_file(tmp_path)
    damage(payload)
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=message):
        thesis.load_results(path)


def test_load_results_missing_or_broken_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        thesis.load_results(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        thesis.load_results(bad)


def test_upright_pair_sampler():
    digits = images(5, seed=4)
    sample = thesis.upright_pair_sampler(digits, 64, same_fraction=1.0)
    pairs = sample(0, torch.Generator().manual_seed(0))
    assert pairs.moving.shape == (64, 1, SIZE, SIZE)
    assert torch.all(pairs.theta_fixed == 0)
    assert pairs.delta.abs().max() > math.pi / 2  # relative angles of every size
    # the moving image is the fixed one turned by the relative angle
    back = reg.pull_back(pairs.moving, pairs.delta)
    assert (back - pairs.fixed).abs().mean() < 0.04  # the wrong way: 0.064
    with pytest.raises(ValueError, match="same_fraction"):
        thesis.upright_pair_sampler(digits, 4, same_fraction=2.0)


def test_load_results_recomputes_the_verdict(tmp_path):
    path, payload = valid_file(tmp_path)
    payload["verdict"]["verdict"] = "refute"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="does not follow"):
        thesis.load_results(path)


def test_wu_to_floor_and_seed_mean():
    a, b = fake_run(wu=3.0, floor=2.0), fake_run(wu=1.0, floor=2.0)
    b["wu_px_by_bin"]["same"]["1"][0] = None
    assert thesis.wu_to_floor(a)[0][0] == 1.5
    assert thesis.wu_to_floor(b)[0][0] is None
    mean = thesis.seed_mean({"0": a, "1": b}, thesis.wu_to_floor)
    assert len(mean) == len(thesis.KS) and len(mean[0]) == 18
    assert mean[0][0] == 1.5 and mean[0][1] == 1.0  # None left out of the mean
    assert thesis.seed_mean({"0": b}, thesis.wu_to_floor)[0][0] is None
    with pytest.raises(ValueError, match="group"):
        thesis.wu_to_floor(a, "three_9s")
    with pytest.raises(ValueError, match="non-empty"):
        thesis.seed_mean({}, thesis.wu_to_floor)
    with pytest.raises(ValueError, match="same shape"):
        thesis.seed_mean({"0": a, "1": b}, lambda r: [[1.0] * (3 if r is a else 2)])


def test_the_committed_run_loads_and_is_clean():
    committed = thesis.load_results()  # the file the research note reads
    assert committed["schema_version"] == 2 and committed["rules_version"] == 2
    prov = committed["provenance"]
    assert len(prov["git_commit"]) == 40 and "dirty" not in prov["git_commit"]
    assert set(committed["results"]) >= {"iterated", "one_shot", "upright"}
    for runs in committed["results"].values():
        assert sorted(runs) == [str(s) for s in prov["seeds"]]
    assert set(committed["verdict"]["per_seed"]) == {str(s) for s in prov["seeds"]}
    assert min(committed["results"]["iterated"]["0"]["n_basin"], 64) == 64
