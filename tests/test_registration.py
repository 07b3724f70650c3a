"""Unit tests for equinotes.registration and equinotes.registration_metrics (chapter 4)."""

import math

import pytest
import torch

from equinotes import groups
from equinotes import registration as reg
from equinotes import registration_metrics as rm
from equinotes.data import load_mnist

SIZE = 16


@pytest.fixture(scope="module")
def nines():
    x, _ = load_mnist(9, split="train", n=8, pad=2)
    return torch.nn.functional.interpolate(
        x, size=(SIZE, SIZE), mode="bilinear", align_corners=True
    )


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = reg.StepNet(SIZE, hidden=32, sigma=1.0)
    torch.nn.init.normal_(
        model.mlp[-1].weight, std=0.05
    )  # a non-trivial, non-equivariant step
    return model.eval()


def test_identity_warp_is_exact(nines):
    out = reg.warp(nines, reg.identity_grid(SIZE, SIZE, nines.shape[0]))
    assert (out - nines).abs().max() <= 1e-5


@pytest.mark.parametrize("k", range(4))
def test_quarter_turn_transform_is_rot90(nines, k):
    phi = groups.rotation_transform(k * math.pi / 2, SIZE, SIZE)
    assert (reg.warp(nines, phi) - groups.rot90(nines, -k)).abs().max() <= 1e-5
    assert torch.equal(reg.pull_back(nines, k * math.pi / 2), groups.rot90(nines, -k))


def test_compose_matches_sequential_warping(nines):
    g = torch.Generator().manual_seed(1)
    smooth = lambda: reg.displacement_to_transform(  # noqa: E731
        reg.smooth_field(
            0.05 * torch.randn(nines.shape[0], 2, SIZE, SIZE, generator=g), 2.0
        )
    )
    phi, psi = smooth(), smooth()
    sequential = reg.warp(reg.warp(nines, phi), psi)
    composed = reg.warp(nines, reg.compose(phi, psi))
    gap = (
        (sequential - composed)[..., 2:-2, 2:-2].abs().mean()
    )  # two resamplings vs one: close, not equal
    assert gap < 0.05


def test_two_step_composes_the_steps(nines, net):
    a, b = nines[:4], nines[4:]
    with torch.no_grad():
        first = net(a, b)
        expected = reg.compose(first, net(reg.warp(a, first), b))
        assert torch.allclose(reg.two_step(net, net)(a, b), expected)
        assert torch.allclose(reg.iterate(net, 2)(a, b), expected)
        assert torch.allclose(reg.iterate(net, 1)(a, b), first)


def test_untrained_step_is_identity(nines):
    model = reg.StepNet(SIZE, hidden=8)
    with torch.no_grad():
        assert torch.equal(
            model(nines, nines), reg.identity_grid(SIZE, SIZE, nines.shape[0])
        )


@pytest.mark.parametrize("k", range(4))
def test_symmetrized_step_is_exactly_uu_equivariant(nines, net, k):
    a, b = nines[:4], nines[4:]
    f_sym = reg.symmetrize_c4(net)
    assert (
        rm.equivariance_error_px(f_sym, a, b, k * math.pi / 2, k * math.pi / 2).max()
        <= 1e-5
    )
    if k:  # the plain step is not: the test can fail
        assert (
            rm.equivariance_error_px(net, a, b, k * math.pi / 2, k * math.pi / 2).max()
            > 1e-3
        )
    iterated = reg.iterate(f_sym, 3)
    assert (
        rm.equivariance_error_px(iterated, a, b, k * math.pi / 2, k * math.pi / 2).max()
        <= 1e-5
    )


def test_reversed_symmetrization_is_not_equivariant(nines, net):
    a, b = nines[:4], nines[4:]

    def wrong(m, f):  # 1/4 sum R_k^{-1} o f(A o R_k, B o R_k) o R_k: the other order
        out = 0
        for k in range(4):
            phi = net(groups.rot90(m, -k), groups.rot90(f, -k))
            out = out + groups.conjugate_transform(
                phi, k * math.pi / 2, k * math.pi / 2
            )
        return out / 4

    assert rm.equivariance_error_px(wrong, a, b, math.pi / 2, math.pi / 2).max() > 1e-3


