"""Registration: finding the transform Phi[A, B] with A o Phi[A, B] ~ B (A moving, B fixed).

The coordinate-field primitives live in ``equinotes.transforms`` and are re-exported here under the
names chapter 4 uses. This module adds what chapter 4 builds on them: pairs of rotated 9s, the
unsupervised losses, the MLP step, its C4 symmetrization, the iterated (TwoStep) model and the
search over the C4 orbit. The measurements live in ``equinotes.registration_metrics``.

Shapes: images ``[B, 1, H, W]`` (square), transforms ``[B, H, W, 2]`` in grid_sample layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from . import mesa
from .equivariance import symmetrize
from .groups import C4, conjugate_transform, quarter_turns, rot90, rotation_transform
from .transforms import (
    check_transform,
    compose,
    displacement_to_transform,
    identity_grid,  # noqa: F401
    invert_transform,
    transform_to_displacement,
    warp,
)
from .utils import check_images, check_int

__all__ = [
    "identity_grid",
    "warp",
    "compose",
    "displacement_to_transform",
    "invert_transform",
    "two_step",
    "RotatedPairs",
    "rotated_pairs",
    "pull_back",
    "mse",
    "lncc",
    "diffusion",
    "gradicon",
    "gaussian_kernel_1d",
    "smooth_field",
    "StepNet",
    "symmetrize_c4",
    "iterate",
    "c4_search",
    "check_pair",
    "pair_sampler",
    "registration_loss",
    "draw_grid",
]


def two_step(phi: Callable, psi: Callable) -> Callable:
    """TwoStep{Phi, Psi}[A, B] = Phi[A, B] o Psi[A o Phi[A, B], B] for coordinate-field transforms.

    Args:
        phi, psi: registration functions ``(A [B, C, H, W], B [B, C, H, W]) -> transform [B, H, W, 2]``.
    Returns:
        the registration function of the two steps in sequence (``equinotes.mesa.two_step`` with
        ``warp`` and ``compose``).
    """
    return mesa.two_step(phi, psi, apply=warp, compose=compose)


def check_pair(moving, fixed) -> None:
    """Validate a registration pair: two image batches ``[B, C, H, W]`` of identical shape, square."""
    check_images(moving, "moving", square=True)
    check_images(fixed, "fixed", square=True)
    if moving.shape != fixed.shape:
        raise ValueError(
            f"moving and fixed must have the same shape, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
        )


def pull_back(images: torch.Tensor, angle) -> torch.Tensor:
    """``I o R_angle`` (the pair action A -> A o U): exact pixel permutation for quarter turns.

    Args:
        images: ``[B, C, H, W]`` square. angle: radians, a number or a ``[B]`` tensor.
    Returns:
        ``[B, C, H, W]``.
    """
    check_images(images, square=True)
    k = quarter_turns(angle)
    if k is not None:
        return rot90(images, -k)
    n = images.shape[-1]
    return warp(
        images,
        rotation_transform(angle, n, n, dtype=images.dtype, device=images.device),
    )


# ----------------------------------------------------------------------------------------------- data
@dataclass
class RotatedPairs:
    """A batch of registration pairs of rotated digits.

    ``moving = S_m o R(theta_moving)``, ``fixed = S_f o R(theta_fixed)``; where ``same`` is true the two
    sources are one digit and the true transform is the rotation by ``delta = theta_fixed - theta_moving``.
    """

    moving: torch.Tensor  # [B, 1, H, W]
    fixed: torch.Tensor  # [B, 1, H, W]
    theta_moving: torch.Tensor  # [B] radians
    theta_fixed: torch.Tensor  # [B]
    same: torch.Tensor  # [B] bool

    @property
    def delta(self) -> torch.Tensor:
        """The relative angle ``theta_fixed - theta_moving`` wrapped to (-pi, pi], ``[B]``."""
        return (
            torch.remainder(self.theta_fixed - self.theta_moving + math.pi, 2 * math.pi)
            - math.pi
        )


def rotated_pairs(
    digits: torch.Tensor,
    n: int,
    generator: torch.Generator,
    max_delta: float = math.pi,
    same_fraction: float = 0.5,
    shared: bool = False,
) -> RotatedPairs:
    """Draw ``n`` pairs of rotated digits.

    Args:
        digits: source images ``[N, 1, H, W]`` (square, padded so rotation does not clip the digit).
        n: number of pairs. generator: a seeded CPU ``torch.Generator`` (all randomness comes from it).
        max_delta: the fixed image's angle is uniform in [0, 2pi); the moving one differs from it by a
            relative angle uniform in [-max_delta, max_delta] (``pi``: independent angles).
        same_fraction: share of pairs whose two images are the same digit (a known true transform).
        shared: rotate both images by the same angle (relative angle 0), whatever ``max_delta`` says.
    Returns:
        a ``RotatedPairs`` on the device of ``digits``.
    """
    check_images(digits, "digits", square=True)
    n = check_int("n", n, minimum=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a seeded torch.Generator, got {type(generator).__name__}"
        )
    if not 0.0 <= same_fraction <= 1.0:
        raise ValueError(f"same_fraction must be in [0, 1], got {same_fraction}")
    if not 0.0 <= max_delta <= math.pi:
        raise ValueError(f"max_delta must be in [0, pi], got {max_delta}")
    count = digits.shape[0]
    i_fixed = torch.randint(count, (n,), generator=generator)
    i_moving = torch.randint(count, (n,), generator=generator)
    same = torch.rand(n, generator=generator) < same_fraction
    i_moving = torch.where(same, i_fixed, i_moving)
    theta_fixed = 2 * math.pi * torch.rand(n, generator=generator)
    rel = (2 * torch.rand(n, generator=generator) - 1) * max_delta
    theta_moving = theta_fixed if shared else theta_fixed - rel
    dev, size = digits.device, digits.shape[-1]
    theta_fixed, theta_moving = theta_fixed.to(dev), theta_moving.to(dev)
    moving = warp(
        digits[i_moving.to(dev)],
        rotation_transform(theta_moving, size, size, device=dev),
    )
    fixed = warp(
        digits[i_fixed.to(dev)], rotation_transform(theta_fixed, size, size, device=dev)
    )
    return RotatedPairs(moving, fixed, theta_moving, theta_fixed, same.to(dev))


# --------------------------------------------------------------------------------------------- losses
def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def mse(
    warped: torch.Tensor, fixed: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Mean squared intensity difference; ``reduction="none"`` gives one value per pair ``[B]``."""
    check_pair(warped, fixed)
    return _reduce((warped - fixed).pow(2).flatten(1).mean(1), reduction)


