import math

import pytest
import torch

from equinotes import groups, transforms


def test_group_axioms_hold_for_small_groups():
    for group in (
        groups.C4,
        groups.SWAP,
        groups.cyclic_group(5),
        groups.symmetric_group(3),
    ):
        e = group.identity
        for a in group:
            assert group.compose(a, e) == a == group.compose(e, a)
            assert group.compose(a, group.inverse(a)) == e
            for b in group:
                assert group.compose(a, b) in group.elements
    assert len(groups.symmetric_group(4)) == 24


def test_group_factories_reject_bad_sizes():
    with pytest.raises(ValueError):
        groups.cyclic_group(0)
    with pytest.raises(ValueError):
        groups.symmetric_group(9)
    with pytest.raises(TypeError):
        groups.cyclic_group(2.0)


def test_general_rotation_matches_exact_quarter_turn(dtype, tolerance):
    x = torch.rand(4, 2, 13, 13, dtype=dtype)
    for k in range(-2, 6):
        assert (
            groups.rotate(x, k * math.pi / 2) - groups.rot90(x, k)
        ).abs().max() <= max(tolerance, 1e-5 if dtype == torch.float32 else 1e-10)


def test_rotation_is_counter_clockwise_as_displayed():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 4] = 1.0  # top-right corner
    assert (
        groups.rotate(x, math.pi / 2)[0, 0, 0, 0] > 0.99
    )  # moves to the top-left corner


def test_rot90_action_is_a_group_action():
    x = torch.rand(2, 1, 6, 6)
    for a in groups.C4:
        for b in groups.C4:
            assert torch.equal(
                groups.rot90(groups.rot90(x, b), a),
                groups.rot90(x, groups.C4.compose(a, b)),
            )


def test_rotate_accepts_one_angle_per_image():
    x = torch.rand(3, 1, 9, 9)
    angles = torch.tensor([0.0, math.pi / 2, math.pi])
    out = groups.rotate(x, angles)
    for i, k in enumerate([0, 1, 2]):
        assert (out[i] - groups.rot90(x[i : i + 1], k)[0]).abs().max() < 1e-5


def test_rotation_transform_pulls_back_the_other_way():
    x = torch.rand(2, 1, 9, 9)
    phi = groups.rotation_transform(math.pi / 2, 9, 9)
    assert (transforms.warp(x, phi) - groups.rot90(x, -1)).abs().max() < 1e-5


def test_rotation_matrix_is_orthogonal_and_exact_at_quarter_turns(dtype):
    angles = torch.tensor([0.3, -1.2, 2.0], dtype=dtype)
    r = groups.rotation_matrix(angles, dtype=dtype)
    assert torch.allclose(
        r @ r.transpose(-1, -2), torch.eye(2, dtype=dtype).expand(3, 2, 2)
    )
    assert groups.rotation_matrix(math.pi / 2).tolist() == [[[0.0, 1.0], [-1.0, 0.0]]]


def test_shift_flip_permute():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(groups.shift(groups.shift(x, (1, 2)), (-1, -2)), x)
    assert torch.equal(groups.flip(groups.flip(x, "vertical"), "vertical"), x)
    assert groups.flip(x)[0, 0, 0, 0] == 3.0
    v = torch.tensor([10.0, 20.0, 30.0])
    assert groups.permute(v, [2, 0, 1]).tolist() == [
        20.0,
        30.0,
        10.0,
    ]  # item 0 moves to position 2


def test_quarter_turns_detection():
    assert groups.quarter_turns(math.pi) == 2
    assert groups.quarter_turns(-math.pi / 2) == 3
    assert groups.quarter_turns(0.3) is None
    assert groups.quarter_turns(torch.tensor([0.0, math.pi])) is None


def test_conjugate_transform_quarter_turns_are_exact_and_act(dtype, tolerance):
    h = 9
    phi = transforms.identity_grid(h, h, 2, dtype=dtype) + 0.1 * torch.randn(
        2, h, h, 2, dtype=dtype
    )
    # Acting by the identity does nothing; acting twice composes.
    assert (groups.conjugate_transform(phi, 0.0, 0.0) - phi).abs().max() <= tolerance
    once = groups.conjugate_transform(
        groups.conjugate_transform(phi, math.pi / 2, math.pi / 2),
        math.pi / 2,
        math.pi / 2,
    )
    assert (
        once - groups.conjugate_transform(phi, math.pi, math.pi)
    ).abs().max() <= tolerance
    # Conjugating the identity transform by the same rotation gives the identity.
    ident = transforms.identity_grid(h, h, 1, dtype=dtype)
    assert (groups.conjugate_transform(ident, 1.0, 1.0) - ident)[
        :, 2:-2, 2:-2
    ].abs().max() < 1e-4


def test_conjugate_transform_matches_the_registration_law():
    # If A o phi = B then (A o W) o (W^-1 o phi o U) = B o U: check with quarter turns on images.
    h = 9
    a = torch.rand(1, 1, h, h)
    phi = groups.rotation_transform(
        math.pi / 2, h, h
    )  # a registration of A to B = A o R90
    b = transforms.warp(a, phi)
    w, u = math.pi, 3 * math.pi / 2
    a_w = transforms.warp(a, groups.rotation_transform(w, h, h))
    b_u = transforms.warp(b, groups.rotation_transform(u, h, h))
    assert (
        transforms.warp(a_w, groups.conjugate_transform(phi, w, u)) - b_u
    ).abs().max() < 1e-5


@pytest.mark.parametrize(
    "call",
    [
        lambda: groups.rot90(torch.zeros(1, 1, 3, 4)),
        lambda: groups.rot90(torch.zeros(1, 1, 3, 3), 1.0),
        lambda: groups.rotate(torch.zeros(1, 1, 3, 3), "90"),
        lambda: groups.rotate(torch.zeros(2, 1, 3, 3), torch.zeros(3)),
        lambda: groups.rotate(torch.zeros(3, 3), 0.1),
        lambda: groups.shift(torch.zeros(3, 3), (1, 2), dims=(0,)),
        lambda: groups.shift(torch.zeros(3, 3), 1.5, dims=0),
        lambda: groups.flip(torch.zeros(3, 3), "diagonal"),
        lambda: groups.permute(torch.zeros(3), [0, 0, 1]),
        lambda: groups.rot90_transform(torch.zeros(1, 3, 4, 2), 1),
        lambda: groups.conjugate_transform(
            torch.zeros(2, 3, 3, 2), torch.zeros(3), 0.0
        ),
    ],
)
def test_bad_input_raises_clear_errors(call):
    with pytest.raises((ValueError, TypeError)):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: groups.rotation_matrix("0.5"),
        lambda: groups.rotation_matrix(torch.tensor([True])),
        lambda: groups.rotation_transform(0.1, 1, 5),
        lambda: groups.quarter_turns([0.0]),
    ],
)
def test_angle_functions_reject_bad_input(call):
    with pytest.raises((ValueError, TypeError)):
        call()
