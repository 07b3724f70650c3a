"""One small, seeded, device-aware training loop that every chapter reuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from .utils import check_int, get_device

__all__ = ["TrainLog", "train"]


@dataclass
class TrainLog:
    """What ``train`` recorded: the loss at every step and the wall time in seconds."""

    losses: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    sample_batch: Callable,
    n_steps: int,
    lr: float = 1e-3,
    optimizer: str = "adam",
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
    weight_decay: float = 0.0,
    grad_clip: float | None = None,
) -> TrainLog:
    """Train ``model`` for a fixed number of steps (never a fixed number of seconds: runs are reproducible).

    Args:
        model: the module; it is moved to ``device`` and left in train mode during the loop, eval mode after.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``.
        sample_batch: ``sample_batch(step, generator) -> batch``; draw randomness from ``generator`` (a
            seeded CPU ``torch.Generator``) and move tensors to the device yourself (``model`` tells it).
        n_steps: number of optimizer steps.
        lr, weight_decay: optimizer settings. optimizer: ``"adam"`` or ``"sgd"``.
        seed: seeds torch and the batch generator, so the same call on the same initial model gives the
            same trained model (seed before building the model to fix its initial weights too).
        device: where to train; ``None`` picks CUDA when present.
        progress: show a tqdm progress bar.
        grad_clip: optional max gradient norm.
    Returns:
        a ``TrainLog``.
    """
    import time

    from .utils import progress as progress_bar

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn) or not callable(sample_batch):
        raise TypeError("loss_fn and sample_batch must be callable")
    n_steps = check_int("n_steps", n_steps, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    device = get_device() if device is None else torch.device(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    opt = (
        torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    )
    log = TrainLog()
    start = time.perf_counter()
    bar = progress_bar(range(n_steps), desc=desc, leave=False, disable=not progress)
    for step in bar:
        batch = sample_batch(step, generator)
        loss = loss_fn(model, batch)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError("loss_fn must return a scalar tensor")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        log.losses.append(loss.item())
        if (
            step % 10 == 0
        ):  # shown at the bar's next redraw: a forced one per call would flood a notebook
            bar.set_postfix(loss=f"{log.losses[-1]:.4f}", refresh=False)
    log.seconds = time.perf_counter() - start
    model.eval()
    return log


# --- Classification helpers (added for chapter 1; later chapters may reuse them) -------------------------


def _check_labelled(images, labels) -> None:
    from .utils import check_images

    check_images(images)
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dim() != 1
        or labels.dtype != torch.int64
    ):
        raise TypeError("labels must be an int64 tensor of shape [N]")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise ValueError("need at least one image")


def random_rotation(
    images: torch.Tensor, generator: torch.Generator, quarter_turns_only: bool = False
) -> torch.Tensor:
    """Turn each image by its own random angle (an augmentation and the rotated-MNIST protocol).

    Args:
        images: ``[B, C, H, W]``.
        generator: a CPU ``torch.Generator`` (the angles are drawn from it, so runs are reproducible).
        quarter_turns_only: draw from the four quarter turns (exact, square images) instead of uniform
            angles in [0, 2 pi) (bilinear, zero fill).
    Returns:
        ``[B, C, H, W]``.
    """
    import math

    from .groups import rot90, rotate
    from .utils import check_images

    check_images(images)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    b = images.shape[0]
    if quarter_turns_only:
        ks = torch.randint(0, 4, (b,), generator=generator)
        return torch.stack([rot90(images[i], int(ks[i])) for i in range(b)])
    angles = torch.rand(b, generator=generator, dtype=torch.float64) * (2 * math.pi)
    return rotate(images, angles.to(images.device))


def classification_sampler(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 64,
    augment: Callable | None = None,
    device=None,
) -> Callable:
    """A ``sample_batch(step, generator) -> (x, y)`` for ``train``: random minibatches with replacement.

    Args:
        images: ``[N, C, H, W]``; labels: int64 ``[N]``.
        batch_size: images per batch.
        augment: optional ``augment(x, generator) -> x`` applied to every batch (e.g. ``random_rotation``).
        device: where batches go; ``None`` picks CUDA when present.
    """
    _check_labelled(images, labels)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if augment is not None and not callable(augment):
        raise TypeError("augment must be None or a callable (x, generator) -> x")
    device = get_device() if device is None else torch.device(device)

    def sample_batch(step, generator):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=generator)
        x = images[idx]
        if augment is not None:
            x = augment(x, generator)
        return x.to(device), labels[idx].to(device)

    return sample_batch


def cross_entropy_loss(model: torch.nn.Module, batch) -> torch.Tensor:
    """``loss_fn`` for ``train`` on ``(x [B, C, H, W], y [B])`` batches: the mean cross-entropy of
    the logits.
    """
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y)


def predict(
    model: torch.nn.Module, images: torch.Tensor, batch_size: int = 500, device=None
) -> torch.Tensor:
    """Logits of ``model`` on ``images`` ``[N, C, H, W]``, in eval mode, without gradients, in batches.

    Returns ``[N, n_classes]`` on the CPU.
    """
    from .utils import check_images

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(images)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat(
            [
                model(images[i : i + batch_size].to(device)).cpu()
                for i in range(0, images.shape[0], batch_size)
            ]
        )
    model.train(was_training)
    return out


def accuracy(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 500,
    device=None,
) -> float:
    """Fraction of ``images`` ``[N, C, H, W]`` whose arg-max logit equals ``labels`` ``[N]`` (int64)."""
    _check_labelled(images, labels)
    return (
        (predict(model, images, batch_size, device).argmax(dim=1) == labels.cpu())
        .double()
        .mean()
        .item()
    )


__all__ += [
    "random_rotation",
    "classification_sampler",
    "cross_entropy_loss",
    "predict",
    "accuracy",
]


def samples_to_reach(ns, accuracies, target: float) -> float:
    """The number of training samples at which a learning curve first reaches ``target`` accuracy.

    Interpolates linearly in log n between the two grid points where the curve first crosses ``target``.

    Args:
        ns: increasing sample sizes (at least 2). accuracies: the (mean) accuracy at each n.
        target: the accuracy to reach, in (0, 1].
    Returns:
        the interpolated n; ``ns[0]`` if the first point already reaches ``target`` (so the true value is at
        most that); ``float("inf")`` if no point reaches it.
    """
    import math

    ns, accuracies = [float(v) for v in ns], [float(v) for v in accuracies]
    if len(ns) < 2 or len(ns) != len(accuracies):
        raise ValueError(
            f"need matching ns and accuracies with at least 2 points, got {len(ns)} and {len(accuracies)}"
        )
    if any(b <= a for a, b in zip(ns, ns[1:])) or ns[0] <= 0:
        raise ValueError(f"ns must be positive and strictly increasing, got {ns}")
    if not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
    if accuracies[0] >= target:
        return ns[0]
    for (n0, a0), (n1, a1) in zip(zip(ns, accuracies), zip(ns[1:], accuracies[1:])):
        if a1 >= target:
            t = (target - a0) / (a1 - a0)
            return math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))
    return float("inf")


__all__ += ["samples_to_reach"]


def fit_classifier(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    n_steps: int,
    batch_size: int = 64,
    augment: Callable | None = None,
    lr: float = 3e-3,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> TrainLog:
    """Train a classifier with cross-entropy on random minibatches of ``(images [N, C, H, W], labels [N])``.

    A thin wrapper: ``train(model, cross_entropy_loss, classification_sampler(...), n_steps, ...)`` with Adam.
    ``augment(x, generator) -> x`` (e.g. ``random_rotation``) is applied to every batch. Returns the
    ``TrainLog``;
    the model is left in eval mode on ``device``.
    """
    device = get_device() if device is None else torch.device(device)
    sampler = classification_sampler(
        images, labels, batch_size, augment=augment, device=device
    )
    return train(
        model,
        cross_entropy_loss,
        sampler,
        n_steps,
        lr=lr,
        seed=seed,
        device=device,
        progress=progress,
        desc=desc,
    )


__all__ += ["fit_classifier"]
