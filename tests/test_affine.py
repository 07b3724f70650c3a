"""Tests for equinotes.affine: inverse consistency by construction."""

import pytest
import torch

from equinotes import affine as af
from equinotes.transforms import warp


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 1, 16, 16, generator=g), torch.rand(3, 1, 16, 16, generator=g)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_swap_consistent_registration_is_inverse_consistent(pair, dtype, tol):
    torch.manual_seed(0)
    model = af.SwapConsistentRegistration(af.AffineNet(init_scale=1.0)).to(dtype)
    A, B = pair[0].to(dtype), pair[1].to(dtype)
    assert af.inverse_consistency_error(model, A, B).max() <= tol
    plain = af.PlainRegistration(af.AffineNet(init_scale=1.0)).to(dtype)
    assert af.inverse_consistency_error(plain, A, B).max() > 1e-4


def test_affine_net_output_is_in_the_affine_algebra(pair):
    out = af.AffineNet(init_scale=1.0)(*pair)
    assert out.shape == (3, 3, 3) and torch.all(out[:, 2] == 0)
    assert torch.all(af.AffineNet()(*pair) == 0)  # zero head at init


def test_warp_affine_identity_and_grid(pair):
    A = pair[0]
    eye = torch.eye(3).expand(3, 3, 3)
    assert torch.allclose(af.warp_affine(A, eye), A, atol=1e-5)
    M = af.random_affine(3, 0.1, torch.Generator().manual_seed(1))
    assert torch.allclose(af.warp_affine(A, M), warp(A, af.affine_grid(M, 16, 16)))
    assert M.shape == (3, 3, 3) and torch.allclose(
        M[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(3, 3)
    )


def test_bad_input(pair):
    A, B = pair
    with pytest.raises(ValueError):
        af.AffineNet()(A, B[:, :, :8])
    with pytest.raises(ValueError):
        af.AffineNet()(torch.rand(3, 2, 16, 16), B)
    with pytest.raises(ValueError):
        af.affine_grid(torch.zeros(3, 2, 3), 8, 8)
    with pytest.raises(TypeError):
        af.affine_grid(torch.zeros(3, 3, 3, dtype=torch.int64), 8, 8)
    with pytest.raises(ValueError):
        af.warp_affine(A, torch.eye(3).expand(2, 3, 3))
    with pytest.raises(TypeError):
        af.inverse_consistency_error("nope", A, B)
    with pytest.raises(ValueError):
        af.random_affine(2, -1.0)
