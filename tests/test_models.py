"""Tests of equinotes.models: exact C4 equivariance of every layer, shapes, and clear errors on bad input."""

import pytest
import torch

from equinotes import equivariance as eq
from equinotes import groups, models


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def _tol(dtype):
    return eq.default_tolerance(dtype)


def _turn_image(k, x):
    return groups.rot90(x, k)


def test_c4_feature_action_is_a_group_action(dtype):
    y = torch.randn(2, 3, 4, 6, 6, dtype=dtype)
    for a in range(4):
        for b in range(4):
            lhs = models.c4_feature_action((a + b) % 4, y)
            rhs = models.c4_feature_action(a, models.c4_feature_action(b, y))
            assert torch.equal(lhs, rhs)
    assert torch.equal(models.c4_feature_action(0, y), y)
    # The plane turns and the rotation axis rolls: out[:, :, r] = rot90(y[:, :, r - k], k).
    out = models.c4_feature_action(1, y)
    assert torch.equal(out[:, :, 1], torch.rot90(y[:, :, 0], 1, dims=(-2, -1)))


def test_lifting_conv_shape_and_exact_equivariance(dtype):
    torch.manual_seed(0)
    layer = models.LiftingConv2d(2, 5, kernel_size=3).to(dtype)
    x = torch.rand(3, 2, 10, 10, dtype=dtype)
    assert layer(x).shape == (3, 5, 4, 10, 10)
    eq.assert_equivariant(
        layer, x, _turn_image, models.c4_feature_action, groups.C4, atol=_tol(dtype)
    )


def test_lifting_conv_is_not_trivially_invariant():
    torch.manual_seed(0)
    layer = models.LiftingConv2d(1, 2, kernel_size=5)
    x = torch.rand(1, 1, 12, 12)
    # The four rotation channels differ (the filters are not rotation-symmetric), so the test above is not
    # vacuous.
    y = layer(x)
    assert (y[:, :, 0] - y[:, :, 1]).abs().max() > 1e-3
    assert (
        eq.equivariance_error(layer, x, _turn_image, eq.invariant_action, [1]).max_abs
        > 1e-3
    )


def test_group_conv_shape_and_exact_equivariance(dtype):
    torch.manual_seed(1)
    layer = models.GroupConv2d(3, 4, kernel_size=5).to(dtype)
    y = torch.randn(2, 3, 4, 9, 9, dtype=dtype)
    assert layer(y).shape == (2, 4, 4, 9, 9)
    eq.assert_equivariant(
        layer,
        y,
        models.c4_feature_action,
        models.c4_feature_action,
        groups.C4,
        atol=_tol(dtype),
    )


def test_group_conv_filters_shape():
    layer = models.GroupConv2d(3, 4, kernel_size=3)
    assert layer.filters().shape == (16, 12, 3, 3)
    assert models.LiftingConv2d(2, 4, 3).filters().shape == (16, 2, 3, 3)


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_rotation_pool_turns_like_an_image(dtype, mode):
    y = torch.randn(2, 3, 4, 8, 8, dtype=dtype)
    pool = models.RotationPool(mode)
    assert pool(y).shape == (2, 3, 8, 8)
    eq.assert_equivariant(
        pool, y, models.c4_feature_action, _turn_image, groups.C4, atol=_tol(dtype)
    )


def test_group_max_pool_equivariant_and_shape(dtype):
    y = torch.randn(2, 3, 4, 8, 8, dtype=dtype)
    pool = models.GroupMaxPool2d()
    assert pool(y).shape == (2, 3, 4, 4, 4)
    eq.assert_equivariant(
        pool,
        y,
        models.c4_feature_action,
        models.c4_feature_action,
        groups.C4,
        atol=_tol(dtype),
    )


