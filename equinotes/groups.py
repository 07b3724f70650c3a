"""Groups and their actions: on vectors, on images ``[B, C, H, W]`` and on transforms ``[B, H, W, 2]``.

Angles are in radians and *positive means counter-clockwise as displayed* (row 0 at the top, as
``matplotlib.pyplot.imshow`` shows an image), so ``rotate(I, pi/2)`` equals ``rot90(I, 1)``, which is
``torch.rot90(I, 1, dims=(-2, -1))``.

Two ways a rotation acts, both used in the book:

* on an image, "turn the picture": ``rotate(I, theta) = I o R_theta^{-1}`` (a left action);
* on a registration pair, "compose on the right": ``A -> A o U`` with ``U = rotation_transform(theta)``,
  the map x -> R_theta x. Note ``A o R_theta = rotate(A, -theta)``.

Transforms are acted on by conjugation: ``conjugate_transform(phi, W, U) = W^{-1} o phi o U``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .transforms import check_transform, compose, matrix_transform, warp
from .utils import check_images, check_int

__all__ = [
    "FiniteGroup",
    "cyclic_group",
    "symmetric_group",
    "C4",
    "SWAP",
    "rotation_matrix",
    "rotation_transform",
    "rot90",
    "rotate",
    "shift",
    "flip",
    "permute",
    "rot90_transform",
    "conjugate_transform",
    "quarter_turns",
]


@dataclass(frozen=True)
class FiniteGroup:
    """A finite group given by its list of elements, its product and its inverse.

    ``compose(a, b)`` is the product "a after b"; an action ``act(g, x)`` must satisfy
    ``act(compose(a, b), x) == act(a, act(b, x))``.
    """

    name: str
    elements: tuple
    compose: Callable[[Any, Any], Any]
    inverse: Callable[[Any], Any]
    identity: Any

    def __len__(self) -> int:
        return len(self.elements)

    def __iter__(self):
        return iter(self.elements)


def cyclic_group(n: int) -> FiniteGroup:
    """The cyclic group Z_n = {0, ..., n-1} under addition mod n (for n = 4: quarter turns)."""
    n = check_int("n", n, minimum=1)
    return FiniteGroup(
        f"C{n}", tuple(range(n)), lambda a, b: (a + b) % n, lambda a: (-a) % n, 0
    )


def symmetric_group(n: int) -> FiniteGroup:
    """All permutations of n items as tuples p (p[i] is where item i goes); n! elements, so keep n small."""
    n = check_int("n", n, minimum=1)
    if n > 7:
        raise ValueError(
            f"symmetric_group({n}) has {math.factorial(n)} elements; use n <= 7"
        )

    def compose_perm(a, b):  # (a o b)[i] = a[b[i]]
        return tuple(a[b[i]] for i in range(n))

    def inverse_perm(a):
        inv = [0] * n
        for i, ai in enumerate(a):
            inv[ai] = i
        return tuple(inv)

    return FiniteGroup(
        f"S{n}",
        tuple(itertools.permutations(range(n))),
        compose_perm,
        inverse_perm,
        tuple(range(n)),
    )


C4 = cyclic_group(4)
SWAP = cyclic_group(2)  # the swap of two inputs: 0 = keep, 1 = swap


def _as_angle_batch(
    angle, batch: int | None = None, dtype=torch.float32, device=None
) -> torch.Tensor:
    if isinstance(angle, torch.Tensor):
        if not angle.is_floating_point() and angle.dtype not in (
            torch.int32,
            torch.int64,
        ):
            raise TypeError(f"angle must be a real tensor, got {angle.dtype}")
        angle = angle.to(
            dtype=torch.float64 if dtype == torch.float64 else torch.float32,
            device=device,
        ).reshape(-1)
    elif isinstance(angle, (int, float)) and not isinstance(angle, bool):
        angle = torch.tensor([float(angle)], dtype=dtype, device=device)
    else:
        raise TypeError(
            f"angle must be a number or a 1-D tensor of radians, got {type(angle).__name__}"
        )
    if batch is not None and angle.numel() not in (1, batch):
        raise ValueError(f"got {angle.numel()} angles for a batch of {batch}")
    if batch is not None and angle.numel() == 1:
        angle = angle.expand(batch)
    return angle


def quarter_turns(angle) -> int | None:
    """If every angle is a whole number of quarter turns (within 1e-9 rad, 1e-6 for float32 tensors),
    that number mod 4; else None.
    """
    tol = (
        1e-6
        if isinstance(angle, torch.Tensor)
        and angle.dtype in (torch.float32, torch.float16)
        else 1e-9
    )
    a = _as_angle_batch(angle, dtype=torch.float64)
    k = torch.round(a / (math.pi / 2))
    if torch.all(torch.abs(a - k * math.pi / 2) < tol) and torch.all(k == k[0]):
        return int(k[0].item()) % 4
    return None


def rotation_matrix(angle, dtype=torch.float32, device=None) -> torch.Tensor:
    """Matrices ``[B, 2, 2]`` of the map that turns points counter-clockwise *as displayed* by ``angle``.

    Because y points down the screen, this is ``[[cos, sin], [-sin, cos]]`` in (x, y) coordinates.
    Whole quarter turns get exact integer entries (no 6e-17 residue).
    """
    # Work in float64 so that whole quarter turns are recognised (pi/2 in float32 is off by 4e-8).
    tol = (
        1e-6
        if isinstance(angle, torch.Tensor)
        and angle.dtype in (torch.float32, torch.float16)
        else 1e-9
    )
    a = _as_angle_batch(angle, dtype=torch.float64, device=device)
    k = torch.round(a / (math.pi / 2))
    exact = torch.abs(a - k * math.pi / 2) < tol
    quarter = (k % 4).long()
    c = torch.where(
        exact,
        torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=a.dtype, device=a.device)[quarter],
        torch.cos(a),
    )
    s = torch.where(
        exact,
        torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=a.dtype, device=a.device)[quarter],
        torch.sin(a),
    )
    return torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2).to(
        dtype
    )


def rotation_transform(
    angle, height: int, width: int, dtype=torch.float32, device=None
) -> torch.Tensor:
    """The transform x -> R_angle x on a grid, ``[B, height, width, 2]``; ``warp(A, it) = A o R``."""
    return matrix_transform(
        rotation_matrix(angle, dtype=dtype, device=device), height, width
    )


def rot90(images: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Exact rotation by ``k`` quarter turns counter-clockwise (a pixel permutation). ``[..., H,
    W]``, square.
    """
    k = check_int("k", k)
    if not isinstance(images, torch.Tensor) or images.dim() < 2:
        raise TypeError("images must be a tensor of shape [..., H, W]")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(
            f"rot90 needs square images, got H={images.shape[-2]}, W={images.shape[-1]}"
        )
    return torch.rot90(images, k % 4, dims=(-2, -1))


