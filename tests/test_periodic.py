"""Tests of equinotes.periodic: exact shifts and reflections of band-limited signals, features, ShiftNet."""

import math

import pytest
import torch

from equinotes import equivariance, groups
from equinotes import periodic as P


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def signals(batch=4, dtype=torch.float64, seed=0, **kw):
    return P.random_signals(
        batch, generator=torch.Generator().manual_seed(seed), dtype=dtype, **kw
    )


def test_random_signals_shape_and_band_limit():
    a = signals(5, n_samples=16, n_modes=3)
    assert a.shape == (5, 16) and a.dtype == torch.float64
    spectrum = torch.fft.rfft(a, dim=-1).abs()
    assert spectrum[:, 4:].max() < 1e-12 and spectrum[:, 0].max() < 1e-12


def test_random_signals_reproducible_and_amplitudes():
    assert torch.equal(signals(3, seed=1), signals(3, seed=1))
    only_two = signals(3, amplitudes=[(0, 0), (1, 1), (0, 0)])
    assert torch.allclose(
        P.shift_signal(only_two, math.pi), only_two, atol=1e-12
    )  # period pi


def test_random_signals_bad_input():
    with pytest.raises(ValueError, match="n_modes"):
        P.random_signals(2, n_samples=8, n_modes=4)
    with pytest.raises(ValueError, match="amplitudes"):
        P.random_signals(2, amplitudes=[(1, 0)] * 3)
    with pytest.raises(TypeError):
        P.random_signals(2.5)


def test_whole_sample_shift_is_a_permutation(dtype):
    a = signals(3, dtype=dtype)
    n = a.shape[1]
    for s in (1, 5, -3):
        exact = groups.shift(a, -s, dims=-1)  # A o T_{2 pi s / N}
        tol = equivariance.default_tolerance(dtype)
        assert (P.shift_signal(a, 2 * math.pi * s / n) - exact).abs().max() < tol
    noise = torch.randn(2, 32, dtype=dtype, generator=torch.Generator().manual_seed(1))
    assert (
        P.shift_signal(noise, 2 * math.pi * 7 / 32) - torch.roll(noise, -7, -1)
    ).abs().max() < 1e-4


def test_shift_is_exact_for_band_limited_signals():
    a = signals(2)
    x = 2 * math.pi * torch.arange(32, dtype=torch.float64) / 32
    one = torch.cos(x)[None]
    assert torch.allclose(
        P.shift_signal(one, 0.3), torch.cos(x + 0.3)[None], atol=1e-12
    )
    # composing shifts adds them; batched shifts act per signal
    assert torch.allclose(
        P.shift_signal(P.shift_signal(a, 0.3), 0.4), P.shift_signal(a, 0.7), atol=1e-12
    )
    t = torch.tensor([0.1, -2.0], dtype=torch.float64)
    assert torch.allclose(
        P.shift_signal(a, t)[1], P.shift_signal(a[1:], -2.0)[0], atol=1e-12
    )


def test_shift_is_differentiable_in_t():
    a = signals(1)
    t = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    P.alignment_loss(a, P.shift_signal(a, 0.5), t).sum().backward()
    assert (
        t.grad is not None and t.grad.item() < 0
    )  # moving t towards 0.5 lowers the loss


