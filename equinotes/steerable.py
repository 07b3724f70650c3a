"""Rotation-steerable convolutions: circular-harmonic filters, C_N group convolutions and a harmonic network.

A filter ``R(r) e^{i m theta}`` (polar coordinates about the filter's centre pixel, theta measured
counter-clockwise *as displayed*, like ``groups.rotate``) turned by an angle t is ``R(r) e^{i m (theta - t)}
= e^{-i m t} R(r) e^{i m theta}``: rotating it is a phase shift, not a resampling of pixels. This module

* samples such filters on a ``size x size`` grid (``circular_harmonic_basis``; the real and imaginary parts
  are separate real filters) and turns a filter written in that basis by rotating its coefficients
  (``steering_matrix``);
* gives the filters that satisfy the C_N steerability constraint (``cn_filter_basis``): exactly, from
  chapter 2's solver, when C_N acts on the grid by pixel permutations (N = 1, 2, 4), and from the harmonic
  basis with frequencies aliased mod N otherwise;
* builds a C_N regular group-convolution network (``CNCNN``, from ``CNLiftingConv2d`` and
  ``CNGroupConv2d``) and an SO(2)-steerable harmonic network (``HarmonicCNN``, from ``HarmonicConv2d`` and
  ``MagnitudeGate``);
* measures what they cost (``multiply_adds``) and how invariant they are against the interpolation floor
  (``rotation_invariance_error``, ``interpolation_floor``, on smooth test images from ``smooth_blobs``).

Exactness: a turn by a whole number of quarter turns permutes pixels, and sampled harmonics turn into
themselves under it, so ``CNCNN(n)`` with 4 | n and ``HarmonicCNN`` are invariant to ``groups.rot90`` to
float precision. Any other angle resamples the *input* image, which changes it (the interpolation floor);
a network can then only be as invariant as its input is faithfully rotated.
"""

from __future__ import annotations

import cmath
import math

import sympy as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from .diagrams import intertwiner_basis, rotation_representation
from .groups import quarter_turns, rot90, rotate
from .models import _check_widths, count_parameters
from .utils import check_images, check_int

__all__ = [
    "harmonic_filter",
    "steer",
    "circular_harmonic_basis",
    "steering_matrix",
    "cn_irrep",
    "cn_filter_basis",
    "cn_feature_action",
    "CNLiftingConv2d",
    "CNGroupConv2d",
    "CNCNN",
    "HarmonicConv2d",
    "MagnitudeGate",
    "HarmonicCNN",
    "match_widths",
    "multiply_adds",
    "interpolation_floor",
    "rotation_invariance_error",
    "smooth_blobs",
    "split_angle",
    "turn",
    "outputs_by_angle",
    "relative_change",
]


# ------------------------------------------------------------------------------------------ filter bases
def _polar_grid(size: int, dtype=torch.float64):
    """Radius (pixels) and angle of every pixel of a ``size x size`` grid about its centre, ``[size, size]``.

    x points right and y *up* the screen, so theta grows counter-clockwise as displayed.
    """
    c = (size - 1) / 2
    idx = torch.arange(size, dtype=dtype) - c
    y, x = torch.meshgrid(-idx, idx, indexing="ij")
    return torch.sqrt(x**2 + y**2), torch.atan2(y, x)


def _ring_radii(size: int, n_rings: int) -> list:
    c = (size - 1) / 2
    return [c * j / (n_rings - 1) for j in range(n_rings)] if n_rings > 1 else [0.0]


