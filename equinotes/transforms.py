"""Transforms as coordinate fields: identity, warping by pull-back, composition, inversion.

Conventions (fixed once for the whole book, see the notation page):

* Images are functions on the domain Omega = [-1, 1]^2, stored as tensors ``[B, C, H, W]``.
* A transform phi: Omega -> Omega is stored as the coordinates it maps each pixel to, a tensor
  ``[B, H, W, 2]`` in ``torch.nn.functional.grid_sample`` layout: ``phi[..., 0]`` is x (the column
  direction, left to right) and ``phi[..., 1]`` is y (the row direction, top to bottom).
* ``align_corners=True`` everywhere: the pixel centres of the first and last row/column sit at -1 and
  +1 exactly, so quarter turns map pixel centres onto pixel centres.
* Warping is pull-back: ``warp(I, phi) = I o phi``, i.e. the output at x is I sampled at phi(x).
* Composition: ``compose(phi, psi)(x) = phi(psi(x))``, so
  ``warp(warp(I, phi), psi) = warp(I, compose(phi, psi))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .utils import check_images, check_int

__all__ = [
    "ALIGN_CORNERS",
    "identity_grid",
    "check_transform",
    "warp",
    "compose",
    "displacement_to_transform",
    "transform_to_displacement",
    "matrix_transform",
    "invert_transform",
]

ALIGN_CORNERS = True


def identity_grid(
    height: int, width: int, batch: int = 1, device=None, dtype=torch.float32
) -> torch.Tensor:
    """The identity transform id(x) = x sampled on an ``height x width`` pixel grid.

    Returns:
        ``[batch, height, width, 2]``; entry ``[b, i, j]`` is ``(x_j, y_i)`` with ``x_j = -1 + 2j/(width-1)``.
    """
    height = check_int("height", height, minimum=2)
    width = check_int("width", width, minimum=2)
    batch = check_int("batch", batch, minimum=1)
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return (
        torch.stack([xx, yy], dim=-1)
        .unsqueeze(0)
        .expand(batch, height, width, 2)
        .clone()
    )


def check_transform(phi, name: str = "phi") -> torch.Tensor:
    """Validate a transform ``[B, H, W, 2]`` of floating dtype and return it."""
    if not isinstance(phi, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [B, H, W, 2], got {type(phi).__name__}"
        )
    if phi.dim() != 4 or phi.shape[-1] != 2:
        raise ValueError(
            f"{name} must have shape [B, H, W, 2], got shape {tuple(phi.shape)}"
        )
    if not phi.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {phi.dtype}")
    return phi


def warp(
    images: torch.Tensor, phi: torch.Tensor, padding_mode: str = "zeros"
) -> torch.Tensor:
    """Pull an image back through a transform: ``(I o phi)(x) = I(phi(x))``, bilinear.

    Args:
        images: ``[B, C, H, W]``.
        phi: ``[B, H', W', 2]`` (the output has the grid's size ``H' x W'``); a batch of 1 broadcasts.
        padding_mode: what ``I`` is outside Omega: ``"zeros"`` (black, the default) or ``"border"``.
    Returns:
        ``[B, C, H', W']``.
    """
    check_images(images)
    check_transform(phi)
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            f"padding_mode must be 'zeros', 'border' or 'reflection', got {padding_mode!r}"
        )
    if phi.shape[0] != images.shape[0]:
        if phi.shape[0] == 1:
            phi = phi.expand(images.shape[0], *phi.shape[1:])
        elif images.shape[0] == 1:
            images = images.expand(phi.shape[0], *images.shape[1:])
        else:
            raise ValueError(
                f"batch sizes differ: images has {images.shape[0]}, phi has {phi.shape[0]}"
            )
    return F.grid_sample(
        images,
        phi.to(images.dtype),
        mode="bilinear",
        padding_mode=padding_mode,
        align_corners=ALIGN_CORNERS,
    )


def transform_to_displacement(phi: torch.Tensor) -> torch.Tensor:
    """u = phi - id, shape ``[B, H, W, 2]``."""
    check_transform(phi)
    return phi - identity_grid(
        phi.shape[1], phi.shape[2], device=phi.device, dtype=phi.dtype
    )


def displacement_to_transform(u: torch.Tensor) -> torch.Tensor:
    """phi = id + u. Accepts ``[B, H, W, 2]`` or channel-first ``[B, 2, H, W]`` (a network's output)."""
    if (
        isinstance(u, torch.Tensor)
        and u.dim() == 4
        and u.shape[1] == 2
        and u.shape[-1] != 2
    ):
        u = u.permute(0, 2, 3, 1)
    check_transform(u, "u")
    return u + identity_grid(u.shape[1], u.shape[2], device=u.device, dtype=u.dtype)


def compose(phi: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """The composition ``(phi o psi)(x) = phi(psi(x))``.

    ``phi`` is interpolated (bilinear) at the points ``psi(x)``. Its *displacement* is what gets
    interpolated, with border extension outside Omega, so composing with the identity is exact and a
    transform that leaves the domain still makes sense.

    Args:
        phi, psi: ``[B, H, W, 2]`` (phi may have another grid size than psi; batch 1 broadcasts).
    Returns:
        ``[B, H_psi, W_psi, 2]``.
    """
    check_transform(phi, "phi")
    check_transform(psi, "psi")
    u = transform_to_displacement(phi).permute(
        0, 3, 1, 2
    )  # [B, 2, H, W], an image with 2 channels
    u_at_psi = warp(u, psi.to(phi.dtype), padding_mode="border").permute(0, 2, 3, 1)
    return psi.to(phi.dtype) + u_at_psi


def matrix_transform(
    matrix: torch.Tensor,
    height: int,
    width: int,
    translation: torch.Tensor | None = None,
) -> torch.Tensor:
    """The affine transform x -> M x + t sampled on a grid.

    Args:
        matrix: ``[2, 2]`` or ``[B, 2, 2]`` acting on column vectors ``(x, y)``.
        translation: optional ``[2]`` or ``[B, 2]``.
    Returns:
        ``[B, height, width, 2]``.
    """
    if not isinstance(matrix, torch.Tensor) or not matrix.is_floating_point():
        raise TypeError(
            "matrix must be a floating torch.Tensor of shape [2, 2] or [B, 2, 2]"
        )
    if matrix.dim() == 2:
        matrix = matrix.unsqueeze(0)
    if matrix.dim() != 3 or matrix.shape[-2:] != (2, 2):
        raise ValueError(
            f"matrix must have shape [2, 2] or [B, 2, 2], got {tuple(matrix.shape)}"
        )
    grid = identity_grid(
        height, width, batch=matrix.shape[0], device=matrix.device, dtype=matrix.dtype
    )
    out = torch.einsum("bij,bhwj->bhwi", matrix, grid)
    if translation is not None:
        translation = translation.to(matrix.dtype).reshape(-1, 1, 1, 2)
        out = out + translation
    return out


def invert_transform(phi: torch.Tensor, n_iter: int = 30) -> torch.Tensor:
    """Numerical inverse of a transform close to the identity, by fixed-point iteration.

    With phi = id + u, the inverse id + v satisfies v(x) = -u(x + v(x)); iterating that map converges
    when the displacement u is small enough to be a contraction (its Jacobian norm below 1). Returns ``[B, H,
    W, 2]``.
    """
    check_transform(phi)
    n_iter = check_int("n_iter", n_iter, minimum=1)
    grid = identity_grid(phi.shape[1], phi.shape[2], device=phi.device, dtype=phi.dtype)
    u = (phi - grid).permute(0, 3, 1, 2)
    v = torch.zeros_like(phi)
    for _ in range(n_iter):
        v = -warp(u, grid + v, padding_mode="border").permute(0, 2, 3, 1)
    return grid + v
