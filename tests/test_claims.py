import json

import numpy as np
import pytest
import torch

from equinotes import claims


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("EQUINOTES_LEDGER", str(path))
    return path


def test_a_holding_claim_is_recorded_with_all_keys(ledger):
    record = claims.check(
        "1.2",
        "A statement.",
        torch.tensor(3e-7),
        holds=bool(3e-7 <= 1e-5),
        threshold=1e-5,
    )
    lines = ledger.read_text().splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    for key in (
        "id",
        "chapter",
        "statement",
        "value",
        "threshold",
        "holds",
        "recorded_at",
    ):
        assert key in stored
    assert (
        stored["chapter"] == 1
        and stored["holds"] is True
        and stored["status"] == "holds"
    )
    assert record["value"] == pytest.approx(3e-7)


def test_a_failing_claim_is_written_first_then_raises(ledger):
    with pytest.raises(AssertionError, match="4.1"):
        claims.check("4.1", "Something that fails.", 0.5, holds=False, threshold=0.1)
    assert json.loads(ledger.read_text())["status"] == "refuted"


def test_expected_refutation_is_published_without_raising(ledger):
    claims.check(
        "1.4", "Ten times less data.", {"ratio": 2.0}, holds=False, expect="refuted"
    )
    assert json.loads(ledger.read_text())["status"] == "refuted"
    with pytest.raises(AssertionError, match="marked refuted"):
        claims.check("1.4b", "Ten times less data.", 12.0, holds=True, expect="refuted")


def test_open_claims_never_raise(ledger):
    claims.check("5.4", "Unsettled.", float("nan"), holds=False, expect="open")
    stored = claims.read_ledger()
    assert stored[-1]["status"] == "open" and stored[-1]["value"] == "nan"


def test_numpy_values_and_bools(ledger):
    claims.check("2.1", "numpy", np.array([1.0, 2.0]), holds=np.bool_(True))
    assert claims.read_ledger()[0]["value"] == [1.0, 2.0]


def test_default_path_finds_the_book_root(tmp_path, monkeypatch):
    monkeypatch.delenv("EQUINOTES_LEDGER", raising=False)
    (tmp_path / "_config.yml").write_text("")
    (tmp_path / "_toc.yml").write_text("")
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")
    assert claims.ledger_path() == tmp_path / "_build" / "ledger.jsonl"


def test_read_ledger_of_missing_file(tmp_path):
    assert claims.read_ledger(tmp_path / "nothing.jsonl") == []


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"id": "12"}, ValueError),
        ({"id": "a.1"}, ValueError),
        ({"id": 1.2}, ValueError),
        ({"statement": " "}, ValueError),
        ({"holds": "yes"}, TypeError),
        ({"holds": 1}, TypeError),
        ({"expect": "maybe"}, ValueError),
    ],
)
def test_bad_arguments(ledger, kwargs, error):
    args = {"id": "1.1", "statement": "s", "value": 0.0, "holds": True}
    args.update(kwargs)
    with pytest.raises(error):
        claims.check(**args)
    assert not ledger.exists()