def harmonic_filter(
    size: int, radius: float, m: int, width: float, angle: float = 0.0
) -> torch.Tensor:
    """One circular harmonic ``R(r) e^{i m (theta - angle)}`` sampled on a ``size x size`` grid.

    ``R(r) = exp(-(r - radius)^2 / (2 width^2))`` is a Gaussian ring (r in pixels from the centre pixel,
    theta counter-clockwise as displayed). ``angle = 0`` gives the filter psi_m; ``angle = t`` samples the
    *turned* filter ``psi_m o R_t^{-1}`` directly from its formula, with no resampling of pixels, which is
    what ``steer`` must reproduce. For m != 0 the centre pixel is 0 (theta is undefined there).

    Args:
        size: grid side (>= 2). radius, width: pixels (width > 0). m: the frequency (an int, any sign).
        angle: radians.
    Returns:
        ``[size, size]`` complex128.
    """
    size = check_int("size", size, minimum=2)
    m = check_int("m", m)
    for name, value in (("radius", radius), ("width", width), ("angle", angle)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if radius < 0 or width <= 0:
        raise ValueError(f"need radius >= 0 and width > 0, got {radius} and {width}")
    r, theta = _polar_grid(size)
    profile = torch.exp(-((r - radius) ** 2) / (2 * width**2))
    if m != 0:
        profile = torch.where(r > 0, profile, torch.zeros_like(profile))
    phase = m * (theta - angle)
    return torch.complex(profile * torch.cos(phase), profile * torch.sin(phase))


def steer(psi: torch.Tensor, m: int, angle: float) -> torch.Tensor:
    """Turn a circular harmonic of frequency m by ``angle``: a phase, ``e^{-i m angle} psi``.

    Exact for every angle (compare ``harmonic_filter(..., angle=angle)``), where turning the pixels
    (``groups.rotate``) interpolates.

    Args:
        psi: ``[..., k, k]`` complex. m: its frequency. angle: radians.
    Returns:
        a tensor like ``psi``.
    """
    if not isinstance(psi, torch.Tensor) or not psi.is_complex():
        raise TypeError("psi must be a complex torch.Tensor (see harmonic_filter)")
    m = check_int("m", m)
    return psi * cmath.exp(-1j * m * _angle(angle))


def circular_harmonic_basis(
    size: int,
    max_frequency: int | None = None,
    n_rings: int | None = None,
    dtype=torch.float64,
):
    """Circular harmonics ``R_j(r) e^{i m theta}`` sampled on a ``size x size`` grid, as real filters.

    ``R_j`` is a Gaussian ring of radius ``r_j`` (``n_rings`` radii evenly spaced from 0 to the grid's
    half-width, width 0.6 ring spacings). A ring of radius r carries frequencies ``m <= 2 r`` (a ring
    crosses about 2 pi r pixels; a higher m would alias on it), and at most ``max_frequency``; the
    centre ring carries m = 0 only, and every m > 0 filter is 0 at the centre pixel (where theta is
    undefined), so quarter turns map each sampled filter exactly onto its turned copy.

    Order: by ring, then by frequency; a frequency m > 0 gives two consecutive elements, the real part
    ``R cos(m theta)`` then the imaginary part ``R sin(m theta)``, scaled together (one norm for the pair, so
    that the pair still turns by a rotation of its coefficients, see ``steering_matrix``).

    Args:
        size: grid side (>= 2). max_frequency: the largest ``|m|`` (>= 0), ``None`` for the ring limit only.
        n_rings: number of radii (>= 1); ``None`` for ``(size + 1) // 2`` (one ring per pixel of radius).
        dtype: floating dtype of the result.
    Returns:
        ``(filters, frequencies)``: ``filters [n_basis, size, size]`` with unit mean square per pair and
        ``frequencies [n_basis]`` (int64, >= 0).
    """
    size = check_int("size", size, minimum=2)
    if max_frequency is not None:
        max_frequency = check_int("max_frequency", max_frequency, minimum=0)
    n_rings = (
        (size + 1) // 2 if n_rings is None else check_int("n_rings", n_rings, minimum=1)
    )
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    radii = _ring_radii(size, n_rings)
    width = 0.6 * (radii[1] - radii[0]) if n_rings > 1 else 0.6 * max(size / 2, 1.0)
    filters, frequencies = [], []
    for r_j in radii:
        top = math.floor(2 * r_j + 1e-9)
        if max_frequency is not None:
            top = min(top, max_frequency)
        for m in range(top + 1):
            psi = harmonic_filter(size, r_j, m, width)
            if m == 0:
                f = psi.real.contiguous()
                filters.append(f / f.norm())
                frequencies.append(0)
                continue
            # theta is undefined at the centre pixel: only m = 0 may be non-zero there.
            re, im = psi.real.contiguous(), psi.imag.contiguous()
            scale = torch.sqrt((re.norm() ** 2 + im.norm() ** 2) / 2)
            filters += [re / scale, im / scale]
            frequencies += [m, m]
    return torch.stack(filters).to(dtype), torch.tensor(frequencies, dtype=torch.int64)


def _pairs(frequencies: torch.Tensor) -> list:
    """Split basis positions into singles (m = 0) and (real, imaginary) pairs, checking the order."""
    if not isinstance(frequencies, torch.Tensor) or frequencies.dim() != 1:
        raise TypeError("frequencies must be a 1-D integer tensor [n_basis]")
    if frequencies.is_floating_point() or frequencies.is_complex():
        raise TypeError(f"frequencies must be integers, got {frequencies.dtype}")
    freq, out, i = frequencies.tolist(), [], 0
    while i < len(freq):
        if freq[i] < 0:
            raise ValueError(f"frequencies must be >= 0, got {freq[i]} at position {i}")
        if freq[i] == 0:
            out.append((i,))
            i += 1
        elif i + 1 < len(freq) and freq[i + 1] == freq[i]:
            out.append((i, i + 1))
            i += 2
        else:
            raise ValueError(
                f"frequency {freq[i]} at position {i} must be followed by its imaginary part "
                "(the same frequency), as circular_harmonic_basis orders them"
            )
    return out


def steering_matrix(
    frequencies: torch.Tensor, angle: float, dtype=torch.float64
) -> torch.Tensor:
    """The matrix S that turns a filter written in a circular-harmonic basis by ``angle`` (radians, CCW).

    If ``f = sum_b c_b B_b`` then the turned filter ``f o R_angle^{-1}`` is ``sum_b (S c)_b B_b``: each
    (real, imaginary) pair of frequency m is rotated by ``m * angle``, each m = 0 element is kept.

    Args:
        frequencies: ``[n_basis]`` as returned by ``circular_harmonic_basis``. angle: a number.
    Returns:
        ``[n_basis, n_basis]`` block-diagonal orthogonal matrix.
    """
    if isinstance(angle, bool) or not isinstance(angle, (int, float)):
        raise TypeError(f"angle must be a number (radians), got {type(angle).__name__}")
    blocks = _pairs(frequencies)
    n = frequencies.numel()
    S = torch.zeros(n, n, dtype=torch.float64)
    for block in blocks:
        if len(block) == 1:
            S[block[0], block[0]] = 1.0
            continue
        i, j = block
        a = int(frequencies[i]) * float(angle)
        c, s = math.cos(a), math.sin(a)
        # f(theta - t) = (c_re cos mt - c_im sin mt) cos(m theta) + (c_re sin mt + c_im cos mt) sin(m theta)
        S[i, i], S[i, j], S[j, i], S[j, j] = c, -s, s, c
    return S.to(dtype)


def cn_irrep(n: int, k: int) -> torch.Tensor:
    """The real irreducible representation k of C_N at the generator (a turn by 2 pi / n).

    ``[[1]]`` for k = 0, ``[[-1]]`` for k = n/2, else the 2x2 rotation by ``2 pi k / n``
    ``[[cos, -sin], [sin, cos]]``. Valid k: 0 <= k <= n // 2. Returns a float64 tensor ``[d, d]``.
    """
    n = check_int("n", n, minimum=1)
    k = check_int("k", k, minimum=0)
    if k > n // 2:
        raise ValueError(f"C{n} has real irreps k = 0..{n // 2}, got k={k}")
    if k == 0:
        return torch.ones(1, 1, dtype=torch.float64)
    if 2 * k == n:
        return -torch.ones(1, 1, dtype=torch.float64)
    t = 2 * math.pi * k / n
    return _exact_rotation(t)


def _exact_rotation(t: float) -> torch.Tensor:
    # Whole quarter turns get exact integer entries, so the sympy solver sees integers.
    q = t / (math.pi / 2)
    if abs(q - round(q)) < 1e-12:
        c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][round(q) % 4]
    else:
        c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def cn_filter_basis(
    n: int, size: int, frequency: int = 0, max_frequency: int | None = None
) -> torch.Tensor:
    """A basis of the ``size x size`` filters steerable for C_N with output type ``cn_irrep(n, frequency)``.

    A filter bank W (d filters) is steerable when turning the input patch P by the generator g turns its
    d responses by the irrep: ``W(g P) = rho(g) W(P)`` -- chapter 2's square ``rho_out(g) W = W rho_in(g)``
    with ``rho_in`` the action on patches. (frequency 0: invariant filters.)

    * n = 1, 2 or 4: C_N turns the grid by whole quarter turns, a permutation of pixels, so the constraint
      is a finite linear system. ``diagrams.intertwiner_basis`` solves it exactly (rational arithmetic).
    * other n: a turn by 2 pi / n maps no square grid onto itself, so no pixel filter satisfies the
      constraint exactly. The basis is then the circular harmonics whose frequency m aliases onto the
      irrep, m = +-frequency (mod n): they satisfy it exactly as continuous functions, and on the grid up
      to sampling. (``max_frequency`` bounds m; ``None`` keeps the ring limit of
      ``circular_harmonic_basis``.)

    Returns:
        ``[n_basis, d, size, size]`` float64, d = 1 for frequency 0 and n/2, else 2; n_basis may be 0.
    """
    n = check_int("n", n, minimum=1)
    size = check_int("size", size, minimum=2)
    rho = cn_irrep(n, check_int("frequency", frequency, minimum=0))
    d = rho.shape[0]
    if 4 % n == 0:
        quarter = 4 // n
        R = rotation_representation(size, quarter)
        basis = intertwiner_basis(
            [R], [sp.Matrix(rho.round().to(torch.int64).tolist())]
        )
        if not basis:
            return torch.zeros(0, d, size, size, dtype=torch.float64)
        return torch.stack(
            [
                torch.tensor(b.tolist(), dtype=torch.float64).reshape(d, size, size)
                for b in basis
            ]
        )
    filters, freqs = circular_harmonic_basis(size, max_frequency)
    out = []
    for block in _pairs(freqs):
        m = int(freqs[block[0]])
        plus, minus = (m - frequency) % n == 0, (m + frequency) % n == 0
        if d == 1 and (plus or minus):
            out += [filters[i].unsqueeze(0) for i in block]
        elif d == 2 and len(block) == 2 and (plus or minus):
            re, im = filters[block[0]], filters[block[1]]
            # (re, im) turns by m t; for m = -frequency (mod n) the conjugate pair turns by +frequency t
            out.append(torch.stack([re, im if plus else -im]))
    if not out:
        return torch.zeros(0, d, size, size, dtype=torch.float64)
    return torch.stack(out)


