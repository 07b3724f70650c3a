"""Registration: finding the transform Phi[A, B] with A o Phi[A, B] ~ B (A moving, B fixed).

The coordinate-field primitives live in ``equinotes.transforms`` and are re-exported here under the
names chapter 4 uses.
"""
from __future__ import annotations

from typing import Callable

from . import mesa
from .transforms import compose, displacement_to_transform, identity_grid, invert_transform, warp  # noqa: F401

__all__ = ["identity_grid", "warp", "compose", "displacement_to_transform", "invert_transform", "two_step"]


def two_step(phi: Callable, psi: Callable) -> Callable:
    """TwoStep{Phi, Psi}[A, B] = Phi[A, B] o Psi[A o Phi[A, B], B] for coordinate-field transforms.

    Args:
        phi, psi: registration functions ``(A [B, C, H, W], B [B, C, H, W]) -> transform [B, H, W, 2]``.
    Returns:
        the registration function of the two steps in sequence (``equinotes.mesa.two_step`` with
        ``warp`` and ``compose``).
    """
    return mesa.two_step(phi, psi, apply=warp, compose=compose)
