import json
import re

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


# --- formatting for readers (the badge under a claim and the ledger page) ---------------------

NNBSP = "\u202f"  # between groups of three digits


@pytest.mark.parametrize(
    "value, text",
    [
        (3.159046173095703e-06, "3.16e-06"),
        (1.234e-07, "1.23e-07"),
        (1e-20, "1e-20"),
        (0.0001, "1e-04"),
        (0.001, "0.001"),
        (0.69431234, "0.694"),
        (93.14159, "93.1"),
        (2.0, "2"),
        (0.5, "0.5"),
        (0.0, "0"),
        (-0.012345, "-0.0123"),
        (999.7, f"1{NNBSP}000"),
        (12345.6, f"12{NNBSP}300"),
        (12345, f"12{NNBSP}345"),
        (24, "24"),
        (1.5e7, "1.5e+07"),
        (True, "yes"),
        (False, "no"),
        (None, "—"),
        ("nan", "nan"),
        ("max C4 < min plain", "max C4 < min plain"),
    ],
)
def test_format_value_numbers_and_scalars(value, text):
    assert claims.format_value(value) == text


def test_format_value_units():
    assert claims.format_value(2.94, "px") == "2.94 px"
    assert claims.format_value(18.23, "°") == "18.2°"
    assert claims.format_value(5, "%") == "5%"
    assert claims.format_value(True, "px") == "yes"
    with pytest.raises(TypeError, match="unit"):
        claims.format_value(1.0, unit=3)


def test_format_value_dicts_and_lists():
    assert (
        claims.format_value({"warp_gap": 2.8385834411892574e-06, "ok": True})
        == "warp_gap: 2.84e-06; ok: yes"
    )
    nested = {"float32": {"digits": 4.76837158203125e-07}, "layers": {}}
    assert claims.format_value(nested) == "float32.digits: 4.77e-07; layers: {}"
    assert claims.format_value([0.5, 0.25]) == "0.5, 0.25"
    assert claims.format_value(list(range(10)), "px") == "0 – 9 px (10 values)"
    assert claims.format_value({"curve": [0.71, 0.88, 0.93, 0.95, 0.975]}) == (
        "curve: 0.71 – 0.975 (5 values)"
    )
    per_seed = [{"C4": 0.781, "plain": 0.962}, {"C4": 0.765, "plain": 0.971}]
    assert (
        claims.format_value(per_seed)
        == "C4: 0.765 – 0.781; plain: 0.962 – 0.971 (2 entries)"
    )
    assert claims.format_value(["a", "b"]) == "a, b"
    assert claims.format_value([[1, 2], [3]]) == "2 entries"
    assert claims.format_value([]) == "none"


def test_format_value_is_short_and_never_raw_json_or_long_floats():
    value = {f"key_{i}": 0.1234567890123456 * (i + 1) for i in range(40)}
    text = claims.format_value(value)
    assert len(text) <= 120 and text.endswith("…")
    assert "{" not in text and '"' not in text
    assert not re.search(r"\d{5,}", text)


def test_format_margin():
    assert claims.format_margin(1.0512) == "×1.05"
    assert claims.format_margin(340.2) == "×340"
    assert claims.format_margin(0.714) == "×0.714"
    assert claims.format_margin(None) == "—"
    with pytest.raises(TypeError, match="margin"):
        claims.format_margin("1.2")


@pytest.mark.parametrize(
    "margin, close",
    [(1.1, True), (0.9, True), (1.0, True), (1.25, False), (0.8, False), (3.0, False)]
    + [(None, False), (0.0, False), (-0.5, False)],
)
def test_close_to_edge(margin, close):
    assert claims.close_to_edge(margin) is close


def test_close_to_edge_arguments():
    assert claims.close_to_edge(1.4, edge=1.5) and not claims.close_to_edge(1.4)
    with pytest.raises(ValueError, match="edge"):
        claims.close_to_edge(1.1, edge=1.0)
    with pytest.raises(TypeError, match="margin"):
        claims.close_to_edge("1.1")


def test_format_spread_of_a_replicated_claim(ledger):
    record = claims.check_replicated(
        "4.2",
        "Error below one pixel.",
        [0.61234, 0.7012, 0.9421],
        at_most=1.0,
        unit="px",
    )
    assert (
        claims.format_spread(record["value"], "px")
        == "0.612 / 0.701 / 0.942 px · 3/3 hold"
    )
    passes = claims.check_replicated(
        "1.5b",
        "Worse in every run.",
        [{"a": 1}, {"a": 2}],
        passes=[True, False],
        combine=1,
    )
    assert claims.format_spread(passes["value"]) == "1/2 hold"
    with pytest.raises(ValueError, match="replicated"):
        claims.format_spread({"value": 1.0})