def test_shift_bad_input():
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        P.shift_signal(torch.zeros(32), 0.1)
    with pytest.raises(TypeError):
        P.shift_signal(torch.zeros(2, 32, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match="shifts for a batch"):
        P.shift_signal(torch.zeros(2, 32), torch.zeros(3))
    with pytest.raises(TypeError):
        P.shift_signal(torch.zeros(2, 32), "a lot")


def test_reflect_is_an_involution_and_pulls_back_through_minus_x():
    a = signals(2)
    assert torch.equal(P.reflect(P.reflect(a)), a)
    x = 2 * math.pi * torch.arange(32, dtype=torch.float64) / 32
    assert torch.allclose(
        P.reflect(torch.sin(x)[None]), -torch.sin(x)[None], atol=1e-12
    )
    with pytest.raises(TypeError):
        P.reflect([1.0, 2.0])


def test_wrap_angle():
    t = torch.tensor([0.0, math.pi + 0.1, -math.pi - 0.1, 7 * math.pi])
    w = P.wrap_angle(t)
    assert torch.all(w >= -math.pi) and torch.all(w < math.pi)
    assert torch.allclose(
        w[:3], torch.tensor([0.0, -math.pi + 0.1, math.pi - 0.1]), atol=1e-6
    )
    with pytest.raises(TypeError):
        P.wrap_angle(1.0)


def test_pair_features_see_only_the_relative_shift(dtype):
    a, b = signals(3, dtype=dtype), signals(3, dtype=dtype, seed=1)
    f = P.pair_features(a, b)
    assert f.shape == (3, 6)
    moved = P.pair_features(P.shift_signal(a, 1.1), P.shift_signal(b, 1.1))
    assert (moved - f).abs().max() < 10 * equivariance.default_tolerance(dtype)
    # a unit cosine has feature 1 on its own mode
    x = 2 * math.pi * torch.arange(32, dtype=torch.float64) / 32
    one = torch.cos(x)[None]
    assert torch.allclose(
        P.pair_features(one, one, 1), torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    )


def test_pair_features_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        P.pair_features(torch.zeros(2, 32), torch.zeros(2, 16))
    with pytest.raises(ValueError, match="n_modes"):
        P.pair_features(torch.zeros(2, 8), torch.zeros(2, 8), n_modes=4)


def test_alignment_loss_is_zero_at_the_true_shift():
    a = signals(3)
    d = torch.tensor([0.5, -1.0, 2.5], dtype=torch.float64)
    b = P.shift_signal(a, d)
    loss = P.alignment_loss(a, b, d)
    assert loss.shape == (3,) and loss.max() < 1e-24
    assert P.alignment_loss(a, b, 0.0).min() > 1e-3
    with pytest.raises(ValueError):
        P.alignment_loss(a, b[:, :16], d)


def test_shiftnet_is_uu_equivariant_for_the_dihedral_group(dtype):
    torch.manual_seed(0)
    net = P.ShiftNet(state_input=True).to(dtype)
    a, b = signals(4, dtype=dtype), signals(4, dtype=dtype, seed=1)
    y = torch.linspace(-1, 2, 4, dtype=dtype)

    def f(inputs):
        return net(inputs[0], inputs[1], inputs[2])

    def act_in(g, inputs):
        return (*P.act_on_pair(g, inputs[:2]), P.act_on_shift(g, inputs[2]))

    report = equivariance.assert_equivariant(
        f, (a, b, y), act_in, P.act_on_shift, P.dihedral_elements(32)
    )
    assert len(report) == 64


def test_shiftnet_without_state_is_zero_on_an_aligned_pair():
    torch.manual_seed(0)
    net = P.ShiftNet().double()
    a = signals(3)
    assert (
        net(a, a).abs().max() < 1e-12
    )  # the pair (A, A) is reflection-symmetric, the output odd
    assert (
        net(a, P.shift_signal(a, 0.4)).abs().min() > 0
    )  # but it is not zero in general


def test_shiftnet_copies_use_their_own_weights():
    import copy

    torch.manual_seed(0)
    net = P.ShiftNet()
    twin = copy.deepcopy(net).double()
    a = signals(2)
    b = P.shift_signal(a, 0.3)
    assert twin(a, b).dtype == torch.float64
    assert torch.allclose(twin(a, b).float(), net(a.float(), b.float()), atol=1e-5)
    with torch.no_grad():
        twin.mlp[0].weight.mul_(3.0)  # changing the copy leaves the original alone
    assert not torch.allclose(twin(a, b).float(), net(a.float(), b.float()), atol=1e-3)


def test_shiftnet_bad_input():
    with pytest.raises(ValueError, match="reads a state"):
        P.ShiftNet(state_input=True)(torch.zeros(2, 32), torch.zeros(2, 32))
    with pytest.raises(ValueError, match="no state input"):
        P.ShiftNet()(torch.zeros(2, 32), torch.zeros(2, 32), torch.zeros(2))
    with pytest.raises(TypeError):
        P.ShiftNet(n_modes=1.5)


def test_dihedral_elements_and_actions():
    els = P.dihedral_elements(8)
    assert len(els) == 16 and (0, 0) in els and (7, 1) in els
    a = signals(2, n_samples=8, n_modes=3)
    # the action is a group action: (s, 0) then (s', 0) is (s + s', 0)
    one = P.act_on_pair((3, 0), P.act_on_pair((2, 0), (a, a)))[0]
    assert torch.equal(one, P.act_on_pair((5, 0), (a, a))[0])
    # A o U with U: x -> -x + c is the continuous formula, sample by sample
    c = 2 * math.pi * 3 / 8
    x = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    sig = torch.cos(x + 0.2)[None]
    assert torch.allclose(
        P.act_on_pair((3, 1), (sig, sig))[0], torch.cos(-x + c + 0.2)[None], atol=1e-12
    )
    with pytest.raises(ValueError, match="dihedral element"):
        P.act_on_pair((1, 2), (a, a))
    with pytest.raises(TypeError, match="pair"):
        P.act_on_pair((1, 0), a)
    with pytest.raises(TypeError):
        P.act_on_shift((1, 0), 0.5)


def test_orbit_actions_stack_every_element_along_the_batch(dtype):
    a, b = signals(3, dtype=dtype), signals(3, dtype=dtype, seed=1)
    els = P.dihedral_elements(32, shifts=[0, 5, 31])
    moving, fixed = P.act_on_pair_orbit(els, (a, b))
    assert moving.shape == fixed.shape == (len(els) * 3, 32)
    for i, g in enumerate(els):  # element-major blocks of the batch
        one = P.act_on_pair(g, (a, b))
        assert torch.equal(moving[3 * i : 3 * i + 3], one[0])
        assert torch.equal(fixed[3 * i : 3 * i + 3], one[1])
    t = torch.arange(6, dtype=dtype).reshape(2, 3)  # a trajectory [K, B]
    acted = P.act_on_shift_orbit(els, t)
    assert acted.shape == (2, len(els) * 3)
    for i, g in enumerate(els):
        assert torch.equal(acted[:, 3 * i : 3 * i + 3], P.act_on_shift(g, t))
    # one batched call checks a [U,U]-equivariant registration on the whole orbit
    torch.manual_seed(0)
    net = P.ShiftNet().to(dtype)
    with torch.no_grad():
        lhs = net(moving, fixed)
        rhs = P.act_on_shift_orbit(els, net(a, b))
    assert (lhs - rhs).abs().max() <= equivariance.default_tolerance(dtype)


def test_orbit_actions_reject_bad_input():
    a = signals(2)
    with pytest.raises(ValueError, match="empty"):
        P.act_on_pair_orbit([], (a, a))
    with pytest.raises(ValueError, match="dihedral element"):
        P.act_on_pair_orbit([(0, 0), (1, 2)], (a, a))
    with pytest.raises(TypeError, match="list of dihedral"):
        P.act_on_shift_orbit((0, 0)[0], torch.zeros(2))
    with pytest.raises(TypeError, match="pair"):
        P.act_on_pair_orbit([(0, 0)], a)
    with pytest.raises(TypeError, match="tensor of shifts"):
        P.act_on_shift_orbit([(0, 0)], 0.5)


def test_iterated_registration_and_gaps():
    a = signals(6)
    d = torch.linspace(-2.5, 2.5, 6, dtype=torch.float64)
    b = P.shift_signal(a, d)

    def phi(
        m, f
    ):  # half of an exact estimate from mode 1: only its limit is [W,U]-equivariant
        z = P.pair_features(m, f, 1)
        return 0.5 * torch.atan2(z[:, 1], z[:, 0])

    psi = P.iterated_registration(phi, a, b, 40)
    assert psi.shape == (40, 6) and (P.wrap_angle(psi[-1] - d)).abs().max() < 1e-10
    gaps = P.equivariance_gaps(
        phi, a, b, 0.7, torch.full((6,), -1.3, dtype=torch.float64), 60
    )
    assert gaps["wu"].shape == (60, 6) and gaps["uu"].max() < 1e-10
    assert (
        gaps["wu"][0].min() > 0.4 and gaps["wu"][-1].max() < 1e-10
    )  # halves at each step
    assert P.add_shifts(torch.tensor(1.0), torch.tensor(2.0)) == 3.0
    with pytest.raises(ValueError, match="n_steps"):
        P.iterated_registration(phi, a, b, 0)
    with pytest.raises(ValueError, match="shifts for a batch"):
        P.equivariance_gaps(phi, a, b, torch.zeros(2), 0.0, 3)


def exact_registration(moving, fixed):
    """An exactly [W,U]-equivariant one-shot registration: the phase of mode 1 of the
    cross-spectrum (wrapped to [-pi, pi))."""
    z = P.pair_features(moving, fixed, n_modes=1)
    return torch.atan2(z[:, 1], z[:, 0])


def test_correction_curve_matches_direct_calls_and_has_two_zeros():
    a = signals(3)
    delta = torch.tensor([0.3, -0.5, 1.0], dtype=torch.float64)
    b = P.shift_signal(a, delta)
    ts = torch.linspace(-3, 3, 7, dtype=torch.float64)
    curve = P.correction_curve(exact_registration, a, b, ts)
    assert curve.shape == (3, 7)
    for j, t in enumerate(ts):
        direct = exact_registration(P.shift_signal(a, t.expand(3)), b)
        assert torch.allclose(curve[:, j], direct, atol=1e-12)
    net = P.ShiftNet(3, hidden=8).double()
    zeros = P.correction_curve(
        net, a[:1], b[:1], delta[:1] + torch.tensor([0.0, math.pi], dtype=torch.float64)
    )
    assert zeros.abs().max() < 1e-10  # reflection-odd: zero at the alignment and at +pi


def test_correction_step_and_start_basin():
    a = signals(4)
    delta = torch.tensor([0.3, -0.5, 1.0, 0.0], dtype=torch.float64)
    b = P.shift_signal(a, delta)
    step = P.correction_step(exact_registration)
    assert torch.allclose(
        P.wrap_angle(step((a, b), torch.zeros(4, dtype=torch.float64)) - delta),
        torch.zeros(4, dtype=torch.float64),
        atol=1e-12,
    )
    basin = P.start_basin(exact_registration, a, b, delta, n_starts=8, n_steps=3)
    assert basin["ends"].shape == (4, 8) and basin["in_basin"].dtype == torch.bool
    assert torch.equal(basin["share"], torch.ones(4, dtype=torch.float64))
    wrong = P.start_basin(exact_registration, a, b, delta + 1.0, n_starts=8, n_steps=3)
    assert wrong["share"].max() == 0
    assert torch.allclose(
        basin["starts"][1] - basin["starts"][0],
        torch.tensor(math.pi / 4, dtype=torch.float64),
    )


def test_start_basin_and_curve_bad_input():
    a = signals(2)
    with pytest.raises(TypeError, match="callable"):
        P.correction_curve(None, a, a, torch.zeros(3))
    with pytest.raises(TypeError, match="1-D"):
        P.correction_curve(exact_registration, a, a, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="same shape"):
        P.correction_curve(exact_registration, a, a[:1], torch.zeros(3))
    with pytest.raises(ValueError, match="n_starts"):
        P.start_basin(exact_registration, a, a, 0.0, n_starts=1)
    with pytest.raises(ValueError, match="tol"):
        P.start_basin(exact_registration, a, a, 0.0, tol=0)
    with pytest.raises(TypeError, match="callable"):
        P.correction_step(3)


def test_position_bias_breaks_uu_and_perturbed_adds_it():
    a = signals(3)
    h = P.position_bias(a, a)
    assert h.shape == (3,) and h.abs().max() <= 1
    moved = P.position_bias(P.shift_signal(a, 0.7), P.shift_signal(a, 0.7))
    assert (moved - h).abs().max() > 1e-3  # reads absolute position
    step = P.perturbed(exact_registration, 0.1)
    assert torch.allclose(step(a, a), exact_registration(a, a) + 0.1 * h)
    assert torch.equal(
        P.perturbed(exact_registration, 0)(a, a), exact_registration(a, a)
    )
    with pytest.raises(ValueError, match="eps"):
        P.perturbed(exact_registration, -1.0)
    with pytest.raises(ValueError, match="eps"):
        P.perturbed(exact_registration, float("nan"))
    with pytest.raises(TypeError, match="callable"):
        P.perturbed(None, 0.1)
    with pytest.raises(ValueError, match="same shape"):
        P.position_bias(a, a[:1])