def rotate(images: torch.Tensor, angle, padding_mode: str = "zeros") -> torch.Tensor:
    """Turn images counter-clockwise by ``angle`` radians about the centre (bilinear, zero fill).

    Args:
        images: ``[B, C, H, W]``.
        angle: a number, or a tensor ``[B]`` with one angle per image.
    Returns:
        ``[B, C, H, W]``; equals ``rot90(images, k)`` to float precision at ``angle = k pi/2`` on a square
        image.
    """
    check_images(images)
    a = _as_angle_batch(angle, batch=images.shape[0], device=images.device)
    phi = rotation_transform(
        -a, images.shape[-2], images.shape[-1], dtype=images.dtype, device=images.device
    )
    return warp(images, phi, padding_mode=padding_mode)


def shift(x: torch.Tensor, shifts, dims=(-2, -1)) -> torch.Tensor:
    """Integer cyclic shift (``torch.roll``): content moves by ``shifts`` pixels along ``dims``
    (down/right > 0).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"need one shift per dim: got shifts={shifts}, dims={dims}")
    for s in shifts:
        check_int("shift", s)
    return torch.roll(x, shifts=shifts, dims=dims)


def flip(images: torch.Tensor, axis: str = "horizontal") -> torch.Tensor:
    """Mirror images ``[..., H, W]``: ``"horizontal"`` swaps left and right, ``"vertical"`` top and bottom."""
    if not isinstance(images, torch.Tensor) or images.dim() < 2:
        raise TypeError("images must be a tensor of shape [..., H, W]")
    if axis not in ("horizontal", "vertical"):
        raise ValueError(f"axis must be 'horizontal' or 'vertical', got {axis!r}")
    return torch.flip(images, dims=(-1,) if axis == "horizontal" else (-2,))


def permute(x: torch.Tensor, perm: Sequence[int], dim: int = -1) -> torch.Tensor:
    """Act by a permutation on one axis: item i moves to position ``perm[i]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    perm = list(perm)
    n = x.shape[dim]
    if sorted(perm) != list(range(n)):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}, got {perm}")
    inverse = [0] * n
    for i, p in enumerate(perm):
        inverse[p] = i
    return x.index_select(dim, torch.tensor(inverse, device=x.device))


def rot90_transform(phi: torch.Tensor, k: int) -> torch.Tensor:
    """``phi o R_k`` for a quarter turn R_k = rotation_transform(k pi/2), exactly (a permutation of
    samples).
    """
    check_transform(phi)
    k = check_int("k", k)
    if phi.shape[1] != phi.shape[2]:
        raise ValueError(
            f"quarter turns need a square grid, got {phi.shape[1]}x{phi.shape[2]}"
        )
    # A o R_k is rot90(A, -k) for images; a transform's samples are permuted the same way.
    return torch.rot90(phi, (-k) % 4, dims=(1, 2))


def conjugate_transform(phi: torch.Tensor, w_angle, u_angle) -> torch.Tensor:
    """The [W, U] action on a transform: ``W^{-1} o phi o U`` with W, U rotations by the given angles.

    Whole quarter turns are applied exactly (sample permutation + integer matrix); other angles
    interpolate ``phi`` (bilinear), which has an interpolation floor.

    Args:
        phi: ``[B, H, W, 2]``. w_angle, u_angle: numbers or ``[B]`` tensors (radians).
    Returns:
        ``[B, H, W, 2]``.
    """
    check_transform(phi)
    b, h, w = phi.shape[:3]
    k = quarter_turns(u_angle)
    if k is not None and h == w:
        phi_u = rot90_transform(phi, k)
    else:
        phi_u = compose(
            phi,
            rotation_transform(
                u_angle, h, w, dtype=phi.dtype, device=phi.device
            ).expand(b, h, w, 2),
        )
    w_inv = rotation_matrix(w_angle, dtype=phi.dtype, device=phi.device).transpose(
        -1, -2
    )  # R^{-1} = R^T
    if w_inv.shape[0] == 1:
        w_inv = w_inv.expand(b, 2, 2)
    elif w_inv.shape[0] != b:
        raise ValueError(f"got {w_inv.shape[0]} W angles for a batch of {b}")
    return torch.einsum("bij,bhwj->bhwi", w_inv, phi_u)
