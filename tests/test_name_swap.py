"""Tests for equinotes.name_swap: the name-invariant decision model and the feedback loop."""

import pytest
import torch

from equinotes import groups as G
from equinotes import name_swap as ns
from equinotes.equivariance import assert_equivariant, invariant_action, symmetrize


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


def test_swap_disagreement_counts_match_the_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    table = torch.rand(9, 7, generator=g) > 0.5
    a, b = [0, 2, 2, 5, 8], [1, 2, 3]
    A, B = torch.tensor(a), torch.tensor(b)
    diff = table[A][:, None, :] != table[B][None, :, :]
    distinct = (A[:, None] != B[None, :])[:, :, None]
    expected = float((diff & distinct).sum()) / float(distinct.sum() * 7)
    assert ns.swap_disagreement(table, a, b) == pytest.approx(expected, abs=1e-12)
    assert ns.swap_disagreement(table.int(), a, b) == pytest.approx(expected, abs=1e-12)


def test_feedback_result_records_decisions_before_and_after_each_round():
    torch.manual_seed(0)
    feats, w = _setup()
    model = ns.DecisionModel(feats, 3)
    s_star = torch.ones(3)
    replay = ns.make_cases(32, [0, 1], w, torch.Generator().manual_seed(0))
    before = ns.decisions(model, s_star[None])[:, 0]
    wanted = not bool(before[0])
    result = ns.feedback_rounds(
        model, s_star, wanted, replay, steps=5, lr=1e-3, max_rounds=2
    )
    assert result.before == before.tolist()
    assert len(result.after) == result.n_feedback == len(result.fixed_after)
    for row, fixed in zip(result.after, result.fixed_after):
        assert len(row) == 6 and sum(v == wanted for v in row) == fixed


def _report_setup(n=6, d=3):
    feats = ns.name_features(n, 4, seen=[0, 1, 2], seen_dims=2, seed=0)
    return feats, ns.rule_direction(d, seed=1)


def test_make_report_cases_draws_two_distinct_people_and_labels_by_role():
    _, w = _report_setup()
    people, s, y = ns.make_report_cases(
        50, [0, 1, 2], w, torch.Generator().manual_seed(0)
    )
    assert people.shape == (50, 2) and set(people.flatten().tolist()) <= {0, 1, 2}
    assert bool((people[:, 0] != people[:, 1]).all())
    assert torch.equal(y, (s @ w > 0).float())
    with pytest.raises(ValueError):
        ns.make_report_cases(3, [0], w)
    with pytest.raises(TypeError):
        ns.make_report_cases(3, [0, 1], torch.zeros(2, 2))


def test_role_report_model_is_equivariant_to_every_renaming():
    torch.manual_seed(0)
    feats, w = _report_setup()
    model = ns.ReportModel(feats, 3, read_names=False)
    g = torch.Generator().manual_seed(1)
    people, s, _ = ns.make_report_cases(40, range(6), w, g)
    for _ in range(5):
        pi = torch.randperm(6, generator=g)
        check = ns.report_equivariance(model, people, s, pi)
        assert check["violations"] == 0.0
        assert torch.equal(model.report(pi[people], s), pi[model.report(people, s)])
    # the reported name is one of the two people
    reported = model.report(people, s)
    assert bool(((reported == people[:, 0]) | (reported == people[:, 1])).all())


def test_name_reading_report_model_is_not_equivariant_and_the_identity_changes_nothing():
    torch.manual_seed(0)
    feats, w = _report_setup()
    model = ns.ReportModel(feats, 3, read_names=True)
    with torch.no_grad():
        model.mlp[0].weight.mul_(10)  # make the names matter
    g = torch.Generator().manual_seed(1)
    people, s, _ = ns.make_report_cases(400, range(6), w, g)
    checks = [
        ns.report_equivariance(model, people, s, torch.randperm(6, generator=g))
        for _ in range(3)
    ]
    assert max(c["violations"] for c in checks) > 0
    same = ns.report_equivariance(model, people, s, torch.arange(6))
    assert same == {"violations": 0.0, "changed": 0.0}


def test_renaming_average_is_the_reynolds_average_over_all_renamings():
    torch.manual_seed(0)
    n = 4
    feats = ns.name_features(n, 3, seen_dims=3, seed=2).double()
    model = ns.ReportModel(feats, 2).double()
    people = torch.tensor([[0, 1], [2, 3], [3, 1]])
    s = torch.randn(3, 2, dtype=torch.float64)
    reference = symmetrize(
        lambda x: model(*x),
        G.symmetric_group(n),
        act_in=lambda p, x: (torch.tensor(p)[x[0]], x[1]),
    )((people, s))
    averaged = ns.renaming_average(model, people, s)
    assert torch.allclose(averaged, reference, atol=1e-12)
    # the same for every pair of people: the names are gone
    other = ns.renaming_average(model, torch.tensor([[1, 0]] * 3), s)
    assert torch.allclose(averaged, other, atol=1e-12)


def test_report_functions_bad_input():
    feats, w = _report_setup()
    model = ns.ReportModel(feats, 3)
    with pytest.raises(TypeError):
        model(torch.tensor([0, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError):
        model(torch.tensor([[0, 0]]), torch.zeros(1, 3))
    with pytest.raises(ValueError):
        model(torch.tensor([[0, 9]]), torch.zeros(1, 3))
    with pytest.raises(TypeError):
        ns.ReportModel(feats, 3, read_names=1)
    with pytest.raises(ValueError):
        ns.report_equivariance(
            model, torch.tensor([[0, 1]]), torch.zeros(1, 3), torch.tensor([0, 0, 1])
        )
    with pytest.raises(ValueError):
        ns.renaming_average(model, torch.tensor([[0, 1]]), torch.zeros(2, 3))


def test_decisions_and_feedback_over_pairs_of_people():
    torch.manual_seed(0)
    feats, w = _report_setup()
    model = ns.ReportModel(feats, 3, read_names=False)
    pairs = torch.tensor([[0, 1], [1, 2], [3, 4], [5, 0]])
    s_star = w.clone()
    table = ns.decisions(model, s_star[None], cases=pairs)
    assert table.shape == (4, 1) and bool((table == table[0]).all())
    wanted = not bool(table[0, 0])
    replay = ns.make_report_cases(32, [0, 1, 2], w, torch.Generator().manual_seed(0))
    result = ns.feedback_rounds(
        model, s_star, wanted, replay, steps=40, lr=5e-2, cases=pairs
    )
    assert result.all_fixed and result.n_feedback == 1 and result.fixed_after == [4]
    with pytest.raises(TypeError):
        ns.decisions(model, s_star[None], cases=torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        ns.decisions(model, s_star[None], cases=torch.tensor([[0, 9]]))
    with pytest.raises(ValueError):
        ns.feedback_rounds(model, s_star, True, replay, order=[0, 1], cases=pairs)
