"""Iterated mesa-optimizers: a learned step applied again and again, and the TwoStep composition.

The setting of chapter 3: conditioning data x, a state y that is also the output, one step
``y_{n+1} = f(x, y_n)``, an outer loss ``L(x, y)``, and the limit F of iterating f.

TwoStep is written once here for any kind of transform (rigid matrices or shifts in chapter 3,
coordinate fields in chapter 4): the caller says how a transform moves an input and how two
transforms compose.
"""

from __future__ import annotations

from typing import Callable

import torch

from .training import TrainLog, train
from .utils import check_int

__all__ = [
    "two_step",
    "iterate",
    "fixed_point_residual",
    "unrolled_loss",
    "train_unrolled",
    "iterate_two_step",
    "two_step_trajectory",
]


def two_step(
    phi: Callable, psi: Callable, apply: Callable, compose: Callable
) -> Callable:
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


def _check_state(y0) -> torch.Tensor:
    if not isinstance(y0, torch.Tensor):
        raise TypeError(
            f"y0 must be a torch.Tensor state [B, ...], got {type(y0).__name__}"
        )
    if y0.dim() == 0:
        raise ValueError("y0 must have a batch dimension: shape [B, ...]")
    return y0


def iterate(step: Callable, x, y0: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Run ``y_{n+1} = step(x, y_n)`` from ``y0`` and return the whole trajectory.

    Args:
        step: ``step(x, y [B, ...]) -> y [B, ...]`` (same shape).
        x: the conditioning data, passed unchanged to every step (any object ``step`` understands).
        y0: the initial state ``[B, ...]``.
        n_steps: how many steps (>= 0).
    Returns:
        ``[n_steps + 1, B, ...]``: ``y_0, y_1, ..., y_{n_steps}``. Gradients flow through it (unrolled
        training); wrap the call in ``torch.no_grad()`` to just run the optimizer.
    """
    if not callable(step):
        raise TypeError("step must be callable as step(x, y)")
    y = _check_state(y0)
    n_steps = check_int("n_steps", n_steps, minimum=0)
    states = [y]
    for n in range(n_steps):
        y_next = step(x, y)
        if not isinstance(y_next, torch.Tensor) or y_next.shape != y.shape:
            got = (
                tuple(y_next.shape)
                if isinstance(y_next, torch.Tensor)
                else type(y_next).__name__
            )
            raise ValueError(
                f"step {n} returned {got}; it must return a state of shape {tuple(y.shape)}"
            )
        states.append(y_next)
        y = y_next
    return torch.stack(states)


def fixed_point_residual(
    step: Callable, x, y: torch.Tensor, difference: Callable | None = None
) -> torch.Tensor:
    """How far ``y`` is from being a fixed point: ``|step(x, y) - y|`` per batch element.

    Args:
        step, x: as in ``iterate``. y: a state ``[B, ...]``.
        difference: ``difference(a, b)`` replacing ``a - b`` (e.g. a wrapped angle difference for states
            on a circle); default plain subtraction.
    Returns:
        ``[B]``: the Euclidean norm of the difference over all non-batch dimensions.
    """
    if not callable(step):
        raise TypeError("step must be callable as step(x, y)")
    if difference is not None and not callable(difference):
        raise TypeError("difference must be callable as difference(a, b) or None")
    y = _check_state(y)
    moved = step(x, y)
    if not isinstance(moved, torch.Tensor) or moved.shape != y.shape:
        raise ValueError(f"step must return a state of shape {tuple(y.shape)}")
    gap = difference(moved, y) if difference is not None else moved - y
    return gap.reshape(gap.shape[0], -1).norm(dim=1)


def unrolled_loss(
    step: Callable,
    x,
    y0: torch.Tensor,
    n_steps: int,
    outer_loss: Callable,
    weighting: str = "last",
) -> torch.Tensor:
    """The training objective of an unrolled optimizer: the outer loss along ``n_steps`` steps.

    Args:
        step, x, y0, n_steps: as in ``iterate`` (``n_steps >= 1``).
        outer_loss: ``outer_loss(x, y) -> [B]`` or a scalar, the score of a state (lower is better).
        weighting: ``"last"`` scores only ``y_{n_steps}`` (the loss asks to *arrive* at step K);
            ``"every"`` averages the loss of ``y_1 ... y_{n_steps}`` (it asks to arrive early and *stay*).
    Returns:
        a scalar tensor (batch mean).
    """
    if not callable(outer_loss):
        raise TypeError("outer_loss must be callable as outer_loss(x, y)")
    if weighting not in ("last", "every"):
        raise ValueError(f"weighting must be 'last' or 'every', got {weighting!r}")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    trajectory = iterate(step, x, y0, n_steps)
    scored = trajectory[-1:] if weighting == "last" else trajectory[1:]
    return torch.stack([outer_loss(x, y).mean() for y in scored]).mean()


def train_unrolled(
    model: torch.nn.Module,
    step: Callable,
    sample_problem: Callable,
    outer_loss: Callable,
    n_unroll: int,
    n_steps: int,
    weighting: str = "last",
    random_unroll: bool = False,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
    desc: str = "unrolled training",
    grad_clip: float | None = 1.0,
) -> TrainLog:
    """Train the parameters of a learned step by back-propagating through ``n_unroll`` unrolled steps.

    Uses ``equinotes.training.train`` (Adam, seeded, tqdm bar).

    Args:
        model: the ``torch.nn.Module`` holding the step's parameters.
        step: ``step(x, y) -> y`` (typically a closure calling ``model``).
        sample_problem: ``sample_problem(generator) -> (x, y0)``, a fresh batch of problems and start states.
        outer_loss: ``outer_loss(x, y) -> [B]``.
        n_unroll: K, the number of unrolled steps (>= 1).
        n_steps: number of optimizer updates.
        weighting: ``"last"`` or ``"every"`` (see ``unrolled_loss``).
        random_unroll: draw the unroll length uniformly from 1..K at each update (else always K).
    Returns:
        the ``TrainLog`` of ``training.train``.
    """
    if not callable(step) or not callable(sample_problem):
        raise TypeError("step and sample_problem must be callable")
    n_unroll = check_int("n_unroll", n_unroll, minimum=1)
    if weighting not in ("last", "every"):
        raise ValueError(f"weighting must be 'last' or 'every', got {weighting!r}")

    def sample_batch(index, generator):
        x, y0 = sample_problem(generator)
        k = (
            int(torch.randint(1, n_unroll + 1, (1,), generator=generator))
            if random_unroll
            else n_unroll
        )
        return x, y0, k

    def loss_fn(_model, batch):
        x, y0, k = batch
        return unrolled_loss(step, x, y0, k, outer_loss, weighting)

    return train(
        model,
        loss_fn,
        sample_batch,
        n_steps=n_steps,
        lr=lr,
        seed=seed,
        progress=progress,
        desc=desc,
        grad_clip=grad_clip,
    )


def iterate_two_step(
    phi: Callable, n_steps: int, apply: Callable, compose: Callable
) -> Callable:
    """The power Psi_K of a registration step: Psi_1 = Phi, Psi_{k+1} = TwoStep{Psi_k, Phi}.

    ``Psi_{k+1}[A, B] = Psi_k[A, B] o Phi[A o Psi_k[A, B], B]``: Phi refines what Psi_k found.

    Args:
        phi: a registration function ``(A, B) -> transform``.
        n_steps: K >= 1.
        apply, compose: as in ``two_step``.
    Returns:
        the registration function Psi_K (built from ``two_step``; it calls Phi K times per pair).
    """
    if not all(callable(c) for c in (phi, apply, compose)):
        raise TypeError("phi, apply and compose must all be callable")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    psi = phi
    for _ in range(n_steps - 1):
        psi = two_step(psi, phi, apply, compose)
    return psi


def two_step_trajectory(
    phi: Callable, moving, fixed, n_steps: int, apply: Callable, compose: Callable
) -> list:
    """All of ``Psi_1[A, B], ..., Psi_K[A, B]`` in one pass (K calls of Phi), as a list of transforms.

    Entry k-1 equals ``iterate_two_step(phi, k, apply, compose)(moving, fixed)``.
    """
    if not all(callable(c) for c in (phi, apply, compose)):
        raise TypeError("phi, apply and compose must all be callable")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    psi = phi(moving, fixed)
    out = [psi]
    for _ in range(n_steps - 1):
        psi = compose(psi, phi(apply(moving, psi), fixed))
        out.append(psi)
    return out
