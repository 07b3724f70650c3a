"""Small image classifiers in plain torch: an ordinary CNN and a C4 group-equivariant CNN.

The C4 network follows Cohen & Welling's group convolutions, for the four quarter turns only, so that
every layer is *exactly* equivariant (each rotation is a permutation of pixels):

* ``LiftingConv2d``: image ``[B, C, H, W]`` -> group features ``[B, C', 4, H, W]``; channel r of the new
  axis is the image correlated with the filter turned by r quarter turns.
* ``GroupConv2d``: group features ``[B, C, 4, H, W]`` -> ``[B, C', 4, H, W]``; one filter bank over the
  rotation axis and the plane, turned and cyclically shifted for each output rotation.
* ``RotationPool``: ``[B, C, 4, H, W]`` -> ``[B, C, H, W]``, the max (or mean) over the rotation axis.

How a quarter turn acts on each kind of tensor:

* on an image ``x``: ``groups.rot90(x, k)``;
* on group features ``y``: ``c4_feature_action(k, y)`` = turn every plane by k and roll the rotation axis
  by k (``y'[:, :, r] = rot90(y[:, :, r - k], k)``).

Lifting and group convolutions map the first action to the second; rotation pooling maps the second
back to the first; a global spatial average then makes the features invariant. Stride-1 convolutions
with zero padding of an odd filter, pointwise nonlinearities, batch normalization with one statistic per
channel (shared by the rotation axis and the plane), and 2x2 max pooling of an image with even side are
all equivariant to quarter turns, so ``C4CNN`` is exactly invariant by construction.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .groups import rot90
from .utils import check_images, check_int

__all__ = [
    "LiftingConv2d",
    "GroupConv2d",
    "RotationPool",
    "GroupMaxPool2d",
    "c4_feature_action",
    "check_group_features",
    "PlainCNN",
    "C4CNN",
    "count_parameters",
    "prediction_invariance_error",
    "matched_noise",
    "matched_noise_change",
    "recalibrate_batchnorm",
]

N_ROTATIONS = 4


def _check_odd_kernel(kernel_size) -> int:
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd so the filter has a centre pixel, got {kernel_size}"
        )
    return kernel_size


def check_group_features(
    features, name: str = "features", channels: int | None = None
) -> torch.Tensor:
    """Validate C4 group features ``[B, C, 4, H, W]`` (square planes, floating dtype) and return them."""
    if not isinstance(features, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [B, C, 4, H, W], got {type(features).__name__}"
        )
    if features.dim() != 5 or features.shape[2] != N_ROTATIONS:
        raise ValueError(
            f"{name} must have shape [B, C, 4, H, W], got shape {tuple(features.shape)}"
        )
    if not features.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor (float32 or float64), got {features.dtype}"
        )
    if features.shape[-1] != features.shape[-2]:
        raise ValueError(
            f"{name} must have square planes (H == W), got H={features.shape[-2]}, W={features.shape[-1]}"
        )
    if channels is not None and features.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s), got {features.shape[1]}"
        )
    return features


def c4_feature_action(k: int, features: torch.Tensor) -> torch.Tensor:
    """The quarter turn ``k`` acting on group features ``[B, C, 4, H, W]``.

    Every plane turns by k quarter turns (counter-clockwise as displayed, like ``groups.rot90``) and the
    rotation axis is rolled by k: ``out[:, :, r] = rot90(features[:, :, r - k], k)``. Returns the same shape.
    """
    k = check_int("k", k)
    check_group_features(features)
    return rot90(torch.roll(features, shifts=k % N_ROTATIONS, dims=2), k)


class LiftingConv2d(nn.Module):
    """Lift an image to C4 group features by correlating it with four turned copies of each filter.

    ``out[:, o, r] = sum_i  x[:, i] * rot90(weight[o, i], r)  + bias[o]`` (``*`` = correlation, zero padding
    ``kernel_size // 2``, stride 1).

    Shapes: input ``[B, in_channels, H, W]`` (square) -> output ``[B, out_channels, 4, H, W]``.
    Equivariance: ``lift(rot90(x, k)) == c4_feature_action(k, lift(x))`` exactly.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.kernel_size = _check_odd_kernel(kernel_size)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        )
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        fan_in = in_channels * kernel_size**2
        self.bias = (
            nn.Parameter(
                torch.empty(out_channels).uniform_(-(fan_in**-0.5), fan_in**-0.5)
            )
            if bias
            else None
        )

    def filters(self) -> torch.Tensor:
        """The four turned filter banks as one ordinary bank ``[out_channels * 4, in_channels, k, k]``."""
        turned = torch.stack(
            [rot90(self.weight, r) for r in range(N_ROTATIONS)], dim=1
        )  # [O, 4, I, k, k]
        return turned.reshape(
            self.out_channels * N_ROTATIONS,
            self.in_channels,
            self.kernel_size,
            self.kernel_size,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="x", square=True, channels=self.in_channels)
        return _convolve_to_group_features(
            x, self.filters(), self.bias, self.out_channels, self.kernel_size
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        )


