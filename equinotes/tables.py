"""Small HTML tables for the notebook pages.

A result table that would run off the page as text is written as HTML instead: ``html_table`` takes
a header and rows of cells and returns an ``HTMLTable``, a ``str`` that Jupyter shows as a table. It
works as the last expression of a cell, in ``display(...)`` and inside ``IPython.display.HTML(...)``.

Cells are written so that tables of the same kind look the same on every page: floats with ``digits``
significant figures (NaN as "–"), bools as yes / no, anything else with ``str``; every cell and header
is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import numbers
from typing import Sequence

import numpy as np

__all__ = ["HTMLTable", "html_table", "format_cell"]

_ALIGNMENTS = ("left", "right", "center")


class HTMLTable(str):
    """The HTML text of a table; Jupyter shows it as a table (``_repr_html_``)."""

    def _repr_html_(self) -> str:
        return str(self)

    @property
    def data(self) -> str:
        """The HTML text, as ``IPython.display.HTML(...).data`` gives it."""
        return str(self)


def _check_digits(digits) -> int:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)):
        raise TypeError(f"digits must be an integer, got {type(digits).__name__}")
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    return int(digits)


def format_cell(value, digits: int = 3) -> str:
    """One cell's text, not yet escaped: floats with ``digits`` significant figures (NaN as "–"),
    bools as yes / no, anything else with ``str``."""
    digits = _check_digits(digits)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        return "–" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _as_list(name: str, value) -> list:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of cells, got {type(value).__name__}")
    return list(value)


def html_table(
    header,
    rows,
    *,
    caption: str | None = None,
    digits: int = 3,
    align: str | Sequence[str] | None = None,
) -> HTMLTable:
    """A small HTML table (it wraps on a narrow page instead of running off it).

    Args:
        header: the column titles, one per column (at least one).
        rows: lists of cells, each with one cell per column.
        caption: optional text above the table.
        digits: significant figures of floats (an integer >= 1); bools show as yes / no.
        align: ``"left"``, ``"right"`` or ``"center"`` for every column, or one of them per column
            (default: the page's style).
    Returns:
        an ``HTMLTable``: a ``str`` of HTML that Jupyter shows as a table.
    Raises:
        TypeError: header or a row is not a list of cells, or digits is not an integer.
        ValueError: the header is empty, a row has the wrong number of cells, digits < 1, or align
            is not one of the alignments (or not one per column).
    """
    digits = _check_digits(digits)
    header = _as_list("header", header)
    if not header:
        raise ValueError("header must name at least one column")
    rows = [_as_list(f"row {i}", row) for i, row in enumerate(rows)]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"row {i} has {len(row)} cells; every row needs {len(header)}, one per column"
            )
    if align is None:
        styles = [""] * len(header)
    else:
        aligns = [align] * len(header) if isinstance(align, str) else list(align)
        if len(aligns) != len(header) or any(a not in _ALIGNMENTS for a in aligns):
            raise ValueError(
                f"align must be one of {_ALIGNMENTS}, or a list with one per column"
                f" ({len(header)} columns), got {align!r}"
            )
        styles = [f' style="text-align:{a}"' for a in aligns]

    def cells(tag: str, values) -> str:
        return "".join(
            f"<{tag}{style}>{html.escape(format_cell(v, digits))}</{tag}>"
            for style, v in zip(styles, values)
        )

    cap = f"<caption>{html.escape(str(caption))}</caption>" if caption else ""
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return HTMLTable(
        f"<table>{cap}<thead><tr>{cells('th', header)}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
