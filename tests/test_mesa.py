"""Tests of equinotes.mesa: iteration, fixed points, unrolled training and TwoStep powers."""

import math

import pytest
import torch

from equinotes import equivariance, mesa
from equinotes import periodic as P


def contraction(x, y):
    """y -> (y + x) / 2: a contraction with the fixed point y = x."""
    return 0.5 * (y + x)


def test_iterate_returns_the_trajectory():
    x = torch.tensor([[1.0, -2.0], [4.0, 0.0]])
    traj = mesa.iterate(contraction, x, torch.zeros(2, 2), 5)
    assert traj.shape == (6, 2, 2)
    assert torch.equal(traj[0], torch.zeros(2, 2))
    assert torch.allclose(traj[1], 0.5 * x)
    assert mesa.iterate(contraction, x, torch.zeros(2, 2), 0).shape == (1, 2, 2)


def test_iterate_converges_on_a_known_contraction():
    x = torch.randn(
        3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    traj = mesa.iterate(contraction, x, torch.zeros_like(x), 60)
    errors = (traj - x).flatten(1).norm(dim=1)
    rates = errors[1:31] / errors[:30]
    assert torch.allclose(
        rates, torch.full((30,), 0.5, dtype=torch.float64)
    )  # rate 1/2, until round-off
    assert errors[-1] < 1e-14
    assert mesa.fixed_point_residual(contraction, x, traj[-1]).max() < 1e-14
    assert torch.allclose(
        mesa.fixed_point_residual(contraction, x, torch.zeros_like(x)),
        0.5 * x.norm(dim=1),
    )


def test_iterate_keeps_gradients_for_unrolled_training():
    w = torch.tensor(0.3, requires_grad=True)
    traj = mesa.iterate(lambda x, y: y + w * (x - y), torch.ones(1), torch.zeros(1), 3)
    traj[-1].sum().backward()
    assert w.grad is not None and w.grad.item() > 0


def test_iterate_bad_input():
    with pytest.raises(TypeError, match="callable"):
        mesa.iterate(3, None, torch.zeros(1), 2)
    with pytest.raises(TypeError, match="y0"):
        mesa.iterate(contraction, 1.0, [0.0], 2)
    with pytest.raises(ValueError, match="batch"):
        mesa.iterate(contraction, 1.0, torch.tensor(0.0), 2)
    with pytest.raises(ValueError, match="n_steps"):
        mesa.iterate(contraction, 1.0, torch.zeros(1), -1)
    with pytest.raises(ValueError, match="shape"):
        mesa.iterate(lambda x, y: y[:, None], 1.0, torch.zeros(2), 1)


def test_fixed_point_residual_with_a_circle_difference():
    step = lambda x, y: y + 2 * math.pi  # noqa: E731  (every state is a fixed point on the circle)
    y = torch.zeros(3)
    assert mesa.fixed_point_residual(step, None, y).min() > 6
    assert (
        mesa.fixed_point_residual(
            step, None, y, difference=lambda a, b: P.wrap_angle(a - b)
        ).max()
        < 1e-5
    )
    with pytest.raises(TypeError):
        mesa.fixed_point_residual(step, None, y, difference="wrap")
    with pytest.raises(ValueError, match="shape"):
        mesa.fixed_point_residual(lambda x, y: y.sum(), None, y)


def test_equivariance_is_preserved_by_iteration():
    # A step equivariant to sign flips (g . (x, y) = (-x, -y)) gives equivariant iterates.
    step = lambda x, y: torch.tanh(y + x) - 0.1 * y**3  # noqa: E731  (odd in (x, y))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    y0 = torch.zeros(5, 3)

    def run(x):
        return mesa.iterate(step, x, y0, 20)

    equivariance.assert_equivariant(
        run, x, lambda g, v: -v if g else v, lambda g, v: -v if g else v, [0, 1]
    )


def test_unrolled_loss_weightings():
    x = torch.ones(2, 1)
    loss = lambda x, y: ((y - x) ** 2).sum(-1)  # noqa: E731
    last = mesa.unrolled_loss(contraction, x, torch.zeros(2, 1), 2, loss, "last")
    every = mesa.unrolled_loss(contraction, x, torch.zeros(2, 1), 2, loss, "every")
    assert torch.isclose(last, torch.tensor(0.25**2))
    assert torch.isclose(every, torch.tensor((0.5**2 + 0.25**2) / 2))
    with pytest.raises(ValueError, match="weighting"):
        mesa.unrolled_loss(contraction, x, torch.zeros(2, 1), 2, loss, "first")
    with pytest.raises(ValueError, match="n_steps"):
        mesa.unrolled_loss(contraction, x, torch.zeros(2, 1), 0, loss)
    with pytest.raises(TypeError):
        mesa.unrolled_loss(contraction, x, torch.zeros(2, 1), 1, "mse")


def test_train_unrolled_learns_a_step_size():
    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rate = torch.nn.Parameter(torch.tensor(0.1))

    model = Step()
    step = lambda x, y: y + model.rate * (x - y)  # noqa: E731

    def problem(generator):
        return torch.randn(16, 1, generator=generator), torch.zeros(16, 1)

    loss = lambda x, y: ((y - x) ** 2).sum(-1)  # noqa: E731
    log = mesa.train_unrolled(
        model,
        step,
        problem,
        loss,
        n_unroll=2,
        n_steps=200,
        lr=0.05,
        progress=False,
        weighting="every",
        random_unroll=True,
    )
    assert log.final_loss < 0.05 * log.losses[0]
    assert abs(model.rate.item() - 1.0) < 0.1  # one step to the answer is optimal
    with pytest.raises(ValueError, match="n_unroll"):
        mesa.train_unrolled(model, step, problem, loss, n_unroll=0, n_steps=1)
    with pytest.raises(ValueError, match="weighting"):
        mesa.train_unrolled(
            model, step, problem, loss, n_unroll=1, n_steps=1, weighting="all"
        )
    with pytest.raises(TypeError):
        mesa.train_unrolled(model, None, problem, loss, n_unroll=1, n_steps=1)


def shift_registration(scale):
    """Phi[A, B]: a damped exact shift estimate from mode 1 (a registration of periodic signals)."""

    def phi(a, b):
        f = P.pair_features(a, b, 1)
        return scale * torch.atan2(f[:, 1], f[:, 0])

    return phi


def add(s, t):
    return s + t


def test_two_step_composes_in_the_right_order():
    # With matrices: apply(A, T) = A @ T (pull-back), compose(S, T) = S @ T.
    m1, m2 = (
        torch.tensor([[1.0, 2.0], [0.0, 1.0]]),
        torch.tensor([[0.0, -1.0], [1.0, 0.0]]),
    )
    phi, psi = (lambda a, b: m1), (lambda a, b: m2)
    seen = []

    def psi_spy(a, b):
        seen.append(a)
        return psi(a, b)

    out = mesa.two_step(phi, psi_spy, lambda a, t: a @ t, lambda s, t: s @ t)(
        torch.eye(2), None
    )
    assert torch.equal(out, m1 @ m2)
    assert torch.equal(seen[0], torch.eye(2) @ m1)  # Psi sees A o Phi[A, B]
    with pytest.raises(TypeError):
        mesa.two_step(phi, psi, None, add)


def test_two_step_registers_shifts():
    a = P.random_signals(
        4, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    d = torch.tensor([0.3, -0.8, 1.2, 2.0], dtype=torch.float64)
    b = P.shift_signal(a, d)
    phi = shift_registration(0.5)  # half of the way
    t2 = mesa.two_step(phi, phi, P.shift_signal, add)(a, b)
    assert torch.allclose(t2, 0.75 * d, atol=1e-10)


def test_iterate_two_step_power_and_trajectory_agree():
    a = P.random_signals(
        3, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    d = torch.tensor([0.4, -1.5, 2.9], dtype=torch.float64)
    b = P.shift_signal(a, d)
    phi = shift_registration(0.5)
    traj = mesa.two_step_trajectory(phi, a, b, 6, P.shift_signal, add)
    assert len(traj) == 6
    for k in (1, 3, 6):
        psi_k = mesa.iterate_two_step(phi, k, P.shift_signal, add)
        assert torch.allclose(psi_k(a, b), traj[k - 1], atol=1e-12)
        assert torch.allclose(
            traj[k - 1], (1 - 0.5**k) * d, atol=1e-10
        )  # converges to the true shift
    with pytest.raises(ValueError, match="n_steps"):
        mesa.iterate_two_step(phi, 0, P.shift_signal, add)
    with pytest.raises(TypeError):
        mesa.two_step_trajectory(phi, a, b, 2, P.shift_signal, "add")


def test_iterated_two_step_becomes_wu_equivariant():
    """The fixed-point argument on an exact example: a [U,U] step, iterated, becomes [W,U]-equivariant."""
    g = torch.Generator().manual_seed(2)
    a = P.random_signals(8, generator=g, dtype=torch.float64)
    b = P.shift_signal(a, (2 * torch.rand(8, generator=g, dtype=torch.float64) - 1))
    w = (2 * torch.rand(8, generator=g, dtype=torch.float64) - 1) * 3
    u = (2 * torch.rand(8, generator=g, dtype=torch.float64) - 1) * 3
    phi = lambda a, b: (
        0.5 * torch.sin(torch.atan2(*P.pair_features(a, b, 1).unbind(-1)[::-1]))
    )  # noqa: E731

    def wu_error(k):
        psi = mesa.iterate_two_step(phi, k, P.shift_signal, add)
        return (
            P.wrap_angle(
                psi(P.shift_signal(a, w), P.shift_signal(b, u)) - psi(a, b) - u + w
            )
            .abs()
            .max()
        )

    assert wu_error(1) > 0.1 and wu_error(80) < 1e-10
