"""2-D point clouds registered by rigid motions: the non-abelian case of chapter 3.

A point cloud is ``[B, n, 2]``; a transform is a rigid motion of the plane (a rotation and a
translation, the group SE(2), which is not commutative), stored as a homogeneous matrix ``[B, 3, 3]``
acting on column vectors ``(x, y, 1)``.

Conventions (the book's pull-back convention, DESIGN section 2): read a cloud as an image made of
blobs at its points. Then ``A o T`` has its blobs at ``T^{-1} p``, so ``pull_back(P, T)`` returns the
points ``T^{-1} p``. A registration ``Phi[A, B]`` is a motion with ``A o Phi[A, B] ~ B``, i.e.
``Phi^{-1}`` carries the moving points onto the fixed ones. Composition is the matrix product. The
[W,U] law reads ``Phi[A o W, B o U] = W^{-1} Phi[A, B] U``.

The step ``icp_step`` is one iteration of iterative closest points (Besl & McKay 1992): pair each
fixed point with its nearest moving point, then fit the best rigid motion in closed form (Kabsch). It
sees the clouds only through distances and a least-squares fit, so it is [U,U]-equivariant for every
rigid U by construction; one step is nowhere near [W,U]-equivariant, because nearest neighbours are
the wrong partners when the clouds are far apart.
"""

from __future__ import annotations

import math

import torch

from .utils import check_int, check_tensor

__all__ = [
    "check_clouds",
    "check_motions",
    "rigid_motion",
    "motion_angle",
    "pull_back",
    "random_clouds",
    "icp_step",
    "iterate_registration",
    "restart_registration",
    "motion_distance",
]


def check_clouds(points, name: str = "points") -> torch.Tensor:
    """Validate a batch of 2-D point clouds ``[B, n, 2]`` (floating, n >= 3) and return it."""
    check_tensor(points, name, "[B, n, 2]")
    if points.shape[-1] != 2:  # check_tensor has checked the rank
        raise ValueError(f"{name} must have shape [B, n, 2], got {tuple(points.shape)}")
    if points.shape[1] < 3:
        raise ValueError(f"{name} needs at least 3 points, got {points.shape[1]}")
    return points


def check_motions(T, name: str = "T") -> torch.Tensor:
    """Validate homogeneous 2-D motions ``[B, 3, 3]`` (floating) and return them."""
    if not isinstance(T, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [B, 3, 3], got {type(T).__name__}"
        )
    if T.dim() != 3 or T.shape[1:] != (3, 3):
        raise ValueError(f"{name} must have shape [B, 3, 3], got {tuple(T.shape)}")
    if not T.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {T.dtype}")
    return T


