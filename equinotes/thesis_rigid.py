"""The thesis in its most favourable form: a *rigid-head* registration step (issue 24).

A step that can only output a rotation and a shift cannot squish strokes, so it needs no GradICON and
no relaxation; it is trained on the similarity loss alone, made [U,U]-equivariant by conjugation with
a fresh random rotation at every call, and iterated. If iterating even this step does not widen the
basin of attraction to every angle, the dense step has little hope; if it does, the dense claim is
still open (a pass is necessary, not sufficient).

A rigid transform is kept as parameters ``(matrix [B, 2, 2], shift [B, 2])`` in the grid's
normalized coordinates (``x -> M x + t``, ``transforms.matrix_transform``); iterates compose in
parameter space and every warp reads the original moving image once, so iterating adds no
resampling blur. A *rigid step* is any callable ``(moving, fixed) -> (angle [B], shift [B, 2])``
(radians, normalized units): the learned ``RigidStep`` and the oracles the verdict rules are tested
on (``search_step`` and its variants).

Shapes: images ``[B, 1, H, W]`` (square), transforms ``[B, H, W, 2]``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import registration as reg
from .groups import rotation_matrix
from .thesis import ConjugatedStep
from .transforms import matrix_transform
from .utils import check_images, check_int

__all__ = [
    "RigidStep",
    "ConjugatedRigidStep",
    "rigid_unroll",
    "rigid_loss",
    "curriculum_max_delta",
    "curriculum_sampler",
    "train_rigid",
    "search_step",
    "small_angle_step",
    "quarter_turn_step",
    "identity_step",
    "drift_step",
]


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    """Differentiable ``groups.rotation_matrix``: ``[B]`` radians -> ``[B, 2, 2]``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)


class RigidStep(torch.nn.Module):
    """An MLP on the two images that outputs a rotation angle and a shift.

    ``RigidStep(32)(A, B)`` maps two ``[B, 1, 32, 32]`` batches to ``(angle [B], shift [B, 2])``.
    The last layer starts at zero, so the untrained step is the identity map.
    """

    def __init__(self, size: int, hidden: int = 256):
        super().__init__()
        size = check_int("size", size, minimum=4)
        hidden = check_int("hidden", hidden, minimum=1)
        self.size = size
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(2 * size * size, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 3),
        )
        torch.nn.init.zeros_(self.net[-1].weight)
        torch.nn.init.zeros_(self.net[-1].bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor):
        reg.check_pair(moving, fixed)
        if moving.shape[1:] != (1, self.size, self.size):
            raise ValueError(
                f"expected images [B, 1, {self.size}, {self.size}], got {tuple(moving.shape)}"
            )
        out = self.net(torch.cat([moving, fixed], 1))
        return out[:, 0], out[:, 1:]


class ConjugatedRigidStep(ConjugatedStep):
    """A rigid step made [U,U]-equivariant by conjugation: ``U o step(A o U, B o U) o U^{-1}``.

    In training mode U is a fresh random rotation per pair (from its own generator seeded with
    ``seed``); in eval mode the plain step. For a rigid map the conjugation keeps the angle and turns
    the shift: ``(theta, t) -> (theta, R_U t)``.
    """

    def conjugate(self, moving, fixed, angles: torch.Tensor):
        u = angles.to(moving.dtype)
        angle, shift = self.step(reg.pull_back(moving, u), reg.pull_back(fixed, u))
        return angle, torch.einsum("bij,bj->bi", _rotation(u), shift)


