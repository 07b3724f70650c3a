"""Sphinx extension: the claims ledger page and the measured execution times, generated at build time.

* Build with ``--all``: at the start of a build the ledger file is emptied and ``EQUINOTES_LEDGER``
  points the notebook kernels at it, so the page shows exactly the claims this build checked.
* ``{claims-ledger}`` (in book/ledger.md) is filled in after all notebooks have executed (at
  ``doctree-resolved``): an overview (claims per chapter that hold, are refuted, are open, and which sit
  close to their edge), then one section per chapter, titled after the page(s) that recorded its claims,
  with a table: id (linked to where the claim is made) | status badge | statement | measured value |
  threshold | margin | spread over replications | and, when ``_build/sweep/summary.json`` (written by
  ``scripts/sweep.py``) sits next to the ledger, how many sweep runs the claim held in. Values are
  written by ``equinotes.claims.format_value`` and friends, the same helpers as the badge under each
  claim in the notebooks. The ``:expected:`` option lists the claim ids the book promises; a missing
  one is a warning, and the build runs with ``-W``, so it fails.
* ``{execution-times}`` becomes a table of each notebook's measured execution time.

The page's colours come from ``ledger_static/equinotes.css``, added to every page: rules scoped to
the ledger's own classes, and one that gives code cells room for the 88 columns notebooks are
formatted to.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.util import logging

from equinotes.claims import (
    EDGE,
    EXPECTATIONS,
    close_to_edge,
    format_margin,
    format_spread,
    format_value,
)

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "ledger_static"
CSS = "equinotes.css"
SWEEP_COMMAND = "python scripts/sweep.py --seeds 0-2 --scale 1"


class ledger_placeholder(nodes.General, nodes.Element):
    pass


class times_placeholder(nodes.General, nodes.Element):
    pass


class ClaimsLedger(Directive):
    option_spec = {"expected": directives.unchanged}

    def run(self):
        node = ledger_placeholder()
        node["expected"] = (self.options.get("expected") or "").split()
        return [node]


class ExecutionTimes(Directive):
    def run(self):
        return [times_placeholder()]


def _ledger_file(app) -> Path:
    return Path(app.outdir).parent / "ledger.jsonl"


def _sweep_file(app) -> Path:
    return Path(app.outdir).parent / "sweep" / "summary.json"


def _reset_ledger(app):
    path = _ledger_file(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.environ["EQUINOTES_LEDGER"] = str(path)
    # the build checks every claim: one that fails stops it (a reader's own run only warns)
    os.environ["EQUINOTES_STRICT"] = "1"
    app.env.equinotes_claim_pages = {}
    app.env.equinotes_ledger_offset = 0


def _note_claim_pages(app, doctree):
    """After a page is read (and its notebook executed), remember which claims it recorded.

    Pages are read one at a time (this extension is not parallel-read safe), so the lines added to the
    ledger since the previous page belong to this one.
    """
    path = _ledger_file(app)
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        fh.seek(getattr(app.env, "equinotes_ledger_offset", 0))
        new = fh.read()
        app.env.equinotes_ledger_offset = fh.tell()
    pages = getattr(app.env, "equinotes_claim_pages", {})
    for line in new.splitlines():
        if line.strip():
            pages[json.loads(line)["id"]] = app.env.docname
    app.env.equinotes_claim_pages = pages


def _latest(records):
    latest = {}
    for record in records:
        latest[record["id"]] = record
    return latest


def _id_key(claim_id: str):
    parts = re.findall(r"\d+|[a-z]+", claim_id)
    return [int(p) if p.isdigit() else p for p in parts]


def _read_records(path: Path) -> dict:
    if not path.is_file():
        return {}
    return _latest(
        json.loads(line) for line in path.read_text().splitlines() if line.strip()
    )


def read_sweep(path: Path):
    """The sweep summary at ``path`` (see scripts/sweep.py): the parsed dict, ``None`` when there is
    no file, or a string saying why the file cannot be used."""
    if not path.is_file():
        return None
    try:
        sweep = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"{path.name} could not be read ({error})"
    if not isinstance(sweep, dict) or not isinstance(sweep.get("claims"), dict):
        return f"{path.name} has no 'claims' table"
    return sweep


# --- building the page -------------------------------------------------------------------------


def _para(*children, classes=()):
    para = nodes.paragraph(classes=list(classes))
    for child in children:
        para += nodes.Text(child) if isinstance(child, str) else child
    return para


def _badge(status: str) -> nodes.inline:
    return nodes.inline(text=status, classes=["equinotes-badge", f"claim-{status}"])


def _status_cell(record: dict) -> nodes.paragraph:
    """The badge, and where the value comes from when this build did not measure it."""
    cell = _para(_badge(record["status"]))
    if record.get("source"):
        cell += nodes.Text(" ")
        cell += nodes.emphasis(text=f"({record['source']})")
    return cell


def _table(headers, rows, widths, classes=("equinotes-table",)):
    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row_classes = []
        if isinstance(cells, tuple):  # (cells, classes of the row)
            cells, row_classes = cells
        row = nodes.row(classes=list(row_classes))
        for cell in cells:
            entry = nodes.entry()
            entry += (
                cell
                if isinstance(cell, nodes.Node)
                else nodes.paragraph(text=str(cell))
            )
            row += entry
        body += row
    return table


def _counts(records) -> dict:
    counts = {status: 0 for status in EXPECTATIONS}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def _edge_ids(records) -> list[str]:
    return [
        r["id"]
        for r in records
        if _is_margin(r.get("margin")) and close_to_edge(r["margin"])
    ]


def _is_margin(margin) -> bool:
    return isinstance(margin, (int, float)) and not isinstance(margin, bool)


def _summary(records, sweep_claims=None, para=None, ids=True) -> nodes.paragraph:
    """``n hold, n refuted, n open`` as coloured words, then the claims close to their edge and, with
    a sweep, the claims whose status changed between its runs (their ids if ``ids``); appended to
    ``para`` if given."""
    counts = _counts(records)
    if para is None:
        para = _para(classes=["equinotes-summary"])
    for i, status in enumerate(EXPECTATIONS):
        if i:
            para += nodes.Text(", ")
        para += nodes.inline(
            text=f"{counts[status]} {status if status != 'holds' else 'hold'}",
            classes=["equinotes-count", f"claim-{status}"]
            + ([] if counts[status] else ["zero"]),
        )
    edge = _edge_ids(records)
    if edge:
        para += nodes.Text(" · ")
        para += nodes.inline(
            text=f"⚠ {len(edge)} close to {'its' if len(edge) == 1 else 'their'} edge"
            + (": " + ", ".join(edge) if ids else ""),
            classes=["equinotes-edge"],
        )
    flips = _flip_ids(records, sweep_claims) if sweep_claims is not None else []
    if flips:
        para += nodes.Text(" · ")
        para += nodes.inline(
            text=f"⚠ {len(flips)} changed status between sweep runs"
            + (": " + ", ".join(flips) if ids else ""),
            classes=["equinotes-flip"],
        )
    return para


def _flip_ids(records, sweep_claims) -> list[str]:
    return [
        r["id"]
        for r in records
        if isinstance(sweep_claims.get(r["id"]), dict)
        and sweep_claims[r["id"]].get("consistent") is False
    ]


def _run_parameters(records) -> str:
    parts = []
    for key, name in (("seed", "SEED"), ("scale", "SCALE")):
        seen = sorted({r.get(key) for r in records if r.get(key) is not None})
        parts.append(
            f"{name} = {', '.join(str(v) for v in seen)}"
            if seen
            else f"{name} not recorded"
        )
    return ", ".join(parts)


def _numbers(values) -> str:
    """``0, 1, 2`` (or ``0-4`` for a run of consecutive integers)."""
    values = list(values or [])
    if (
        len(values) > 2
        and all(isinstance(v, int) for v in values)
        and values == list(range(values[0], values[0] + len(values)))
    ):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(str(v) for v in values) or "none"


def _sweep_intro(sweep) -> nodes.paragraph:
    created = str(sweep.get("created") or "an unknown date")
    date = created.replace("T", " ")[:16] + (
        " UTC" if "+00:00" in created or "Z" in created else ""
    )
    runs = sweep.get("runs") or []
    failed = sum(1 for run in runs if isinstance(run, dict) and run.get("ok") is False)
    notebooks = sweep.get("notebooks") or []
    para = _para(classes=["equinotes-sweep"])
    para += nodes.strong(text="Sweep: ")
    para += nodes.Text(
        f"run on {date}, seeds {_numbers(sweep.get('seeds'))} at "
        f"scale{'s' if len(sweep.get('scales') or []) > 1 else ''} "
        f"{_numbers(sweep.get('scales'))} over {len(notebooks)} notebook"
        f"{'' if len(notebooks) == 1 else 's'} ({len(runs)} runs"
        + (f", {failed} stopped by an error" if failed else "")
        + "). The column “sweep: held / runs” counts the runs in which each claim held; "
        "⚠ marks a claim whose status differed between runs."
    )
    return para


def _no_sweep(reason: str | None) -> nodes.paragraph:
    para = _para(classes=["equinotes-sweep"])
    if reason:
        para += nodes.Text(f"The sweep summary was not used: {reason}. ")
    else:
        para += nodes.Text("No sweep summary was found next to this build's ledger. ")
    para += nodes.Text("To check every claim at several seeds, run ")
    para += nodes.literal(text=SWEEP_COMMAND)
    para += nodes.Text(
        " and build the site again: a column then shows in how many runs each claim held."
    )
    return para


def _chapter_title(chapter: int, docnames, titles) -> str:
    names = [titles.get(doc, doc) for doc in docnames]
    if any(name.lower().startswith("chapter") for name in names):
        return " · ".join(names)
    return f"Chapter {chapter} — " + (" · ".join(names) if names else "claims")


def _sweep_cell(entry):
    if not isinstance(entry, dict) or not entry.get("n_runs"):
        return "—"
    text = f"{entry.get('n_held', 0)}/{entry['n_runs']}"
    if entry.get("consistent") is False:
        statuses = entry.get("statuses") or {}
        cell = nodes.container()
        cell += _para(f"⚠ {text}", classes=["equinotes-flip"])
        cell += _para(
            ", ".join(f"{k} {v}" for k, v in statuses.items()),
            classes=["equinotes-detail"],
        )
        return cell
    return text


def _row(record, link, sweep_claims):
    claim_id = record["id"]
    unit = record.get("unit")
    uri = link(claim_id)
    ident = _para()
    # the target of the "on the ledger" link in each page's "What this section checked" box
    ident["ids"] = ["ledger-claim-" + claim_id.replace(".", "-")]
    ident += nodes.reference("", claim_id, refuri=uri) if uri else nodes.Text(claim_id)
    value = record.get("value")
    replicated = bool(record.get("replicated")) and isinstance(value, dict)
    if replicated and value.get("median") is not None:
        measured = "median " + format_value(value["median"], unit)
    elif replicated:
        measured = format_value(value.get("per_replication"), unit)
    else:
        measured = format_value(value, unit)
    threshold = (
        "—"
        if record.get("threshold") is None
        else format_value(record["threshold"], unit)
    )
    margin = record.get("margin") if _is_margin(record.get("margin")) else None
    edge = close_to_edge(margin)
    margin_cell = _para(classes=["equinotes-edge"] if edge else [])
    margin_cell += nodes.Text(("⚠ " if edge else "") + format_margin(margin))
    spread = "—"
    if replicated and "n_hold" in value:
        spread = nodes.container()  # the numbers, then "k/n hold" on a line of its own
        for line in format_spread(value, unit).split(" · "):
            spread += _para(line)
    cells = [
        ident,
        _status_cell(record),
        record["statement"],
        measured,
        threshold,
        margin_cell,
        spread,
    ]
    if sweep_claims is not None:
        cells.append(_sweep_cell(sweep_claims.get(claim_id)))
    classes = [f"claim-row-{record['status']}"] + (
        ["equinotes-edge-row"] if edge else []
    )
    return cells, classes


def ledger_nodes(records: dict, *, pages: dict, titles: dict, link, sweep=None) -> list:
    """The ledger page's content (docutils nodes) for ``records`` (claim id -> latest record).

    Args:
        records: the ledger's latest record per claim id.
        pages: claim id -> docname of the page that recorded it.
        titles: docname -> page title.
        link: ``link(claim_id)`` -> the URI of the claim's anchor, or ``None``.
        sweep: the sweep summary (a dict), ``None`` when there is none, or a string saying why it
            was not used.
    """
    sweep_claims = sweep["claims"] if isinstance(sweep, dict) else None
    ordered = [records[i] for i in sorted(records, key=_id_key)]
    if not ordered:
        return [
            _para(
                "No claims were recorded by this build (were the notebooks executed?)."
            )
        ]
    out = []
    top = _para(classes=["equinotes-summary", "equinotes-overall"])
    top += nodes.strong(text=f"{len(ordered)} claims checked by this build ")
    top += nodes.Text(f"({_run_parameters(ordered)}): ")
    out.append(_summary(ordered, sweep_claims, para=top, ids=False))

    chapters = {}
    for record in ordered:
        chapters.setdefault(_chapter(record), []).append(record)
    overview, sections = [], []
    for chapter, chapter_records in sorted(chapters.items()):
        docs = []
        for record in chapter_records:
            doc = pages.get(record["id"])
            if doc and doc not in docs:
                docs.append(doc)
        title = _chapter_title(chapter, docs, titles)
        section_id = f"ledger-chapter-{chapter}"
        counts = _counts(chapter_records)
        row = [_para(nodes.reference("", title, refid=section_id))]
        row += [_para(_count(counts[s], s)) for s in EXPECTATIONS]
        row.append(_ids_cell(_edge_ids(chapter_records), "equinotes-edge"))
        if sweep_claims is not None:
            row.append(
                _ids_cell(_flip_ids(chapter_records, sweep_claims), "equinotes-flip")
            )
        overview.append(row)

        section = nodes.section(ids=[section_id], names=[section_id])
        section += nodes.title(text=title)
        section += _summary(chapter_records, sweep_claims)
        headers = ["id", "status", "statement", "measured", "threshold", "margin"]
        headers.append("spread over seeds")
        widths = [4, 6, 34, 20, 9, 6, 13]
        if sweep_claims is not None:
            headers.append("sweep: held / runs")
            widths.append(8)
        section += _table(
            headers,
            [_row(r, link, sweep_claims) for r in chapter_records],
            widths,
            classes=("equinotes-table", "equinotes-ledger", "colwidths-given"),
        )
        sections.append(section)
    headers = ["chapter", "hold", "refuted", "open"]
    headers.append(f"close to their edge (margin within ×{EDGE:g})")
    widths = [40, 6, 6, 6, 20]
    if sweep_claims is not None:
        headers.append("status changed between sweep runs")
        widths.append(20)
    out.append(
        _table(
            headers, overview, widths, classes=("equinotes-table", "equinotes-overview")
        )
    )
    out.append(_sweep_intro(sweep) if isinstance(sweep, dict) else _no_sweep(sweep))
    return out + sections


def _chapter(record) -> int:
    chapter = record.get("chapter")
    return chapter if isinstance(chapter, int) else int(record["id"].split(".")[0])


def _count(n: int, status: str) -> nodes.inline:
    classes = ["equinotes-count", f"claim-{status}"] + ([] if n else ["zero"])
    return nodes.inline(text=str(n), classes=classes)


def _ids_cell(ids, css_class):
    return _para(nodes.inline(text=", ".join(ids), classes=[css_class])) if ids else "—"


def _missing(expected, records) -> list[str]:
    return [
        e
        for e in expected
        if not any(
            r == e or (r.startswith(e) and not r[len(e)].isdigit()) for r in records
        )
    ]


def _fill(app, doctree, docname):
    for node in doctree.findall(ledger_placeholder):
        records = _read_records(_ledger_file(app))
        pages = getattr(app.env, "equinotes_claim_pages", {})
        titles = {doc: app.env.titles[doc].astext() for doc in app.env.titles}

        def link(claim_id):
            target = pages.get(claim_id)
            if not target:
                return None
            return (
                app.builder.get_relative_uri(docname, target)
                + "#claim-"
                + claim_id.replace(".", "-")
            )

        for claim_id in _missing(node["expected"], records):
            logger.warning(
                f"claim {claim_id} is promised by the ledger page but no notebook recorded it",
                location=docname,
            )
        sweep = read_sweep(_sweep_file(app))
        if isinstance(sweep, str):
            logger.info(f"claims ledger: {sweep}")
        node.replace_self(
            ledger_nodes(records, pages=pages, titles=titles, link=link, sweep=sweep)
        )
    for node in doctree.findall(times_placeholder):
        rows = []
        from myst_nb.sphinx_ import NbMetadataCollector

        for doc in sorted(app.env.found_docs):
            try:
                data = NbMetadataCollector.get_exec_data(app.env, doc)
            except KeyError:
                data = None
            runtime = (data or {}).get("runtime")
            if runtime is not None:
                title = app.env.titles[doc].astext() if doc in app.env.titles else doc
                rows.append([title, f"{runtime:.0f} s"])
        total = nodes.paragraph(
            text="Measured while this site was built."
            if rows
            else "No notebook was executed in this build."
        )
        node.replace_self(
            [total, _table(["notebook", "execution time"], rows, [60, 20])]
        )


def _add_static(app, config):
    paths = list(getattr(config, "html_static_path", None) or [])
    if str(STATIC) not in paths:
        config.html_static_path = paths + [str(STATIC)]


def setup(app):
    app.add_node(ledger_placeholder)
    app.add_node(times_placeholder)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("execution-times", ExecutionTimes)
    app.connect("config-inited", _add_static)
    app.add_css_file(CSS)
    app.connect("builder-inited", _reset_ledger)
    app.connect("doctree-read", _note_claim_pages)
    app.connect("doctree-resolved", _fill)
    return {"version": "0.2", "parallel_read_safe": False, "parallel_write_safe": True}