def test_c4_search_is_exactly_wu_equivariant(nines, net):
    a, b = nines[:4], nines[4:]
    search = lambda m, f: reg.c4_search(reg.iterate(reg.symmetrize_c4(net), 2), m, f)  # noqa: E731
    for w in range(4):
        for u in range(4):
            assert (
                rm.equivariance_error_px(
                    search, a, b, w * math.pi / 2, u * math.pi / 2
                ).max()
                <= 1e-5
            )


def test_c4_search_finds_a_quarter_turn(nines):
    a = nines[:4]
    b = groups.rot90(a, 1)  # b = a o R_{-pi/2}: true transform is the rotation by -pi/2
    identity = lambda m, f: reg.identity_grid(SIZE, SIZE, m.shape[0])  # noqa: E731
    phi, candidates, losses = reg.c4_search(identity, a, b, return_all=True)
    assert candidates.shape == (4, 4, SIZE, SIZE, 2) and losses.shape == (4, 4)
    angles = rm.recovered_angle(phi, b)
    assert rm.angle_error_deg(angles, torch.full((4,), -math.pi / 2)).max() < 1e-3


def test_rotated_pairs_know_their_transform(nines):
    p = reg.rotated_pairs(nines, 6, torch.Generator().manual_seed(0), same_fraction=1.0)
    assert p.moving.shape == (6, 1, SIZE, SIZE) and p.same.all()
    phi = groups.rotation_transform(p.delta, SIZE, SIZE)
    assert (
        rm.similarity_after_warp(p.moving, p.fixed, phi)
        < rm.similarity_after_warp(p.moving, p.fixed, reg.identity_grid(SIZE, SIZE, 6))
    ).all()
    shared = reg.rotated_pairs(nines, 6, torch.Generator().manual_seed(0), shared=True)
    assert shared.delta.abs().max() < 1e-6
    small = reg.rotated_pairs(
        nines, 50, torch.Generator().manual_seed(0), max_delta=0.5
    )
    assert small.delta.abs().max() <= 0.5 + 1e-5
    with pytest.raises(ValueError, match="same_fraction"):
        reg.rotated_pairs(nines, 2, torch.Generator(), same_fraction=2.0)


def test_losses(nines):
    a, b = nines[:4], nines[4:]
    assert reg.mse(a, a) == 0 and reg.mse(a, b) > 0
    assert reg.lncc(a, a) < reg.lncc(a, b)
    assert reg.mse(a, b, reduction="none").shape == (4,)
    ident = reg.identity_grid(SIZE, SIZE, 2)
    rot = groups.rotation_transform(0.5, SIZE, SIZE).expand(2, -1, -1, -1)
    assert reg.diffusion(ident) == 0
    # a rotation's displacement (R - I)x has gradient R - I: |R - I|_F^2 = 4(1 - cos), averaged over 2
    # components
    assert reg.diffusion(rot).item() == pytest.approx(2 * (1 - math.cos(0.5)), rel=1e-3)
    inverse = groups.rotation_transform(-0.5, SIZE, SIZE).expand(2, -1, -1, -1)
    # exact inverses leave only the border (where points leave the domain): far below a non-inverse pair
    assert reg.gradicon(rot, inverse) < 0.1 * reg.gradicon(rot, ident)
    assert reg.gradicon(ident, ident) < 1e-10
    with pytest.raises(ValueError, match="reduction"):
        reg.mse(a, b, reduction="sum")
    with pytest.raises(ValueError, match="odd"):
        reg.lncc(a, b, window=4)


