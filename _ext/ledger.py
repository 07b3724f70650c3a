"""Sphinx extension: the claims ledger page and the measured execution times, generated at build time.

* Build with ``--all``: at the start of a build the ledger file is emptied and ``EQUINOTES_LEDGER`` points the notebook
  kernels at it, so the page shows exactly the claims this build checked.
* ``{claims-ledger}`` (in book/ledger.md) becomes a table of every recorded claim, filled in after all
  notebooks have executed (at ``doctree-resolved``), each id linked to the page that recorded it. Its ``:expected:`` option lists the claim ids the
  book promises; a missing one is a warning, and the build runs with ``-W``, so it fails.
* ``{execution-times}`` becomes a table of each notebook's measured execution time.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.util import logging

logger = logging.getLogger(__name__)


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


def _reset_ledger(app):
    path = _ledger_file(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.environ["EQUINOTES_LEDGER"] = str(path)
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


def _table(headers, rows, widths):
    table = nodes.table(classes=["equinotes-table"])
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
        row = nodes.row()
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


def _format_value(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _fill(app, doctree, docname):
    for node in doctree.findall(ledger_placeholder):
        records = (
            _latest(
                json.loads(line)
                for line in _ledger_file(app).read_text().splitlines()
                if line.strip()
            )
            if _ledger_file(app).is_file()
            else {}
        )
        rows = []
        for claim_id in sorted(records, key=_id_key):
            record = records[claim_id]
            target = getattr(app.env, "equinotes_claim_pages", {}).get(claim_id)
            para = nodes.paragraph()
            if target:
                uri = (
                    app.builder.get_relative_uri(docname, target)
                    + "#claim-"
                    + claim_id.replace(".", "-")
                )
                para += nodes.reference("", claim_id, refuri=uri)
            else:
                para += nodes.Text(claim_id)
            status = nodes.paragraph()
            status += nodes.inline(
                text=record["status"], classes=[f"claim-{record['status']}"]
            )
            threshold = (
                ""
                if record["threshold"] is None
                else _format_value(record["threshold"])
            )
            rows.append(
                [
                    para,
                    status,
                    record["statement"],
                    _format_value(record["value"]),
                    threshold,
                ]
            )
        missing = [
            e
            for e in node["expected"]
            if not any(
                r == e or (r.startswith(e) and not r[len(e)].isdigit()) for r in records
            )
        ]
        for claim_id in missing:
            logger.warning(
                f"claim {claim_id} is promised by the ledger page but no notebook recorded it",
                location=docname,
            )
        summary = nodes.paragraph(
            text=(
                f"{len(records)} claims recorded by this build: "
                f"{sum(r['status'] == 'holds' for r in records.values())} hold, "
                f"{sum(r['status'] == 'refuted' for r in records.values())} refuted, "
                f"{sum(r['status'] == 'open' for r in records.values())} open."
            )
        )
        node.replace_self(
            [
                summary,
                _table(
                    ["id", "status", "statement", "measured value", "threshold"],
                    rows,
                    [6, 8, 40, 24, 12],
                ),
            ]
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


def setup(app):
    app.add_node(ledger_placeholder)
    app.add_node(times_placeholder)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("execution-times", ExecutionTimes)
    app.connect("builder-inited", _reset_ledger)
    app.connect("doctree-read", _note_claim_pages)
    app.connect("doctree-resolved", _fill)
    return {"version": "0.1", "parallel_read_safe": False, "parallel_write_safe": True}
