"""Tests for equinotes.name_swap: the name-invariant decision model and the feedback loop."""

import pytest
import torch

from equinotes import name_swap as ns
from equinotes.equivariance import assert_equivariant, invariant_action


def _setup(n=6, d=3):
    feats = ns.name_features(n, 4, seen=[0, 1], seen_dims=2, seed=0)
    return feats, ns.rule_direction(d, seed=1)


def test_name_features_structure_and_bad_input():
    feats = ns.name_features(5, 4, seen=[0, 2], seen_dims=1, seed=0)
    assert feats.shape == (5, 4)
    assert torch.all(feats[[0, 2], 1:] == 0) and torch.all(feats[1, 1:] != 0)
    with pytest.raises(ValueError):
        ns.name_features(5, 4, seen=[7])
    with pytest.raises(ValueError):
        ns.name_features(5, 2, seen_dims=3)
    with pytest.raises(ValueError):
        ns.name_features(1)


def test_invariant_model_matches_symmetrize_and_is_invariant_for_every_name():
    torch.manual_seed(0)
    feats, w = _setup()
    model = ns.NameInvariantModel(feats.double(), 3).double()
    names, situations, _ = ns.make_cases(
        7, range(6), w.double(), torch.Generator().manual_seed(0)
    )
    situations = situations.double()
    ref = model.symmetrized_reference()((names, situations))
    assert torch.allclose(model(names, situations), ref, atol=1e-12)
    swaps = [(a, b) for a in range(6) for b in range(a + 1, 6)]

    def swap(pair, x):
        a, b = pair
        n = x[0].clone()
        n[x[0] == a], n[x[0] == b] = b, a
        return n, x[1]

    assert_equivariant(
        lambda x: model(*x),
        (names, situations),
        swap,
        invariant_action,
        swaps,
        atol=1e-10,
    )


def test_decision_model_uses_names():
    torch.manual_seed(0)
    feats, _ = _setup()
    model = ns.DecisionModel(feats, 3)
    s = torch.zeros(2, 3)
    out = model(torch.tensor([2, 3]), s)
    assert out.shape == (2,) and (out[0] - out[1]).abs() > 0


def test_model_bad_input():
    feats, _ = _setup()
    model = ns.DecisionModel(feats, 3)
    with pytest.raises(TypeError):
        model(torch.tensor([0.0]), torch.zeros(1, 3))
    with pytest.raises(ValueError):
        model(torch.tensor([0, 1]), torch.zeros(1, 3))
    with pytest.raises(ValueError):
        model(torch.tensor([0]), torch.zeros(1, 4))
    with pytest.raises(ValueError):
        model(torch.tensor([9]), torch.zeros(1, 3))
    with pytest.raises(TypeError):
        ns.DecisionModel(torch.zeros(3), 3)


def test_make_cases_decisions_and_disagreement():
    feats, w = _setup()
    names, s, y = ns.make_cases(10, [0, 1], w, torch.Generator().manual_seed(0))
    assert set(names.tolist()) <= {0, 1} and torch.equal(y, (s @ w > 0).float())
    model = ns.NameInvariantModel(feats, 3)
    table = ns.decisions(model, torch.randn(5, 3))
    assert table.shape == (6, 5) and ns.swap_disagreement(table, range(6)) == 0.0
    t = torch.tensor([[True, False], [False, False]])
    assert ns.swap_disagreement(t, [0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        ns.make_cases(3, [], w)
    with pytest.raises(TypeError):
        ns.make_cases(3, [0], torch.zeros(2, 2))
    with pytest.raises(ValueError):
        ns.swap_disagreement(t, [0])
    with pytest.raises(TypeError):
        ns.swap_disagreement(torch.zeros(3), [0, 1])


def test_feedback_fixes_every_name_at_once_for_the_invariant_model():
    torch.manual_seed(0)
    feats, w = _setup()
    model = ns.NameInvariantModel(feats, 3)
    s_star = torch.ones(3)
    wanted = not bool(ns.decisions(model, s_star[None])[0, 0])
    replay = ns.make_cases(32, [0, 1], w, torch.Generator().manual_seed(0))
    result = ns.feedback_rounds(model, s_star, wanted, replay, steps=40, lr=5e-2)
    assert result.all_fixed and result.n_feedback == 1 and result.fixed_after == [6]
    with pytest.raises(TypeError):
        ns.feedback_rounds(model, s_star, 1, replay)
    with pytest.raises(ValueError):
        ns.feedback_rounds(model, s_star, True, replay, order=[0, 1])
    with pytest.raises(TypeError):
        ns.feedback_rounds(model, s_star[None], True, replay)
    with pytest.raises(ValueError):
        ns.fine_tune(model, (1, 2), replay)