def _convolve_to_group_features(
    x: torch.Tensor, filters: torch.Tensor, bias, out_channels: int, kernel_size: int
) -> torch.Tensor:
    """Convolve ``x [B, C, H, W]`` with a bank of ``out_channels * 4`` filters (same padding) and read the
    result as group features ``[B, out_channels, 4, H, W]``, adding one bias per output channel."""
    y = F.conv2d(x, filters.to(x.dtype), padding=kernel_size // 2)
    y = y.view(x.shape[0], out_channels, N_ROTATIONS, *y.shape[-2:])
    if bias is not None:
        y = y + bias.to(x.dtype).view(1, -1, 1, 1, 1)
    return y


class GroupConv2d(nn.Module):
    """A C4 group convolution: group features in, group features out.

    With ``weight`` of shape ``[out, in, 4, k, k]``:
    ``out[:, o, r] = sum_{i, s}  y[:, i, s] * rot90(weight[o, i, (s - r) mod 4], r)  + bias[o]``.

    Shapes: input ``[B, in_channels, 4, H, W]`` (square) -> output ``[B, out_channels, 4, H, W]``.
    Equivariance: ``gconv(c4_feature_action(k, y)) == c4_feature_action(k, gconv(y))`` exactly.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.kernel_size = _check_odd_kernel(kernel_size)
        self.weight = nn.Parameter(
            torch.empty(
                out_channels, in_channels, N_ROTATIONS, kernel_size, kernel_size
            )
        )
        nn.init.kaiming_uniform_(
            self.weight.view(out_channels, -1, kernel_size, kernel_size), a=5**0.5
        )
        fan_in = in_channels * N_ROTATIONS * kernel_size**2
        self.bias = (
            nn.Parameter(
                torch.empty(out_channels).uniform_(-(fan_in**-0.5), fan_in**-0.5)
            )
            if bias
            else None
        )

    def filters(self) -> torch.Tensor:
        """All output rotations' filters as one ordinary bank ``[out_channels * 4, in_channels * 4,
        k, k]``.
        """
        # For output rotation r: roll the input-rotation axis by r, then turn every plane by r.
        banks = [
            rot90(torch.roll(self.weight, shifts=r, dims=2), r)
            for r in range(N_ROTATIONS)
        ]
        stacked = torch.stack(banks, dim=1)  # [O, 4 (r), I, 4 (s), k, k]
        k = self.kernel_size
        return stacked.reshape(
            self.out_channels * N_ROTATIONS, self.in_channels * N_ROTATIONS, k, k
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        check_group_features(y, name="y", channels=self.in_channels)
        b, _, _, h, w = y.shape
        flat = y.reshape(b, self.in_channels * N_ROTATIONS, h, w)
        return _convolve_to_group_features(
            flat, self.filters(), self.bias, self.out_channels, self.kernel_size
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        )


class RotationPool(nn.Module):
    """Pool over the rotation axis: ``[B, C, 4, H, W]`` -> ``[B, C, H, W]`` (``mode`` = "max" or "mean").

    Equivariance: ``pool(c4_feature_action(k, y)) == rot90(pool(y), k)``: the result turns like an image.
    """

    def __init__(self, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        check_group_features(y, name="y")
        return y.amax(dim=2) if self.mode == "max" else y.mean(dim=2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class GroupMaxPool2d(nn.Module):
    """2x2 spatial max pooling of group features ``[B, C, 4, H, W]`` -> ``[B, C, 4, H/2, W/2]``.

    Exactly C4-equivariant only when H (= W) is even, so odd sizes raise ``ValueError``.
    """

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        check_group_features(y, name="y")
        b, c, g, h, w = y.shape
        if h % 2:
            raise ValueError(
                f"GroupMaxPool2d needs an even plane size to stay C4-equivariant, got {h}x{w}"
            )
        return F.max_pool2d(y.reshape(b, c * g, h, w), 2).view(b, c, g, h // 2, w // 2)


def _check_widths(widths) -> tuple:
    if not isinstance(widths, (tuple, list)) or len(widths) != 3:
        raise ValueError(
            f"widths must be a tuple of three channel counts, got {widths!r}"
        )
    return tuple(check_int("width", w, minimum=1) for w in widths)


class PlainCNN(nn.Module):
    """An ordinary small CNN classifier (no symmetry built in beyond translations).

    conv3x3 -> norm -> ReLU -> maxpool2 -> conv3x3 -> norm -> ReLU -> maxpool2 -> conv3x3 -> norm -> ReLU
    -> global mean -> linear, where norm = ``BatchNorm2d`` (call ``recalibrate_batchnorm`` after short runs).

    Shapes: input ``[B, in_channels, H, W]`` -> logits ``[B, n_classes]``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, widths=(8, 16, 32)):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        c1, c2, c3 = _check_widths(widths)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
        )
        self.head = nn.Linear(c3, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="x", channels=self.in_channels)
        if min(x.shape[-2:]) < 4:
            raise ValueError(
                f"x must be at least 4x4 pixels, got {tuple(x.shape[-2:])}"
            )
        return self.head(self.features(x).mean(dim=(-2, -1)))