def rigid_motion(angle: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The motion ``x -> R(angle) x + shift`` as ``[B, 3, 3]``.

    Args:
        angle: ``[B]`` radians. shift: ``[B, 2]``.
    """
    if not isinstance(angle, torch.Tensor) or not isinstance(shift, torch.Tensor):
        raise TypeError("angle [B] and shift [B, 2] must be tensors")
    if angle.dim() != 1 or shift.shape != (angle.shape[0], 2):
        raise ValueError(
            f"angle must be [B] and shift [B, 2], got {tuple(angle.shape)} and "
            f"{tuple(shift.shape)}"
        )
    c, s = torch.cos(angle), torch.sin(angle)
    T = torch.zeros(angle.shape[0], 3, 3, dtype=angle.dtype, device=angle.device)
    T[:, 0, 0], T[:, 0, 1], T[:, 1, 0], T[:, 1, 1] = c, -s, s, c
    T[:, :2, 2] = shift.to(angle.dtype)
    T[:, 2, 2] = 1
    return T


def motion_angle(T: torch.Tensor) -> torch.Tensor:
    """The rotation angle of each motion, in ``(-pi, pi]``: ``[B]``."""
    check_motions(T)
    return torch.atan2(T[:, 1, 0], T[:, 0, 0])


def _apply(T: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    return points @ T[:, :2, :2].transpose(1, 2) + T[:, None, :2, 2]


def _inverse(T: torch.Tensor) -> torch.Tensor:
    R = T[:, :2, :2].transpose(1, 2)
    inv = torch.zeros_like(T)
    inv[:, :2, :2] = R
    inv[:, :2, 2] = -(R @ T[:, :2, 2:])[..., 0]
    inv[:, 2, 2] = 1
    return inv


def pull_back(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """The cloud of ``A o T``: the points ``T^{-1} p`` (``[B, n, 2]``), for rigid T ``[B, 3, 3]``."""
    check_clouds(points)
    check_motions(T)
    if T.shape[0] != points.shape[0]:
        raise ValueError(f"got {T.shape[0]} motions for {points.shape[0]} clouds")
    return _apply(_inverse(T), points)


def random_clouds(
    batch: int,
    n_points: int = 24,
    generator: torch.Generator | None = None,
    dtype=torch.float64,
) -> torch.Tensor:
    """Random asymmetric shapes: ``n_points`` points on a wobbly closed curve, centred, ``[B, n, 2]``.

    The radius is ``1 + sum_k c_k cos(k s + p_k)`` for k = 1..3 with random ``c_k`` in [0.15, 0.35], and
    the points sit at random curve parameters s, so no shape has a rotational symmetry.
    """
    batch = check_int("batch", batch, minimum=1)
    n_points = check_int("n_points", n_points, minimum=3)
    c = 0.15 + 0.2 * torch.rand(batch, 3, 1, generator=generator, dtype=torch.float64)
    p = 2 * math.pi * torch.rand(batch, 3, 1, generator=generator, dtype=torch.float64)
    s = (
        2
        * math.pi
        * torch.rand(batch, 1, n_points, generator=generator, dtype=torch.float64)
    )
    k = torch.arange(1, 4, dtype=torch.float64)[None, :, None]
    radius = 1 + (c * torch.cos(k * s + p)).sum(1)  # [B, n]
    s = s[:, 0]
    points = torch.stack([radius * torch.cos(s), radius * torch.sin(s)], dim=-1)
    return (points - points.mean(1, keepdim=True)).to(dtype)


def icp_step(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """One ICP step as a registration: the rigid T with ``T^{-1}`` (moving) ~ fixed, ``[B, 3, 3]``.

    Each fixed point b_i is paired with its nearest moving point a_(i); T is the least-squares rigid
    motion with ``T b_i ~ a_(i)`` (Kabsch, with a proper rotation). It returns the identity exactly
    when the fit has nothing left to move (a fixed point of the iteration).

    Args:
        moving, fixed: ``[B, n, 2]`` and ``[B, m, 2]`` (the same B).
    """
    check_clouds(moving, "moving")
    check_clouds(fixed, "fixed")
    if moving.shape[0] != fixed.shape[0]:
        raise ValueError(
            f"got {moving.shape[0]} moving and {fixed.shape[0]} fixed clouds"
        )
    nearest = torch.cdist(fixed, moving).argmin(dim=2)  # [B, m]
    partner = torch.gather(moving, 1, nearest[..., None].expand(-1, -1, 2))
    mean_b, mean_a = fixed.mean(1, keepdim=True), partner.mean(1, keepdim=True)
    cov = (partner - mean_a).transpose(1, 2) @ (fixed - mean_b)  # sum a b^T, [B, 2, 2]
    # the best rotation in 2-D: the angle of (sum a x b, sum a . b)
    angle = torch.atan2(cov[:, 1, 0] - cov[:, 0, 1], cov[:, 0, 0] + cov[:, 1, 1])
    T = rigid_motion(angle, torch.zeros_like(mean_a[:, 0]))
    T[:, :2, 2] = mean_a[:, 0] - (T[:, :2, :2] @ mean_b[:, 0, :, None])[..., 0]
    return T


def iterate_registration(phi, moving, fixed, n_steps: int, start=None) -> torch.Tensor:
    """``Psi_1 ... Psi_K`` of ``Psi_{k+1} = Psi_k Phi[A o Psi_k, B]``, as ``[K, B, 3, 3]``.

    With ``start = S`` (``[B, 3, 3]``) the iteration begins at S instead of the identity: the state
    after k steps is ``S Phi[A o S, B] ...`` (``Psi_1 = S Phi[A o S, B]``).
    """
    if not callable(phi):
        raise TypeError("phi must be callable as phi(moving, fixed)")
    check_clouds(moving, "moving")
    check_clouds(fixed, "fixed")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    if start is None:
        psi = phi(moving, fixed)
    else:
        check_motions(start, "start")
        psi = start @ phi(pull_back(moving, start), fixed)
    out = [psi]
    for _ in range(n_steps - 1):
        psi = psi @ phi(pull_back(moving, psi), fixed)
        out.append(psi)
    return torch.stack(out)


def restart_registration(phi, moving, fixed, W, U, n_steps: int) -> torch.Tensor:
    """``W^{-1} o (K steps on (A, B) started at W o U^{-1}) o U`` for K = 1..n_steps: ``[K, B, 3, 3]``.

    For a [U,U]-equivariant ``phi`` this equals ``Psi_K[A o W, B o U]`` for every W, U: the identity
    behind the fixed-point argument.
    """
    check_motions(W, "W")
    check_motions(U, "U")
    traj = iterate_registration(phi, moving, fixed, n_steps, start=W @ _inverse(U))
    return _inverse(W)[None] @ traj @ U[None]


def motion_distance(S: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """``|S - T|`` (Frobenius norm of the homogeneous matrices) per motion, any leading shape
    ``[..., 3, 3]`` -> ``[...]``."""
    if not isinstance(S, torch.Tensor) or not isinstance(T, torch.Tensor):
        raise TypeError("S and T must be tensors [..., 3, 3]")
    if S.shape != T.shape or S.shape[-2:] != (3, 3):
        raise ValueError(
            f"S and T must have the same shape [..., 3, 3], got {S.shape}, {T.shape}"
        )
    return (S - T).flatten(-2).norm(dim=-1)
