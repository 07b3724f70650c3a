import math

import pytest
import torch

from equinotes import groups, transforms


def test_identity_grid_corners_and_layout(dtype):
    grid = transforms.identity_grid(5, 7, batch=2, dtype=dtype)
    assert grid.shape == (2, 5, 7, 2) and grid.dtype == dtype
    assert grid[0, 0, 0].tolist() == [-1.0, -1.0] and grid[0, -1, -1].tolist() == [
        1.0,
        1.0,
    ]
    assert grid[0, 0, -1].tolist() == [1.0, -1.0]  # x runs along columns, y along rows


def test_warp_with_identity_is_exact(dtype, tolerance):
    images = torch.rand(3, 2, 9, 9, dtype=dtype)
    assert (
        transforms.warp(images, transforms.identity_grid(9, 9, 3, dtype=dtype)) - images
    ).abs().max() <= tolerance


def test_warp_broadcasts_a_single_transform():
    images = torch.rand(4, 1, 6, 6)
    out = transforms.warp(images, transforms.identity_grid(6, 6))
    assert out.shape == images.shape


def test_compose_with_identity_and_quarter_turns(dtype, tolerance):
    h = 11
    phi = transforms.identity_grid(h, h, 2, dtype=dtype) + 0.1 * torch.randn(
        2, h, h, 2, dtype=dtype
    )
    ident = transforms.identity_grid(h, h, 2, dtype=dtype)
    assert (transforms.compose(phi, ident) - phi).abs().max() <= tolerance
    assert (transforms.compose(ident, phi) - phi).abs().max() <= tolerance
    quarter = groups.rotation_transform(math.pi / 2, h, h, dtype=dtype)
    full = quarter
    for _ in range(3):
        full = transforms.compose(full, quarter)
    assert (full - transforms.identity_grid(h, h, dtype=dtype)).abs().max() <= tolerance


def test_compose_matches_sequential_warping_within_interpolation_floor():
    torch.manual_seed(0)
    h = 32
    images = torch.nn.functional.avg_pool2d(
        torch.rand(2, 1, h + 4, h + 4), 5, 1
    )  # smooth images
    phi = transforms.identity_grid(h, h, 2) + 0.03 * torch.randn(2, 1, 1, 2)
    psi = transforms.identity_grid(h, h, 2) + 0.05 * torch.sin(
        3 * transforms.identity_grid(h, h, 2)
    )
    sequential = transforms.warp(transforms.warp(images, phi, "border"), psi, "border")
    at_once = transforms.warp(images, transforms.compose(phi, psi), "border")
    gap = (sequential - at_once)[..., 4:-4, 4:-4].abs().max()
    # The floor: the same images warped once by psi differ from their values by at most the pixel contrast.
    contrast = (images[..., 1:, :] - images[..., :-1, :]).abs().max()
    assert gap <= contrast


def test_displacement_round_trip_and_channel_first():
    u = 0.1 * torch.randn(2, 5, 6, 2)
    phi = transforms.displacement_to_transform(u)
    assert torch.allclose(transforms.transform_to_displacement(phi), u, atol=1e-7)
    assert torch.allclose(
        transforms.displacement_to_transform(u.permute(0, 3, 1, 2)), phi
    )


def test_matrix_transform_is_affine():
    m = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
    t = torch.tensor([0.1, -0.2])
    out = transforms.matrix_transform(m, 3, 3, translation=t)
    assert out.shape == (1, 3, 3, 2)
    assert torch.allclose(out[0, 0, 0], torch.tensor([-2.0 + 0.1, -0.5 - 0.2]))


def test_invert_transform_inverts_a_small_smooth_displacement():
    h = 24
    grid = transforms.identity_grid(h, h)
    phi = grid + 0.05 * torch.sin(2 * grid.flip(-1))
    inverse = transforms.invert_transform(phi, n_iter=40)
    assert (transforms.compose(phi, inverse) - grid).abs().max() < 5e-3


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 5, 5),
        torch.zeros(2, 5, 5, 3),
        torch.zeros(1, 4, 4, 2, dtype=torch.long),
        "grid",
    ],
)
def test_bad_transforms_are_rejected(bad):
    with pytest.raises((ValueError, TypeError)):
        transforms.warp(torch.zeros(1, 1, 4, 4), bad)


def test_other_bad_input():
    with pytest.raises(ValueError, match="batch sizes differ"):
        transforms.warp(torch.zeros(2, 1, 4, 4), transforms.identity_grid(4, 4, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        transforms.warp(
            torch.zeros(1, 1, 4, 4), transforms.identity_grid(4, 4), padding_mode="wrap"
        )
    with pytest.raises(ValueError):
        transforms.identity_grid(1, 4)
    with pytest.raises(ValueError):
        transforms.matrix_transform(torch.eye(3), 4, 4)
    with pytest.raises(TypeError):
        transforms.matrix_transform([[1, 0], [0, 1]], 4, 4)
    with pytest.raises(ValueError):
        transforms.invert_transform(transforms.identity_grid(4, 4), n_iter=0)
    with pytest.raises(ValueError):
        transforms.compose(torch.zeros(1, 4, 4, 2), torch.zeros(1, 4, 4))