def lncc(
    warped: torch.Tensor,
    fixed: torch.Tensor,
    window: int = 7,
    eps: float = 1e-3,
    reduction: str = "mean",
) -> torch.Tensor:
    """Local normalized cross-correlation *loss* ``1 - mean_x ncc_window(x)`` (0 = perfect match).

    Local means, variances and covariance are box averages over ``window x window`` patches.
    """
    check_pair(warped, fixed)
    window = check_int("window", window, minimum=1)
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")

    def box(t):
        return F.avg_pool2d(
            t, window, stride=1, padding=window // 2, count_include_pad=True
        )

    mu_a, mu_b = box(warped), box(fixed)
    var_a = box(warped * warped) - mu_a**2
    var_b = box(fixed * fixed) - mu_b**2
    cov = box(warped * fixed) - mu_a * mu_b
    ncc = cov / torch.sqrt(var_a.clamp_min(0) * var_b.clamp_min(0) + eps)
    return _reduce(1 - ncc.flatten(1).mean(1), reduction)


def _pixels(phi: torch.Tensor) -> torch.Tensor:
    """A transform's coordinates in pixel units ``[B, 2, H, W]`` (domain half-width = (size-1)/2 px)."""
    return phi.permute(0, 3, 1, 2) * ((phi.shape[2] - 1) / 2)