class C4CNN(nn.Module):
    """A C4-invariant classifier built from exactly equivariant layers.

    lift3x3 -> norm -> ReLU -> maxpool2 -> gconv3x3 -> norm -> ReLU -> maxpool2 -> gconv3x3 -> norm -> ReLU
    -> rotation pool -> global spatial mean -> linear (norm = ``BatchNorm3d``: one statistic per channel,
    shared by the four rotations).

    Shapes: input ``[B, in_channels, H, W]`` with H == W divisible by 4 -> logits ``[B, n_classes]``.
    ``features(x)`` returns the invariant feature vector ``[B, widths[2]]``.
    Invariance: ``model(rot90(x, k)) == model(x)`` for every k, on any input, up to float rounding.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        widths=(4, 8, 16),
        pool: str = "max",
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        c1, c2, c3 = _check_widths(widths)
        self.lift = LiftingConv2d(in_channels, c1, 3)
        self.gconv1 = GroupConv2d(c1, c2, 3)
        self.gconv2 = GroupConv2d(c2, c3, 3)
        # BatchNorm3d on [B, C, 4, H, W] normalizes each channel over batch, rotations and plane together (one
        # mean, variance, scale and shift per channel), so it commutes with c4_feature_action in training and
        # in
        # eval mode. After short runs, call recalibrate_batchnorm before evaluating.
        self.norm1, self.norm2, self.norm3 = (
            nn.BatchNorm3d(c1),
            nn.BatchNorm3d(c2),
            nn.BatchNorm3d(c3),
        )
        self.pool = GroupMaxPool2d()
        self.rotation_pool = RotationPool(pool)
        self.head = nn.Linear(c3, n_classes)

    def group_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last group features ``[B, widths[2], 4, H/4, W/4]`` (equivariant, before pooling)."""
        check_images(x, name="x", square=True, channels=self.in_channels)
        if x.shape[-1] % 4:
            raise ValueError(
                f"C4CNN needs a side divisible by 4 (two exact 2x2 poolings), got {x.shape[-1]}"
            )
        y = self.pool(torch.relu(self.norm1(self.lift(x))))
        y = self.pool(torch.relu(self.norm2(self.gconv1(y))))
        return torch.relu(self.norm3(self.gconv2(y)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Invariant features ``[B, widths[2]]``: rotation pooling, then the mean over the plane."""
        return self.rotation_pool(self.group_features(x)).mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row-wise total-variation distance of probability vectors ``[N, K]`` -> ``[N]``."""
    return 0.5 * (p - q).abs().sum(dim=1)


def prediction_invariance_error(
    model: nn.Module, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """How much a classifier's prediction changes when its input is turned by a quarter turn.

    For each image x: ``max_k  TV(softmax(model(rot90(x, k))), softmax(model(x)))`` over k = 1, 2, 3, where
    TV(p, q) = sum(abs(p - q)) / 2 is the total-variation distance (0: the same class probabilities,
    1: disjoint predictions). The model runs in eval mode without gradients.

    Args:
        model: a classifier ``[B, C, H, W] -> [B, n_classes]``.
        images: ``[N, C, H, W]`` square.
        batch_size: images per forward pass.
    Returns:
        ``[N]`` float tensor on the CPU, in the images' dtype.
    """
    from .training import predict

    check_images(images, name="images", square=True)
    p0 = torch.softmax(predict(model, images, batch_size), dim=1)
    gaps = [
        _total_variation(
            torch.softmax(predict(model, rot90(images, k), batch_size), dim=1), p0
        )
        for k in (1, 2, 3)
    ]
    return torch.stack(gaps).amax(dim=0)


def matched_noise(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of the same L2 size as each quarter turn's change of each image.

    For each image x and k = 1, 2, 3: a Gaussian direction scaled so that its L2 norm equals
    ``||rot90(x, k) - x||``. Adding it moves x as far as turning it does, in a random direction: the
    non-group perturbation that ``prediction_invariance_error`` is compared with.

    Args:
        images: ``[N, C, H, W]`` square, floating point.
        generator: a ``torch.Generator`` on the CPU (the noise is drawn there).
    Returns:
        ``[3, N, C, H, W]`` in the images' dtype, on the CPU; index k - 1 matches the turn by k.
    """
    check_images(images, name="images", square=True)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    x = images.detach().cpu()
    noise = torch.randn((3, *x.shape), generator=generator, dtype=x.dtype)
    target = torch.stack([(rot90(x, k) - x).flatten(1).norm(dim=1) for k in (1, 2, 3)])
    size = noise.flatten(2).norm(dim=2)  # [3, N]
    return noise * (target / size).view(3, -1, 1, 1, 1)


def matched_noise_change(
    model: nn.Module,
    images: torch.Tensor,
    generator: torch.Generator,
    batch_size: int = 500,
) -> torch.Tensor:
    """How much a classifier's prediction changes under ``matched_noise``: the baseline for
    ``prediction_invariance_error``.

    For each image x: ``max_k TV(softmax(model(x + noise_k)), softmax(model(x)))`` over k = 1, 2, 3,
    with ``noise_k`` of the same L2 size as ``rot90(x, k) - x``. A model whose predictions are
    uncertain on some images changes them under *any* perturbation there; dividing the quarter-turn
    change by this one separates a missing symmetry from mere sensitivity.

    Args:
        model: a classifier ``[B, C, H, W] -> [B, n_classes]``.
        images: ``[N, C, H, W]`` square.
        generator: a CPU ``torch.Generator`` for the noise.
        batch_size: images per forward pass.
    Returns:
        ``[N]`` float tensor on the CPU, in the images' dtype.
    """
    from .training import predict

    noise = matched_noise(images, generator)
    x = images.detach().cpu()
    p0 = torch.softmax(predict(model, x, batch_size), dim=1)
    changes = [
        _total_variation(
            torch.softmax(predict(model, x + noise[k], batch_size), dim=1), p0
        )
        for k in range(3)
    ]
    return torch.stack(changes).amax(dim=0)


def recalibrate_batchnorm(
    model: nn.Module, images: torch.Tensor, batch_size: int = 500
) -> nn.Module:
    """Recompute every batch-norm layer's running mean and variance on ``images`` ``[N, C, H, W]``.

    Short training runs leave the running averages lagging behind the weights, which can make eval-mode
    predictions much worse than training-mode ones. This replaces them by averages over the batches of
    ``images``
    (no gradients, weights unchanged) and returns the model in eval mode.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(images, name="images")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    device = next(model.parameters()).device
    model.train()
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            model(images[i : i + batch_size].to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return model.eval()
