"""Measuring registrations: similarity after warping, recovered angle, equivariance errors in pixels,
folding (negative Jacobians), inverse consistency, and the basin of a similarity's rotation gradient.

Distances are reported in *pixels*: a coordinate difference of 2/(size-1) is one pixel. Errors are
averaged inside a mask (where the fixed image has ink, slightly dilated), because outside the digit
the images carry no information and any transform is as good as another.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .groups import conjugate_transform
from .registration import check_pair, mse, pull_back
from .transforms import check_transform, compose, identity_grid, matrix_transform, warp
from .utils import check_images, check_int

__all__ = [
    "digit_mask",
    "distance_px",
    "similarity_after_warp",
    "recovered_angle",
    "angle_error_deg",
    "equivariance_error_px",
    "negative_jacobian_fraction",
    "inverse_consistency_px",
    "rotation_gradient_points_right",
    "by_angle_bin",
]


def digit_mask(
    images: torch.Tensor, threshold: float = 0.2, dilate: int = 1
) -> torch.Tensor:
    """Where the digit is: ``images > threshold``, dilated by ``dilate`` pixels. ``[B, 1, H, W]`` -> same,
    float 0/1.
    """
    check_images(images)
    dilate = check_int("dilate", dilate, minimum=0)
    m = (images > threshold).to(images.dtype)
    return F.max_pool2d(m, 2 * dilate + 1, stride=1, padding=dilate) if dilate else m


def distance_px(
    phi: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean Euclidean distance between two transforms in pixels, per pair ``[B]`` (inside ``mask
    [B,1,H,W]``).
    """
    check_transform(phi, "phi")
    check_transform(psi, "psi")
    if phi.shape != psi.shape:
        raise ValueError(
            f"phi and psi must have the same shape, got {tuple(phi.shape)} and {tuple(psi.shape)}"
        )
    d = (phi - psi).norm(dim=-1) * ((phi.shape[2] - 1) / 2)  # [B, H, W]
    if mask is None:
        return d.flatten(1).mean(1)
    m = mask[:, 0].to(d.dtype)
    return (d * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)


def similarity_after_warp(
    moving: torch.Tensor, fixed: torch.Tensor, phi: torch.Tensor, loss: Callable = mse
) -> torch.Tensor:
    """``loss(A o phi, B)`` per pair ``[B]`` (lower is more similar)."""
    check_pair(moving, fixed)
    return loss(warp(moving, phi), fixed, reduction="none")


