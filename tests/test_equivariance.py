import pytest
import torch

from equinotes import equivariance as eq
from equinotes import groups


def rot(k, x):
    return groups.rot90(x, k)


def circular_conv(dtype):
    torch.manual_seed(0)
    return torch.nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular", bias=False).to(
        dtype
    )


def test_circular_convolution_is_shift_equivariant(dtype, tolerance):
    conv = circular_conv(dtype)
    x = torch.rand(2, 1, 8, 8, dtype=dtype)
    shifts = [(1, 0), (0, 3), (-2, 5)]
    report = eq.assert_equivariant(
        conv,
        x,
        lambda s, t: groups.shift(t, s),
        lambda s, t: groups.shift(t, s),
        shifts,
    )
    assert len(report) == 3 and report.max_abs <= tolerance
    assert [r.element for r in report] == shifts


def test_error_is_reported_per_element_and_detects_breakage():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(
        1, 1, 3, padding=1, bias=False
    )  # zero padding: not exactly equivariant
    x = torch.rand(2, 1, 8, 8)
    report = eq.equivariance_error(conv, x, rot, rot, groups.C4)
    assert report.rows[0].abs == 0.0  # the identity element
    assert report.max_abs > 1e-3 and report.max_rel > 1e-3
    with pytest.raises(AssertionError, match="not equivariant"):
        eq.assert_equivariant(conv, x, rot, rot, groups.C4)
    assert "element" in repr(report)


def test_symmetrize_makes_any_function_exactly_invariant_and_equivariant(
    dtype, tolerance
):
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False).to(dtype)
    x = torch.rand(3, 1, 7, 7, dtype=dtype)
    invariant = eq.symmetrize(lambda t: conv(t).pow(2).mean((1, 2, 3)), groups.C4, rot)
    eq.assert_equivariant(invariant, x, rot, eq.invariant_action, groups.C4)
    equivariant = eq.symmetrize(conv, groups.C4, rot, rot)
    eq.assert_equivariant(equivariant, x, rot, rot, groups.C4)
    # Already equivariant functions are left unchanged.
    identity_sym = eq.symmetrize(lambda t: 2 * t, groups.C4, rot, rot)
    assert (identity_sym(x) - 2 * x).abs().max() <= tolerance


def test_permutation_symmetrization_of_a_linear_map():
    n = 4
    group = groups.symmetric_group(n)
    w = torch.randn(n, n, dtype=torch.float64)
    act = lambda p, v: groups.permute(v, p)
    f = eq.symmetrize(lambda v: v @ w.T, group, act, act)
    eq.assert_equivariant(f, torch.randn(5, n, dtype=torch.float64), act, act, group)


def test_masked_error_and_tuple_outputs():
    x = torch.rand(1, 1, 4, 4)
    f = lambda t: (t, 2 * t)
    report = eq.equivariance_error(
        f, x, rot, lambda k, ys: tuple(rot(k, y) for y in ys), groups.C4
    )
    assert report.max_abs < 1e-7
    mask = torch.zeros(1, 1, 4, 4)
    report = eq.equivariance_error(
        lambda t: t * 0 + 1, x, rot, lambda k, y: y + 1, [1], mask=mask
    )
    assert report.max_abs == 0.0


def test_default_tolerance():
    assert eq.default_tolerance(torch.float32) == 1e-5
    assert eq.default_tolerance(torch.float64) == 1e-10
    with pytest.raises(TypeError):
        eq.default_tolerance(torch.int64)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: eq.equivariance_error("f", torch.zeros(1), rot, rot, [0]), TypeError),
        (
            lambda: eq.equivariance_error(
                lambda t: t, torch.zeros(1, 1, 2, 2), rot, rot, []
            ),
            ValueError,
        ),
        (
            lambda: eq.equivariance_error(
                lambda t: t, torch.zeros(1, 1, 2, 2), rot, lambda g, y: y[..., :1], [1]
            ),
            ValueError,
        ),
        (
            lambda: eq.equivariance_error(
                lambda t: "no tensor", torch.zeros(1, 1, 2, 2), rot, rot, [1]
            ),
            TypeError,
        ),
        (
            lambda: eq.assert_equivariant(
                lambda t: t, torch.zeros(1, 1, 2, 2), rot, rot, [1], atol=-1.0
            ),
            ValueError,
        ),
        (
            lambda: eq.assert_equivariant(lambda t: t, ["no", "tensor"], rot, rot, [1]),
            TypeError,
        ),
        (lambda: eq.symmetrize(lambda t: t, [0, 1, 2, 3], rot), TypeError),
        (lambda: eq.symmetrize(None, groups.C4, rot), TypeError),
    ],
)
def test_bad_arguments(call, error):
    with pytest.raises(error):
        call()
