"""Tests of equinotes.pointclouds: rigid motions, pull-back, ICP and the start identity."""

import math

import pytest
import torch

from equinotes import pointclouds as PC


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def motions(batch, max_angle=math.pi, max_shift=0.5, seed=1):
    g = gen(seed)
    angle = (2 * torch.rand(batch, generator=g, dtype=torch.float64) - 1) * max_angle
    shift = (2 * torch.rand(batch, 2, generator=g, dtype=torch.float64) - 1) * max_shift
    return PC.rigid_motion(angle, shift)


def test_rigid_motion_angle_and_pull_back():
    T = motions(5)
    assert T.shape == (5, 3, 3)
    R = T[:, :2, :2]
    eye = torch.eye(2, dtype=torch.float64).expand(5, 2, 2)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-12)
    angle = torch.tensor([0.5, -1.0, 3.0], dtype=torch.float64)
    S = PC.rigid_motion(angle, torch.zeros(3, 2, dtype=torch.float64))
    assert torch.allclose(PC.motion_angle(S), angle, atol=1e-12)
    points = PC.random_clouds(5, 10, generator=gen())
    pulled = PC.pull_back(points, T)
    back = pulled @ R.transpose(1, 2) + T[:, None, :2, 2]  # T applied to T^-1 p
    assert torch.allclose(back, points, atol=1e-12)
    # A o (S o T) = (A o S) o T: pull back through S first, then T
    S = motions(5, seed=2)
    assert torch.allclose(
        PC.pull_back(points, S @ T),
        PC.pull_back(PC.pull_back(points, S), T),
        atol=1e-12,
    )


def test_random_clouds_centred_and_reproducible():
    a = PC.random_clouds(3, 12, generator=gen(4))
    assert a.shape == (3, 12, 2) and a.dtype == torch.float64
    assert a.mean(1).abs().max() < 1e-12
    assert torch.equal(a, PC.random_clouds(3, 12, generator=gen(4)))


def test_icp_step_recovers_a_small_motion_with_known_partners():
    a = PC.random_clouds(4, 16, generator=gen())
    truth = motions(4, max_angle=0.05, max_shift=0.02)
    b = PC.pull_back(a, truth)
    psi = PC.iterate_registration(PC.icp_step, a, b, 10)
    assert psi.shape == (10, 4, 3, 3)
    assert PC.motion_distance(psi[-1], truth).max() < 1e-10
    # at the fixed point the step returns the identity
    step = PC.icp_step(PC.pull_back(a, psi[-1]), b)
    eye = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    assert PC.motion_distance(step, eye).max() < 1e-10


def test_icp_is_uu_equivariant_and_the_start_identity_holds():
    a = PC.random_clouds(6, 12, generator=gen())
    b = PC.pull_back(a, motions(6, max_angle=0.3, max_shift=0.1, seed=3))
    W, U = motions(6, seed=4), motions(6, seed=5)
    psi = PC.iterate_registration(PC.icp_step, a, b, 5)
    psi_uu = PC.iterate_registration(
        PC.icp_step, PC.pull_back(a, U), PC.pull_back(b, U), 5
    )
    assert PC.motion_distance(psi_uu, torch.linalg.inv(U) @ psi @ U).max() < 1e-10
    psi_wu = PC.iterate_registration(
        PC.icp_step, PC.pull_back(a, W), PC.pull_back(b, U), 5
    )
    restart = PC.restart_registration(PC.icp_step, a, b, W, U, 5)
    assert PC.motion_distance(restart, psi_wu).max() < 1e-10


def test_bad_input():
    a = PC.random_clouds(2, 5, generator=gen())
    with pytest.raises(ValueError, match=r"\[B, n, 2\]"):
        PC.check_clouds(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="at least 3"):
        PC.check_clouds(torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="floating"):
        PC.check_clouds(torch.zeros(2, 5, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[B, 3, 3\]"):
        PC.check_motions(torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="Tensor"):
        PC.check_motions([[1.0]])
    with pytest.raises(ValueError, match="angle"):
        PC.rigid_motion(torch.zeros(2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="motions for"):
        PC.pull_back(a, motions(3))
    with pytest.raises(ValueError, match="moving and"):
        PC.icp_step(a, a[:1])
    with pytest.raises(TypeError, match="callable"):
        PC.iterate_registration(None, a, a, 2)
    with pytest.raises(ValueError, match="same shape"):
        PC.motion_distance(motions(2), motions(3))