@pytest.mark.parametrize("degrees", [30, 45, 150])
def test_gradicon_charges_rotations_only_at_the_border(degrees):
    """On the square an exact rotation pair is charged (corners leave the domain); on the inscribed
    disc it composes exactly, and a quarter turn is exact everywhere."""
    angle = math.radians(degrees)
    rot = groups.rotation_transform(angle, SIZE, SIZE)
    inverse = groups.rotation_transform(-angle, SIZE, SIZE)
    quarter = groups.rotation_transform(math.pi / 2, SIZE, SIZE)
    quarter_inverse = groups.rotation_transform(-math.pi / 2, SIZE, SIZE)
    assert reg.gradicon(rot, inverse) > 1e-3
    assert reg.gradicon(rot, inverse, region="disc") < 1e-8
    assert reg.gradicon(quarter, quarter_inverse) < 1e-8
    # a non-inverse pair is charged on the disc too
    assert reg.gradicon(rot, rot, region="disc") > 1e-2


def test_gradicon_checks_region():
    ident = reg.identity_grid(SIZE, SIZE, 1)
    with pytest.raises(ValueError, match="region"):
        reg.gradicon(ident, ident, region="circle")
    tiny = reg.identity_grid(4, 4, 1)
    with pytest.raises(ValueError, match="too small"):
        reg.gradicon(tiny, tiny, region="disc")


def test_metrics_on_known_transforms(nines):
    b = nines[:4]
    theta = torch.tensor([0.1, -0.7, 2.0, 3.1])
    phi = groups.rotation_transform(theta, SIZE, SIZE)
    assert rm.angle_error_deg(rm.recovered_angle(phi, b), theta).max() < 1e-3
    assert rm.angle_error_deg(
        torch.tensor([3.1]), torch.tensor([-3.1])
    ).item() == pytest.approx((2 * math.pi - 6.2) * 180 / math.pi, rel=1e-4)
    assert (rm.negative_jacobian_fraction(phi) == 0).all()
    folded = phi.flip(2)  # a mirror image: orientation reversed everywhere
    assert (rm.negative_jacobian_fraction(folded) == 1).all()
    assert torch.allclose(rm.distance_px(phi, phi), torch.zeros(4))
    shifted = phi + torch.tensor([2 / (SIZE - 1), 0.0])  # one pixel to the right
    assert torch.allclose(
        rm.distance_px(phi, shifted, rm.digit_mask(b)), torch.ones(4), atol=1e-5
    )
    identity = lambda m, f: reg.identity_grid(SIZE, SIZE, m.shape[0])  # noqa: E731
    assert rm.inverse_consistency_px(identity, b, nines[4:]).max() == 0


def test_rotation_gradient_basin(nines):
    b = nines[:4]
    delta = torch.tensor([0.2, -0.2, 0.3, -0.3])
    a = reg.warp(b, groups.rotation_transform(-delta, SIZE, SIZE))  # a o R_delta ~ b
    assert rm.rotation_gradient_points_right(a, b, delta).all()
    assert not rm.rotation_gradient_points_right(
        a, b, -delta
    ).any()  # told the wrong direction: never "right"