# ------------------------------------------------------------------------------------ C_N group features
def _check_fields(
    features, middle: tuple, name: str, channels: int | None = None
) -> torch.Tensor:
    """Validate features ``[B, C, *middle, H, W]`` (floating, square planes) and return them."""
    layout = "[B, C, " + "".join(f"{m}, " for m in middle) + "H, W]"
    if not isinstance(features, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {layout}, got {type(features).__name__}"
        )
    if features.dim() != 4 + len(middle) or tuple(features.shape[2:-2]) != tuple(
        middle
    ):
        raise ValueError(
            f"{name} must have shape {layout}, got shape {tuple(features.shape)}"
        )
    if not features.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor (float32 or float64), got {features.dtype}"
        )
    if features.shape[-1] != features.shape[-2]:
        raise ValueError(
            f"{name} must have square planes (H == W), got {tuple(features.shape[-2:])}"
        )
    if channels is not None and features.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s), got {features.shape[1]}"
        )
    return features


def cn_feature_action(k: int, features: torch.Tensor, n: int) -> torch.Tensor:
    """The turn by ``2 pi k / n`` acting on C_N group features ``[B, C, n, H, W]``.

    ``out[:, :, r] = rotate(features[:, :, r - k], 2 pi k / n)``: each plane turns (exactly, by ``rot90``,
    when the angle is a whole number of quarter turns; else bilinearly, by ``groups.rotate``) and the
    rotation axis rolls by k. For n = 4 this is ``models.c4_feature_action``.
    """
    n = check_int("n", n, minimum=1)
    k = check_int("k", k)
    _check_fields(features, (n,), "features")
    rolled = torch.roll(features, shifts=k % n, dims=2)
    angle = 2 * math.pi * (k % n) / n
    q = quarter_turns(angle)
    if q is not None:
        return rot90(rolled, q)
    b, c, g, h, w = rolled.shape
    return rotate(rolled.reshape(b, c * g, h, w), angle).reshape(b, c, g, h, w)


def _odd_kernel(kernel_size) -> int:
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd so the filter has a centre pixel, got {kernel_size}"
        )
    return kernel_size


class _SteeredBasis(nn.Module):
    """Holds ``circular_harmonic_basis`` turned by each of the n angles 2 pi r / n, ``[n, n_basis, k, k]``."""

    def __init__(self, n: int, kernel_size: int, max_frequency: int | None):
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.kernel_size = _odd_kernel(kernel_size)
        basis, freqs = circular_harmonic_basis(kernel_size, max_frequency)
        flat = basis.reshape(basis.shape[0], -1)
        # Turned basis element b' = sum_b S[b, b'] B_b, so that sum_b' c_b' turned_b' = sum_b (S c)_b B_b.
        turned = torch.stack(
            [(steering_matrix(freqs, 2 * math.pi * r / n).T @ flat) for r in range(n)]
        )
        self.register_buffer(
            "turned", turned.reshape(n, *basis.shape), persistent=False
        )
        self.register_buffer("frequencies", freqs, persistent=False)

    @property
    def n_basis(self) -> int:
        return self.turned.shape[1]


