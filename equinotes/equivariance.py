"""Measuring and enforcing equivariance.

A function f is equivariant when ``f(act_in(g, x)) == act_out(g, f(x))`` for every group element g;
invariant when ``act_out`` does nothing. ``equivariance_error`` measures the gap per element,
``assert_equivariant`` checks it against a tolerance keyed by dtype, and ``symmetrize`` (the
Reynolds operator) turns any function into an exactly equivariant one for a finite group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from .groups import FiniteGroup

__all__ = [
    "ElementError",
    "EquivarianceReport",
    "equivariance_error",
    "assert_equivariant",
    "symmetrize",
    "default_tolerance",
    "invariant_action",
]

# An exact check holds to these in each dtype (DESIGN section 2).
_TOLERANCE = {
    torch.float32: 1e-5,
    torch.float64: 1e-10,
    torch.float16: 1e-2,
    torch.bfloat16: 1e-2,
}


def default_tolerance(dtype: torch.dtype) -> float:
    """Absolute tolerance of an exact equivariance check in ``dtype``: 1e-5 for float32, 1e-10 for float64."""
    if dtype not in _TOLERANCE:
        raise TypeError(
            f"no equivariance tolerance for dtype {dtype}; use a floating dtype"
        )
    return _TOLERANCE[dtype]


def invariant_action(g, y):
    """The trivial action ``g . y = y``: pass it as ``act_out`` to test invariance."""
    return y


@dataclass
class ElementError:
    """The gap at one group element: ``abs`` = max of ``abs(f(g.x) - g.f(x))``, ``rel`` = ``norm(diff) /
    norm(g.f(x))``.
    """

    element: Any
    abs: float
    rel: float


@dataclass
class EquivarianceReport:
    """Per-element errors of one equivariance check."""

    rows: list = field(default_factory=list)

    @property
    def max_abs(self) -> float:
        return max((r.abs for r in self.rows), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((r.rel for r in self.rows), default=0.0)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        lines = [f"{'element':>16} {'abs error':>12} {'rel error':>12}"]
        lines += [
            f"{str(r.element):>16} {r.abs:12.3e} {r.rel:12.3e}" for r in self.rows
        ]
        return "\n".join(lines)


def _flatten(y) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        return y.reshape(-1)
    if (
        isinstance(y, (tuple, list))
        and y
        and all(isinstance(t, torch.Tensor) for t in y)
    ):
        return torch.cat([t.reshape(-1) for t in y])
    raise TypeError(
        f"outputs must be tensors or tuples of tensors, got {type(y).__name__}"
    )


def equivariance_error(
    f: Callable,
    x,
    act_in: Callable,
    act_out: Callable,
    elements: Iterable,
    mask: torch.Tensor | None = None,
) -> EquivarianceReport:
    """Measure ``f(act_in(g, x))`` against ``act_out(g, f(x))`` for each g in ``elements``.

    Args:
        f: the function; its output is a tensor (or a tuple of tensors) of any shape.
        x: its input (a tensor or anything ``act_in`` understands).
        act_in, act_out: actions ``act(g, value) -> value``; use ``invariant_action`` for invariance.
        elements: group elements to test (a ``FiniteGroup`` or any iterable).
        mask: optional tensor broadcastable to the output; the error counts only where it is non-zero.
    Returns:
        an ``EquivarianceReport`` with one row per element (max absolute and relative L2 error).
    """
    if not callable(f) or not callable(act_in) or not callable(act_out):
        raise TypeError("f, act_in and act_out must be callable")
    elements = list(
        elements.elements if isinstance(elements, FiniteGroup) else elements
    )
    if not elements:
        raise ValueError("elements is empty: give at least one group element to test")
    report = EquivarianceReport()
    with torch.no_grad():
        fx = f(x)
        for g in elements:
            lhs, rhs = f(act_in(g, x)), act_out(g, fx)
            if mask is not None:
                lhs, rhs = lhs * mask, rhs * mask
            lhs, rhs = _flatten(lhs), _flatten(rhs)
            if lhs.shape != rhs.shape:
                raise ValueError(
                    f"f(g.x) has {lhs.numel()} entries but g.f(x) has {rhs.numel()}: check act_out"
                )
            diff = (lhs - rhs).abs()
            denom, gap = rhs.norm().item(), diff.norm().item()
            rel = gap / denom if denom > 0 else (0.0 if gap == 0 else float("inf"))
            report.rows.append(
                ElementError(g, diff.max().item() if diff.numel() else 0.0, rel)
            )
    return report


def assert_equivariant(
    f: Callable,
    x,
    act_in: Callable,
    act_out: Callable,
    elements: Iterable,
    atol: float | None = None,
    mask: torch.Tensor | None = None,
) -> EquivarianceReport:
    """Raise ``AssertionError`` naming every element whose absolute error exceeds ``atol``.

    ``atol`` defaults to the dtype's exact tolerance (1e-5 float32, 1e-10 float64), read from ``x``
    (or its first tensor). Returns the report when the check passes.
    """
    if atol is None:
        ref = (
            x
            if isinstance(x, torch.Tensor)
            else next((t for t in x if isinstance(t, torch.Tensor)), None)
        )
        if ref is None:
            raise TypeError("cannot infer the dtype from x; pass atol explicitly")
        atol = default_tolerance(ref.dtype)
    if not isinstance(atol, (int, float)) or atol < 0:
        raise ValueError(f"atol must be a non-negative number, got {atol!r}")
    report = equivariance_error(f, x, act_in, act_out, elements, mask=mask)
    bad = [r for r in report.rows if not r.abs <= atol]
    if bad:
        raise AssertionError(
            f"not equivariant within atol={atol:g} for {len(bad)} element(s):\n{report}"
        )
    return report


def symmetrize(
    f: Callable,
    group: FiniteGroup,
    act_in: Callable,
    act_out: Callable = invariant_action,
) -> Callable:
    """The Reynolds average of f over a finite group:

        f_sym(x) = mean over g in G of act_out(g^{-1}, f(act_in(g, x)))

    ``f_sym`` is exactly equivariant (``f_sym(g.x) = g.f_sym(x)``) for *any* f, and equals f when f was
    already equivariant. With the default ``act_out`` it is invariant.
    """
    if not isinstance(group, FiniteGroup):
        raise TypeError(f"group must be a FiniteGroup, got {type(group).__name__}")
    if not callable(f) or not callable(act_in) or not callable(act_out):
        raise TypeError("f, act_in and act_out must be callable")

    def f_sym(x):
        total = None
        for g in group.elements:
            y = act_out(group.inverse(g), f(act_in(g, x)))
            total = y if total is None else total + y
        return total / len(group)

    f_sym.__name__ = f"symmetrized_{getattr(f, '__name__', 'f')}"
    return f_sym