def rigid_unroll(step: Callable, moving, fixed, k: int, grids: bool = True) -> list:
    """All iterates ``Psi_1..Psi_k`` of a rigid step: ``Psi_{j+1} = Psi_j o step(A o Psi_j, B)``.

    Composition happens on the parameters, and ``A o Psi_j`` is one warp of the original ``A``.
    Returns ``k`` transforms ``[B, H, W, 2]`` (``grids=False``: ``(matrix [B,2,2], shift [B,2])``
    pairs).
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> (angle [B], shift [B, 2])")
    reg.check_pair(moving, fixed)
    k = check_int("k", k, minimum=1)
    b, size = moving.shape[0], moving.shape[-1]
    m = torch.eye(2, dtype=moving.dtype, device=moving.device).expand(b, 2, 2)
    t = torch.zeros(b, 2, dtype=moving.dtype, device=moving.device)
    out = []
    for j in range(k):
        warped = (
            moving if j == 0 else reg.warp(moving, matrix_transform(m, size, size, t))
        )
        angle, shift = step(warped, fixed)
        if angle.shape != (b,) or shift.shape != (b, 2):
            raise ValueError(
                f"a rigid step must return angle [{b}] and shift [{b}, 2], got "
                f"{tuple(angle.shape)} and {tuple(shift.shape)}"
            )
        t = torch.einsum("bij,bj->bi", m, shift) + t
        m = m @ _rotation(angle)
        out.append(matrix_transform(m, size, size, t) if grids else (m, t))
    return out


def rigid_loss(k: int, final_only: bool = False, similarity: Callable = reg.lncc):
    """``loss_fn(model, pairs)``: the similarity of ``A o Psi_j`` to B, averaged over j = 1..k
    (``final_only``: j = k alone). No regularizer: a rigid map cannot fold or squish."""
    k = check_int("k", k, minimum=1)

    def loss_fn(model, pairs):
        iterates = rigid_unroll(model, pairs.moving, pairs.fixed, k)
        used = iterates[-1:] if final_only else iterates
        total = sum(
            similarity(reg.warp(pairs.moving, phi), pairs.fixed) for phi in used
        )
        return total / len(used)

    return loss_fn


def curriculum_max_delta(
    step: int,
    n_steps: int,
    start_deg: float = 30.0,
    end_deg: float = 180.0,
    ramp: float = 0.6,
) -> float:
    """The largest training relative angle (radians) at optimizer step ``step`` of ``n_steps``:
    linear from ``start_deg`` to ``end_deg`` over the first ``ramp`` of training, then ``end_deg``."""
    if not 0 < ramp <= 1:
        raise ValueError(f"ramp must be in (0, 1], got {ramp}")
    frac = min(1.0, step / max(1.0, ramp * n_steps))
    return math.radians(start_deg + frac * (end_deg - start_deg))


def curriculum_sampler(
    digits: torch.Tensor,
    batch: int,
    n_steps: int,
    upright: bool = False,
    start_deg: float = 30.0,
    same_fraction: float = 0.5,
) -> Callable:
    """``sample(step_index, generator) -> RotatedPairs`` with the relative angle uniform in
    ``[-max_delta, max_delta]`` (``curriculum_max_delta``); ``upright``: the fixed image is never
    turned (the no-conjugation control: nothing in its data teaches [U,U])."""
    check_images(digits, "digits", square=True)
    batch = check_int("batch", batch, minimum=1)

    def sample(i, generator):
        max_delta = curriculum_max_delta(i, n_steps, start_deg)
        pairs = reg.rotated_pairs(
            digits, batch, generator, max_delta=max_delta, same_fraction=same_fraction
        )
        if (
            upright
        ):  # turn both images back by the fixed angle: fixed upright, same delta
            back = -pairs.theta_fixed
            moving = reg.pull_back(pairs.moving, -back)
            fixed = reg.pull_back(pairs.fixed, -back)
            pairs = reg.RotatedPairs(
                moving,
                fixed,
                pairs.theta_moving + back,
                pairs.theta_fixed + back,
                pairs.same,
            )
        return pairs

    return sample


def train_rigid(
    model: torch.nn.Module,
    loss_fn: Callable,
    sample: Callable,
    n_steps: int,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
    desc: str = "rigid step",
) -> dict:
    """Adam on ``loss_fn(model, sample(i, generator))`` for ``n_steps`` steps (seeded by ``seed``),
    the learning rate decaying from ``lr`` to 0 on a cosine (the last steps fine-tune precision).

    Returns ``{"losses": [n_steps], "seconds"}``; the model is left in eval mode.
    """
    import time

    from .utils import progress as bar

    n_steps = check_int("n_steps", n_steps, minimum=1)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    model.train()
    losses, t0 = [], time.perf_counter()
    steps = bar(range(n_steps), desc=desc, leave=False) if progress else range(n_steps)
    for i in steps:
        loss = loss_fn(model, sample(i, generator))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return {"losses": losses, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------- oracles
def _search_angles(moving, fixed, coarse_deg: float = 2.0, fine_deg: float = 0.1):
    """The rotation about the centre that best matches A to B (least squares), by a coarse grid
    over the full turn and a fine grid around its best: ``[B]`` radians in (-pi, pi]."""
    b, size = moving.shape[0], moving.shape[-1]

    def best_of(candidates):  # candidates [B, C] radians
        c = candidates.shape[1]
        phi = matrix_transform(
            rotation_matrix(candidates.reshape(-1), device=moving.device), size, size
        )
        warped = reg.warp(moving.repeat_interleave(c, 0), phi)
        cost = ((warped - fixed.repeat_interleave(c, 0)) ** 2).flatten(1).sum(1)
        return candidates.gather(1, cost.view(b, c).argmin(1, keepdim=True))[:, 0]

    coarse = torch.arange(-180, 180, coarse_deg, device=moving.device)
    best = best_of(torch.deg2rad(coarse).expand(b, -1))
    fine = torch.deg2rad(
        torch.arange(-coarse_deg, coarse_deg + 1e-9, fine_deg, device=moving.device)
    )
    best = best_of(best[:, None] + fine[None])
    return torch.remainder(best + math.pi, 2 * math.pi) - math.pi


def _zero_shift(moving):
    return torch.zeros(moving.shape[0], 2, dtype=moving.dtype, device=moving.device)


def search_step(moving, fixed):
    """Oracle: an exact image-only rigid-rotation search (least squares over the full turn).
    [W,U]-equivariant up to interpolation; one call registers any angle."""
    reg.check_pair(moving, fixed)
    with torch.no_grad():
        return _search_angles(moving, fixed), _zero_shift(moving)


def small_angle_step(moving, fixed, reach_deg: float = 45.0):
    """Oracle: the search's answer when it is within ``reach_deg``, else no move (a step that only
    registers small angles; iterating it cannot reach farther)."""
    angle, shift = search_step(moving, fixed)
    return torch.where(angle.abs() <= math.radians(reach_deg), angle, 0 * angle), shift


def quarter_turn_step(moving, fixed):
    """Oracle: the search's answer up to a quarter turn (wrapped to [-45, 45] degrees), so that
    iterates settle at wrong quarter turns: a bimodal map that registers small angles exactly."""
    angle, shift = search_step(moving, fixed)
    quarter = math.pi / 2
    return angle - quarter * torch.round(angle / quarter), shift


def identity_step(moving, fixed):
    """Oracle: never moves."""
    reg.check_pair(moving, fixed)
    return torch.zeros(
        moving.shape[0], dtype=moving.dtype, device=moving.device
    ), _zero_shift(moving)


def drift_step(moving, fixed, pixels: float = 0.5):
    """Oracle: shifts by ``pixels`` along x at every call, whatever the images."""
    angle, shift = identity_step(moving, fixed)
    shift[:, 0] = pixels * 2 / (moving.shape[-1] - 1)
    return angle, shift
