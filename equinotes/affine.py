"""Affine registration that is inverse consistent by construction (swap equivariance, arXiv 2305.00087).

Swapping the two inputs of a registration network is an action of the group of order 2; on the
output it should act by inversion. The square::

    (A, B) --swap--> (B, A)
      |                |
      Phi              Phi
      v                v
   Phi[A,B] --inv--> Phi[B,A]

commutes when ``Phi[B, A] = Phi[A, B]^{-1}``. Writing ``Phi[A, B] = exp(N(A, B) - N(B, A))`` with any
network ``N`` that outputs a 3x3 matrix of the affine Lie algebra (last row zero) makes it commute
exactly: swapping negates the exponent, and ``exp(-X) = exp(X)^{-1}``.

Matrices are homogeneous ``[B, 3, 3]`` acting on column vectors ``(x, y, 1)`` in the [-1, 1] frame of
``equinotes.transforms``; ``A o Phi[A, B] ~ B`` (pull-back, as everywhere in the book).
"""

from __future__ import annotations

import torch

from .transforms import matrix_transform, warp
from .utils import check_images, check_int

__all__ = [
    "AffineNet",
    "SwapConsistentRegistration",
    "PlainRegistration",
    "affine_grid",
    "warp_affine",
    "inverse_consistency_error",
    "random_affine",
]


class AffineNet(torch.nn.Module):
    """``N(A, B)``: a small CNN on the stacked pair ``[B, 2, H, W]`` -> an affine Lie-algebra element ``[B, 3,
    3]``
    (last row zero). The last layer starts at zero, so an untrained net outputs 0 unless ``init_scale`` > 0.
    """

    def __init__(self, channels: int = 8, init_scale: float = 0.0):
        super().__init__()
        c = check_int("channels", channels, minimum=1)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(2, c, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(2),
            torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(8 * c, 6)
        with torch.no_grad():
            self.head.weight.mul_(float(init_scale))
            self.head.bias.zero_()

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """A, B ``[B, 1, H, W]`` -> ``[B, 3, 3]`` with zero last row."""
        check_images(A, "A", channels=1)
        check_images(B, "B", channels=1)
        if A.shape != B.shape:
            raise ValueError(
                f"A and B must have one shape, got {tuple(A.shape)} and {tuple(B.shape)}"
            )
        p = self.head(self.features(torch.cat([A, B], dim=1)))  # [B, 6]
        return torch.cat(
            [p.reshape(-1, 2, 3), torch.zeros_like(p[:, :3]).unsqueeze(1)], dim=1
        )


class SwapConsistentRegistration(torch.nn.Module):
    """``Phi[A, B] = exp(N(A, B) - N(B, A))``: inverse consistent for any ``N`` (returns ``[B, 3, 3]``)."""

    def __init__(self, net: torch.nn.Module | None = None):
        super().__init__()
        self.net = AffineNet() if net is None else net

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_exp(self.net(A, B) - self.net(B, A))


class PlainRegistration(torch.nn.Module):
    """``Phi[A, B] = exp(N(A, B))``: the same family of maps, no swap structure (returns ``[B, 3, 3]``)."""

    def __init__(self, net: torch.nn.Module | None = None):
        super().__init__()
        self.net = AffineNet() if net is None else net

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_exp(self.net(A, B))


def _check_affine(M: torch.Tensor, name: str = "M") -> torch.Tensor:
    if not isinstance(M, torch.Tensor) or not M.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor [B, 3, 3]")
    if M.dim() != 3 or M.shape[-2:] != (3, 3):
        raise ValueError(
            f"{name} must have shape [B, 3, 3] (homogeneous affine matrices), got {tuple(M.shape)}"
        )
    return M


def affine_grid(M: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The transform x -> M x (homogeneous ``[B, 3, 3]``) sampled on a grid: ``[B, height, width, 2]``."""
    _check_affine(M)
    return matrix_transform(
        M[:, :2, :2],
        check_int("height", height, minimum=2),
        check_int("width", width, minimum=2),
        translation=M[:, :2, 2],
    )


def warp_affine(images: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``images o M``: images ``[B, C, H, W]`` pulled back through affine maps ``[B, 3, 3]``."""
    check_images(images)
    _check_affine(M)
    if M.shape[0] != images.shape[0]:
        raise ValueError(f"got {M.shape[0]} matrices for {images.shape[0]} images")
    return warp(
        images, affine_grid(M.to(images.dtype), images.shape[-2], images.shape[-1])
    )


def inverse_consistency_error(
    register, A: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    """Per pair, ``max |Phi[B, A] Phi[A, B] - I|`` (0 for an inverse-consistent registration). Returns
    ``[B]``.
    """
    if not callable(register):
        raise TypeError("register must be callable (A, B) -> [B, 3, 3]")
    with torch.no_grad():
        ab, ba = (
            _check_affine(register(A, B), "Phi[A, B]"),
            _check_affine(register(B, A), "Phi[B, A]"),
        )
    eye = torch.eye(3, dtype=ab.dtype, device=ab.device)
    return (ba @ ab - eye).abs().amax(dim=(-2, -1))


def random_affine(
    n: int,
    scale: float = 0.15,
    generator: torch.Generator | None = None,
    dtype=torch.float32,
) -> torch.Tensor:
    """``n`` random affine maps near the identity, ``exp(X)`` with X's entries ``~ scale * N(0, 1)``: ``[n, 3,
    3]``.
    """
    n = check_int("n", n, minimum=1)
    if not isinstance(scale, (int, float)) or scale < 0:
        raise ValueError(f"scale must be a non-negative number, got {scale!r}")
    X = torch.zeros(n, 3, 3, dtype=dtype)
    X[:, :2, :] = scale * torch.randn(n, 2, 3, generator=generator, dtype=dtype)
    return torch.linalg.matrix_exp(X)
