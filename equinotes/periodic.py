"""Periodic 1-D signals on the circle, registered by shifts: the cheap, exact toy of chapter 3.

A signal is a function on the circle S = R / 2piZ, stored as ``N`` samples at ``x_i = 2 pi i / N``,
a tensor ``[B, N]``. Signals are *band-limited* (only Fourier modes ``|k| < N/2``), so shifting by any
real amount is exact: it multiplies mode k by ``e^{i k t}``.

Conventions (the book's pull-back convention, DESIGN section 2, on the circle):

* A transform is a shift ``T_t: x -> x + t``, stored as the number ``t`` (radians, a tensor ``[B]``).
  ``T_s o T_t = T_{s+t}``, so composing transforms adds their numbers.
* Warping is pull-back: ``shift_signal(A, t)`` is ``A o T_t``, the signal ``x -> A(x + t)``.
  For ``t = 2 pi s / N`` this is ``groups.shift(A, -s)``, a permutation of samples.
* Registration: ``Phi[A, B]`` is a shift t with ``A o T_t ~ B``.
* The circle's isometries ``U: x -> eps x + c`` (eps = +1 a rotation, -1 a reflection) act on a
  transform by conjugation, ``U^{-1} o T_t o U = T_{eps t}``; rotations commute with shifts, so the
  [U,U] action on a shift is trivial and the [W,U] action is ``t -> t + u - w``.
"""

from __future__ import annotations

import math

import torch

from . import groups
from .equivariance import symmetrize
from .utils import check_int, check_tensor

__all__ = [
    "check_signals",
    "check_shifts",
    "random_signals",
    "shift_signal",
    "reflect",
    "wrap_angle",
    "pair_features",
    "alignment_loss",
    "ShiftNet",
    "dihedral_elements",
    "act_on_pair",
    "act_on_shift",
    "act_on_pair_orbit",
    "act_on_shift_orbit",
    "add_shifts",
    "iterated_registration",
    "equivariance_gaps",
    "correction_curve",
    "correction_step",
    "start_basin",
    "position_bias",
    "perturbed",
]


def check_signals(signals, name: str = "signals") -> torch.Tensor:
    """Validate a batch of sampled signals ``[B, N]`` (floating, N >= 4) and return it."""
    check_tensor(signals, name, "[B, N]")
    if signals.shape[1] < 4:
        raise ValueError(
            f"{name} needs at least 4 samples per signal, got {signals.shape[1]}"
        )
    return signals