def diffusion(phi: torch.Tensor) -> torch.Tensor:
    """Diffusion regularizer: mean squared finite difference of the displacement, in pixels per pixel.

    It is zero for translations and *not* for rotations (their displacement has gradient R - I).
    """
    check_transform(phi)
    u = _pixels(transform_to_displacement(phi))
    return (u[:, :, 1:, :] - u[:, :, :-1, :]).pow(2).mean() + (
        u[:, :, :, 1:] - u[:, :, :, :-1]
    ).pow(2).mean()


def gradicon(
    phi_ab: torch.Tensor, phi_ba: torch.Tensor, region: str = "square"
) -> torch.Tensor:
    """Gradient inverse consistency: mean ``|| D(Phi[A,B] o Phi[B,A]) - I ||_F^2`` by finite differences.

    ``phi_ab``, ``phi_ba``: transforms ``[B, H, W, 2]``; returns a scalar. On the plane it is zero for
    any pair of exactly inverse smooth maps, rotations included (unlike ``diffusion``). On the bounded
    square it is not: a rotation by an angle other than a quarter turn carries the corners outside the
    domain, where ``compose`` reads the clamped border, so the square's corners are charged.
    ``region="disc"`` averages only over the pixels of the inscribed disc (shrunk by two pixels, so
    that the finite differences stay inside), where a rotation about the centre and its inverse
    compose exactly; ``"square"`` (the default, the chapter's training loss) averages over every pixel.
    """
    check_transform(phi_ab, "phi_ab")
    check_transform(phi_ba, "phi_ba")
    if region not in ("square", "disc"):
        raise ValueError(f"region must be 'square' or 'disc', got {region!r}")
    c = _pixels(compose(phi_ab, phi_ba))
    dy = c[:, :, 1:, :-1] - c[:, :, :-1, :-1]  # derivative along rows: ideally (0, 1)
    dx = c[:, :, :-1, 1:] - c[:, :, :-1, :-1]  # along columns: ideally (1, 0)
    dx = dx - torch.tensor([1.0, 0.0], dtype=c.dtype, device=c.device).view(1, 2, 1, 1)
    dy = dy - torch.tensor([0.0, 1.0], dtype=c.dtype, device=c.device).view(1, 2, 1, 1)
    per_pixel = dx.pow(2).sum(1) + dy.pow(2).sum(1)  # [B, H-1, W-1]
    if region == "square":
        return per_pixel.mean()
    size = phi_ab.shape[1]
    radius = 1 - 2 * 2 / (size - 1)  # two pixels inside the inscribed circle
    x = identity_grid(size, size, 1, device=c.device, dtype=c.dtype)[0, :-1, :-1]
    inside = (x.norm(dim=-1) <= radius).to(c.dtype)  # [H-1, W-1]
    if inside.sum() == 0:
        raise ValueError(f"the images ({size} px) are too small for region='disc'")
    return (per_pixel * inside).sum() / (inside.sum() * per_pixel.shape[0])


