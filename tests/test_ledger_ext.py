"""The ledger page's extension (_ext/ledger.py): the page built from synthetic records of every kind,
with and without a sweep summary, and a small Sphinx build that records claims while its pages are
read, as the book's notebooks do."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from docutils import nodes

from equinotes import claims

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import ledger  # noqa: E402  (_ext is not a package)


@pytest.fixture
def records(tmp_path, monkeypatch):
    """One record of every kind, made by equinotes.claims itself."""
    monkeypatch.setenv("EQUINOTES_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("EQUINOTES_SEED", "0")
    monkeypatch.setenv("EQUINOTES_SCALE", "1")
    claims.check("0.1", "Exact.", 0.0, holds=True, threshold=0.0)
    claims.check(
        "0.2", "Float32 gap.", 3.159046173095703e-06, holds=True, threshold=1e-5
    )
    claims.check(
        "1.2",
        "Nested dict.",
        {"float32": {"digits": 4.76837158203125e-07}, "n": 24, "ok": True},
        holds=True,
        threshold={"float32": 1e-5, "float64": 1e-10},
    )
    claims.check_replicated(
        "1.3a", "Ratio.", [2.1, 2.5, 3.0], at_least=2.0, seeds=[0, 10000, 20000]
    )
    claims.check(
        "1.4b",
        "Ten times.",
        4.0,
        holds=False,
        threshold=10,
        expect="refuted",
    )
    claims.check("1.10", "Ordered after 1.4b.", 0.5, holds=True, threshold=1.0)
    claims.check_replicated(
        "4.2", "Below one pixel.", [0.61234, 0.7012, 0.9421], at_most=1.0, unit="px"
    )
    claims.check("4.4d", "Lower LNCC.", {"iterated": -0.81}, holds=True, expect="open")
    return {r["id"]: r for r in claims.read_ledger()}


PAGES = {"0.1": "book/00", "0.2": "book/00", "1.2": "book/01", "1.3a": "book/01"}
PAGES |= {"1.4b": "book/01", "1.10": "book/01", "4.2": "book/04", "4.4d": "book/04"}
TITLES = {
    "book/00": "Getting started",
    "book/01": "Chapter 1 — Equivariance basics",
    "book/04": "Chapter 4 — Registering rotated 9s",
}


def link(claim_id):
    return f"{PAGES[claim_id]}.html#claim-{claim_id.replace('.', '-')}"


def sweep_summary(records, flipped=("1.3a",)):
    table = {}
    for claim_id, record in records.items():
        statuses = {record["status"]: 4}
        if claim_id in flipped:
            statuses = {"holds": 3, "refuted": 1}
        table[claim_id] = {
            "statement": record["statement"],
            "chapter": record["chapter"],
            "runs": [],
            "n_runs": 4,
            "n_held": statuses.get("holds", 0),
            "statuses": statuses,
            "consistent": len(statuses) == 1,
            "number": None,
        }
    return {
        "created": "2026-12-01T06:40:00+00:00",
        "seeds": [0, 1, 2],
        "scales": [1, 2],
        "notebooks": ["00_getting_started", "01_equivariance_basics"],
        "runs": [
            {"notebook": "01_equivariance_basics", "seed": 0, "scale": 1, "ok": False}
        ],
        "claims": table,
    }


def build(records, sweep=None):
    page = nodes.section()
    page += ledger.ledger_nodes(
        records, pages=PAGES, titles=TITLES, link=link, sweep=sweep
    )
    return page


def tables(page):
    return [t for t in page.findall(nodes.table) if "equinotes-ledger" in t["classes"]]


def rows(table):
    return [
        [entry.astext() for entry in row.findall(nodes.entry)]
        for row in table.findall(nodes.row)
    ]


def test_overall_summary_and_one_section_per_chapter(records):
    page = build(records)
    text = page.astext()
    assert (
        "8 claims checked by this build (SEED = 0, SCALE = 1): 6 hold, 1 refuted, 1 open"
        in text
    )
    sections = [s for s in page.findall(nodes.section) if s is not page]
    titles = [s[0].astext() for s in sections]
    assert titles == [
        "Chapter 0 — Getting started",
        "Chapter 1 — Equivariance basics",
        "Chapter 4 — Registering rotated 9s",
    ]
    assert [s["ids"] for s in sections] == [
        ["ledger-chapter-0"],
        ["ledger-chapter-1"],
        ["ledger-chapter-4"],
    ]
    chapter1 = sections[1].astext()
    assert "3 hold, 1 refuted, 0 open" in chapter1
    assert "1 close to its edge: 1.3a" in chapter1
    overview = next(
        t for t in page.findall(nodes.table) if "equinotes-overview" in t["classes"]
    )
    assert rows(overview)[2][:5] == [
        "Chapter 1 — Equivariance basics",
        "3",
        "1",
        "0",
        "1.3a",
    ]


def test_rows_are_readable_and_linked(records):
    page = build(records)
    chapter1 = rows(tables(page)[1])
    header, *body = chapter1
    assert header == [
        "id",
        "status",
        "statement",
        "measured",
        "threshold",
        "margin",
        "spread over seeds",
    ]
    ids = [r[0] for r in body]
    assert ids == ["1.2", "1.3a", "1.4b", "1.10"], "ids in numeric order"
    nested, replicated, refuted, _ = body
    assert nested[3] == "float32.digits: 4.77e-07; n: 24; ok: yes"
    assert nested[4] == "float32: 1e-05; float64: 1e-10"
    assert replicated[1] == "holds" and replicated[3] == "median 2.5"
    assert replicated[5] == "⚠ ×1.05" and "2.1 / 2.5 / 3" in replicated[6]
    assert "3/3 hold" in replicated[6]
    assert refuted[1] == "refuted" and refuted[5] == "×0.4"
    assert not re.search(r"\d{7,}", page.astext()), "a long float reached the page"
    refs = {
        r.astext(): r["refuri"] for r in page.findall(nodes.reference) if "refuri" in r
    }
    assert refs["1.3a"] == "book/01.html#claim-1-3a"
    badges = [
        n for n in page.findall(nodes.inline) if "equinotes-badge" in n["classes"]
    ]
    assert {tuple(b["classes"]) for b in badges} >= {
        ("equinotes-badge", "claim-holds"),
        ("equinotes-badge", "claim-refuted"),
        ("equinotes-badge", "claim-open"),
    }
    edge_rows = [
        r
        for t in tables(page)
        for r in t.findall(nodes.row)
        if "equinotes-edge-row" in r["classes"]
    ]
    assert [r[0].astext() for r in edge_rows] == ["1.3a", "4.2"]
    chapter4 = rows(tables(page)[2])
    assert chapter4[1][3] == "median 0.701 px" and chapter4[1][4] == "1 px"


def test_without_a_sweep_there_is_no_sweep_column_and_the_page_says_how_to_make_one(
    records,
):
    page = build(records)
    assert all(len(r) == 7 for t in tables(page) for r in rows(t))
    assert ledger.SWEEP_COMMAND in page.astext()


def test_with_a_sweep_each_claim_shows_runs_held_and_flags_a_status_change(records):
    page = build(records, sweep_summary(records))
    text = page.astext()
    assert "run on 2026-12-01 06:40 UTC, seeds 0–2 at scales 1, 2" in text
    assert "1 stopped by an error" in text and ledger.SWEEP_COMMAND not in text
    chapter1 = rows(tables(page)[1])
    assert chapter1[0][-1] == "sweep: held / runs"
    by_id = {r[0]: r for r in chapter1[1:]}
    assert by_id["1.2"][-1] == "4/4"
    assert by_id["1.4b"][-1] == "0/4"
    assert by_id["1.3a"][-1].startswith("⚠ 3/4") and "refuted 1" in by_id["1.3a"][-1]
    assert "1 changed status between sweep runs: 1.3a" in text


def test_a_claim_missing_from_the_sweep_and_an_empty_ledger(records):
    sweep = sweep_summary(records)
    del sweep["claims"]["4.2"]
    chapter4 = rows(tables(build(records, sweep))[2])
    assert chapter4[1][0] == "4.2" and chapter4[1][-1] == "—"
    assert "No claims were recorded" in build({}).astext()


def test_read_sweep(tmp_path):
    path = tmp_path / "summary.json"
    assert ledger.read_sweep(path) is None
    path.write_text("{not json")
    assert "could not be read" in ledger.read_sweep(path)
    path.write_text(json.dumps({"runs": []}))
    assert "no 'claims'" in ledger.read_sweep(path)
    path.write_text(json.dumps({"claims": {}}))
    assert ledger.read_sweep(path) == {"claims": {}}


def test_missing_promised_claims():
    recorded = {"1.3a": {}, "1.3b": {}, "1.10": {}}
    assert ledger._missing(["1.3", "1.1", "1.10", "1.2"], recorded) == ["1.1", "1.2"]


# --- a real (small) Sphinx build ----------------------------------------------------------------

RECORDER = """
from equinotes import claims

