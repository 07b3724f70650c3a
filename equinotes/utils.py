"""Reproducibility and device helpers shared by every chapter.

Every notebook starts with ``seed_everything`` and picks its device with ``get_device``, so a CPU
reader and a GPU reader run the same code; only a scale variable in the notebook changes.
"""

from __future__ import annotations

import os
import random
import subprocess

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "derive_seed",
    "generator",
    "replicate_seeds",
    "start_run",
    "get_device",
    "cpu_threads",
    "progress",
    "check_tensor",
    "check_images",
    "check_int",
    "git_commit",
]

#: Seeds of one stream: ``derive_seed(SEED, k)`` with ``0 <= k < SEED_STREAMS``.
SEED_STREAMS = 10_000


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
    """The device to compute on.

    Args:
        prefer: ``None`` reads ``$EQUINOTES_DEVICE`` and, when that is unset or empty, picks CUDA when
            present, else the CPU. A string (or the variable) names the device: ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` or ``"mps"``.
    Raises:
        ValueError: for a name that is none of these, or a device that this machine does not have (a GPU
            run must fail loudly rather than fall back to the CPU).
    """
    source = "prefer"
    if prefer is None:
        prefer = os.environ.get("EQUINOTES_DEVICE", "").strip() or None
        source = "EQUINOTES_DEVICE"
        if prefer is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be None or a string, got {type(prefer).__name__}")
    name = prefer.strip().lower()
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (
        index and (kind != "cuda" or not index.isdigit())
    ):
        raise ValueError(
            f"{source} must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {prefer!r}"
        )
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{source} asks for {prefer!r} but torch.cuda.is_available() is False "
                "(no CUDA device, or a CPU-only build of torch)"
            )
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"{source} asks for {prefer!r} but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(
            f"{source} asks for 'mps' but torch.backends.mps.is_available() is False"
        )
    return torch.device(name)


def derive_seed(seed: int, stream: int) -> int:
    """The seed of one random stream of a chapter: ``stream + SEED_STREAMS * seed``.

    Every random choice of a chapter (a held-out set, the noise probes, a model's initial weights)
    takes its own ``stream`` number, so a new ``SEED`` changes every one of them, and different streams
    of one ``SEED`` never share a seed. At ``seed = 0`` the stream number itself is the seed.
    """
    seed = check_int("seed", seed, minimum=0)
    stream = check_int("stream", stream, minimum=0)
    if stream >= SEED_STREAMS:
        raise ValueError(f"stream must be < {SEED_STREAMS}, got {stream}")
    return stream + SEED_STREAMS * seed


def generator(seed: int, stream: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(seed, stream)``."""
    return torch.Generator().manual_seed(derive_seed(seed, stream))


def replicate_seeds(seed: int, n: int) -> list[int]:
    """``n`` seeds for the replications a notebook runs itself: ``derive_seed(seed, 0 .. n-1)``.

    Two values of ``seed`` give disjoint lists, so each ``SEED`` is an independent set of replications.
    """
    n = check_int("n", n, minimum=1)
    return [derive_seed(seed, i) for i in range(n)]


def start_run(seed: int, scale: int, device: str | None = None) -> torch.device:
    """Validate a chapter's parameters, seed everything from ``seed`` and return the device.

    Called right after a notebook's parameters cell. It also writes ``EQUINOTES_SEED`` and
    ``EQUINOTES_SCALE`` into this process's environment, so the claims ledger records which
    replication each claim comes from (papermill may have set the values without the environment).

    Args:
        seed: a non-negative integer, the chapter's ``SEED``.
        scale: a positive integer, the chapter's ``SCALE`` (1 on a laptop CPU).
        device: ``None`` or ``""`` for the automatic choice (see ``get_device``), else a device name.
    """
    seed = check_int("SEED", seed, minimum=0)
    scale = check_int("SCALE", scale, minimum=1)
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be None or a string, got {type(device).__name__}")
    chosen = get_device(device or None)
    os.environ["EQUINOTES_SEED"] = str(seed)
    os.environ["EQUINOTES_SCALE"] = str(scale)
    seed_everything(seed)
    return chosen


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
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {layout}, got {type(x).__name__}"
        )
    if x.dim() != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor (float32 or float64), got {x.dtype}"
        )
    return x


def check_images(
    images, name: str = "images", square: bool = False, channels: int | None = None
) -> torch.Tensor:
    """Validate an image batch ``[B, C, H, W]`` of floating dtype and return it.

    Raises ``TypeError`` for a non-tensor or non-float tensor and ``ValueError`` for a wrong rank,
    a non-square image when ``square`` is set, or a wrong channel count.
    """
    check_tensor(images, name, "[B, C, H, W]")
    if square and images.shape[-1] != images.shape[-2]:
        raise ValueError(
            f"{name} must be square (H == W), got H={images.shape[-2]}, W={images.shape[-1]}"
        )
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s), got {images.shape[1]}"
        )
    return images


def git_commit(root, watch=()) -> str:
    """The commit checked out at ``root``, for a results file's provenance: 40 hex digits, with
    ``+dirty`` when any path in ``watch`` (relative to ``root``) has uncommitted changes; ``"unknown"``
    outside a git checkout or without git.
    """
    if isinstance(watch, (str, bytes)):
        raise TypeError("watch must be a sequence of paths, not one string")
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return "unknown"
        dirty = ""
        if watch:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--", *map(str, watch)],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