def test_badge_shows_readable_value_threshold_margin_and_spread(ledger):
    record = claims.check_replicated(
        "1.3", "Ratio <at least> 2.", [2.1, 2.5, 3.0], at_least=2.0
    )
    badge = claims._badge_html(record)
    assert 'class="equinotes-claim"' in badge and 'id="claim-1-3"' in badge
    assert "&lt;at least&gt;" in badge
    assert "2.1 / 2.5 / 3" in badge and "3/3 hold" in badge
    assert "threshold 2" in badge and "×1.05" in badge and "close to its edge" in badge
    single = claims.check(
        "0.2", "Gap.", 3.159046173095703e-06, holds=True, threshold=1e-5
    )
    badge = claims._badge_html(single)
    assert "measured 3.16e-06" in badge and "×3.17" in badge
    assert "3.159046" not in badge and "close to its edge" not in badge


def test_a_value_from_a_committed_run_says_so(ledger):
    record = claims.check(
        "4.6",
        "A verdict read from a results file.",
        {"verdict": "inconclusive"},
        holds=True,
        source="from the committed run of 2026-12-01",
    )
    assert record["source"] == "from the committed run of 2026-12-01"
    assert json.loads(ledger.read_text())["source"] == record["source"]
    assert "(from the committed run of 2026-12-01)" in claims._badge_html(record)
    assert "source" not in claims.check("4.7", "Measured.", 1.0, holds=True)
    for bad in ("", "  ", 3):
        with pytest.raises(TypeError, match="source"):
            claims.check("4.8", "Bad source.", 1.0, holds=True, source=bad)


def test_strict_runs_raise_and_a_readers_run_warns_and_goes_on(ledger, monkeypatch):
    monkeypatch.setenv("EQUINOTES_STRICT", "1")
    assert claims.strict()
    with pytest.raises(AssertionError, match="claim 1.9 does not hold"):
        claims.check("1.9", "Small.", 2.0, holds=False, threshold=1.0)
    with pytest.raises(AssertionError, match="marked refuted but now holds"):
        claims.check("1.9", "Small.", 0.5, holds=True, threshold=1.0, expect="refuted")
    monkeypatch.setenv("EQUINOTES_STRICT", "0")
    assert not claims.strict()
    with pytest.warns(UserWarning, match="claim 1.9 does not hold"):
        record = claims.check("1.9", "Small.", 2.0, holds=False, threshold=1.0)
    assert record["status"] == "refuted" and record["unexpected"]
    assert json.loads(ledger.read_text().splitlines()[-1])["unexpected"] is True
    with pytest.warns(UserWarning, match="claim 1.8 does not hold"):
        claims.check_replicated("1.8", "Each small.", [0.5, 2.0], at_most=1.0)
    # a claim that holds as the text says is not marked
    assert "unexpected" not in claims.check("1.7", "Small.", 0.5, holds=True)


def test_a_check_displays_nothing_and_the_section_box_lists_the_sections_claims(
    ledger, monkeypatch
):
    monkeypatch.setattr(claims, "_SECTION", [])
    shown = []
    monkeypatch.setattr(claims, "_display_html", shown.append)
    first = claims.check("2.1", "First <claim>.", 0.5, holds=True, threshold=1.0)
    assert hasattr(first, "_ipython_display_") and first._ipython_display_() is None
    claims.check("2.2", "Second claim.", 3.0, holds=False, threshold=1.0, expect="open")
    assert shown == []  # checking printed nothing
    claims.section_box()
    assert len(shown) == 1
    box = shown[0]
    assert box.startswith('<details class="equinotes-checked"')
    assert "What this section checked" in box and "2 claims" in box
    assert "1 holds" in box and "1 open" in box
    assert 'id="claim-2-1"' in box and 'id="claim-2-2"' in box
    assert "First &lt;claim&gt;." in box and "threshold 1" in box
    assert 'href="ledger.html#ledger-claim-2-1"' in box
    # the next box starts afresh; an empty section shows nothing
    claims.section_box()
    assert len(shown) == 1
    claims.check("2.3", "Third.", 1.0, holds=True)
    claims.section_box(ledger_page=None)
    assert "2.3" not in shown[0] and 'id="claim-2-3"' in shown[1]
    assert "on the ledger" not in shown[1]
    assert claims.section_box_html([]) == ""