def recovered_angle(phi: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The rotation angle of the best rigid fit of ``phi`` (weighted Procrustes), radians ``[B]``.

    Fits ``x -> R_theta x + t`` (``R_theta`` as in ``groups.rotation_matrix``) to the points
    ``(x, phi(x))`` with weights ``[B, 1, H, W]`` (e.g. the fixed image: the fit is over the digit).
    """
    check_transform(phi)
    check_images(weights, "weights")
    x = identity_grid(
        phi.shape[1], phi.shape[2], phi.shape[0], device=phi.device, dtype=phi.dtype
    )
    w = weights[:, 0].to(phi.dtype).clamp_min(0).unsqueeze(-1) + 1e-12  # [B, H, W, 1]
    total = w.sum((1, 2), keepdim=True)
    xc = x - (w * x).sum((1, 2), keepdim=True) / total
    yc = phi - (w * phi).sum((1, 2), keepdim=True) / total
    h = torch.einsum("bhwi,bhwj->bij", w * yc, xc)  # sum w y x^T
    # maximise tr(R^T H) with R = [[c, s], [-s, c]]: theta = atan2(H01 - H10, H00 + H11)
    return torch.atan2(h[:, 0, 1] - h[:, 1, 0], h[:, 0, 0] + h[:, 1, 1])


def angle_error_deg(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``|estimate - truth|`` wrapped to [0, 180] degrees, ``[B]`` (angles in radians, both ``[B]``)."""
    if not isinstance(estimate, torch.Tensor) or not isinstance(truth, torch.Tensor):
        raise TypeError(
            "estimate and truth must be torch.Tensors of angles in radians, shape [B]"
        )
    if estimate.shape != truth.shape:
        raise ValueError(
            f"estimate and truth must have the same shape, got {tuple(estimate.shape)} and "
            f"{tuple(truth.shape)}"
        )
    d = torch.remainder(estimate - truth + math.pi, 2 * math.pi) - math.pi
    return d.abs() * 180 / math.pi


def equivariance_error_px(
    registration: Callable,
    moving: torch.Tensor,
    fixed: torch.Tensor,
    w_angle,
    u_angle,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """[W, U] error ``|Phi[A o W, B o U] - W^{-1} o Phi[A, B] o U|`` in pixels per pair ``[B]``.

    ``W, U`` are rotations by ``w_angle``, ``u_angle`` (numbers or ``[B]`` tensors); quarter turns act
    exactly, other angles interpolate (images and ``Phi``), which sets a floor. ``mask`` defaults to the
    digit in ``B o U`` (the domain of both sides).
    """
    check_pair(moving, fixed)
    with torch.no_grad():
        fixed_u = pull_back(fixed, u_angle)
        lhs = registration(pull_back(moving, w_angle), fixed_u)
        rhs = conjugate_transform(registration(moving, fixed), w_angle, u_angle)
    return distance_px(lhs, rhs, digit_mask(fixed_u) if mask is None else mask)


def negative_jacobian_fraction(phi: torch.Tensor) -> torch.Tensor:
    """Share of pixels where ``det D phi < 0`` (the warp folds), per transform ``[B]`` (central
    differences).
    """
    check_transform(phi)
    x_row, x_col = torch.gradient(
        phi[..., 0], dim=(1, 2)
    )  # derivatives of the x coordinate
    y_row, y_col = torch.gradient(phi[..., 1], dim=(1, 2))
    det = x_col * y_row - x_row * y_col  # det [[dx/dcol, dx/drow], [dy/dcol, dy/drow]]
    return (det < 0).to(phi.dtype).flatten(1).mean(1)


def inverse_consistency_px(
    registration: Callable, moving: torch.Tensor, fixed: torch.Tensor
) -> torch.Tensor:
    """``|Phi[A, B] o Phi[B, A] - id|`` in pixels inside the digit of A, per pair ``[B]``."""
    check_pair(moving, fixed)
    with torch.no_grad():
        phi = compose(registration(moving, fixed), registration(fixed, moving))
    grid = identity_grid(
        phi.shape[1], phi.shape[2], phi.shape[0], device=phi.device, dtype=phi.dtype
    )
    return distance_px(phi, grid, digit_mask(moving))


def rotation_gradient_points_right(
    moving: torch.Tensor, fixed: torch.Tensor, delta: torch.Tensor, loss: Callable = mse
) -> torch.Tensor:
    """Does the similarity's gradient along rigid rotations point towards the true angle? ``[B]`` bool.

    Differentiates ``loss(A o R_alpha, B)`` at ``alpha = 0``: a descent step moves alpha by
    ``-grad``, which is right when its sign is the sign of the true relative angle ``delta [B]``.
    """
    check_pair(moving, fixed)
    alpha = torch.zeros(
        moving.shape[0], dtype=moving.dtype, device=moving.device, requires_grad=True
    )
    size = moving.shape[-1]
    c, s = (
        torch.cos(alpha),
        torch.sin(alpha),
    )  # the matrix of groups.rotation_matrix, kept differentiable
    phi = matrix_transform(
        torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2), size, size
    )
    total = loss(warp(moving, phi), fixed, reduction="none").sum()
    (grad,) = torch.autograd.grad(total, alpha)
    return torch.sign(-grad) == torch.sign(delta)


def by_angle_bin(
    values: torch.Tensor, delta: torch.Tensor, edges_deg=(0, 45, 90, 135, 180)
) -> list:
    """Split per-pair ``values [B]`` by ``|delta|`` (radians ``[B]``) into bins with the given edges in
    degrees.

    Returns a list of 1-D tensors, one per bin ``[edges[i], edges[i+1])`` (the last bin includes its end).
    """
    if values.shape != delta.shape:
        raise ValueError(
            f"values and delta must have the same shape, got {tuple(values.shape)} and {tuple(delta.shape)}"
        )
    edges = [float(e) for e in edges_deg]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(
            f"edges_deg must be increasing with at least two entries, got {edges_deg}"
        )
    d = delta.abs() * 180 / math.pi
    out = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        upper = d <= hi if i == len(edges) - 2 else d < hi
        out.append(values[(d >= lo) & upper])
    return out
