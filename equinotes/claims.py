"""The claims ledger: every result the book states is checked here, at every build.

``check`` records a claim as one JSON line in the ledger file and raises ``AssertionError`` when the
claim does not hold, unless the notebook declares an honest negative result with
``expect="refuted"`` (or ``expect="open"`` for a question the book cannot settle yet). The ledger
page of the site is generated from this file at build time.

The ledger file is ``$EQUINOTES_LEDGER`` if set, else ``_build/ledger.jsonl`` at the book's root
(the nearest folder above the working directory holding ``_config.yml``), else in the working directory.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
from pathlib import Path

__all__ = ["check", "ledger_path", "read_ledger", "EXPECTATIONS"]

EXPECTATIONS = ("holds", "refuted", "open")


def ledger_path() -> Path:
    """Where claims are written (see the module docstring)."""
    env = os.environ.get("EQUINOTES_LEDGER")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder / "_build" / "ledger.jsonl"
    return here / "_build" / "ledger.jsonl"


def _jsonable(value):
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().tolist()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict, str)):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _show(record: dict) -> None:
    """Display a small badge with an anchor (``claim-1-1``) that the ledger page links to."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover
        return
    if get_ipython() is None:
        return
    status = record["status"]
    colour = {"holds": "#1a7f37", "refuted": "#b35900", "open": "#6e7781"}[status]
    anchor = "claim-" + record["id"].replace(".", "-")
    value = json.dumps(record["value"])
    if len(value) > 120:
        value = value[:117] + "..."
    threshold = "" if record["threshold"] is None else f" (threshold {html.escape(json.dumps(record['threshold']))})"
    display(HTML(
        f'<div class="equinotes-claim" id="{anchor}" style="border-left:4px solid {colour};padding:2px 8px;margin:4px 0">'
        f'<b>Claim {html.escape(record["id"])}</b> — <span style="color:{colour}">{status}</span>: '
        f'{html.escape(record["statement"])}<br><code>value = {html.escape(value)}</code>{threshold}</div>'
    ))


def check(id: str, statement: str, value, holds: bool, threshold=None, expect: str = "holds") -> dict:
    """Record a claim in the ledger, then assert it.

    Args:
        id: the claim's number as the design numbers it, e.g. ``"1.2"`` or ``"4.3b"``; the chapter is
            the part before the first dot.
        statement: one sentence saying what is claimed, as the text says it.
        value: what was measured (a number, list or dict; tensors and arrays are converted).
        holds: whether the measurement supports the statement (compute it, never type ``True``).
        threshold: the bound ``value`` was compared with, if any.
        expect: ``"holds"`` (the default: a failing claim raises ``AssertionError``), ``"refuted"`` (the
            book reports that the statement does not hold; the check raises if it unexpectedly holds, so
            the text is revisited) or ``"open"`` (recorded, never raises).
    Returns:
        the record written to the ledger.
    """
    if not isinstance(id, str) or not id or "." not in id or not id.split(".")[0].isdigit():
        raise ValueError(f"id must look like '1.2' or '4.3b' (chapter.claim), got {id!r}")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be a non-empty string")
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {EXPECTATIONS}, got {expect!r}")
    try:
        import numpy as np

        if isinstance(holds, np.bool_):
            holds = bool(holds)
    except ImportError:  # pragma: no cover
        pass
    if hasattr(holds, "item") and not isinstance(holds, bool):
        holds = holds.item()
    if not isinstance(holds, bool):
        raise TypeError(f"holds must be a bool computed from the measurement, got {type(holds).__name__}")
    status = "open" if expect == "open" else ("holds" if holds else "refuted")
    record = {
        "id": id,
        "chapter": int(id.split(".")[0]),
        "statement": statement.strip(),
        "value": _jsonable(value),
        "threshold": _jsonable(threshold),
        "holds": holds,
        "expect": expect,
        "status": status,
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    _show(record)
    if expect == "holds" and not holds:
        raise AssertionError(f"claim {id} does not hold: {statement} (value={record['value']}, threshold={threshold})")
    if expect == "refuted" and holds:
        raise AssertionError(f"claim {id} was marked refuted but now holds: revisit the text ({record['value']})")
    return record


def read_ledger(path: str | os.PathLike | None = None) -> list[dict]:
    """All records of the ledger file, the newest record per id last (``[]`` when there is no file)."""
    path = Path(path) if path is not None else ledger_path()
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