def test_c4cnn_exactly_invariant_on_any_input(dtype):
    torch.manual_seed(2)
    model = models.C4CNN(in_channels=1, n_classes=7, widths=(3, 4, 5)).to(dtype)
    noise = torch.rand(4, 1, 16, 16, dtype=dtype)
    assert model(noise).shape == (4, 7)
    assert model.features(noise).shape == (4, 5)
    assert model.group_features(noise).shape == (4, 5, 4, 4, 4)
    eq.assert_equivariant(
        model, noise, _turn_image, eq.invariant_action, groups.C4, atol=_tol(dtype)
    )
    eq.assert_equivariant(
        model.group_features,
        noise,
        _turn_image,
        models.c4_feature_action,
        groups.C4,
        atol=_tol(dtype),
    )


def test_plain_cnn_shape_and_not_invariant():
    torch.manual_seed(3)
    model = models.PlainCNN(in_channels=2, n_classes=4, widths=(4, 4, 4))
    x = torch.rand(5, 2, 12, 12)
    assert model(x).shape == (5, 4)
    assert (
        eq.equivariance_error(model, x, _turn_image, eq.invariant_action, [1]).max_abs
        > 1e-6
    )
    # A plain CNN accepts non-square images.
    assert model(torch.rand(1, 2, 12, 16)).shape == (1, 4)


def test_count_parameters():
    layer = models.LiftingConv2d(2, 3, 3)
    assert models.count_parameters(layer) == 2 * 3 * 9 + 3
    assert (
        models.count_parameters(models.GroupConv2d(2, 3, 3, bias=False))
        == 2 * 3 * 4 * 9
    )
    with pytest.raises(TypeError):
        models.count_parameters("not a model")


def test_bad_inputs_raise_clear_errors():
    lift = models.LiftingConv2d(1, 2)
    with pytest.raises(ValueError, match="square"):
        lift(torch.rand(1, 1, 8, 10))
    with pytest.raises(ValueError, match="channel"):
        lift(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        lift(torch.rand(8, 8))
    with pytest.raises(TypeError, match="floating"):
        lift(torch.zeros(1, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(TypeError):
        lift([[0.0]])
    gconv = models.GroupConv2d(2, 2)
    with pytest.raises(ValueError, match=r"\[B, C, 4, H, W\]"):
        gconv(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, C, 4, H, W\]"):
        gconv(torch.rand(1, 2, 3, 8, 8))
    with pytest.raises(ValueError, match="channel"):
        gconv(torch.rand(1, 3, 4, 8, 8))
    with pytest.raises(ValueError, match="square"):
        gconv(torch.rand(1, 2, 4, 8, 6))
    with pytest.raises(ValueError, match="even"):
        models.GroupMaxPool2d()(torch.rand(1, 2, 4, 7, 7))
    model = models.C4CNN(n_classes=3)
    with pytest.raises(ValueError, match="square"):
        model(torch.rand(1, 1, 28, 24))
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 1, 26, 26))
    with pytest.raises(ValueError, match="channel"):
        model(torch.rand(1, 2, 28, 28))
    with pytest.raises(ValueError, match="channel"):
        models.PlainCNN(in_channels=1)(torch.rand(1, 3, 28, 28))
    with pytest.raises(ValueError, match="at least 4x4"):
        models.PlainCNN()(torch.rand(1, 1, 2, 2))
    with pytest.raises(TypeError, match="Tensor"):
        models.c4_feature_action(1, "features")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="odd"):
        models.LiftingConv2d(1, 2, kernel_size=4)
    with pytest.raises(ValueError, match="odd"):
        models.GroupConv2d(1, 2, kernel_size=2)
    with pytest.raises(ValueError):
        models.GroupConv2d(0, 2)
    with pytest.raises(TypeError):
        models.LiftingConv2d(1.5, 2)
    with pytest.raises(ValueError, match="mode"):
        models.RotationPool("median")
    with pytest.raises(ValueError, match="widths"):
        models.C4CNN(widths=(4, 8))
    with pytest.raises(ValueError):
        models.PlainCNN(n_classes=1)
    with pytest.raises(TypeError):
        models.c4_feature_action(1.0, torch.rand(1, 1, 4, 2, 2))