def check_shifts(t, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Shifts as a tensor ``[batch]``: a number is broadcast, a tensor must have 1 or ``batch`` entries."""
    if isinstance(t, bool):
        raise TypeError("a shift must be a number or a tensor of radians, got bool")
    if isinstance(t, (int, float)):
        return torch.full((batch,), float(t), dtype=dtype, device=device)
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"a shift must be a number or a tensor [B] of radians, got {type(t).__name__}"
        )
    if t.is_complex():
        raise TypeError("shifts must be real")
    t = t.to(dtype=dtype, device=device).reshape(-1)
    if t.numel() == 1:
        return t.expand(batch)
    if t.numel() != batch:
        raise ValueError(f"got {t.numel()} shifts for a batch of {batch} signals")
    return t


def random_signals(
    batch: int,
    n_samples: int = 32,
    n_modes: int = 3,
    generator: torch.Generator | None = None,
    amplitudes=None,
    dtype=torch.float32,
    device=None,
) -> torch.Tensor:
    """Random band-limited signals ``sum_k a_k cos(k x + p_k)`` for k = 1..n_modes, sampled ``[batch,
    n_samples]``.

    Args:
        batch, n_samples: how many signals and samples (``n_modes < n_samples / 2``).
        n_modes: the highest Fourier mode.
        generator: a CPU ``torch.Generator`` for reproducible draws.
        amplitudes: ``[n_modes]`` pairs ``(low, high)`` or one pair for all modes: a_k ~ U[low, high].
            Default: mode 1 in [0.6, 1.0], the others in [0, 0.5].
    Returns:
        ``[batch, n_samples]`` (the phases p_k are uniform, so the distribution is shift-invariant).
    """
    batch = check_int("batch", batch, minimum=1)
    n_samples = check_int("n_samples", n_samples, minimum=4)
    n_modes = check_int("n_modes", n_modes, minimum=1)
    if 2 * n_modes >= n_samples:
        raise ValueError(
            f"n_modes must be < n_samples / 2 to be band-limited, got {n_modes} modes, {n_samples} samples"
        )
    if amplitudes is None:
        amplitudes = [(0.6, 1.0)] + [(0.0, 0.5)] * (n_modes - 1)
    amplitudes = list(amplitudes)
    if len(amplitudes) == 2 and all(isinstance(a, (int, float)) for a in amplitudes):
        amplitudes = [tuple(amplitudes)] * n_modes
    if len(amplitudes) != n_modes or any(
        len(a) != 2 or a[0] > a[1] for a in amplitudes
    ):
        raise ValueError(
            f"amplitudes must be {n_modes} (low, high) pairs with low <= high, got {amplitudes}"
        )
    low = torch.tensor([a[0] for a in amplitudes], dtype=torch.float64)
    high = torch.tensor([a[1] for a in amplitudes], dtype=torch.float64)
    amp = low + (high - low) * torch.rand(
        batch, n_modes, generator=generator, dtype=torch.float64
    )
    phase = (
        2
        * math.pi
        * torch.rand(batch, n_modes, generator=generator, dtype=torch.float64)
    )
    x = 2 * math.pi * torch.arange(n_samples, dtype=torch.float64) / n_samples
    k = torch.arange(1, n_modes + 1, dtype=torch.float64)
    signals = (
        amp[:, :, None]
        * torch.cos(k[None, :, None] * x[None, None, :] + phase[:, :, None])
    ).sum(1)
    return signals.to(dtype=dtype, device=device)


def shift_signal(signals: torch.Tensor, t) -> torch.Tensor:
    """Pull back through the shift ``T_t``: ``(A o T_t)(x) = A(x + t)``, exact for band-limited signals.

    Args:
        signals: ``[B, N]``. t: a number or ``[B]`` (radians).
    Returns:
        ``[B, N]``; differentiable in ``t`` and in ``signals``.
    """
    check_signals(signals)
    b, n = signals.shape
    t = check_shifts(t, b, signals.dtype, signals.device)
    spectrum = torch.fft.rfft(signals, dim=-1)
    k = torch.arange(spectrum.shape[-1], device=signals.device, dtype=signals.dtype)
    phase = torch.polar(torch.ones_like(t[:, None] * k), t[:, None] * k)
    # (irfft keeps only the real part of an even N's Nyquist mode: whole-sample shifts are exact for any
    # signal, other shifts for signals without that mode, which band-limited signals never have.)
    return torch.fft.irfft(spectrum * phase, n=n, dim=-1)


def reflect(signals: torch.Tensor) -> torch.Tensor:
    """Pull back through the reflection ``F: x -> -x``: sample i goes to ``-i mod N`` (a permutation). ``[B,
    N]``.
    """
    check_signals(signals)
    return torch.roll(torch.flip(signals, dims=(-1,)), shifts=1, dims=-1)


def wrap_angle(t: torch.Tensor) -> torch.Tensor:
    """Angles mapped to ``[-pi, pi)``: the signed distance on the circle (elementwise, any shape)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
    return torch.remainder(t + math.pi, 2 * math.pi) - math.pi


def pair_features(
    moving: torch.Tensor, fixed: torch.Tensor, n_modes: int = 3
) -> torch.Tensor:
    """Cross-spectrum features of a pair, unchanged when both signals are shifted by the same amount.

    Mode k of ``A o T_u`` is ``a_k e^{iku}``, so ``conj(a_k) b_k`` does not see a common shift u; under a
    common reflection it is conjugated. (An x -> -x reflection of a real signal conjugates every mode.)

    Args:
        moving, fixed: ``[B, N]``. n_modes: modes 1..n_modes are used.
    Returns:
        ``[B, 2 n_modes]``: real parts of ``conj(a_k) b_k`` (k = 1..n_modes), then imaginary parts,
        scaled by ``4 / N^2`` (so a unit cosine gives 1).
    """
    check_signals(moving, "moving")
    check_signals(fixed, "fixed")
    if moving.shape != fixed.shape:
        raise ValueError(
            f"moving and fixed must have the same shape, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
        )
    n_modes = check_int("n_modes", n_modes, minimum=1)
    n = moving.shape[1]
    if 2 * n_modes >= n:
        raise ValueError(f"n_modes must be < N / 2, got {n_modes} for N = {n}")
    a = torch.fft.rfft(moving, dim=-1)[:, 1 : n_modes + 1]
    b = torch.fft.rfft(fixed, dim=-1)[:, 1 : n_modes + 1]
    cross = torch.conj(a) * b * (4.0 / n**2)
    return torch.cat([cross.real, cross.imag], dim=-1)


def alignment_loss(moving: torch.Tensor, fixed: torch.Tensor, t) -> torch.Tensor:
    """The outer loss of registration, per pair: ``mean_x (A(x + t) - B(x))^2``, a tensor ``[B]``."""
    check_signals(moving, "moving")
    check_signals(fixed, "fixed")
    if moving.shape != fixed.shape:
        raise ValueError(
            f"moving and fixed must have the same shape, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
        )
    return ((shift_signal(moving, t) - fixed) ** 2).mean(-1)


class ShiftNet(torch.nn.Module):
    """A small MLP that outputs a shift from the pair's cross-spectrum (and, optionally, a current state).

    ``forward(moving [B, N], fixed [B, N], state [B] or None) -> [B]`` (radians).

    * It depends on the pair only through ``pair_features``, so it is unchanged by a common shift of
      both signals: as a registration ``Phi[A, B]`` it is [U,U]-equivariant for every rotation U.
    * It is made odd under the common reflection (features conjugated, state negated) by the Reynolds
      average ``equivariance.symmetrize`` over the two-element group, so it is also [U,U]-equivariant
      for reflections (``U^{-1} o T_t o U = T_{-t}``).
    * It is *not* [W,U]-equivariant: nothing ties its output to a shift of one signal alone.

    With ``state_input=True`` the state enters as ``(cos y, sin y)``, so the net can read where it is.
    """

    def __init__(self, n_modes: int = 3, hidden: int = 32, state_input: bool = False):
        super().__init__()
        self.n_modes = check_int("n_modes", n_modes, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        self.state_input = bool(state_input)
        width = 2 * self.n_modes + (2 if self.state_input else 0)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(width, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1),
        )
        # Reflection flips the sign of the imaginary features and of sin(state).
        sign = torch.ones(width)
        sign[self.n_modes : 2 * self.n_modes] = -1
        if self.state_input:
            sign[-1] = -1
        self.register_buffer("reflection_sign", sign)

    def _act_in(self, g, z):
        return z * self.reflection_sign.to(z.dtype) if g else z

    @staticmethod
    def _act_out(g, out):
        return -out if g else out

    def forward(
        self,
        moving: torch.Tensor,
        fixed: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        z = pair_features(moving, fixed, self.n_modes)
        if self.state_input:
            if state is None:
                raise ValueError(
                    "this ShiftNet reads a state: call it as net(moving, fixed, state)"
                )
            state = (
                check_shifts(state, z.shape[0], z.dtype, z.device)
                if not isinstance(state, torch.Tensor)
                else state.reshape(-1).to(z.dtype)
            )
            if state.shape[0] != z.shape[0]:
                raise ValueError(f"got {state.shape[0]} states for {z.shape[0]} pairs")
            z = torch.cat(
                [z, torch.cos(state)[:, None], torch.sin(state)[:, None]], dim=-1
            )
        elif state is not None:
            raise ValueError(
                "this ShiftNet has no state input (state_input=False); call it as net(moving, fixed)"
            )
        # Built per call (not stored), so copies of the module (copy.deepcopy, .double()) use their own
        # weights.
        odd = symmetrize(
            self.mlp, groups.SWAP, act_in=self._act_in, act_out=self._act_out
        )
        return odd(z)[:, 0]


def dihedral_elements(n_samples: int, shifts=None) -> list:
    """Elements ``(s, r)`` of the dihedral group of the N-sample circle: ``U: x -> (-1)^r x + 2 pi s / N``.

    Args:
        n_samples: N. shifts: which s to list (default all 0..N-1).
    Returns:
        a list of ``(s, r)`` for r in (0, 1).
    """
    n_samples = check_int("n_samples", n_samples, minimum=4)
    shifts = (
        range(n_samples) if shifts is None else [check_int("shift", s) for s in shifts]
    )
    return [(s % n_samples, r) for r in (0, 1) for s in shifts]


def _check_element(g):
    if not (isinstance(g, tuple) and len(g) == 2 and g[1] in (0, 1)):
        raise ValueError(
            f"a dihedral element is a pair (s, r) with r in (0, 1), got {g!r}"
        )
    return check_int("s", g[0]), g[1]


def act_on_pair(g, pair):
    """[U,U] action of ``g = (s, r)`` on a pair: ``(A o U, B o U)`` with ``U: x -> (-1)^r x + 2 pi s/N``
    (exact).
    """
    s, r = _check_element(g)
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise TypeError("pair must be a tuple (moving, fixed) of signals [B, N]")

    def pull(a):
        a = check_signals(a)
        a = groups.shift(a, -s, dims=-1)  # A o T_{2 pi s/N}: sample i takes A(x_{i+s})
        return reflect(a) if r else a  # (A o T) o F = A o (x -> -x + c)

    return tuple(pull(a) for a in pair)


def act_on_shift(g, t: torch.Tensor) -> torch.Tensor:
    """How ``g = (s, r)`` acts on a shift by conjugation: ``U^{-1} o T_t o U = T_{(-1)^r t}``."""
    _, r = _check_element(g)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a tensor of shifts, got {type(t).__name__}")
    return -t if r else t


def _check_elements(elements) -> list:
    if isinstance(elements, (str, bytes)) or not hasattr(elements, "__iter__"):
        raise TypeError(
            "elements must be a list of dihedral elements (s, r), "
            f"got {type(elements).__name__}"
        )
    elements = list(elements)
    if not elements:
        raise ValueError("elements is empty: give at least one dihedral element")
    for g in elements:
        _check_element(g)
    return elements


def act_on_pair_orbit(elements, pair):
    """``act_on_pair(g, pair)`` for every g in ``elements``, stacked along the batch, so that one call
    of a registration sees the whole orbit.

    Args:
        elements: a non-empty list of dihedral elements ``(s, r)`` (e.g. ``dihedral_elements(N)``).
        pair: ``(moving [B, N], fixed [B, N])``.
    Returns:
        ``(moving [G*B, N], fixed [G*B, N])``, element-major: rows ``i*B ... (i+1)*B - 1`` are
        ``act_on_pair(elements[i], pair)``.
    """
    elements = _check_elements(elements)
    acted = [act_on_pair(g, pair) for g in elements]
    return tuple(torch.cat([a[i] for a in acted]) for i in range(2))


def act_on_shift_orbit(elements, t: torch.Tensor) -> torch.Tensor:
    """``act_on_shift(g, t)`` for every g in ``elements``, concatenated along the last (batch) axis.

    Args:
        elements: as in ``act_on_pair_orbit``. t: shifts ``[..., B]`` (e.g. a trajectory ``[K, B]``).
    Returns:
        ``[..., G*B]``, element-major like ``act_on_pair_orbit``: a registration applied to
        ``act_on_pair_orbit(elements, pair)`` is [U,U]-equivariant on the listed elements exactly
        when it returns ``act_on_shift_orbit(elements, its output on pair)``.
    """
    elements = _check_elements(elements)
    if not isinstance(t, torch.Tensor) or t.dim() == 0:
        raise TypeError("t must be a tensor of shifts [..., B]")
    return torch.cat([act_on_shift(g, t) for g in elements], dim=-1)


def add_shifts(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Composition of shifts, ``T_s o T_t = T_{s + t}`` (the ``compose`` of ``mesa.two_step`` on the
    circle).
    """
    return s + t


def iterated_registration(
    phi, moving: torch.Tensor, fixed: torch.Tensor, n_steps: int
) -> torch.Tensor:
    """``Psi_1[A, B], ..., Psi_K[A, B]`` for Psi_{k+1} = TwoStep{Psi_k, Phi} on shifts, as ``[K, B]``.

    Args:
        phi: a registration ``(moving [B, N], fixed [B, N]) -> shifts [B]``.
        moving, fixed: ``[B, N]``. n_steps: K >= 1.
    """
    from . import mesa

    check_signals(moving, "moving")
    check_signals(fixed, "fixed")
    return torch.stack(
        mesa.two_step_trajectory(phi, moving, fixed, n_steps, shift_signal, add_shifts)
    )


def equivariance_gaps(
    phi, moving: torch.Tensor, fixed: torch.Tensor, w, u, n_steps: int
) -> dict:
    """[W,U] and [U,U] errors of Psi_1 ... Psi_K on shifts, per pair (radians, wrapped).

    With W = T_w and U = T_u (rotations of the circle), the laws read
    ``Psi[A o W, B o U] = W^{-1} o Psi[A, B] o U``, i.e. ``t -> t + u - w``, and
    ``Psi[A o U, B o U] = U^{-1} o Psi[A, B] o U``, i.e. ``t -> t``.

    Args:
        phi: a registration ``(A, B) -> [B]``. moving, fixed: ``[B, N]``. w, u: numbers or ``[B]`` shifts.
        n_steps: K >= 1.
    Returns:
        ``{"wu": [K, B], "uu": [K, B], "psi": [K, B], "psi_wu": [K, B]}``: the absolute wrapped errors of
        each Psi_k, its outputs on the pair and on ``(A o W, B o U)``.
    """
    check_signals(moving, "moving")
    check_signals(fixed, "fixed")
    b = moving.shape[0]
    w = check_shifts(w, b, moving.dtype, moving.device)
    u = check_shifts(u, b, moving.dtype, moving.device)
    with torch.no_grad():
        psi = iterated_registration(phi, moving, fixed, n_steps)
        psi_wu = iterated_registration(
            phi, shift_signal(moving, w), shift_signal(fixed, u), n_steps
        )
        psi_uu = iterated_registration(
            phi, shift_signal(moving, u), shift_signal(fixed, u), n_steps
        )
    return {
        "wu": wrap_angle(psi_wu - (psi + u - w)).abs(),
        "uu": wrap_angle(psi_uu - psi).abs(),
        "psi": psi,
        "psi_wu": psi_wu,
    }


def _check_pair(moving, fixed):
    check_signals(moving, "moving")
    check_signals(fixed, "fixed")
    if moving.shape != fixed.shape:
        raise ValueError(
            f"moving and fixed must have the same shape, got {tuple(moving.shape)} and "
            f"{tuple(fixed.shape)}"
        )


def correction_curve(
    phi, moving: torch.Tensor, fixed: torch.Tensor, shifts
) -> torch.Tensor:
    """The correction the step proposes at every current shift: ``Phi[A o T_t, B]``.

    Args:
        phi: a registration ``(moving [B, N], fixed [B, N]) -> shifts [B]``.
        moving, fixed: ``[B, N]``. shifts: the current shifts t, a 1-D tensor ``[T]`` (radians).
    Returns:
        ``[B, T]``: entry (b, j) is ``Phi[A_b o T_{t_j}, B_b]``. A zero is a fixed point of the
        iteration ``t -> t + Phi[A o T_t, B]``; it attracts when the slope of the curve there lies in
        (-2, 0).
    """
    if not callable(phi):
        raise TypeError("phi must be callable as phi(moving, fixed)")
    _check_pair(moving, fixed)
    if not isinstance(shifts, torch.Tensor) or shifts.dim() != 1 or len(shifts) == 0:
        raise TypeError("shifts must be a non-empty 1-D tensor [T] of radians")
    b, n = moving.shape
    count = len(shifts)
    t = shifts.to(moving.dtype).to(moving.device).repeat(b)  # [B*T], pair-major
    with torch.no_grad():
        out = phi(
            shift_signal(moving.repeat_interleave(count, 0), t),
            fixed.repeat_interleave(count, 0),
        )
    return out.reshape(b, count)


def correction_step(phi):
    """The iteration of ``TwoStep`` on shifts as a step for ``mesa.iterate``: ``((A, B), t) -> t +
    Phi[A o T_t, B]`` (``T -> T o Phi[A o T, B]``), states ``[B]``."""
    if not callable(phi):
        raise TypeError("phi must be callable as phi(moving, fixed)")

    def step(pair, t):
        return t + phi(shift_signal(pair[0], t), pair[1])

    return step


def start_basin(
    phi,
    moving: torch.Tensor,
    fixed: torch.Tensor,
    target: torch.Tensor,
    n_starts: int = 64,
    n_steps: int = 64,
    tol: float = 1e-6,
) -> dict:
    """Which starting shifts the iteration ``t -> t + Phi[A o T_t, B]`` carries to ``target``.

    The starts are the grid ``s_j = -pi + 2 pi (j + 1/2) / n_starts``. Because ``Psi_K[A o W, B o U]``
    is ``K`` steps on ``(A, B)`` started at ``W o U^-1 = T_{w-u}``, moved back by ``u - w``, the share
    of the circle from which the iteration reaches ``target`` is the share of rotation pairs (W, U),
    drawn uniformly, for which the limit is [W,U]-equivariant (up to the grid's resolution).

    Args:
        phi: a registration ``(A, B) -> [B]``. moving, fixed: ``[B, N]``.
        target: ``[B]``, the fixed point each pair should reach (e.g. where the start 0 ends).
        n_starts: grid size (>= 2). n_steps: steps per start (>= 1). tol: radians (> 0).
    Returns:
        ``{"starts": [S], "ends": [B, S], "in_basin": [B, S] bool, "share": [B]}``.
    """
    if not callable(phi):
        raise TypeError("phi must be callable as phi(moving, fixed)")
    _check_pair(moving, fixed)
    b = moving.shape[0]
    target = check_shifts(target, b, moving.dtype, moving.device)
    n_starts = check_int("n_starts", n_starts, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    from . import mesa

    starts = (
        -math.pi
        + 2
        * math.pi
        * (torch.arange(n_starts, dtype=moving.dtype, device=moving.device) + 0.5)
        / n_starts
    )
    pair = (moving.repeat_interleave(n_starts, 0), fixed.repeat_interleave(n_starts, 0))
    with torch.no_grad():
        ends = mesa.iterate(correction_step(phi), pair, starts.repeat(b), n_steps)[-1]
    ends = ends.reshape(b, n_starts)
    in_basin = wrap_angle(ends - target[:, None]).abs() <= tol
    return {
        "starts": starts,
        "ends": ends,
        "in_basin": in_basin,
        "share": in_basin.to(moving.dtype).mean(1),
    }


def position_bias(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """A correction that reads *absolute* position, so it is not [U,U]-equivariant: ``sin(arg a_1)``.

    ``a_1`` is the first Fourier mode of the moving signal; a common shift by u turns its phase by u,
    so the output changes (while ``pair_features`` do not). Bounded by 1 in absolute value.

    Args:
        moving, fixed: ``[B, N]`` (``fixed`` is checked, not read).
    Returns:
        ``[B]`` (radians).
    """
    _check_pair(moving, fixed)
    a1 = torch.fft.rfft(moving, dim=-1)[:, 1]
    return torch.sin(torch.angle(a1))


def perturbed(phi, eps: float, bias=position_bias):
    """The step ``Phi_eps[A, B] = Phi[A, B] + eps * bias(A, B)``: a model of a step whose [U,U]
    equivariance was only learned (by augmentation), wrong by at most ``eps * max|bias|``.

    Args:
        phi, bias: registrations ``(A [B, N], B [B, N]) -> [B]``. eps: a finite number >= 0.
    Returns:
        the registration ``(A, B) -> [B]``.
    """
    if not callable(phi) or not callable(bias):
        raise TypeError("phi and bias must be callable as f(moving, fixed)")
    if (
        isinstance(eps, bool)
        or not isinstance(eps, (int, float))
        or not (0 <= eps < math.inf)
    ):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")

    def step(moving, fixed):
        return phi(moving, fixed) + eps * bias(moving, fixed)

    return step
