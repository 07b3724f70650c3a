"""Invariance for any backbone: canonicalization (Kaba et al. 2023) and frame averaging (Puny et al. 2022).

* ``orientation_estimate`` reads an angle off each image from the phase of a circular-harmonic moment,
  ``z = sum_x I(x) w(r) e^{i m theta}``. Turning the image by t multiplies z by ``e^{i m t}``, so the
  estimate ``arg(z) / m`` moves by t (mod 2 pi / m): it is equivariant.
* ``Canonicalized(backbone)`` turns each image back by its estimate before the backbone sees it: one
  forward pass, invariant to every angle up to interpolation, but discontinuous where the estimate is
  (where ``|z|`` is near 0; ``orientation_ambiguity`` finds those inputs).
* ``quarter_turn_canonical(images, score)`` picks, among the four quarter turns of each image, the one a score
  ranks highest: chapter 4's search over the C4 orbit is a canonicalization of this kind, exactly equivariant
  because turning the input only re-labels the candidates.
* ``FrameAveraged(backbone, group_elements)`` averages the backbone over the orbit of C_N (or over a frame
  built on an estimate): continuous, exactly invariant under the group's exact actions, and ``|frame|`` times
  the cost of the backbone.

Angles are radians, counter-clockwise as displayed, as in ``groups.rotate``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn as nn

from .groups import quarter_turns, rot90, rotate, rotation_matrix
from .transforms import matrix_transform, warp
from .utils import check_images, check_int

__all__ = [
    "orientation_moment",
    "orientation_estimate",
    "orientation_ambiguity",
    "Canonicalized",
    "canonicalize",
    "FrameAveraged",
    "quarter_turn_canonical",
]


def _check_order(order) -> int:
    order = check_int("order", order, minimum=1)
    if order > 4:
        raise ValueError(
            f"order must be 1, 2, 3 or 4 (the symmetry the angle is read mod), got {order}"
        )
    return order


def _moment_weights(height: int, width: int, order: int, power: float, dtype, device):
    """``w(r) e^{i m theta}`` on the grid as (real, imaginary) ``[H, W]`` each, and ``w`` itself.

    Coordinates are those of ``transforms.identity_grid`` (pixel centres from -1 to 1), with y flipped so
    theta grows counter-clockwise as displayed. ``w(r) = r^power (1 - r^2)`` inside the unit disc and 0
    outside: the corners leave the picture when it turns, so they must not vote.
    """
    ys = torch.linspace(1.0, -1.0, height, dtype=torch.float64)
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    r, theta = torch.sqrt(x**2 + y**2), torch.atan2(y, x)
    w = r**power * torch.clamp(1 - r**2, min=0.0)
    out = [w * torch.cos(order * theta), w * torch.sin(order * theta), w]
    return [t.to(dtype=dtype, device=device) for t in out]


def orientation_moment(
    images: torch.Tensor, order: int = 1, power: float = 2.0
) -> tuple:
    """The circular-harmonic moment of order m of each image and its total weight.

    ``z = sum_x I(x) w(r) e^{i m theta(x)}`` summed over channels, with ``w(r) = r^power (1 - r^2)`` on the
    unit disc (r = 1 at the middle of each edge). ``power`` > 1 keeps the order-1 moment away from the centre
    of mass, which MNIST puts at the image centre (there z would be ~0 for every digit).

    Args:
        images: ``[B, C, H, W]`` square. order: m in 1..4. power: >= 0.
    Returns:
        ``(z, mass)``: ``z`` ``[B, 2]`` (real, imaginary) and ``mass = sum |I| w`` ``[B]``; ``|z| <= mass``.
    """
    check_images(images, square=True)
    order = _check_order(order)
    if isinstance(power, bool) or not isinstance(power, (int, float)) or power < 0:
        raise ValueError(f"power must be a number >= 0, got {power!r}")
    re, im, w = _moment_weights(
        *images.shape[-2:], order, float(power), images.dtype, images.device
    )
    total = images.sum(dim=1)  # [B, H, W]
    z = torch.stack(
        [(total * re).sum(dim=(-2, -1)), (total * im).sum(dim=(-2, -1))], dim=1
    )
    mass = (images.abs().sum(dim=1) * w).sum(dim=(-2, -1))
    return z, mass


def orientation_estimate(
    images: torch.Tensor, order: int = 1, power: float = 2.0
) -> torch.Tensor:
    """An angle per image, equivariant: ``estimate(rotate(x, t)) = estimate(x) + t`` (mod 2 pi / order).

    ``arg(z) / order`` with z from ``orientation_moment``. Exact (to float precision) under ``groups.rot90``,
    which permutes the pixels and maps the sampled weights onto themselves; other angles up to
    interpolation. Unstable where ``|z|`` is small compared with the mass
    (see ``orientation_ambiguity``).

    Args:
        images: ``[B, C, H, W]`` square. order: 1 (a direction) or 2 (an axis, read mod pi), up to 4.
    Returns:
        ``[B]`` angles in radians, in ``(-pi / order, pi / order]``.
    """
    z, _ = orientation_moment(images, order, power)
    return torch.atan2(z[:, 1], z[:, 0]) / order


def orientation_ambiguity(
    images: torch.Tensor, order: int = 1, power: float = 2.0
) -> torch.Tensor:
    """How unreliable the orientation estimate is: ``1 - |z| / mass`` per image, in [0, 1].

    0: all the weighted ink points one way (a stable estimate); 1: z = 0, the estimate is undefined (an image
    symmetric under the half turn has this for order 1). A perturbation that moves z by delta moves the
    angle by about ``|delta| / |z|``, so canonicalization jumps near ambiguity 1: this is where to look for
    its discontinuity.

    Returns:
        ``[B]`` in the images' dtype (0 for an all-zero image's 0 / 0 is reported as 1).
    """
    z, mass = orientation_moment(images, order, power)
    ratio = z.norm(dim=1) / mass.clamp_min(torch.finfo(mass.dtype).tiny)
    return torch.where(mass > 0, 1 - ratio, torch.ones_like(ratio))


def _turn(images: torch.Tensor, angle) -> torch.Tensor:
    """``rotate``, but exactly ``rot90`` for a number that is a whole number of quarter turns."""
    if not isinstance(angle, torch.Tensor):
        q = quarter_turns(angle)
        if q is not None:
            return rot90(images, q)
    return rotate(images, angle)


def _rotate_by(images: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """``groups.rotate(images, angles)`` with the angles kept in the images' dtype.

    (``groups.rotate`` rounds its angles to float32, which would limit a float64 check to ~1e-7.)
    """
    # rotate(I, a) = I o R_a^{-1} = warp(I, x -> R_{-a} x), as in groups.rotate
    matrices = rotation_matrix(
        -angles.to(torch.float64), dtype=images.dtype, device=images.device
    )
    return warp(images, matrix_transform(matrices, *images.shape[-2:]))


def _check_backbone(backbone) -> nn.Module:
    if not isinstance(backbone, nn.Module):
        raise TypeError(
            f"backbone must be a torch.nn.Module, got {type(backbone).__name__}"
        )
    return backbone


def _check_estimator(estimator) -> Callable:
    if not callable(estimator):
        raise TypeError(
            f"estimator must be a callable images -> angles [B], got {type(estimator).__name__}"
        )
    return estimator


class Canonicalized(nn.Module):
    """``backbone(rotate(x, -estimator(x)))``: invariance for any backbone by turning each input upright.

    If the estimator is equivariant (``orientation_estimate`` is), the canonical image is the same for x and
    every turned copy of x, up to interpolation: one extra resampling, one forward pass. Where the
    estimator is discontinuous (``orientation_ambiguity`` near 1), so is the model.

    Args:
        backbone: ``[B, C, H, W] -> [B, ...]``. estimator: ``[B, C, H, W] -> [B]`` angles (radians);
            default ``orientation_estimate`` (order 1).
    Shapes: ``[B, C, H, W]`` square -> the backbone's output.
    """

    def __init__(self, backbone: nn.Module, estimator: Callable | None = None):
        super().__init__()
        self.backbone = _check_backbone(backbone)
        self.estimator = (
            orientation_estimate if estimator is None else _check_estimator(estimator)
        )

    def canonical(self, x: torch.Tensor) -> tuple:
        """``(upright images [B, C, H, W], estimated angles [B])``."""
        check_images(x, name="x", square=True)
        with (
            torch.no_grad()
        ):  # the frame is chosen, not learned: no gradient through the angle
            angles = self.estimator(x)
        if not isinstance(angles, torch.Tensor) or angles.shape != (x.shape[0],):
            raise ValueError(
                f"the estimator must return angles of shape [{x.shape[0]}]"
            )
        return _rotate_by(x, -angles), angles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.canonical(x)[0])


def canonicalize(
    model: nn.Module, images: torch.Tensor, estimator: Callable | None = None
) -> torch.Tensor:
    """``model`` applied to each image turned upright by ``estimator`` (see ``Canonicalized``).

    Args:
        model: ``[B, C, H, W] -> [B, ...]``. images: ``[B, C, H, W]`` square. estimator: images -> ``[B]``.
    Returns:
        the model's output on the canonical images.
    """
    return Canonicalized(model, estimator)(images)


def _group_angles(group_elements) -> list:
    if isinstance(group_elements, (int,)) and not isinstance(group_elements, bool):
        n = check_int("group_elements", group_elements, minimum=1)
        return [2 * math.pi * k / n for k in range(n)]
    if isinstance(group_elements, (str, bytes)) or not isinstance(
        group_elements, Sequence
    ):
        raise TypeError(
            "group_elements must be an int n (the n turns of C_n) or a sequence of angles in radians, "
            f"got {type(group_elements).__name__}"
        )
    angles = list(group_elements)
    if not angles:
        raise ValueError("group_elements is empty: give at least one angle")
    for a in angles:
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise TypeError(
                f"every group element must be an angle (a number), got {a!r}"
            )
    return [float(a) for a in angles]


class FrameAveraged(nn.Module):
    """Average a backbone over a frame: ``mean over g in F(x) of backbone(rotate(x, -g))``.

    Without an estimator the frame is the group itself, ``F(x) = {g_1, ..., g_n}`` (e.g. the n turns of
    C_n): the Reynolds average of chapters 1 and 2. It is exactly invariant under any turn in the group
    that acts exactly (``groups.rot90`` for C4: the orbit is only re-ordered), and approximately, up to
    interpolation, under the others. With an estimator the frame is ``F(x) = {estimator(x) + g}``, e.g. an
    order-2 axis estimate (defined mod pi) with the elements ``[0, pi]``: invariant to every angle up to
    interpolation, and continuous wherever the estimate is.

    Cost: ``|frame|`` forward passes of the backbone per input (the frame is looped over, so the memory is
    that of one pass).

    Args:
        backbone: ``[B, C, H, W] -> [B, ...]``.
        group_elements: an int n (angles ``2 pi k / n``) or a sequence of angles (radians).
        average: ``"outputs"`` (mean of the backbone's outputs) or ``"probabilities"`` (mean of their
            softmax over the last dimension: the result is then probabilities, not logits).
        estimator: optional ``images -> [B]`` angles that anchor the frame.
    Shapes: ``[B, C, H, W]`` square -> the backbone's output shape.
    """

    def __init__(
        self,
        backbone: nn.Module,
        group_elements=4,
        average: str = "outputs",
        estimator: Callable | None = None,
    ):
        super().__init__()
        self.backbone = _check_backbone(backbone)
        self.angles = _group_angles(group_elements)
        if average not in ("outputs", "probabilities"):
            raise ValueError(
                f"average must be 'outputs' or 'probabilities', got {average!r}"
            )
        self.average = average
        self.estimator = None if estimator is None else _check_estimator(estimator)

    def __len__(self) -> int:
        return len(self.angles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="x", square=True)
        anchor = None
        if self.estimator is not None:
            with torch.no_grad():
                anchor = self.estimator(x)
            if not isinstance(anchor, torch.Tensor) or anchor.shape != (x.shape[0],):
                raise ValueError(
                    f"the estimator must return angles of shape [{x.shape[0]}]"
                )
        total = None
        for g in self.angles:
            turned = _turn(x, -g) if anchor is None else _rotate_by(x, -(anchor + g))
            y = self.backbone(turned)
            if self.average == "probabilities":
                y = torch.softmax(y, dim=-1)
            total = y if total is None else total + y
        return total / len(self.angles)

    def extra_repr(self) -> str:
        return f"frame of {len(self.angles)}, average={self.average!r}, anchored={self.estimator is not None}"


def quarter_turn_canonical(images: torch.Tensor, score: Callable) -> tuple:
    """Canonicalize over the C4 orbit: turn each image back by the quarter turn whose candidate scores best.

    ``k*(x) = argmax_k score(rot90(x, -k))`` and the canonical image is ``rot90(x, -k*)``. Turning the input
    by j quarter turns only re-labels the four candidates, so ``k*(rot90(x, j)) = k*(x) + j`` (mod 4) and the
    canonical image is the same, exactly -- unless two candidates tie, where the choice (and so the
    canonical image) jumps. Chapter 4's search over the C4 orbit chooses its start the same way.

    Args:
        images: ``[B, C, H, W]`` square. score: ``[B, C, H, W] -> [B]``, higher is better (e.g. a classifier's
            largest probability: "which way up looks most like an upright digit").
    Returns:
        ``(canonical images [B, C, H, W], k* [B] int64 in 0..3)``.
    """
    check_images(images, square=True)
    if not callable(score):
        raise TypeError(
            f"score must be a callable images -> [B], got {type(score).__name__}"
        )
    with torch.no_grad():
        scores = [score(rot90(images, -k)) for k in range(4)]
    for s in scores:
        if not isinstance(s, torch.Tensor) or s.shape != (images.shape[0],):
            raise ValueError(
                f"score must return a tensor of shape [{images.shape[0]}], one number per image"
            )
    best = torch.stack(scores, dim=1).argmax(dim=1)
    upright = torch.stack(
        [rot90(images[i : i + 1], -int(k))[0] for i, k in enumerate(best.tolist())]
    )
    return upright, best.to(torch.int64)