def test_c4cnn_invariant_in_eval_mode_and_prediction_invariance_error():
    torch.manual_seed(4)
    model = models.C4CNN(n_classes=3, widths=(2, 3, 4))
    x = torch.rand(6, 1, 12, 12)
    with (
        torch.no_grad()
    ):  # move the normalization's scale and shift away from their init
        for norm in (model.norm1, model.norm2, model.norm3):
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
    model.eval()
    eq.assert_equivariant(model, x, _turn_image, eq.invariant_action, groups.C4)
    gap = models.prediction_invariance_error(model, x, batch_size=4)
    assert gap.shape == (6,) and gap.max() <= 1e-5
    plain = models.PlainCNN(n_classes=3, widths=(2, 3, 4)).eval()
    gap_plain = models.prediction_invariance_error(plain, x)
    assert gap_plain.max() > 1e-6 and gap_plain.max() <= 1
    with pytest.raises(ValueError, match="square"):
        models.prediction_invariance_error(model, torch.rand(2, 1, 12, 8))


def test_matched_noise_has_the_size_of_each_quarter_turn_and_follows_the_generator():
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    # image 1 is made C4-symmetric: turning it moves nothing
    x[1] = sum(groups.rot90(x[1:2], k)[0] for k in range(4))
    noise = models.matched_noise(x, torch.Generator().manual_seed(0))
    assert noise.shape == (3, 5, 1, 8, 8) and noise.dtype == torch.float64
    for k in (1, 2, 3):
        turned = (groups.rot90(x, k) - x).flatten(1).norm(dim=1)
        torch.testing.assert_close(noise[k - 1].flatten(1).norm(dim=1), turned)
    assert noise[:, 1].abs().max() < 1e-12  # a symmetric image: turning moves nothing
    again = models.matched_noise(x, torch.Generator().manual_seed(0))
    other = models.matched_noise(x, torch.Generator().manual_seed(1))
    assert torch.equal(noise, again) and not torch.equal(noise, other)
    with pytest.raises(TypeError, match="Generator"):
        models.matched_noise(x, 0)
    with pytest.raises(ValueError, match="square"):
        models.matched_noise(torch.rand(2, 1, 8, 6), torch.Generator())


def test_matched_noise_change_separates_sensitivity_from_symmetry():
    torch.manual_seed(6)
    x = torch.rand(16, 1, 12, 12)
    c4 = models.C4CNN(n_classes=3, widths=(2, 3, 4)).eval()
    gen = torch.Generator().manual_seed(2)
    change = models.matched_noise_change(c4, x, gen, batch_size=5)
    # the C4 CNN ignores quarter turns but not noise of the same size
    assert change.shape == (16,) and change.max() > 1e-4 and change.max() <= 1
    assert models.prediction_invariance_error(c4, x).max() <= 1e-5

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([1.0, -1.0]))

        def forward(self, images):
            return self.bias.expand(len(images), 2)

    assert models.matched_noise_change(Constant(), x, gen).abs().max() == 0


def test_recalibrate_batchnorm_sets_exact_statistics_and_keeps_invariance():
    torch.manual_seed(5)
    model = models.C4CNN(n_classes=3, widths=(2, 3, 4))
    images = torch.rand(10, 1, 12, 12)
    out = models.recalibrate_batchnorm(
        model, images, batch_size=5
    )  # equal batches: the average is exact
    assert out is model and not model.training
    with torch.no_grad():
        lifted = model.lift(images)
    assert torch.allclose(
        model.norm1.running_mean, lifted.mean(dim=(0, 2, 3, 4)), atol=1e-5
    )
    assert model.norm1.momentum == 0.1  # restored
    eq.assert_equivariant(model, images, _turn_image, eq.invariant_action, groups.C4)
    plain = models.recalibrate_batchnorm(models.PlainCNN(n_classes=3), images)
    assert not plain.training
    with pytest.raises(TypeError):
        models.recalibrate_batchnorm("model", images)
    with pytest.raises(ValueError):
        models.recalibrate_batchnorm(model, torch.rand(12, 12))
