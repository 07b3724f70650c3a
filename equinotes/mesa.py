"""Iterated mesa-optimizers: a learned step applied again and again, and the TwoStep composition.

TwoStep is written once here for any kind of transform (rigid matrices in chapter 3, coordinate
fields in chapter 4): the caller says how a transform moves an input and how two transforms compose.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["two_step"]


def two_step(phi: Callable, psi: Callable, apply: Callable, compose: Callable) -> Callable:
    """TwoStep{Phi, Psi}[A, B] = Phi[A, B] o Psi[A o Phi[A, B], B].

    Args:
        phi, psi: registration functions ``(A, B) -> transform``.
        apply: ``apply(A, T)`` is "A o T", the moving input pulled back through T.
        compose: ``compose(S, T)`` is "S o T" (T first, then S... as maps of coordinates: x -> S(T(x))).
    Returns:
        the registration function ``(A, B) -> transform`` of the two steps in sequence.
    """
    if not all(callable(c) for c in (phi, psi, apply, compose)):
        raise TypeError("phi, psi, apply and compose must all be callable")

    def registered(moving, fixed):
        first = phi(moving, fixed)
        return compose(first, psi(apply(moving, first), fixed))

    return registered
