"""Chapter 2's experiment plumbing (equinotes.experiments.diagrams), on small, fast configurations."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from equinotes import diagrams  # noqa: E402
from equinotes.experiments import diagrams as ch2  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    model, log = ch2.train_set_stack(0, steps=3)
    assert len(log.losses) == 3
    return model


def test_pasting_variants_separate_the_equivariant_stack_from_a_broken_one(stack):
    variants = ch2.pasting_variants(stack, 0)
    assert list(variants) == [
        "equivariant stack",
        "layer 2 broken",
        "layer 3 broken",
        "reorder in front",
    ]
    good, bad = variants["equivariant stack"], variants["layer 2 broken"]
    assert (
        len(good["squares"]) == 4 and len(variants["reorder in front"]["squares"]) == 5
    )
    assert max(good["squares"] + [good["composite"]]) <= 1e-5
    assert bad["squares"][1] > 1e-3 and bad["composite"] > 1e-3
    # a bias right before the sum is erased by it: the whole still commutes
    assert variants["layer 3 broken"]["composite"] <= 1e-5
    # the run is seeded: the same call gives the same numbers
    assert ch2.pasting_variants(stack, 0) == variants


def test_set_stack_and_pasting_reject_bad_arguments(stack):
    with pytest.raises(ValueError, match="broken_layer"):
        ch2.set_stack(broken_layer=3)
    with pytest.raises(TypeError, match="Sequential"):
        ch2.pasting_variants(torch.nn.Linear(2, 2), 0)
    with pytest.raises(ValueError, match="seed"):
        ch2.pasting_variants(stack, -1)
    with pytest.raises(ValueError, match="scale"):
        ch2.train_set_stack(0, scale=0)
    assert ch2.set_inputs(0, n=2).shape == (2, ch2.N_ITEMS, ch2.D_FEAT)


def test_permutation_solutions_and_characters():
    results, bases = ch2.permutation_solutions([3, 4])
    assert results == {
        3: {"dim": 2, "span_is_I_and_11T": True},
        4: {"dim": 2, "span_is_I_and_11T": True},
    }
    assert len(bases[4]) == 2 and bases[4][0].shape == (4, 4)
    assert ch2.s_n_character_dimensions([2, 3]) == {2: 2, 3: 2}
    with pytest.raises(ValueError, match="n"):
        ch2.s_n_generators(1)
    with pytest.raises(ValueError, match="empty"):
        ch2.permutation_solutions([])
    with pytest.raises(ValueError, match="keep n"):
        ch2.s_n_character_dimensions([9])


def test_c4_dimensions_match_the_character_formula_and_orbits():
    cases = [("2x2 -> 2x2", 2, 2), ("3x3 -> number", 3, None)]
    results, bases = ch2.c4_dimensions(cases)
    assert results == {
        "2x2 -> 2x2": {"sympy": 4, "characters": 4},
        "3x3 -> number": {"sympy": 3, "characters": 3},
    }
    _, perm_bases = ch2.permutation_solutions([3])
    orbits = ch2.orbit_check(perm_bases, bases)
    assert set(orbits) == {
        "S3 on R^3",
        "C4 2x2 -> 2x2",
        "C4 3x3 -> number",
        "translations 4x4",
        "translations + quarter turns 4x4",
    }
    for row in orbits.values():
        assert row["same_basis"] and row["orbits"] == row["burnside"] == row["sympy"]
    assert orbits["translations 4x4"]["orbits"] == 16
    with pytest.raises(ValueError, match="unknown C4 case"):
        ch2.orbit_check(perm_bases, {"7x7 -> 7x7": []})
    assert ch2.translation_orbits_are_offsets(3)


def test_reynolds_check_is_an_orthogonal_projection():
    results = ch2.reynolds_check(0, n_competitors=40, n_close=4)
    assert set(results) == {"C4 on 4x4 images", "S5 on R^5"}
    for r in results.values():
        assert r["equivariance_error"] <= 1e-10
        assert r["reynolds_minus_least_squares"] <= 1e-10
        assert r["pythagoras_residual"] <= 1e-10
        assert r["distance_to_R(W)"] <= r["closest_competitor"]
    with pytest.raises(ValueError, match="n_close"):
        ch2.reynolds_check(0, n_competitors=3, n_close=4)


def test_reynolds_render_reaches_the_equivariant_map():
    render = ch2.reynolds_render(0, m=4)
    fig = render(1.0)
    assert "t = 1.00" in fig._suptitle.get_text()
    error = float(fig._suptitle.get_text().rsplit(" ", 1)[1])
    assert error <= 1e-12
    plt.close("all")


@pytest.fixture(scope="module")
def toys():
    toys = ch2.name_toys(0, n_reps=1, steps=3)
    ch2.train_report_models(toys, steps=3)
    return toys


def test_name_toys_swap_table_and_feedback(toys):
    assert len(toys) == 1 and {"seed", "w", "trained-only", "invariant"} <= set(toys[0])
    # the weights on name features no training name varies get no gradient
    assert toys[0]["unused_weights_change"] == 0
    swap = ch2.swap_table(toys, n_test=50)
    (inv,), (trn,) = swap["invariant"], swap["trained-only"]
    assert inv["max_logit_gap"] <= 1e-10 and inv["disagreement_unseen"] == 0
    floor = 1 / (8 * 7 * 50)
    assert trn["unseen_over_seen"] == pytest.approx(
        trn["disagreement_unseen"] / max(trn["disagreement_seen"], floor)
    )
    feedback = ch2.invariant_feedback(toys, steps=2)
    (row,) = feedback["invariant"]
    # the invariant model decides the same for every name: a correction moves all or none
    assert row["names_changed_by_one_feedback"] in (0, 24)
    assert row["acting_before"] in (0, 24)
    assert len(row["fixed_after"]) == row["feedback_needed"]


def test_report_models_are_equivariant_by_construction(toys):
    report = ch2.report_table(toys, n_test=20, n_cases=50)
    (eq,) = report["report equivariant"]
    assert eq["renaming_violations"] == 0 and eq["reported_name_changed"] > 0.5
    fb = ch2.report_feedback(toys, most_corrections=1, steps=2)
    (row,) = fb["report trained-only"]
    assert row["feedback_needed"] <= 1
    assert set(row) == {
        "first_reported_before",
        "pairs_changed_by_one_feedback",
        "feedback_needed",
        "all_fixed",
    }


def test_toy_functions_reject_what_is_not_a_list_of_toys(toys):
    with pytest.raises(TypeError, match="list"):
        ch2.swap_table([])
    with pytest.raises(ValueError, match="report"):
        ch2.report_table([{"seed": 0, "trained-only": None, "invariant": None}])
    with pytest.raises(ValueError, match="n_test"):
        ch2.swap_table(toys, n_test=0)


def test_affine_registrations_and_inverse_consistency():
    regs, untrained, A, B = ch2.train_affine_registrations(0, steps=1)
    assert A.shape == B.shape == (128, 1, 36, 36)
    table = ch2.inverse_consistency_table(regs, untrained, A, B)
    sc, plain = table["exp(N(A,B) - N(B,A))"], table["exp(N(A,B))"]
    assert sc["trained_float64"] <= 1e-10 and sc["untrained_float32"] <= 1e-5
    assert plain["trained_float32"] > 1e-5
    with pytest.raises(ValueError, match="same models"):
        ch2.inverse_consistency_table(regs, {}, A, B)
    fig = ch2.plot_round_trip(regs, A, B)
    assert len(fig.axes) == 8
    plt.close("all")


def test_html_table_and_spread_rows():
    html = ch2.html_table({"a": {"x": 0.123456, "ok": True}}, digits=2).data
    assert "<th>x</th>" in html and "0.12" in html and "yes" in html
    html = ch2.html_table({"<b>": [1, 2]}, {0: "one", 1: "two"}).data
    assert "&lt;b&gt;" in html and "<th>two</th>" in html
    with pytest.raises(TypeError, match="non-empty dict"):
        ch2.html_table({})
    with pytest.raises(ValueError, match="columns"):
        ch2.html_table({"a": [1]})
    with pytest.raises(ValueError, match="2 values for 1 columns"):
        ch2.html_table({"a": [1, 2]}, {0: "one"})
    rows = ch2.spread_rows({"m": [{"k": 3}, {"k": 1}, {"k": 2}]}, {("m", "k"): "K"})
    assert rows == {"K": {"min": 1.0, "median": 2.0, "max": 3.0}}
    with pytest.raises(ValueError, match="no 'z'"):
        ch2.spread_rows({"m": [{"k": 1}]}, {("m", "z"): "Z"})


def test_figures_draw(stack):
    variants = ch2.pasting_variants(stack, 0)
    c4, _ = ch2.c4_dimensions([("2x2 -> 2x2", 2, 2)])
    feedback = {
        "trained-only": [{"names_changed_by_one_feedback": 5}],
        "invariant": [{"names_changed_by_one_feedback": 24}],
    }
    ic = {
        "exp(N(A,B) - N(B,A))": {"trained_float32": 0.0},
        "exp(N(A,B))": {"trained_float32": 0.01},
    }
    assert len(ch2.summary_figure(variants, c4, feedback, ic).axes) == 4
    assert len(ch2.plot_pasting(variants).axes) == 1
    assert len(ch2.plot_chapter_squares().axes) == 4
    assert len(ch2.plot_sharing_maps(3).axes) == 3
    plt.close("all")


def test_the_chapter_solver_is_the_tested_one():
    # the module's generators are those the package's solver is tested with
    gens = ch2.s_n_generators(3)
    assert len(diagrams.intertwiner_basis(gens, gens)) == 2
