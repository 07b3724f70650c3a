"""The claims ledger: every result the book states is checked here, at every build.

``check`` records a claim as one JSON line in the ledger file and raises ``AssertionError`` when the
claim does not hold, unless the notebook declares an honest negative result with
``expect="refuted"`` (or ``expect="open"`` for a question the book cannot settle yet). The ledger
page of the site is generated from this file at build time.

A claim measured over several replications (seeds) goes through ``check_replicated``: it records every
per-replication value, their spread (min / median / max), how many replications hold, and says in the
statement how they are combined ("in each of 3 seeds", "median over 3 seeds").

Each record also carries the run's ``SEED`` and ``SCALE`` (from ``$EQUINOTES_SEED`` and
``$EQUINOTES_SCALE``, which ``utils.start_run`` sets) and, where it can be computed, a **margin**: the
factor by which the measured value clears its threshold (``threshold / value`` for an upper bound,
``value / threshold`` for a lower bound). A margin of 1.05 means the value is 5 % from flipping the
claim; a margin below 1 means the claim does not hold.

**Where a failing claim stops.** Inside the site build and the tests (``$EQUINOTES_STRICT=1``, set by
``_ext/ledger.py`` and ``conftest.py``) a claim that does not hold raises ``AssertionError`` and fails
the run. Anywhere else (a reader in Colab who changed ``SEED`` or ``SCALE``) it is recorded, a visible
warning is shown where the claim is checked, and the notebook goes on.

**Nothing is printed where a claim is checked.** ``check`` returns its record, which displays as nothing
in a notebook. Each section of a chapter ends with ``section_box()``: one folded "What this section
checked" box listing the claims recorded since the previous box (statement, status, measured value
against threshold, spread over seeds, link to the ledger page).

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

__all__ = [
    "check",
    "check_replicated",
    "section_box",
    "section_box_html",
    "Record",
    "strict",
    "margin",
    "spread",
    "ledger_path",
    "read_ledger",
    "format_value",
    "format_margin",
    "format_spread",
    "close_to_edge",
    "EXPECTATIONS",
    "EDGE",
    "STATUS_COLOURS",
]

EXPECTATIONS = ("holds", "refuted", "open")

#: A claim whose margin lies between ``1 / EDGE`` and ``EDGE`` is "close to its edge": a change of
#: less than 25 % in the measured value would flip it.
EDGE = 1.25

#: The colour of each status, shared by the badge in the notebook and the ledger page.
STATUS_COLOURS = {"holds": "#1a7f37", "refuted": "#b35900", "open": "#6e7781"}


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


_BOUNDS = ("<=", ">=")


def margin(value, threshold, direction: str) -> float | None:
    """How far ``value`` clears ``threshold``, as a factor (> 1 holds, < 1 fails, 1 on the edge).

    Args:
        value: the measured number.
        threshold: the bound it is compared with.
        direction: ``"<="`` (the claim wants ``value <= threshold``) or ``">="``.
    Returns:
        ``threshold / value`` for ``"<="`` and ``value / threshold`` for ``">="`` when both are positive;
        for a zero or negative number the factor is undefined and ``1 + (distance to the threshold)`` is
        returned instead (still > 1 exactly when the claim holds); ``None`` for a value that is not finite.
    """
    if direction not in _BOUNDS:
        raise ValueError(f"direction must be one of {_BOUNDS}, got {direction!r}")
    for name, number in (("value", value), ("threshold", threshold)):
        if (
            isinstance(number, bool)
            or not isinstance(number, (int, float))
            and not hasattr(number, "item")
        ):
            raise TypeError(f"{name} must be a number, got {type(number).__name__}")
    value, threshold = float(value), float(threshold)
    if not (math.isfinite(value) and math.isfinite(threshold)):
        return None
    if value > 0 and threshold > 0:
        return threshold / value if direction == "<=" else value / threshold
    gap = threshold - value if direction == "<=" else value - threshold
    return 1.0 + gap


def _number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _inferred_margin(value, threshold, holds: bool) -> float | None:
    """The margin of a single number against a single threshold, the direction read from ``holds``."""
    if not (_number(value) and _number(threshold)) or value == threshold:
        return None
    direction = "<=" if (value <= threshold) == holds else ">="
    return margin(value, threshold, direction)


def spread(values) -> dict:
    """``{"min", "median", "max", "n"}`` of a list of numbers (non-finite ones are left out of the
    statistics but counted in ``n``)."""
    numbers = sorted(float(v) for v in values if _number(v))
    if not numbers:
        return {"min": None, "median": None, "max": None, "n": len(values)}
    mid = len(numbers) // 2
    median = (
        numbers[mid] if len(numbers) % 2 else 0.5 * (numbers[mid - 1] + numbers[mid])
    )
    return {"min": numbers[0], "median": median, "max": numbers[-1], "n": len(values)}


# ---------------------------------------------------------------------------------------------
# Formatting for readers: the badge under a claim and the ledger page use the same helpers.

_MAX_CHARS = 120
# A list of up to this many numbers is shown in full, a longer one as its range.
_LIST_SHOWN = 4
_GLUED_UNITS = ("°", "%", "′", "″")  # written without a space: 18°, 5%
_GROUP = "\u202f"  # narrow no-break space between groups of three digits: 12 300


def _with_unit(text: str, unit: str | None) -> str:
    if not unit:
        return text
    return text + unit if unit.startswith(_GLUED_UNITS) else f"{text} {unit}"


def _format_number(x) -> str:
    """3 significant figures: ``1.23e-07``, ``0.694``, ``93.1``, ``12 300``; integers below a million
    exactly (``24``, ``12 345``)."""
    if isinstance(x, int) and abs(x) < 1_000_000:
        return f"{x:,}".replace(",", _GROUP)
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    x = float(f"{x:.2e}")  # 3 significant figures first: 999.7 becomes 1000, not 999.7
    exponent = math.floor(math.log10(abs(x)))
    if exponent < -3 or exponent >= 6:
        mantissa, _, power = f"{x:.2e}".partition("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{power}"
    if exponent >= 2:
        return f"{round(x):,}".replace(",", _GROUP)
    text = f"{x:.{2 - exponent}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _truncate(text: str, limit: int = _MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ;,") + "…"


def _flatten(value: dict, prefix: str = ""):
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            yield from _flatten(item, name + ".")
        else:
            yield name, item


def _range(low, high, unit: str | None) -> str:
    """``0.1 – 0.6 px`` (the unit once), or one number when both ends read the same."""
    low, high = _format_number(low), _format_number(high)
    return _with_unit(low if low == high else f"{low} – {high}", unit)


def _format_dicts(items: list, unit: str | None) -> str:
    """Dicts of the same keys (one per seed, say) as one range per key."""
    columns: dict = {}
    for item in items:
        for key, value in _flatten(item):
            columns.setdefault(key, []).append(value)
    parts = []
    for key, values in columns.items():
        if all(_is_number(v) for v in values):
            text = _range(min(values), max(values), unit)
        elif all(v == values[0] for v in values):
            text = (
                _format_scalar(values[0], unit)
                if not isinstance(values[0], list)
                else "…"
            )
        else:
            text = "varies"
        parts.append(f"{key}: {text}")
    return "; ".join(parts) + f" ({len(items)} entries)"


def _format_list(items: list, unit: str | None) -> str:
    if not items:
        return "none"
    if all(_is_number(v) for v in items):
        if len(items) <= _LIST_SHOWN:
            return ", ".join(_with_unit(_format_number(v), unit) for v in items)
        return f"{_range(min(items), max(items), unit)} ({len(items)} values)"
    if all(isinstance(v, (str, bool)) or v is None for v in items):
        shown = ", ".join(_format_scalar(v, unit) for v in items[:_LIST_SHOWN])
        return shown + (
            f", … ({len(items)} in all)" if len(items) > _LIST_SHOWN else ""
        )
    if all(isinstance(v, dict) and v for v in items):
        return _format_dicts(items, unit)
    return f"{len(items)} entries"


def _format_scalar(value, unit: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        return _with_unit(_format_number(value), unit)
    if isinstance(value, str):
        return value
    return str(value)


def _check_unit(unit) -> None:
    if unit is not None and not isinstance(unit, str):
        raise TypeError(
            f"unit must be None or a string such as 'px', got {type(unit).__name__}"
        )


def format_value(value, unit: str | None = None) -> str:
    """A measured value (or a threshold) written for a reader, in at most 120 characters.

    Numbers get 3 significant figures (``1.23e-07``, ``0.694``, ``93.1``, ``12 300``; integers below
    a million are exact) and the unit, with a space (``2.9 px``) except for ``°`` and ``%``
    (``18°``); booleans read ``yes``/``no``; ``None`` reads ``—``. A dict becomes a short list
    ``key: value; key: value`` (nested dicts flattened with dotted keys); a list of up to 4 numbers is
    written out, a longer one as its range ``min – max (n values)``. Longer text is cut with ``…``.

    Args:
        value: a number, string, bool, ``None``, list or dict (as stored in the ledger).
        unit: the unit of the numbers, if any.
    Returns:
        the text; never a 16-digit float or raw JSON.
    """
    _check_unit(unit)
    if isinstance(value, dict):
        parts = []
        for key, item in _flatten(value):
            text = (
                _format_list(item, unit)
                if isinstance(item, (list, tuple))
                else ("{}" if isinstance(item, dict) else _format_scalar(item, unit))
            )
            parts.append(f"{key}: {text}")
        return _truncate("; ".join(parts) if parts else "{}")
    if isinstance(value, (list, tuple)):
        return _truncate(_format_list(list(value), unit))
    return _truncate(_format_scalar(value, unit))


def format_margin(margin) -> str:
    """A claim's margin as a factor: ``×1.05``, ``×340``, ``×0.71`` (below 1: the claim fails), or ``—``
    when there is none."""
    if margin is None:
        return "—"
    if not _is_number(margin):
        raise TypeError(f"margin must be a number or None, got {type(margin).__name__}")
    return "×" + _format_number(float(margin))


def close_to_edge(margin, edge: float = EDGE) -> bool:
    """Whether a claim sits close to the edge that would flip it: its margin lies strictly between
    ``1 / edge`` and ``edge`` (default 1.25, a change of less than 25 % in the measured value).

    A margin of ``None`` (none computed) is never close; neither is one of zero or below (the
    measurement is far on the failing side).
    """
    if isinstance(edge, bool) or not _is_number(edge) or not edge > 1:
        raise ValueError(f"edge must be a number above 1, got {edge!r}")
    if margin is None:
        return False
    if not _is_number(margin):
        raise TypeError(f"margin must be a number or None, got {type(margin).__name__}")
    return 0 < margin and 1 / edge < margin < edge


def format_spread(value: dict, unit: str | None = None) -> str:
    """The spread of a replicated claim's value (as ``check_replicated`` records it):
    ``min / median / max`` and how many replications hold, e.g. ``0.71 / 0.83 / 0.91 · 3/3 hold``.
    """
    _check_unit(unit)
    if not isinstance(value, dict) or "n" not in value or "n_hold" not in value:
        raise ValueError(
            "format_spread needs the value of a replicated claim "
            "(a dict with 'min', 'median', 'max', 'n' and 'n_hold')"
        )
    held = f"{value['n_hold']}/{value['n']} hold"
    if value.get("median") is None:
        return held
    numbers = " / ".join(_format_number(value[k]) for k in ("min", "median", "max"))
    return f"{_with_unit(numbers, unit)} · {held}"


#: The records checked since the last ``section_box()`` (in this process).
_SECTION: list = []


class Record(dict):
    """A ledger record (a plain ``dict``) that displays as nothing in a notebook, so that a cell ending
    in ``claims.check(...)`` prints no raw record into the page."""

    def _ipython_display_(self) -> None:
        pass


def strict() -> bool:
    """Whether a failing claim raises (site build and tests: ``$EQUINOTES_STRICT`` is ``1``) or only
    warns (a reader's own run)."""
    return os.environ.get("EQUINOTES_STRICT", "").strip().lower() in (
        "1",
        "true",
        "yes",
    )


def _display_html(text: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover
        return
    if get_ipython() is not None:
        display(HTML(text))


def _warn(message: str) -> None:
    """A visible warning where a claim failed in a reader's run; the notebook goes on."""
    import warnings

    warnings.warn(message, stacklevel=3)
    _display_html(
        '<div class="equinotes-warning" style="border-left:4px solid #9a6700;background:#fff8c5;'
        'padding:4px 8px;margin:4px 0"><b>⚠ A claim of the text does not hold in this run.</b> '
        f"{html.escape(message)} The book states it for its own settings; at yours it failed. "
        "The notebook goes on: read the text around it with this in mind.</div>"
    )


def _badge_html(record: dict, ledger_page: str | None = "ledger.html") -> str:
    """One claim as a row of the "What this section checked" box: an anchor (``claim-1-1``) that the
    ledger page links to, the status, the statement, the readable value against its threshold, the
    margin when the claim sits close to its edge, the spread over replications and a link to the
    claim's row on the ledger page (``ledger_page``; ``None`` for no link)."""
    status = record["status"]
    colour = STATUS_COLOURS[status]
    anchor = "claim-" + record["id"].replace(".", "-")
    unit = record.get("unit")
    value = record["value"]
    if record.get("replicated") and isinstance(value, dict):
        measured = format_spread(value, unit) + " (min / median / max)"
    else:
        measured = format_value(value, unit)
    details = [f"measured {html.escape(measured)}"]
    if record.get("threshold") is not None:
        details.append(
            f"threshold {html.escape(format_value(record['threshold'], unit))}"
        )
    if record.get("margin") is not None:
        text = f"margin {html.escape(format_margin(record['margin']))}"
        if close_to_edge(record["margin"]):
            text = f'<span style="color:#9a6700">⚠ {text}, close to its edge</span>'
        details.append(text)
    if ledger_page:
        details.append(
            f'<a href="{ledger_page}#ledger-{anchor}">claim {html.escape(record["id"])} '
            "on the ledger</a>"
        )
    pill = (
        f'<span style="background:{colour};color:#fff;border-radius:0.6em;'
        f'padding:0 0.5em;font-size:0.85em">{status}</span>'
    )
    if record.get("unexpected"):
        pill += ' <b style="color:#9a6700">⚠ not as the text says, in this run</b>'
    if record.get("source"):
        pill += f" <i>({html.escape(record['source'])})</i>"
    return (
        f'<div class="equinotes-claim" id="{anchor}" style="border-left:4px solid {colour};'
        f'padding:2px 8px;margin:6px 0">'
        f"{pill} {html.escape(record['statement'])}<br>"
        f'<span style="font-size:0.88em;color:#57606a">{" · ".join(details)}</span></div>'
    )


def section_box_html(records, ledger_page: str | None = "ledger.html") -> str:
    """The folded "What this section checked" box (HTML) for ``records``; ``""`` when there are none."""
    records = list(records)
    if not records:
        return ""
    counts = {s: sum(r["status"] == s for r in records) for s in EXPECTATIONS}
    tally = " · ".join(
        f'<span style="color:{STATUS_COLOURS[s]}">{n} {"hold" if s == "holds" and n != 1 else s}</span>'
        for s, n in counts.items()
        if n
    )
    n = len(records)
    rows = "".join(_badge_html(r, ledger_page) for r in records)
    return (
        '<details class="equinotes-checked" style="border:1px solid #d0d7de;'
        'border-radius:6px;padding:4px 10px;margin:10px 0">'
        '<summary style="cursor:pointer"><b>What this section checked</b> — '
        f"{n} claim{'s' if n != 1 else ''}: {tally}</summary>"
        '<p style="font-size:0.88em;color:#57606a;margin:4px 0">Each statement below was measured '
        "when this page was built and checked against its threshold; the claims ledger lists "
        "every claim of the book.</p>"
        f"{rows}</details>"
    )


def section_box(ledger_page: str | None = "ledger.html") -> None:
    """Show the folded "What this section checked" box for the claims recorded since the previous
    call (the last cell of a section, tagged ``remove-input``), then start a new section."""
    records = list(_SECTION)
    _SECTION.clear()
    text = section_box_html(records, ledger_page)
    if text:
        _display_html(text)


def _validate(id, statement, expect, unit=None) -> None:
    if unit is not None and not isinstance(unit, str):
        raise TypeError(
            f"unit must be None or a string such as 'px', got {type(unit).__name__}"
        )
    if (
        not isinstance(id, str)
        or not id
        or "." not in id
        or not id.split(".")[0].isdigit()
    ):
        raise ValueError(
            f"id must look like '1.2' or '4.3b' (chapter.claim), got {id!r}"
        )
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be a non-empty string")
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {EXPECTATIONS}, got {expect!r}")


def _as_bool(holds, name: str = "holds") -> bool:
    try:
        import numpy as np

        if isinstance(holds, np.bool_):
            holds = bool(holds)
    except ImportError:  # pragma: no cover
        pass
    if hasattr(holds, "item") and not isinstance(holds, bool):
        holds = holds.item()
    if not isinstance(holds, bool):
        raise TypeError(
            f"{name} must be a bool computed from the measurement, got {type(holds).__name__}"
        )
    return holds


def _run_parameter(name: str):
    text = os.environ.get(name, "").strip()
    return int(text) if text.isdigit() else None


def _write(record: dict) -> dict:
    """Add the run context, append the record to the ledger, show it and raise as ``expect`` says."""
    record.setdefault("seed", _run_parameter("EQUINOTES_SEED"))
    record.setdefault("scale", _run_parameter("EQUINOTES_SCALE"))
    record["recorded_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"
    )
    # a reader's run that goes on past a failing claim says so in the ledger too
    if (record["expect"] == "holds" and not record["holds"]) or (
        record["expect"] == "refuted" and record["holds"]
    ):
        record["unexpected"] = True
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    record = Record(record)
    _SECTION.append(record)
    id, holds, expect = record["id"], record["holds"], record["expect"]
    message = None
    if expect == "holds" and not holds:
        message = (
            f"claim {id} does not hold: {record['statement']} "
            f"(value={format_value(record['value'], record.get('unit'))}, "
            f"threshold={format_value(record['threshold'], record.get('unit'))})"
        )
    elif expect == "refuted" and holds:
        message = (
            f"claim {id} was marked refuted but now holds: revisit the text "
            f"({format_value(record['value'], record.get('unit'))})"
        )
    if message is not None:
        if strict():
            raise AssertionError(message)
        _warn(message)
    return record


def check(
    id: str,
    statement: str,
    value,
    holds: bool,
    threshold=None,
    expect: str = "holds",
    margin: float | None = None,
    unit: str | None = None,
    source: str | None = None,
) -> dict:
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
        margin: how far the tightest condition clears its bound, as ``claims.margin`` computes it. Left
            out, it is inferred when ``value`` and ``threshold`` are single numbers.
        unit: the unit of the numbers in ``value`` and ``threshold`` (``"px"``, ``"°"``, ``"s"``), if any.
        source: where the value comes from when it is *not* measured by this build, e.g.
            ``"from the committed run of 2026-12-01"`` (a results file a script wrote); shown beside
            the status, here and on the ledger page. ``None``: measured by this build.
    Returns:
        the record written to the ledger.
    """
    _validate(id, statement, expect, unit)
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise TypeError(f"source must be a non-empty string or None, got {source!r}")
    holds = _as_bool(holds)
    if margin is not None and not _number(margin):
        raise TypeError(
            f"margin must be a finite number (see claims.margin), got {margin!r}"
        )
    value, threshold = _jsonable(value), _jsonable(threshold)
    if margin is None:
        margin = _inferred_margin(value, threshold, holds)
    record = {
        "id": id,
        "chapter": int(id.split(".")[0]),
        "statement": statement.strip(),
        "value": value,
        "threshold": threshold,
        "margin": margin,
        "unit": unit,
        "holds": holds,
        "expect": expect,
        "status": "open" if expect == "open" else ("holds" if holds else "refuted"),
    }
    if source is not None:
        record["source"] = source.strip()
    return _write(record)


_COMBINE = ("each", "median")


def check_replicated(
    id: str,
    statement: str,
    values,
    *,
    at_most=None,
    at_least=None,
    passes=None,
    margins=None,
    combine="each",
    seeds=None,
    key: str | None = None,
    expect: str = "holds",
    unit: str | None = None,
) -> dict:
    """Record and assert a claim measured once per replication (one value per seed).

    Give the bound either as a number, ``at_most`` or ``at_least`` (each replication's number is
    compared with it and the margins are computed), or as ``passes``: one bool per replication,
    computed by the notebook for a compound condition.

    Args:
        id, statement, expect: as for ``check``. The statement gets the rule appended, e.g.
            "(in each of 3 seeds)", unless it already says it.
        values: one measurement per replication: numbers, or dicts (then ``key`` names the number that
            is compared and summarised; the whole dicts are recorded).
        at_most, at_least: the bound of each replication's number (give one of them, or ``passes``).
        passes: one bool per replication, when the condition is not a single bound.
        margins: with ``passes`` only, optional: one number per replication, how far its tightest
            condition clears its bound (``claims.margin`` of that condition), so that the ledger can
            flag a compound claim close to its edge too.
        combine: ``"each"`` (the claim holds when every replication holds), ``"median"`` (when the
            median number is within the bound; needs ``at_most``/``at_least``) or an int ``k`` (when at
            least ``k`` replications hold).
        seeds: the seed of each replication, recorded beside its value.
        key: for dict values, the entry that is compared and summarised.
        unit: as for ``check``.
    Returns:
        the record written to the ledger. Its value is ``{"per_replication", "seeds", "min", "median",
        "max", "n", "n_hold", "rule"}``.
    """
    _validate(id, statement, expect, unit)
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise TypeError(
            f"values must be a list with one measurement per replication, got {type(values).__name__}"
        )
    values = [_jsonable(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one replication")
    if (at_most is None) + (at_least is None) + (passes is None) != 2:
        raise ValueError("give exactly one of at_most, at_least or passes")
    if margins is not None and passes is None:
        raise ValueError("margins go with passes; at_most/at_least compute their own")
    if combine not in _COMBINE and (
        isinstance(combine, bool) or not isinstance(combine, int)
    ):
        raise ValueError(
            f"combine must be 'each', 'median' or an int k (at least k replications), got {combine!r}"
        )
    if isinstance(combine, int) and not 1 <= combine <= len(values):
        raise ValueError(
            f"combine={combine} must lie between 1 and the {len(values)} replications"
        )
    if combine == "median" and passes is not None:
        raise ValueError(
            "combine='median' compares the median number: give at_most or at_least, not passes"
        )
    if seeds is not None and len(seeds) != len(values):
        raise ValueError(
            f"seeds has {len(seeds)} entries for {len(values)} replications"
        )
    if key is not None:
        if not all(isinstance(v, dict) and key in v for v in values):
            raise ValueError(f"key={key!r} must name an entry of every value (dicts)")
        numbers = [v[key] for v in values]
    else:
        numbers = values
    bound = at_most if at_most is not None else at_least
    direction = "<=" if at_most is not None else ">="
    if bound is not None:
        if not _number(bound):
            raise TypeError(f"the bound must be a finite number, got {bound!r}")
        if not all(_number(x) for x in numbers):
            raise TypeError(
                "with at_most/at_least every replication's value must be a finite number "
                "(use key= for dicts, or passes= for a compound condition)"
            )
        per_margin = [margin(x, bound, direction) for x in numbers]
        per_holds = [x <= bound if direction == "<=" else x >= bound for x in numbers]
    else:
        if len(passes) != len(values):
            raise ValueError(
                f"passes has {len(passes)} entries for {len(values)} replications"
            )
        per_holds = [_as_bool(p, "each entry of passes") for p in passes]
        per_margin = None
        if margins is not None:
            if len(margins) != len(values):
                raise ValueError(
                    f"margins has {len(margins)} entries for {len(values)} replications"
                )
            if not all(_number(m) for m in margins):
                raise TypeError("every entry of margins must be a finite number")
            per_margin = [float(m) for m in margins]
    stats = (
        spread(numbers)
        if all(_number(x) for x in numbers)
        else {"min": None, "median": None, "max": None, "n": len(values)}
    )
    n, n_hold = len(values), sum(per_holds)
    if combine == "each":
        holds, rule = n_hold == n, f"in each of {n} seeds"
        claim_margin = min(per_margin) if per_margin else None
    elif combine == "median":
        median = stats["median"]
        holds = median <= bound if direction == "<=" else median >= bound
        rule, claim_margin = f"median over {n} seeds", margin(median, bound, direction)
    else:
        holds, rule = n_hold >= combine, f"in at least {combine} of {n} seeds"
        claim_margin = (
            sorted(per_margin, reverse=True)[combine - 1] if per_margin else None
        )
    text = statement.strip()
    if rule.lower() not in text.lower():
        text = f"{text.rstrip('.')} ({rule})."
    record = {
        "id": id,
        "chapter": int(id.split(".")[0]),
        "statement": text,
        "value": {
            "per_replication": values,
            "seeds": list(seeds) if seeds is not None else None,
            **stats,
            "n_hold": n_hold,
            "rule": rule,
        },
        "threshold": bound if bound is not None else None,
        "margin": claim_margin,
        "unit": unit,
        "holds": holds,
        "expect": expect,
        "status": "open" if expect == "open" else ("holds" if holds else "refuted"),
        "replicated": True,
    }
    return _write(record)


def read_ledger(path: str | os.PathLike | None = None) -> list[dict]:
    """All records of the ledger file, the newest record per id last (``[]`` when there is no file)."""
    path = Path(path) if path is not None else ledger_path()
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