def _to_group_features(
    x, bank, bias, out_channels: int, n: int, kernel_size: int
) -> torch.Tensor:
    y = F.conv2d(x, bank.to(x.dtype), padding=kernel_size // 2)
    y = y.view(x.shape[0], out_channels, n, *y.shape[-2:])
    return y if bias is None else y + bias.to(x.dtype).view(1, -1, 1, 1, 1)


class CNLiftingConv2d(nn.Module):
    """Lift an image to C_N group features with one steerable filter per channel pair, turned n times.

    ``out[:, o, r] = sum_i x[:, i] * psi_{o i} turned by 2 pi r / n  + bias[o]`` (``*`` = correlation,
    zero padding, stride 1), where ``psi_{oi} = sum_b weight[o, i, b] B_b`` in ``circular_harmonic_basis``;
    the turn is ``steering_matrix`` acting on the coefficients, so it is exact for every angle.

    Shapes: ``[B, in_channels, H, W]`` (square) -> ``[B, out_channels, n, H, W]``.
    Equivariance: ``lift(rot90(x, k)) == cn_feature_action(k n / 4, lift(x), n)`` exactly when 4 | n.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n: int,
        kernel_size: int = 5,
        max_frequency: int | None = None,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.basis = _SteeredBasis(n, kernel_size, max_frequency)
        self.n, self.kernel_size = self.basis.n, self.basis.kernel_size
        fan_in = in_channels * self.basis.n_basis
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, self.basis.n_basis)
            * math.sqrt(2 / fan_in)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def filters(self) -> torch.Tensor:
        """The n turned filter banks as one ordinary bank ``[out_channels * n, in_channels, k, k]``."""
        bank = torch.einsum(
            "oib,rbxy->orixy", self.weight, self.basis.turned.to(self.weight.dtype)
        )
        k = self.kernel_size
        return bank.reshape(self.out_channels * self.n, self.in_channels, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="x", square=True, channels=self.in_channels)
        return _to_group_features(
            x, self.filters(), self.bias, self.out_channels, self.n, self.kernel_size
        )

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n={self.n}, kernel_size={self.kernel_size}"


class CNGroupConv2d(nn.Module):
    """A C_N group convolution with steerable filters: group features in, group features out.

    With coefficients ``weight[o, i, s, b]`` (filter ``psi_{ois} = sum_b weight[o, i, s, b] B_b``):
    ``out[:, o, r] = sum_{i, s} y[:, i, s] * (psi_{o, i, (s - r) mod n} turned by 2 pi r / n) + bias[o]``.

    Shapes: ``[B, in_channels, n, H, W]`` (square) -> ``[B, out_channels, n, H, W]``.
    Equivariance: ``gconv(cn_feature_action(k, y, n)) == cn_feature_action(k, gconv(y), n)``; exact when
    the turn is a whole number of quarter turns.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n: int,
        kernel_size: int = 5,
        max_frequency: int | None = None,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.basis = _SteeredBasis(n, kernel_size, max_frequency)
        self.n, self.kernel_size = self.basis.n, self.basis.kernel_size
        fan_in = in_channels * self.n * self.basis.n_basis
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, self.n, self.basis.n_basis)
            * math.sqrt(2 / fan_in)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        r, s = torch.meshgrid(torch.arange(self.n), torch.arange(self.n), indexing="ij")
        self.register_buffer("roll_index", (s - r) % self.n, persistent=False)  # [r, s]

    def filters(self) -> torch.Tensor:
        """All output rotations' filters as one bank ``[out_channels * n, in_channels * n, k, k]``."""
        rolled = self.weight[:, :, self.roll_index]  # [O, I, r, s, n_basis]
        bank = torch.einsum(
            "oirsb,rbxy->orisxy", rolled, self.basis.turned.to(self.weight.dtype)
        )
        k = self.kernel_size
        return bank.reshape(self.out_channels * self.n, self.in_channels * self.n, k, k)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        _check_fields(y, (self.n,), "y", self.in_channels)
        b, _, _, h, w = y.shape
        flat = y.reshape(b, self.in_channels * self.n, h, w)
        return _to_group_features(
            flat, self.filters(), self.bias, self.out_channels, self.n, self.kernel_size
        )

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n={self.n}, kernel_size={self.kernel_size}"


