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
    "margin",
    "spread",
    "ledger_path",
    "read_ledger",
    "EXPECTATIONS",
]

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
    threshold = (
        ""
        if record["threshold"] is None
        else f" (threshold {html.escape(json.dumps(record['threshold']))})"
    )
    display(
        HTML(
            f'<div class="equinotes-claim" id="{anchor}" style="border-left:4px solid {colour};padding:2px 8px;margin:4px 0">'
            f'<b>Claim {html.escape(record["id"])}</b> — <span style="color:{colour}">{status}</span>: '
            f"{html.escape(record['statement'])}<br><code>value = {html.escape(value)}</code>{threshold}</div>"
        )
    )


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
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    _show(record)
    id, holds, expect = record["id"], record["holds"], record["expect"]
    if expect == "holds" and not holds:
        raise AssertionError(
            f"claim {id} does not hold: {record['statement']} "
            f"(value={record['value']}, threshold={record['threshold']})"
        )
    if expect == "refuted" and holds:
        raise AssertionError(
            f"claim {id} was marked refuted but now holds: revisit the text ({record['value']})"
        )
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
    Returns:
        the record written to the ledger.
    """
    _validate(id, statement, expect, unit)
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
    if rule not in text:
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
