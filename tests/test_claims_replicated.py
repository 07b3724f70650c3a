"""claims.check_replicated, margins, spreads and the run context of every record."""

import json
import math

import pytest

from equinotes import claims


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("EQUINOTES_LEDGER", str(path))
    monkeypatch.setenv("EQUINOTES_SEED", "2")
    monkeypatch.setenv("EQUINOTES_SCALE", "1")
    return path


def stored(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_margin_is_a_factor_on_the_holding_side():
    assert claims.margin(1e-7, 1e-5, "<=") == pytest.approx(100)
    assert claims.margin(3.0, 2.0, ">=") == pytest.approx(1.5)
    assert claims.margin(2.0, 3.0, ">=") == pytest.approx(2 / 3)  # fails: below 1
    assert claims.margin(-0.5, 0.0, "<=") == pytest.approx(
        1.5
    )  # zero bound: 1 + distance
    assert claims.margin(float("nan"), 1.0, "<=") is None
    with pytest.raises(ValueError, match="direction"):
        claims.margin(1.0, 2.0, "<")
    with pytest.raises(TypeError):
        claims.margin("1", 2.0, "<=")


def test_spread_of_values():
    assert claims.spread([3.0, 1.0, 2.0]) == {
        "min": 1.0,
        "median": 2.0,
        "max": 3.0,
        "n": 3,
    }
    assert claims.spread([1.0, 4.0])["median"] == 2.5
    assert claims.spread([])["median"] is None


def test_records_carry_the_run_and_an_inferred_margin(ledger):
    claims.check("1.2", "Small.", 1e-7, holds=True, threshold=1e-5, unit="px")
    claims.check("1.3", "Big.", 1.5, holds=False, threshold=2.0, expect="refuted")
    small, big = stored(ledger)
    assert (small["seed"], small["scale"], small["unit"]) == (2, 1, "px")
    assert small["margin"] == pytest.approx(100)
    assert big["margin"] == pytest.approx(0.75)  # a lower bound that was missed


def test_explicit_margin_for_a_compound_claim(ledger):
    record = claims.check("2.1", "Both.", {"a": 1.0, "b": 5.0}, holds=True, margin=1.2)
    assert record["margin"] == 1.2
    with pytest.raises(TypeError, match="margin"):
        claims.check("2.1", "Both.", 1.0, holds=True, margin="wide")


def test_replicated_claim_holding_in_each_seed(ledger):
    record = claims.check_replicated(
        "1.3",
        "The ratio is at least two.",
        [2.5, 3.1, 2.2],
        at_least=2.0,
        seeds=[0, 1, 2],
    )
    assert record["statement"] == "The ratio is at least two (in each of 3 seeds)."
    value = record["value"]
    assert value["per_replication"] == [2.5, 3.1, 2.2] and value["seeds"] == [0, 1, 2]
    assert (value["min"], value["median"], value["max"]) == (2.2, 2.5, 3.1)
    assert value["n"] == 3 and value["n_hold"] == 3 and record["replicated"]
    assert record["margin"] == pytest.approx(1.1) and record["threshold"] == 2.0


def test_one_failing_seed_fails_the_each_rule_after_recording(ledger):
    with pytest.raises(AssertionError, match="1.3"):
        claims.check_replicated("1.3", "At least two.", [2.5, 1.9, 2.2], at_least=2.0)
    record = stored(ledger)[-1]
    assert record["status"] == "refuted" and record["value"]["n_hold"] == 2
    assert record["margin"] < 1


def test_compound_claim_records_the_tightest_given_margin(ledger):
    record = claims.check_replicated(
        "6.3", "Both conditions.", [1.0, 2.0], passes=[True, True], margins=[1.4, 1.1]
    )
    assert record["margin"] == pytest.approx(1.1) and record["status"] == "holds"
    plain = claims.check_replicated("6.3", "Both.", [1.0, 2.0], passes=[True, True])
    assert plain["margin"] is None


def test_median_and_k_of_n_rules(ledger):
    record = claims.check_replicated(
        "5.2",
        "Typically small.",
        [{"err": 1e-7}, {"err": 3e-5}, {"err": 2e-7}],
        at_most=1e-5,
        key="err",
        combine="median",
    )
    assert record["holds"] and "median over 3 seeds" in record["statement"]
    assert record["margin"] == pytest.approx(50)
    record = claims.check_replicated(
        "5.3", "Mostly.", [1.0, 0.0, 1.0], passes=[True, False, True], combine=2
    )
    assert record["holds"] and "in at least 2 of 3 seeds" in record["statement"]
    assert record["margin"] is None


def test_open_and_refuted_replicated_claims(ledger):
    claims.check_replicated(
        "3.1", "Unsettled.", [0.4, 0.6], at_least=0.5, expect="open"
    )
    claims.check_replicated("3.2", "Never.", [0.1, 0.2], at_least=0.5, expect="refuted")
    with pytest.raises(AssertionError, match="marked refuted"):
        claims.check_replicated(
            "3.3", "Now holds.", [0.7, 0.8], at_least=0.5, expect="refuted"
        )
    assert [r["status"] for r in stored(ledger)] == ["open", "refuted", "holds"]


def test_a_statement_that_names_its_rule_is_left_alone(ledger):
    record = claims.check_replicated(
        "1.1", "In each of 2 seeds the error is tiny.", [0.0, 0.0], at_most=1e-5
    )
    assert record["statement"] == "In each of 2 seeds the error is tiny."


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"values": 3.0}, TypeError, "one measurement per replication"),
        ({"values": {"a": 1}}, TypeError, "one measurement per replication"),
        ({"values": []}, ValueError, "at least one"),
        ({"at_least": 1.0}, ValueError, "exactly one"),
        ({"at_most": None}, ValueError, "exactly one"),
        ({"combine": "mean"}, ValueError, "combine"),
        ({"combine": 3}, ValueError, "between 1"),
        ({"combine": True}, ValueError, "combine"),
        ({"seeds": [0]}, ValueError, "seeds"),
        ({"at_most": "1"}, TypeError, "bound"),
        ({"at_most": math.inf}, TypeError, "bound"),
        ({"values": [1.0, "x"]}, TypeError, "finite number"),
        ({"values": [{"a": 1.0}, {"b": 1.0}], "key": "a"}, ValueError, "key"),
        ({"at_most": None, "passes": [True]}, ValueError, "passes has 1"),
        ({"at_most": None, "passes": [True, "yes"]}, TypeError, "passes"),
        (
            {"at_most": None, "passes": [True, True], "combine": "median"},
            ValueError,
            "median",
        ),
        ({"margins": [1.0, 1.0]}, ValueError, "margins go with passes"),
        (
            {"at_most": None, "passes": [True, True], "margins": [1.0]},
            ValueError,
            "margins has 1",
        ),
        (
            {"at_most": None, "passes": [True, True], "margins": [1.0, math.nan]},
            TypeError,
            "margins",
        ),
        ({"unit": 3}, TypeError, "unit"),
        ({"id": "x"}, ValueError, "id"),
    ],
)
def test_bad_arguments_are_rejected_before_anything_is_written(
    ledger, kwargs, error, match
):
    args = {"id": "1.1", "statement": "s", "values": [1.0, 2.0], "at_most": 3.0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        claims.check_replicated(**args)
    assert not ledger.exists()