def test_bad_inputs(nines, net):
    with pytest.raises(ValueError, match="same shape"):
        net(nines, nines[:, :, :-1, :-1])
    with pytest.raises(ValueError, match="same shape"):
        reg.mse(nines[:2], nines[:3])
    with pytest.raises(ValueError, match=r"\[B, H, W, 2\]"):
        reg.warp(nines, torch.zeros(8, SIZE, SIZE, 3))
    with pytest.raises(ValueError, match=r"\[B, H, W, 2\]"):
        reg.diffusion(torch.zeros(8, 2, SIZE, SIZE))
    with pytest.raises(ValueError, match="StepNet expects"):
        reg.StepNet(SIZE + 2)(nines, nines)
    with pytest.raises(ValueError, match="square"):
        reg.pull_back(torch.zeros(1, 1, 4, 5), 0.3)
    with pytest.raises(TypeError, match="callable"):
        reg.symmetrize_c4(3)
    with pytest.raises(ValueError, match="k must be"):
        reg.iterate(net, 0)
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        reg.smooth_field(torch.zeros(1, 3, 4, 4), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        rm.distance_px(reg.identity_grid(4, 4), reg.identity_grid(5, 5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        rm.recovered_angle([1, 2], nines)
    with pytest.raises(TypeError, match="callable"):
        reg.c4_search(3, nines, nines)
    with pytest.raises(TypeError, match="callable"):
        reg.c4_search(net, nines, nines, loss="lncc")
    with pytest.raises(TypeError, match="Generator"):
        reg.rotated_pairs(nines, 2, None)
    with pytest.raises(TypeError, match="torch.Tensors"):
        rm.angle_error_deg(0.1, torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        rm.angle_error_deg(torch.zeros(3), torch.zeros(2))


def test_by_angle_bin():
    values = torch.arange(5.0)
    delta = torch.tensor(
        [0.0, -0.5, 1.0, -2.0, math.pi]
    )  # 0, 28.6, 57.3, 114.6, 180 degrees
    bins = rm.by_angle_bin(values, delta)
    assert [b.tolist() for b in bins] == [[0.0, 1.0], [2.0], [3.0], [4.0]]
    with pytest.raises(ValueError, match="same shape"):
        rm.by_angle_bin(values, delta[:3])
    with pytest.raises(ValueError, match="increasing"):
        rm.by_angle_bin(values, delta, edges_deg=(0, 90, 45))


def test_pair_sampler_and_registration_loss(nines):
    sample = reg.pair_sampler(nines, 4, max_delta=0.5, same_fraction=1.0)
    pairs = sample(0, torch.Generator().manual_seed(0))
    assert (
        pairs.moving.shape == (4, 1, SIZE, SIZE)
        and pairs.delta.abs().max() <= 0.5 + 1e-5
    )
    model = reg.StepNet(SIZE, hidden=8)
    for k in (1, 3):
        loss = reg.registration_loss(k=k, lam=0.5)(model, pairs)
        assert loss.dim() == 0 and torch.isfinite(loss)
    # an untrained step is the identity, so the loss is the similarity of the unwarped pair
    assert torch.allclose(
        reg.registration_loss(k=2, lam=1.0)(model, pairs),
        reg.lncc(pairs.moving, pairs.fixed),
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="lam"):
        reg.registration_loss(lam=-1.0)
    with pytest.raises(TypeError, match="similarity"):
        reg.registration_loss(similarity=None)
    with pytest.raises(ValueError, match="batch"):
        reg.pair_sampler(nines, 0)


def test_draw_grid():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    reg.draw_grid(ax, reg.identity_grid(SIZE, SIZE), every=4)
    assert len(ax.lines) == 2 * len(range(0, SIZE, 4))
    # the "up" arrow tells a 150° rotation from -30°: it points up for the identity...
    (arrow,) = ax.texts
    assert arrow.xy[1] < arrow.xyann[1]
    # ...and down after a half turn; marker=False draws none
    fig2, ax2 = plt.subplots()
    reg.draw_grid(ax2, groups.rotation_transform(math.pi, SIZE, SIZE), marker=False)
    assert not ax2.texts
    reg.draw_grid(ax2, groups.rotation_transform(math.pi, SIZE, SIZE))
    assert ax2.texts[0].xy[1] > ax2.texts[0].xyann[1]
    plt.close(fig2)
    with pytest.raises(ValueError, match=r"\[B, H, W, 2\]"):
        reg.draw_grid(ax, torch.zeros(SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="every"):
        reg.draw_grid(ax, reg.identity_grid(SIZE, SIZE), every=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        reg.draw_grid(ax, [[0.0]])
    plt.close(fig)


def test_gaussian_kernel_1d():
    g = reg.gaussian_kernel_1d(1.0)
    assert g.shape == (7,) and torch.allclose(g.sum(), torch.tensor(1.0))
    assert torch.equal(g, g.flip(0))  # symmetric: the blur commutes with quarter turns
    assert reg.gaussian_kernel_1d(0.1).shape == (3,)  # radius at least 1
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="sigma"):
            reg.gaussian_kernel_1d(bad)