# ------------------------------------------------------------------------------------------- networks
def gaussian_kernel_1d(sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """A normalized 1-D Gaussian of ``sigma`` pixels, truncated at ``ceil(2.5 sigma)`` (at least 1):
    ``[2 * radius + 1]``, symmetric, so a separable blur with it commutes with quarter turns.
    """
    if not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")
    radius = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def smooth_field(u: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of a displacement ``[B, 2, H, W]`` (edge-replicated), which commutes with quarter
    turns.
    """
    if not isinstance(u, torch.Tensor) or u.dim() != 4 or u.shape[1] != 2:
        raise ValueError(
            f"u must be a displacement of shape [B, 2, H, W], got {getattr(u, 'shape', type(u))}"
        )
    if sigma <= 0:
        return u
    g = gaussian_kernel_1d(sigma, dtype=u.dtype, device=u.device)
    radius = len(g) // 2
    u = F.pad(u, (radius, radius, radius, radius), mode="replicate")
    u = F.conv2d(u, g.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2)
    return F.conv2d(u, g.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2)


class StepNet(torch.nn.Module):
    """The MLP step: reads both images, outputs a smooth displacement at every pixel.

    The images are average-pooled by ``pool`` before the MLP reads them; the MLP outputs the
    displacement on a coarse ``grid x grid`` lattice, which is upsampled bilinearly to the image and
    smoothed with a Gaussian of ``sigma`` pixels. Every one of these operations commutes with quarter
    turns. ``StepNet(size)(A, B)`` maps ``[B, 1, size, size]`` x 2 to a transform ``[B, size, size, 2]``.
    The last layer starts at zero, so an untrained step is the identity.
    """

    def __init__(
        self,
        size: int,
        hidden: int = 256,
        pool: int = 2,
        grid: int = 8,
        sigma: float = 1.0,
    ):
        super().__init__()
        self.size = check_int("size", size, minimum=4)
        self.pool = check_int("pool", pool, minimum=1)
        self.grid = check_int("grid", grid, minimum=2)
        hidden = check_int("hidden", hidden, minimum=1)
        if self.size % self.pool:
            raise ValueError(f"size {self.size} must be a multiple of pool {self.pool}")
        self.sigma = float(sigma)
        n_in = 2 * (self.size // self.pool) ** 2
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, 2 * self.grid**2),
        )
        torch.nn.init.zeros_(self.mlp[-1].weight)
        torch.nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        check_pair(moving, fixed)
        if moving.shape[1] != 1 or moving.shape[-1] != self.size:
            raise ValueError(
                f"StepNet expects [B, 1, {self.size}, {self.size}] images, got {tuple(moving.shape)}"
            )
        x = (
            F.avg_pool2d(torch.cat([moving, fixed], 1), self.pool)
            if self.pool > 1
            else torch.cat([moving, fixed], 1)
        )
        u = self.mlp(x.flatten(1)).view(-1, 2, self.grid, self.grid)
        u = F.interpolate(
            u, size=(self.size, self.size), mode="bilinear", align_corners=True
        )
        return displacement_to_transform(smooth_field(u, self.sigma))


def _pair_act(k, pair):
    """(A, B) -> (A o R_k, B o R_k) for a quarter turn k: exact."""
    return rot90(pair[0], -k), rot90(pair[1], -k)


def _field_act(k, phi):
    """phi -> R_k^{-1} o phi o R_k: the [U, U] action on transforms (exact for quarter turns)."""
    return conjugate_transform(phi, k * math.pi / 2, k * math.pi / 2)


def symmetrize_c4(step: Callable) -> Callable:
    """f_sym(A, B) = 1/4 sum_k R_k o f(A o R_k, B o R_k) o R_k^{-1}: exactly [U, U]-equivariant for C4.

    Built with ``equivariance.symmetrize`` (the Reynolds average). Shapes as for ``step``.
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> transform")
    sym = symmetrize(lambda pair: step(*pair), C4, _pair_act, _field_act)

    def f_sym(moving, fixed):
        check_pair(moving, fixed)
        return sym((moving, fixed))

    return f_sym


def iterate(step: Callable, k: int) -> Callable:
    """Psi_1 = step, Psi_{j+1} = TwoStep{Psi_j, step}: the step applied ``k`` times, each on the warped image.

    ``equinotes.mesa.iterate_two_step`` with ``warp`` and ``compose``.
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> transform")
    k = check_int("k", k, minimum=1)
    return mesa.iterate_two_step(step, k, apply=warp, compose=compose)


def c4_search(
    registration: Callable,
    moving: torch.Tensor,
    fixed: torch.Tensor,
    loss: Callable = mse,
    return_all: bool = False,
):
    """The explicit mesa-optimizer: try the 4 quarter-turn starts, refine each, keep the most similar.

    Candidate k is ``R_k o registration(A o R_k, B)``; the one with the lowest ``loss(A o candidate, B)``
    (``reduction="none"``) wins, pair by pair. Exactly [W, U]-equivariant for quarter turns W, U
    whenever ``registration`` is [U, U]-equivariant for C4.

    Returns:
        the chosen transforms ``[B, H, W, 2]`` (and, with ``return_all``, the candidates ``[4, B, H, W, 2]``
        and their losses ``[4, B]``).
    """
    if not callable(registration) or not callable(loss):
        raise TypeError(
            "registration and loss must be callable: (A, B) -> transform, (A, B, reduction) -> loss"
        )
    check_pair(moving, fixed)
    candidates, losses = [], []
    for k in range(4):
        phi = conjugate_transform(
            registration(rot90(moving, -k), fixed), -k * math.pi / 2, 0.0
        )
        candidates.append(phi)
        losses.append(loss(warp(moving, phi), fixed, reduction="none"))
    candidates, losses = torch.stack(candidates), torch.stack(losses)
    best = losses.argmin(0)
    chosen = candidates[best, torch.arange(moving.shape[0], device=moving.device)]
    return (chosen, candidates, losses) if return_all else chosen


# ------------------------------------------------------------------------------------------ training
def pair_sampler(
    digits: torch.Tensor, batch: int, device=None, **pair_options
) -> Callable:
    """``sample_batch(step, generator)`` for ``training.train``: fresh ``rotated_pairs`` every step.

    ``pair_options`` go to ``rotated_pairs`` (``max_delta``, ``same_fraction``, ``shared``).
    """
    batch = check_int("batch", batch, minimum=1)
    source = digits.to(device) if device is not None else digits

    def sample_batch(step, generator):
        return rotated_pairs(source, batch, generator, **pair_options)

    return sample_batch


def registration_loss(
    k: int = 1, similarity: Callable = lncc, lam: float = 1.0
) -> Callable:
    """The unsupervised loss ``sim(A o Psi_k[A,B], B) + lam * GradICON(Psi_k[A,B], Psi_k[B,A])``.

    ``Psi_k = iterate(model, k)`` is unrolled and trained end to end. Returns ``loss_fn(model, pairs)``
    for ``training.train`` (``pairs`` a ``RotatedPairs``).
    """
    k = check_int("k", k, minimum=1)
    if not callable(similarity):
        raise TypeError("similarity must be callable: (warped, fixed) -> loss")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")

    def loss_fn(model, pairs):
        psi = iterate(model, k)
        phi_ab = psi(pairs.moving, pairs.fixed)
        loss = similarity(warp(pairs.moving, phi_ab), pairs.fixed)
        if lam:
            loss = loss + lam * gradicon(phi_ab, psi(pairs.fixed, pairs.moving))
        return loss

    return loss_fn


def draw_grid(
    ax,
    phi: torch.Tensor,
    every: int = 3,
    color: str = "tab:orange",
    linewidth: float = 0.7,
    marker: bool = True,
) -> None:
    """Draw one transform ``[H, W, 2]`` (or ``[1, H, W, 2]``) as a deformed grid on a matplotlib axis in pixel
    units.

    Line i of the drawing passes through the points ``phi(x)`` of grid row i: where each fixed-image pixel
    is read from in the moving image. A square grid looks the same after a quarter turn (a 150° rotation
    would read as -30°), so ``marker`` also draws an arrow from ``phi(centre)`` to ``phi`` of the point
    halfway up the centre column: it shows where "up" of the fixed image is read from.
    """
    if not isinstance(phi, torch.Tensor):
        raise TypeError(
            f"phi must be a torch.Tensor of shape [H, W, 2] or [1, H, W, 2], got {type(phi).__name__}"
        )
    every = check_int("every", every, minimum=1)
    phi = phi.detach().cpu()
    if phi.dim() == 4:
        phi = phi[0]
    check_transform(phi.unsqueeze(0))
    size = phi.shape[0]
    px = (phi + 1) * (size - 1) / 2
    for i in range(0, size, every):
        ax.plot(px[i, :, 0], px[i, :, 1], color=color, linewidth=linewidth)
        ax.plot(px[:, i, 0], px[:, i, 1], color=color, linewidth=linewidth)
    if marker:
        centre, up = px[size // 2, size // 2], px[size // 4, size // 2]
        ax.annotate(
            "",
            xy=(up[0].item(), up[1].item()),
            xytext=(centre[0].item(), centre[1].item()),
            arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.5},
        )
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_aspect("equal")
