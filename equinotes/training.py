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


def train(model: torch.nn.Module, loss_fn: Callable, sample_batch: Callable, n_steps: int, lr: float = 1e-3,
          optimizer: str = "adam", seed: int = 0, device=None, progress: bool = True, desc: str = "training",
          weight_decay: float = 0.0, grad_clip: float | None = None) -> TrainLog:
    """Train ``model`` for a fixed number of steps (never a fixed number of seconds: runs are reproducible).

    Args:
        model: the module; it is moved to ``device`` and left in train mode during the loop, eval mode after.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``.
        sample_batch: ``sample_batch(step, generator) -> batch``; draw randomness from ``generator`` (a
            seeded CPU ``torch.Generator``) and move tensors to the device yourself (``model`` tells it).
        n_steps: number of optimizer steps.
        lr, weight_decay: optimizer settings. optimizer: ``"adam"`` or ``"sgd"``.
        seed: seeds torch and the batch generator, so the same call gives the same model.
        device: where to train; ``None`` picks CUDA when present.
        progress: show a tqdm progress bar.
        grad_clip: optional max gradient norm.
    Returns:
        a ``TrainLog``.
    """
    import time

    from tqdm.auto import tqdm

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
    opt = (torch.optim.Adam(params, lr=lr, weight_decay=weight_decay) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, weight_decay=weight_decay))
    log = TrainLog()
    start = time.perf_counter()
    bar = tqdm(range(n_steps), desc=desc, disable=not progress, leave=False)
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
        if step % 10 == 0:
            bar.set_postfix(loss=f"{log.losses[-1]:.4f}")
    log.seconds = time.perf_counter() - start
    model.eval()
    return log