class CNCNN(nn.Module):
    """A C_N-invariant classifier: ``models.C4CNN`` for any n, with steerable 5x5 filters.

    lift -> norm -> ReLU -> pool2 -> gconv -> norm -> ReLU -> pool2 -> gconv -> norm -> ReLU -> max over the
    n rotations -> global spatial mean -> linear (norm = ``BatchNorm3d``, one statistic per channel).

    Args:
        n: the order of the rotation group (>= 1).
        widths: three channel counts; ``None`` picks them so the parameter count is close to
            ``models.C4CNN()``'s (see ``match_widths``).
        pool: spatial 2x2 pooling, ``"max"`` or ``"avg"``.
    Shapes: input ``[B, in_channels, H, W]``, H == W divisible by 4 -> logits ``[B, n_classes]``.
    Invariance: exact under ``groups.rot90`` when 4 | n (every layer commutes with quarter turns); for the
    other turns by 2 pi k / n only up to the resampling of the input and of the pooled feature maps.
    """

    def __init__(
        self,
        n: int,
        in_channels: int = 1,
        n_classes: int = 10,
        widths=None,
        kernel_size: int = 5,
        max_frequency: int | None = None,
        pool: str = "max",
    ):
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        if widths is None:
            widths = match_widths(
                lambda w: CNCNN(
                    n, in_channels, n_classes, w, kernel_size, max_frequency, pool
                )
            )
        c1, c2, c3 = _check_widths(widths)
        self.widths = (c1, c2, c3)
        self.lift = CNLiftingConv2d(in_channels, c1, n, kernel_size, max_frequency)
        self.gconv1 = CNGroupConv2d(c1, c2, n, kernel_size, max_frequency)
        self.gconv2 = CNGroupConv2d(c2, c3, n, kernel_size, max_frequency)
        self.norm1, self.norm2, self.norm3 = (
            nn.BatchNorm3d(c1),
            nn.BatchNorm3d(c2),
            nn.BatchNorm3d(c3),
        )
        self.pool = pool
        self.head = nn.Linear(c3, n_classes)

    def _pool(self, y: torch.Tensor) -> torch.Tensor:
        b, c, g, h, w = y.shape
        pooled = (F.max_pool2d if self.pool == "max" else F.avg_pool2d)(
            y.reshape(b, c * g, h, w), 2
        )
        return pooled.view(b, c, g, h // 2, w // 2)

    def group_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last group features ``[B, widths[2], n, H/4, W/4]`` (before pooling over the group)."""
        check_images(x, name="x", square=True, channels=self.in_channels)
        if x.shape[-1] % 4:
            raise ValueError(
                f"CNCNN needs a side divisible by 4 (two exact 2x2 poolings), got {x.shape[-1]}"
            )
        y = self._pool(torch.relu(self.norm1(self.lift(x))))
        y = self._pool(torch.relu(self.norm2(self.gconv1(y))))
        return torch.relu(self.norm3(self.gconv2(y)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Invariant features ``[B, widths[2]]``: max over the rotation axis, then the mean over the plane."""
        return self.group_features(x).amax(dim=2).mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ------------------------------------------------------------------------------- harmonic (SO(2)) network
class HarmonicConv2d(nn.Module):
    """A convolution between complex feature fields of rotation orders ``0..max_order``.

    A field of order m turns as ``z -> e^{i m t} z o R_t^{-1}``. Correlating it with the complex filter
    ``R_j(r) e^{i d theta}`` gives a field of order m + d, so the map from order m_in to order m_out uses
    ``sum_j c_j R_j(r) e^{i (m_out - m_in) theta}`` with learned complex ``c_j`` over the rings j of
    ``circular_harmonic_basis`` that carry frequency ``|m_out - m_in|`` (the conjugate filter for a negative
    difference).

    Shapes: ``[B, in_channels, in_orders, 2, H, W]`` (real and imaginary parts; with ``real_input=True`` a
    real image ``[B, in_channels, H, W]``, order 0) -> ``[B, out_channels, max_order + 1, 2, H, W]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        max_order: int = 2,
        in_orders: int | None = None,
        kernel_size: int = 5,
        real_input: bool = False,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.max_order = check_int("max_order", max_order, minimum=0)
        self.real_input = bool(real_input)
        in_orders = (
            1 if real_input else (max_order + 1 if in_orders is None else in_orders)
        )
        self.in_orders = check_int("in_orders", in_orders, minimum=1)
        self.kernel_size = _odd_kernel(kernel_size)
        basis, freqs = circular_harmonic_basis(kernel_size)
        # complex[d, j] = ring j's filter of frequency d (zero where ring j does not carry d)
        rings = {}
        for block in _pairs(freqs):
            m = int(freqs[block[0]])
            im = (
                basis[block[1]]
                if len(block) == 2
                else torch.zeros_like(basis[block[0]])
            )
            rings.setdefault(m, []).append(torch.stack([basis[block[0]], im]))
        top = max(rings)
        n_rings = max(len(v) for v in rings.values())
        complex_filters = torch.zeros(
            top + 1, n_rings, 2, kernel_size, kernel_size, dtype=torch.float64
        )
        valid_ring = torch.zeros(top + 1, n_rings, dtype=torch.bool)
        for m, stack in rings.items():
            complex_filters[m, n_rings - len(stack) :] = torch.stack(
                stack
            )  # outer rings carry high m
            valid_ring[m, n_rings - len(stack) :] = True
        self.register_buffer("complex_filters", complex_filters, persistent=False)
        out_m = torch.arange(max_order + 1).view(-1, 1)
        in_m = torch.arange(self.in_orders).view(1, -1)
        diff = out_m - in_m  # [out orders, in orders]
        self.register_buffer("difference", diff, persistent=False)
        allowed = diff.abs() <= top
        mask = (
            allowed.unsqueeze(-1) & valid_ring[diff.abs().clamp(max=top)]
        )  # [mo, mi, ring]
        self.register_buffer("mask", mask, persistent=False)
        n_valid = int(mask.sum())
        if n_valid == 0:
            raise ValueError(
                f"kernel_size={kernel_size} carries no frequency up to max_order={max_order}"
            )
        fan_in = in_channels * n_valid / (max_order + 1)
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, n_valid, 2) * math.sqrt(1 / fan_in)
        )
        self.bias = nn.Parameter(
            torch.zeros(out_channels)
        )  # added to order 0's real part only

    def complex_bank(self) -> torch.Tensor:
        """Complex filters ``[out, max_order + 1, in, in_orders, 2, k, k]`` (real and imaginary part)."""
        o, i = self.out_channels, self.in_channels
        coef = self.weight.new_zeros(o, i, *self.mask.shape, 2)
        coef[:, :, self.mask] = self.weight
        d = self.difference
        filt = self.complex_filters.to(self.weight.dtype)[
            d.abs().clamp(max=self.complex_filters.shape[0] - 1)
        ]
        # conjugate filter for a negative difference: e^{-i d theta}
        sign = torch.where(d < 0, -1.0, 1.0).to(filt.dtype).view(*d.shape, 1, 1, 1)
        f_re, f_im = filt[:, :, :, 0], filt[:, :, :, 1] * sign  # [mo, mi, ring, k, k]
        a, b = coef[..., 0], coef[..., 1]  # [o, i, mo, mi, ring]
        re = torch.einsum("oimnj,mnjxy->omnixy", a, f_re) - torch.einsum(
            "oimnj,mnjxy->omnixy", b, f_im
        )
        im = torch.einsum("oimnj,mnjxy->omnixy", a, f_im) + torch.einsum(
            "oimnj,mnjxy->omnixy", b, f_re
        )
        return torch.stack([re, im], dim=4).permute(0, 1, 3, 2, 4, 5, 6)

    def filters(self) -> torch.Tensor:
        """The real filter bank the layer convolves with: ``[out * (max_order + 1) * 2, in * in_orders * p, k,
        k]`` with p = 1 for a real input and 2 otherwise (complex product written with real filters)."""
        bank = self.complex_bank()  # [o, mo, i, mi, part, k, k]
        re, im = bank[:, :, :, :, 0], bank[:, :, :, :, 1]
        if self.real_input:
            rows = torch.stack([re, im], dim=2)  # [o, mo, out part, i, mi, k, k]
        else:
            # (re + i im)(x_re + i x_im): real row [re, -im], imaginary row [im, re] over (x_re, x_im)
            rows = torch.stack(
                [torch.stack([re, -im], dim=-3), torch.stack([im, re], dim=-3)], dim=2
            )
        k = self.kernel_size
        return rows.reshape(self.out_channels * (self.max_order + 1) * 2, -1, k, k)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.real_input:
            check_images(z, name="x", square=True, channels=self.in_channels)
            flat = z
        else:
            _check_fields(z, (self.in_orders, 2), "z", self.in_channels)
            flat = z.reshape(z.shape[0], -1, *z.shape[-2:])
        out = F.conv2d(
            flat, self.filters().to(flat.dtype), padding=self.kernel_size // 2
        )
        out = out.view(
            z.shape[0], self.out_channels, self.max_order + 1, 2, *out.shape[-2:]
        )
        bias = torch.zeros_like(out[:1, :, :, :, :1, :1])
        bias[0, :, 0, 0, 0, 0] = self.bias.to(
            out.dtype
        )  # a constant is a field of order 0 only
        return out + bias

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, orders {self.in_orders} -> {self.max_order + 1}, "
            f"kernel_size={self.kernel_size}, real_input={self.real_input}"
        )


class MagnitudeGate(nn.Module):
    """Nonlinearity and normalization of complex fields on their magnitudes only.

    ``z -> z / |z| * relu(BN(|z|))`` with one ``BatchNorm2d`` statistic per (channel, order). ``|z|`` is
    invariant (a turn multiplies z by a phase), so the gate keeps every field's order.

    Shapes: ``[B, channels, orders, 2, H, W]`` -> the same.
    """

    def __init__(self, channels: int, orders: int, eps: float = 1e-6):
        super().__init__()
        self.channels = check_int("channels", channels, minimum=1)
        self.orders = check_int("orders", orders, minimum=1)
        self.eps = float(eps)
        self.norm = nn.BatchNorm2d(channels * orders)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_fields(z, (self.orders, 2), "z", self.channels)
        b, c, m, _, h, w = z.shape
        # eps keeps the direction z/|z| finite where z = 0 (there the output is ~0 anyway)
        mag = torch.sqrt(z.pow(2).sum(dim=3) + self.eps**2)  # [B, C, M, H, W]
        new = torch.relu(self.norm(mag.reshape(b, c * m, h, w))).view(b, c, m, h, w)
        return z * (new / mag).unsqueeze(3)


class HarmonicCNN(nn.Module):
    """An SO(2)-steerable classifier: complex fields of orders 0..max_order, gated on their magnitudes.

    hconv(real image -> orders 0..M) -> gate -> avgpool2 -> hconv -> gate -> avgpool2 -> hconv -> gate ->
    magnitudes of every field (invariant) -> global spatial mean -> linear.

    Args:
        widths: three channel counts; ``None`` matches ``models.C4CNN()``'s parameter count.
        max_order: the largest rotation order M carried by the features.
    Shapes: input ``[B, in_channels, H, W]``, H == W divisible by 4 -> logits ``[B, n_classes]``.
    Invariance: exact under ``groups.rot90`` (the sampled harmonics turn exactly, 2x2 average pooling of an
    even side commutes with quarter turns); other angles up to resampling.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        widths=None,
        max_order: int = 2,
        kernel_size: int = 5,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.max_order = check_int("max_order", max_order, minimum=0)
        if widths is None:
            widths = match_widths(
                lambda w: HarmonicCNN(in_channels, n_classes, w, max_order, kernel_size)
            )
        c1, c2, c3 = _check_widths(widths)
        self.widths = (c1, c2, c3)
        m = max_order + 1
        self.conv1 = HarmonicConv2d(
            in_channels, c1, max_order, kernel_size=kernel_size, real_input=True
        )
        self.conv2 = HarmonicConv2d(c1, c2, max_order, kernel_size=kernel_size)
        self.conv3 = HarmonicConv2d(c2, c3, max_order, kernel_size=kernel_size)
        self.gate1, self.gate2, self.gate3 = (
            MagnitudeGate(c1, m),
            MagnitudeGate(c2, m),
            MagnitudeGate(c3, m),
        )
        self.head = nn.Linear(c3 * m, n_classes)

    @staticmethod
    def _pool(z: torch.Tensor) -> torch.Tensor:
        b, c, m, p, h, w = z.shape
        return F.avg_pool2d(z.reshape(b, c * m * p, h, w), 2).view(
            b, c, m, p, h // 2, w // 2
        )

    def fields(self, x: torch.Tensor) -> torch.Tensor:
        """The last complex fields ``[B, widths[2], max_order + 1, 2, H/4, W/4]`` (equivariant)."""
        check_images(x, name="x", square=True, channels=self.in_channels)
        if x.shape[-1] % 4:
            raise ValueError(
                f"HarmonicCNN needs a side divisible by 4, got {x.shape[-1]}"
            )
        z = self._pool(self.gate1(self.conv1(x)))
        z = self._pool(self.gate2(self.conv2(z)))
        return self.gate3(self.conv3(z))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Invariant features ``[B, widths[2] * (max_order + 1)]``: field magnitudes, mean over the plane."""
        z = self.fields(x)
        # the epsilon keeps the gradient finite where a gated field is exactly 0
        return (z.pow(2).sum(dim=3) + 1e-12).sqrt().mean(dim=(-2, -1)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ----------------------------------------------------------------------------------- cost and measurement
def match_widths(
    build, target: int | None = None, ratios=(1, 2, 4), measure: str = "parameters"
) -> tuple:
    """Channel widths ``(a, 2a, 4a)`` (rounded, >= 1) whose model has the ``measure`` closest to
    ``target``, so that models compare at equal parameters (or at equal compute).

    Args:
        build: ``widths -> nn.Module``. target: a parameter (or multiply-add) count; default
            ``models.C4CNN()``'s. ratios: the widths' proportions. measure: ``"parameters"`` or
            ``"multiply_adds"`` (of one ``[1, 1, 28, 28]`` forward pass); ``a`` from 0.5 to 64.
    Returns:
        a tuple of three ints.
    """
    if not callable(build):
        raise TypeError("build must be a callable widths -> nn.Module")
    measures = {
        "parameters": count_parameters,
        "multiply_adds": lambda model: multiply_adds(model, (1, 1, 28, 28)),
    }
    if measure not in measures:
        raise ValueError(f"measure must be one of {sorted(measures)}, got {measure!r}")
    count = measures[measure]
    if target is None:
        from .models import C4CNN

        target = count(C4CNN())
    target = check_int("target", target, minimum=1)
    best, seen = None, set()
    for step in range(2, 257):  # a from 0.5 to 64
        a = step / 4
        widths = tuple(max(1, round(a * r)) for r in ratios)
        if widths in seen:
            continue
        seen.add(widths)
        gap = abs(count(build(widths)) - target)
        if best is None or gap < best[0]:
            best = (gap, widths)
        elif (
            gap > 2 * best[0] + target
        ):  # counts grow with a: stop once far past the target
            break
    return best[1]


def multiply_adds(model: nn.Module, input_shape) -> int:
    """Multiply-adds of one forward pass of ``model`` on a zero input of ``input_shape`` ``(B, C, H, W)``.

    Counts the convolutions and linear maps, the layers that dominate the cost: ``nn.Conv2d``,
    ``nn.Linear`` and any module with a ``filters()`` method returning the ordinary bank it convolves
    with, ``[out, in, k, k]`` (``models.LiftingConv2d``, ``models.GroupConv2d`` and this module's layers).
    A convolution costs ``out_H * out_W * out * in * k_H * k_W`` per image (zero padding counted as if
    multiplied). Not counted: biases, norms, nonlinearities, pooling, and building a bank from its
    coefficients (once per forward pass, independent of the batch).

    Returns:
        the total over the batch, an int.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) != 4:
        raise ValueError(f"input_shape must be (B, C, H, W), got {input_shape!r}")
    shape = tuple(check_int("input_shape entry", s, minimum=1) for s in input_shape)
    total = [0]

    def conv_cost(module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            weight = module.weight
            per_out = weight.shape[1] * weight.shape[2] * weight.shape[3]
            total[0] += output.numel() * per_out
        elif isinstance(module, nn.Linear):
            total[0] += output.numel() * module.in_features
        else:
            bank = module.filters()
            o, i, kh, kw = bank.shape
            b, h, w = shape[0], output.shape[-2], output.shape[-1]
            total[0] += b * h * w * o * i * kh * kw

    handles = [
        m.register_forward_hook(conv_cost)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
        or callable(getattr(m, "filters", None))
    ]
    param = next(iter(model.parameters()), None)
    x = torch.zeros(shape, dtype=param.dtype if param is not None else torch.float32)
    if param is not None:
        x = x.to(param.device)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return int(total[0])


def smooth_blobs(
    batch: int,
    size: int = 28,
    n_blobs: int = 6,
    sigma: float = 2.5,
    seed: int = 0,
    dtype=torch.float64,
) -> torch.Tensor:
    """Smooth test images: sums of ``n_blobs`` Gaussian blobs (width ``sigma`` pixels, random weights in
    [0.2, 1.2]) placed inside the inscribed disc. Bilinear resampling changes them little, so the
    interpolation floor is low and a network's own invariance error shows above it (MNIST's sharp strokes
    have a floor several times higher).

    Returns:
        ``[batch, 1, size, size]`` of ``dtype``, from a generator seeded with ``seed``.
    """
    batch = check_int("batch", batch, minimum=1)
    size = check_int("size", size, minimum=2)
    n_blobs = check_int("n_blobs", n_blobs, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, (int, float))
        or not 0 < sigma < size / 6
    ):
        raise ValueError(f"sigma must be a number in (0, size / 6), got {sigma!r}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    r, theta, weight = torch.rand(
        3, batch, n_blobs, 1, 1, generator=g, dtype=torch.float64
    )
    r = (size / 2 - 3 * sigma) * r.sqrt()  # uniform over the disc the blobs fit in
    theta = 2 * math.pi * theta
    d2 = (xx - r * torch.cos(theta)) ** 2 + (yy - r * torch.sin(theta)) ** 2
    images = ((0.2 + weight) * torch.exp(-d2 / (2 * sigma**2))).sum(dim=1, keepdim=True)
    return images.to(dtype)


def _angle(angle) -> float:
    if isinstance(angle, bool) or not isinstance(angle, (int, float)):
        raise TypeError(f"angle must be a number (radians), got {type(angle).__name__}")
    return float(angle)


def _relative_gap(
    a: torch.Tensor, b: torch.Tensor, spread: bool = False
) -> torch.Tensor:
    a, b = a.flatten(1), b.flatten(1)
    if not spread:
        return (a - b).norm(dim=1) / b.norm(dim=1).clamp_min(torch.finfo(b.dtype).tiny)
    if b.shape[0] < 2:
        raise ValueError(
            "measuring against the spread of the outputs needs a batch of at least 2 images"
        )
    # The part of f(x) shared by every input (biases, the mean response) says nothing about invariance:
    # measure against how far the outputs of different images lie from their mean.
    scale = (b - b.mean(dim=0)).norm(dim=1).pow(2).mean().sqrt()
    return (a - b).norm(dim=1) / scale.clamp_min(torch.finfo(b.dtype).tiny)


def _eval_outputs(model, images):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(images)
    finally:
        model.train(was_training)


def interpolation_floor(
    images: torch.Tensor, angle: float, model: nn.Module | None = None
) -> torch.Tensor:
    """What resampling alone changes: turn each image by ``angle`` and back (two bilinear resamplings).

    Without ``model``: ``|x' - x| / |x|`` per image, with ``x' = rotate(rotate(x, angle), -angle)``.
    With ``model``: ``|f(x') - f(x)| / |f(x)|`` (eval mode): how much the model's output moves for an input
    change that is pure interpolation. An exactly SO(2)-invariant model on the continuous images would move
    about this much under one turn (one resampling instead of two), so ``rotation_invariance_error`` should be
    read against it. (0 for quarter turns, which permute pixels.)

    Args:
        images: ``[B, C, H, W]``. angle: radians. model: optional ``[B, C, H, W] -> [B, ...]``.
    Returns:
        ``[B]`` in the images' dtype.
    """
    check_images(images, square=True)
    angle = _angle(angle)
    back = rotate(rotate(images, angle), -angle)
    if model is None:
        return _relative_gap(back, images)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return _relative_gap(
        _eval_outputs(model, back), _eval_outputs(model, images), spread=True
    )


def rotation_invariance_error(
    model: nn.Module, images: torch.Tensor, angle: float
) -> torch.Tensor:
    """``|f(rotate(x, angle)) - f(x)| / |f(x)|`` per image (eval mode, no gradients).

    Whole quarter turns use ``groups.rot90`` (exact); other angles ``groups.rotate`` (bilinear), which has a
    floor (``interpolation_floor``).

    Args:
        model: ``[B, C, H, W] -> [B, ...]``. images: ``[B, C, H, W]`` square. angle: radians.
    Returns:
        ``[B]`` in the output's dtype.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(images, square=True)
    angle = _angle(angle)
    q = quarter_turns(angle)
    turned = rot90(images, q) if q is not None else rotate(images, angle)
    return _relative_gap(
        _eval_outputs(model, turned), _eval_outputs(model, images), spread=True
    )


# ------------------------------------------------------------------------------------ sweeps over angles
def split_angle(angle) -> tuple:
    """Split ``angle`` (radians) into whole quarter turns and a remainder: ``angle = k pi / 2 + r``.

    Returns:
        ``(k, r)`` with ``k`` an int in 0..3 and ``r`` a float in ``[-pi / 4, pi / 4)`` (0.0 exactly when
        the angle is a whole number of quarter turns, within 1e-9 rad).
    """
    angle = _angle(angle)
    k = math.floor((angle + math.pi / 4) / (math.pi / 2))
    r = angle - k * math.pi / 2
    if abs(r) < 1e-9:
        r = 0.0
    return k % 4, r


def turn(images: torch.Tensor, angle) -> torch.Tensor:
    """Turn images counter-clockwise by ``angle`` radians: whole quarter turns exactly, the rest bilinearly.

    ``rot90(rotate(images, r), k)`` with ``(k, r) = split_angle(angle)``: a turn by 95 degrees resamples the
    image once, by 5 degrees, and a turn by a whole number of quarter turns does not resample it at all.
    (``groups.rotate`` by 95 degrees gives the same picture up to float rounding.)

    Args:
        images: ``[B, C, H, W]`` square. angle: a number (radians).
    Returns:
        ``[B, C, H, W]``.
    """
    check_images(images, square=True)
    k, r = split_angle(angle)
    return rot90(rotate(images, r) if r else images, k)


def outputs_by_angle(
    model: nn.Module,
    images: torch.Tensor,
    angles,
    quarter_periodic: bool = False,
    turned_back: bool = False,
    batch_size: int = 500,
) -> torch.Tensor:
    """The model's outputs on the images turned by each angle (``turn``), in eval mode, without gradients.

    Args:
        model: ``[B, C, H, W] -> [B, ...]``. images: ``[N, C, H, W]`` square. angles: a sequence of numbers
            (radians).
        quarter_periodic: evaluate each remainder ``r`` of ``split_angle`` once and reuse it for every angle
            ``k pi / 2 + r``. Valid only for a model that is exactly invariant to ``groups.rot90`` (check it,
            e.g. by comparing with ``quarter_periodic=False`` at one angle); it saves up to 4x the passes.
        turned_back: the control of the interpolation floor: feed ``rotate(rotate(x, r), -r)`` instead,
            the same resampling with the orientation unchanged (``x`` itself at quarter turns).
        batch_size: images per forward pass.
    Returns:
        ``[len(angles), N, ...]`` on the CPU, in the output's dtype.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(images, square=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if isinstance(angles, (str, bytes)) or not hasattr(angles, "__iter__"):
        raise TypeError(
            f"angles must be a sequence of numbers (radians), got {type(angles).__name__}"
        )
    angles = [_angle(a) for a in angles]
    if not angles:
        raise ValueError("angles is empty: give at least one angle")
    device = next(iter(model.parameters()), torch.empty(0)).device
    cache: dict = {}

    def evaluate(angle):
        k, r = split_angle(angle)
        # the control does not depend on k; an exactly rot90-invariant model does not either
        key = (0 if quarter_periodic or turned_back else k, round(r, 12))
        if key not in cache:
            out = []
            for i in range(0, images.shape[0], batch_size):
                x = images[i : i + batch_size].to(device)
                if turned_back:
                    x = rotate(rotate(x, r), -r) if r else x
                else:
                    x = turn(x, key[0] * math.pi / 2 + r)
                out.append(_eval_outputs(model, x).cpu())
            cache[key] = torch.cat(out)
        return cache[key]

    return torch.stack([evaluate(a) for a in angles])


def relative_change(outputs: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """How far each output moved from the reference, in units of the spread of the reference outputs.

    ``|outputs[a, i] - reference[i]| / s`` with ``s`` the root-mean-square distance of the reference outputs
    from their mean over the images: the measure of ``rotation_invariance_error`` and
    ``interpolation_floor``, applied to a whole sweep (e.g. ``outputs_by_angle`` against its angle 0).

    Args:
        outputs: ``[A, N, ...]``. reference: ``[N, ...]`` with N >= 2.
    Returns:
        ``[A, N]``.
    """
    for name, t in (("outputs", outputs), ("reference", reference)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating torch.Tensor")
    if outputs.dim() < 2 or tuple(outputs.shape[1:]) != tuple(reference.shape):
        raise ValueError(
            f"outputs must have shape [A, *reference.shape], got {tuple(outputs.shape)} "
            f"and {tuple(reference.shape)}"
        )
    return torch.stack([_relative_gap(o, reference, spread=True) for o in outputs])