def record(app, docname, source):
    if docname == "ch1":
        claims.check("1.1", "Holds.", 0.5, holds=True, threshold=1.0)
        claims.check_replicated("1.2", "Replicated.", [1.1, 1.2, 1.3], at_least=1.0)

def setup(app):
    app.connect("source-read", record)
    return {"parallel_read_safe": False}
"""


def sphinx_build(src: Path, expected: str):
    from sphinx.application import Sphinx

    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(ROOT / '_ext')!r}, {str(src)!r}]\n"
        "extensions = ['ledger', 'recorder']\n"
    )
    (src / "recorder.py").write_text(RECORDER)
    (src / "index.rst").write_text("Book\n====\n\n.. toctree::\n\n   ch1\n   ledger\n")
    (src / "ch1.rst").write_text(
        "Chapter 1 — Basics\n==================\n\n"
        '.. raw:: html\n\n   <div id="claim-1-1"></div><div id="claim-1-2"></div>\n'
    )
    (src / "ledger.rst").write_text(
        f"Ledger\n======\n\n.. claims-ledger::\n   :expected: {expected}\n"
    )
    warnings = io.StringIO()
    app = Sphinx(
        src,
        src,
        src / "_build" / "html",
        src / "_build" / "doctrees",
        "html",
        status=io.StringIO(),
        warning=warnings,
        freshenv=True,
    )
    app.build(force_all=True)
    return src / "_build", warnings.getvalue()


def test_a_sphinx_build_links_each_claim_and_reads_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("EQUINOTES_LEDGER", "restored after the test")
    (tmp_path / "_build" / "sweep").mkdir(parents=True)
    (tmp_path / "_build" / "sweep" / "summary.json").write_text(
        json.dumps(
            {
                "created": "2026-12-01T06:40:00+00:00",
                "seeds": [0],
                "scales": [1],
                "claims": {"1.1": {"n_runs": 2, "n_held": 2, "consistent": True}},
            }
        )
    )
    out, warnings = sphinx_build(tmp_path, "1.1 1.2 1.3")
    assert "claim 1.3 is promised by the ledger page" in warnings
    assert "claim 1.1 is promised" not in warnings
    page = (out / "html" / "ledger.html").read_text()
    assert 'href="ch1.html#claim-1-1"' in page and 'href="ch1.html#claim-1-2"' in page
    assert "Chapter 1 — Basics" in page and "sweep: held / runs" in page
    assert "equinotes-badge claim-holds" in page
    assert (out / "html" / "_static" / ledger.CSS).is_file()
    assert len((out / "ledger.jsonl").read_text().splitlines()) == 2


def test_a_claim_from_a_committed_run_says_where_its_value_comes_from(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("EQUINOTES_LEDGER", str(tmp_path / "ledger.jsonl"))
    claims.check(
        "4.4d",
        "Read from a file.",
        {"verdict": "refute"},
        holds=True,
        expect="open",
        source="from the committed run of 2026-12-01",
    )
    records = {r["id"]: r for r in claims.read_ledger()}
    (row,) = rows(tables(build(records))[0])[1:]
    assert row[1] == "open (from the committed run of 2026-12-01)"
