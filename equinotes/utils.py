"""Reproducibility and device helpers shared by every chapter.

Every notebook starts with ``seed_everything`` and picks its device with ``get_device``, so a CPU
reader and a GPU reader run the same code; only a scale variable in the notebook changes.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "get_device", "cpu_threads", "progress", "check_tensor", "check_images", "check_int"]


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as an int, raising ``TypeError``/``ValueError`` with a clear message."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a seeded CPU ``torch.Generator``.

    Args:
        seed: a non-negative integer.
    Returns:
        A ``torch.Generator`` seeded with ``seed``, for code that wants its own random stream.
    """
    seed = check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: CUDA when present, else CPU.

    Args:
        prefer: ``None`` (automatic), ``"cpu"`` or ``"cuda"``. Asking for CUDA on a machine without it
            raises ``ValueError`` rather than failing later inside a kernel.
    """
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be None or a string, got {type(prefer).__name__}")
    if prefer not in ("cpu", "cuda"):
        raise ValueError(f"prefer must be 'cpu' or 'cuda', got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but torch.cuda.is_available() is False")
    return torch.device(prefer)


def cpu_threads(max_threads: int = 2) -> int:
    """How many CPU threads to give torch: ``max_threads`` at most, no more than the machine's cores,
    and no more than ``OMP_NUM_THREADS`` when that is set.

    The test suite sets ``OMP_NUM_THREADS=1`` in each pytest-xdist worker, so two notebooks running
    side by side on two cores do not fight over them; a reader's kernel gets both cores. Use as
    ``torch.set_num_threads(utils.cpu_threads())``.
    """
    threads = min(check_int("max_threads", max_threads, minimum=1), os.cpu_count() or 1)
    from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if from_env.isdigit() and int(from_env) >= 1:
        threads = min(threads, int(from_env))
    return threads


def progress(iterable=None, **kwargs):
    """A tqdm progress bar (a widget in Jupyter and Colab, text elsewhere).

    Set ``EQUINOTES_PROGRESS=0`` to switch every bar off: the site build does, because a bar executed
    for a static page would be saved as a frozen widget. (tqdm's own ``TQDM_DISABLE`` does not reach
    its notebook bars.) Takes the arguments of ``tqdm.auto.tqdm``.

    Bars redraw at most once a second (``mininterval=1.0`` unless given): each redraw of a notebook
    bar is about three widget messages, which a kernel busy with a long cell queues and sends only
    after the cell, so tqdm's 10 redraws a second made one chapter cell end with ~2,900 messages.
    """
    from tqdm.auto import tqdm

    if os.environ.get("EQUINOTES_PROGRESS", "1") == "0":
        kwargs["disable"] = True
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, **kwargs)


def check_tensor(x, name: str, layout: str) -> torch.Tensor:
    """Validate a floating tensor whose rank matches ``layout`` (e.g. ``"[B, N]"``) and return it.

    Raises ``TypeError`` for a non-tensor or a non-floating dtype and ``ValueError`` for a wrong rank;
    each message names the expected layout.
    """
    ndim = len([part for part in layout.strip("[]").split(",") if part.strip()])
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor (float32 or float64), got {x.dtype}")
    return x


def check_images(images, name: str = "images", square: bool = False, channels: int | None = None) -> torch.Tensor:
    """Validate an image batch ``[B, C, H, W]`` of floating dtype and return it.

    Raises ``TypeError`` for a non-tensor or non-float tensor and ``ValueError`` for a wrong rank,
    a non-square image when ``square`` is set, or a wrong channel count.
    """
    check_tensor(images, name, "[B, C, H, W]")
    if square and images.shape[-1] != images.shape[-2]:
        raise ValueError(f"{name} must be square (H == W), got H={images.shape[-2]}, W={images.shape[-1]}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got {images.shape[1]}")
    return images
