"""Unit tests for equinotes.dnfa: the chain-rule identity, the flat-spectrum formula, edge cases, bad
input.
"""

import copy
import math

import pytest
import torch
from torch import nn

from equinotes import dnfa


def _net(d_in=7, width=16, depth=3, d_out=1, seed=0, scale=1.0):
    return dnfa.relu_mlp(
        d_in,
        width,
        depth,
        d_out=d_out,
        init_scale=scale,
        generator=torch.Generator().manual_seed(seed),
    )


def _x(n=40, d=7, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("d_out", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agop_equals_WtKW_equals_autograd_jacobians(d_out, seed):
    model, x = _net(d_out=d_out, seed=seed), _x(seed=seed + 10)
    ours = dnfa.agop(model, x)
    assert len(ours) == 4
    for layer, A in enumerate(ours):
        ref = dnfa.agop_jacobian(model, x, layer)
        assert A.shape == ref.shape
        assert ((A - ref).norm() / ref.norm()).item() <= 1e-5


def test_agop_with_tanh_and_bias():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 9), nn.Tanh(), nn.Linear(9, 6), nn.Tanh(), nn.Linear(6, 2)
    )
    x = _x(30, 5)
    for layer, A in enumerate(dnfa.agop(model, x)):
        ref = dnfa.agop_jacobian(model, x, layer)
        assert ((A - ref).norm() / ref.norm()).item() <= 1e-5


def test_preactivation_gradients_shapes_and_readout_identity():
    model, x = _net(d_out=3), _x()
    grads = dnfa.preactivation_gradients(model, x)
    assert [tuple(g.shape) for g in grads] == [(40, 3, 16)] * 3 + [(40, 3, 3)]
    assert torch.equal(grads[-1], torch.eye(3).expand(40, 3, 3))
    K = dnfa.gradient_moments(model, x)
    assert torch.equal(K[-1], torch.eye(3))


@pytest.mark.parametrize("d_out", [1, 4])
def test_readout_layer_gives_exactly_one(d_out):
    model, x = _net(d_out=d_out, scale=0.3), _x()
    last = dnfa.layer_matrices(model, x)[-1]
    assert torch.equal(last.agop, last.nfm)
    assert abs(dnfa.nfa_similarity(last.nfm, last.agop) - 1.0) <= 1e-12


def test_nfm_and_layer_matrices():
    model, x = _net(), _x()
    mats = dnfa.layer_matrices(model, x)
    W = model[0].weight.detach()
    assert torch.allclose(mats[0].nfm, W.T @ W)
    assert torch.allclose(dnfa.nfm(model[0]), W.T @ W)
    assert torch.allclose(dnfa.nfm(W), W.T @ W)
    assert mats[1].K.shape == (16, 16)
    assert torch.allclose(mats[1].K, mats[1].K.T)


def test_similarities_on_known_matrices():
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0]))
    assert dnfa.cosine_similarity(A, 2 * A) == pytest.approx(1.0)
    assert dnfa.cosine_similarity(A, -A) == pytest.approx(-1.0)
    assert dnfa.pearson_correlation(A, 3 * A + 1) == pytest.approx(1.0)
    assert dnfa.identity_similarity(torch.eye(4)) == pytest.approx(1.0)
    assert dnfa.identity_similarity(A) == pytest.approx(
        6 / (math.sqrt(3) * math.sqrt(14))
    )
    # traceless similarity ignores identity parts
    B = torch.diag(torch.tensor([0.0, 1.0, 5.0]))
    assert dnfa.traceless_similarity(A + 7 * torch.eye(3), A) == pytest.approx(1.0)
    assert dnfa.traceless_similarity(A, B) < 1.0
    assert dnfa.participation_ratio(torch.eye(5)) == pytest.approx(5.0)
    assert dnfa.participation_ratio(
        torch.diag(torch.tensor([1.0, 0.0, 0.0]))
    ) == pytest.approx(1.0)


def test_matrix_power():
    Q, _ = torch.linalg.qr(
        torch.randn(
            5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
    )
    A = (
        Q
        @ torch.diag(torch.tensor([4.0, 1.0, 0.25, 9.0, 0.0], dtype=torch.float64))
        @ Q.T
    )
    R = dnfa.matrix_power(A, 0.5)
    assert torch.allclose(R @ R, A, atol=1e-10)
    assert torch.equal(dnfa.matrix_power(A, 1), A)
    assert dnfa.nfa_similarity(A @ A, A, alpha=2.0) == pytest.approx(1.0)
    assert dnfa.nfa_similarity(R, A, alpha=0.5, measure="pearson") == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_flat_spectrum_formula_numerically(seed):
    g = torch.Generator().manual_seed(seed)
    d_out, d_in, r = 12, 9, 6
    U, _ = torch.linalg.qr(torch.randn(d_out, r, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(d_in, r, generator=g, dtype=torch.float64))
    W = 2.5 * U @ V.T  # r equal singular values
    G = torch.randn(50, d_out, generator=g, dtype=torch.float64)
    K = G.T @ G / 50
    U_tilde, S = dnfa.rotated_moment(W, K)
    assert U_tilde.shape == (r, r) and torch.allclose(
        S, torch.full((r,), 2.5, dtype=torch.float64)
    )
    cos = dnfa.cosine_similarity(W.T @ W, W.T @ K @ W)
    assert cos == pytest.approx(
        math.sqrt(dnfa.participation_ratio(U_tilde) / r), abs=1e-12
    )
    m = dnfa.tight_frame_metrics(W, K)
    assert m["rank"] == r and m["flatness"] == pytest.approx(1.0)
    assert m["tightness"] == pytest.approx(cos, abs=1e-12)
    assert m["nfa_cosine"] == pytest.approx(cos, abs=1e-12)


def test_tight_frame_metrics_nfa_cosine_matches_for_any_spectrum():
    model, x = _net(seed=3), _x()
    for mat in dnfa.layer_matrices(model, x):
        m = dnfa.tight_frame_metrics(mat.W, mat.K)
        assert m["nfa_cosine"] == pytest.approx(
            dnfa.nfa_similarity(mat.nfm, mat.agop), abs=1e-5
        )


def test_tight_frame_gives_cosine_one():
    W = torch.randn(
        6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    K = U @ U.T * 3.0  # Ũ = 3 I: a tight frame on range(W)
    m = dnfa.tight_frame_metrics(W, K)
    assert m["tightness"] == pytest.approx(1.0) and m["nfa_cosine"] == pytest.approx(
        1.0
    )


@pytest.mark.parametrize("r", [1, 2])
def test_flat_spectrum_identity_sympy(r):
    difference, cos2, pr_over_r = dnfa.flat_spectrum_identity(r)
    assert difference == 0
    if r == 2:
        assert cos2.free_symbols  # a genuine symbolic expression, not a constant


def test_product_task_and_training_records():
    g = torch.Generator().manual_seed(0)
    x, y = dnfa.product_task(64, 5, g)
    assert x.shape == (64, 5) and torch.allclose(y[:, 0], x[:, 0] * x[:, 1])
    model = dnfa.relu_mlp(5, 8, 1, generator=g)
    history, log = dnfa.train_tracking_nfa(
        model, x, y, 20, 0.05, [0, 10, 20], batch_size=16
    )
    assert [s for s, _ in history] == [0, 10, 20] and len(log.losses) == 20
    rec = history[-1][1]
    assert len(rec) == 2 and {
        "cos",
        "pearson",
        "traceless",
        "nfm_identity",
        "agop_identity",
        "tightness",
    } <= set(rec[0])
    assert rec[-1]["cos"] == pytest.approx(1.0)


def test_relu_mlp_structure_and_init_scale():
    m1 = dnfa.relu_mlp(
        4, 8, 2, init_scale=1.0, generator=torch.Generator().manual_seed(0)
    )
    m2 = dnfa.relu_mlp(
        4, 8, 2, init_scale=0.5, generator=torch.Generator().manual_seed(0)
    )
    assert [type(m).__name__ for m in m1] == [
        "Linear",
        "ReLU",
        "Linear",
        "ReLU",
        "Linear",
    ]
    assert all(layer.bias is None for layer in dnfa.linear_layers(m1))
    assert torch.allclose(m2[0].weight, 0.5 * m1[0].weight)


def test_bad_inputs():
    model, x = _net(), _x()
    with pytest.raises(TypeError, match="nn.Sequential"):
        dnfa.agop(nn.Linear(3, 2), x)
    with pytest.raises(ValueError, match="only hold"):
        dnfa.agop(nn.Sequential(nn.Linear(7, 3), nn.BatchNorm1d(3), nn.Linear(3, 1)), x)
    with pytest.raises(ValueError, match="end with"):
        dnfa.agop(nn.Sequential(nn.Linear(7, 3), nn.ReLU()), x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        dnfa.agop(model, x.numpy())
    with pytest.raises(ValueError, match=r"\[n, d_in\]"):
        dnfa.agop(model, x[0])
    with pytest.raises(ValueError, match="features"):
        dnfa.agop(model, torch.randn(4, 3))
    with pytest.raises(TypeError, match="floating"):
        dnfa.agop(model, torch.ones(4, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="layer must be"):
        dnfa.agop_jacobian(model, x, 9)
    with pytest.raises(ValueError, match="same shape"):
        dnfa.cosine_similarity(torch.eye(2), torch.eye(3))
    with pytest.raises(TypeError):
        dnfa.pearson_correlation([1, 2], torch.eye(2))
    with pytest.raises(ValueError, match="zero matrix"):
        dnfa.cosine_similarity(torch.zeros(2, 2), torch.eye(2))
    with pytest.raises(ValueError, match="alpha"):
        dnfa.matrix_power(torch.eye(2), -1)
    with pytest.raises(ValueError, match="non-finite"):
        dnfa.matrix_power(torch.full((2, 2), float("nan")), 0.5)
    with pytest.raises(ValueError, match="square"):
        dnfa.participation_ratio(torch.ones(2, 3))
    with pytest.raises(ValueError, match="measure"):
        dnfa.nfa_similarity(torch.eye(2), torch.eye(2), measure="spearman")
    with pytest.raises(ValueError, match="match W"):
        dnfa.rotated_moment(torch.ones(3, 2), torch.eye(2))
    with pytest.raises(ValueError, match="zero"):
        dnfa.tight_frame_metrics(torch.zeros(3, 2), torch.eye(3))
    with pytest.raises(ValueError, match="init_scale"):
        dnfa.relu_mlp(3, 4, 1, init_scale=0)
    with pytest.raises(TypeError, match="integer"):
        dnfa.relu_mlp(3.0, 4, 1)
    with pytest.raises(ValueError, match="r must be"):
        dnfa.flat_spectrum_identity(5)
    with pytest.raises(ValueError, match="d must be"):
        dnfa.product_task(10, 1)
    with pytest.raises(TypeError, match="nn.Linear or a weight"):
        dnfa.nfm("W")
    with pytest.raises(ValueError, match="checkpoints"):
        dnfa.train_tracking_nfa(model, x, torch.zeros(40, 1), 5, 0.1, [10])
    with pytest.raises(ValueError, match="loss"):
        dnfa.train_tracking_nfa(model, x, torch.zeros(40, 1), 5, 0.1, [0], loss="l1")


def test_identity_in_float64_is_exact_to_1e10():
    model, x = _net(d_out=2).double(), _x().double()
    for layer, A in enumerate(dnfa.agop(model, x)):
        ref = dnfa.agop_jacobian(model, x, layer)
        assert A.dtype == torch.float64
        assert ((A - ref).norm() / ref.norm()).item() <= 1e-10


def test_moments_and_agops_and_nfa_records():
    model, x = _net(d_out=2), _x()
    K, A = dnfa.moments_and_agops(model, x)
    assert len(K) == len(A) == 4
    for k, a, layer in zip(K, A, dnfa.linear_layers(model)):
        W = layer.weight.detach()
        assert k.shape == (W.shape[0], W.shape[0]) and a.shape == (
            W.shape[1],
            W.shape[1],
        )
        assert torch.allclose(a, W.T @ k @ W)
    recs = dnfa.nfa_records(model, x)
    assert [r["layer"] for r in recs] == [0, 1, 2, 3]
    assert all(
        0 < r["tightness_used"] <= 1 + 1e-12 and 1 <= r["rank_used"] <= r["rank"]
        for r in recs
    )
    assert recs[-1]["cos"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("d_out", [1, 3])
def test_centred_agop_matches_centred_jacobians(d_out):
    model, x = _net(d_out=d_out, seed=4), _x(seed=5)
    centred = dnfa.agop(model, x, centre=True)
    raw = dnfa.agop(model, x)
    for layer, A in enumerate(centred):
        ref = dnfa.agop_jacobian(model, x, layer, centre=True)
        # relative to the raw AGOP: the centred readout AGOP is zero
        assert ((A - ref).norm() / raw[layer].norm()).item() <= 1e-5
        # centring removes the outer product of the mean Jacobian: raw - centred is PSD
        assert torch.linalg.eigvalsh((raw[layer] - A).double()).min() >= -1e-5
    # the readout layer's gradient is constant: centred, it vanishes
    assert centred[-1].abs().max() <= 1e-6
    with pytest.raises(TypeError, match="centre"):
        dnfa.gradient_moments(model, x, centre="yes")


def test_pytorch_default_init_has_the_same_std():
    g = torch.Generator().manual_seed(0)
    model = dnfa.relu_mlp(
        400,
        300,
        1,
        init_scale=dnfa.PYTORCH_DEFAULT_SCALE,
        generator=g,
        distribution="uniform",
    )
    W = model[0].weight.detach()
    bound = 1 / math.sqrt(400)
    assert W.abs().max() <= bound and W.abs().max() >= 0.99 * bound
    assert W.std().item() == pytest.approx(1 / math.sqrt(3 * 400), rel=0.02)
    assert dnfa.PYTORCH_DEFAULT_SCALE == pytest.approx(0.408, abs=1e-3)
    with pytest.raises(ValueError, match="distribution"):
        dnfa.relu_mlp(3, 4, 1, distribution="laplace")


def test_subspace_task_projector_and_target_gradients():
    g = torch.Generator().manual_seed(0)
    x, y, B = dnfa.subspace_product_task(5000, 8, (1.0, 0.5), g)
    assert x.shape == (5000, 8) and y.shape == (5000, 1) and B.shape == (8, 4)
    assert torch.allclose(B.T @ B, torch.eye(4), atol=1e-5)
    z = x @ B
    assert torch.allclose(
        y[:, 0], z[:, 0] * z[:, 1] + 0.5 * z[:, 2] * z[:, 3], atol=1e-5
    )
    P = dnfa.subspace_projector(B)
    assert torch.allclose(P @ P, P, atol=1e-5) and P.trace().item() == pytest.approx(4)
    with pytest.raises(ValueError, match="d ≥"):
        dnfa.subspace_product_task(10, 3, (1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        dnfa.subspace_product_task(10, 6, (1.0, -1.0))
    with pytest.raises(ValueError, match="independent"):
        dnfa.subspace_projector(torch.ones(4, 2))
    with pytest.raises(TypeError):
        dnfa.subspace_projector([[1.0], [0.0]])


def test_dead_units():
    model, x = _net(d_in=7, width=16, depth=2), _x()
    before = dnfa.dead_units(model, x)
    assert len(before) == 2 and all(0 <= f <= 1 for f in before)
    with torch.no_grad():
        # rows of -1 on non-negative ReLU outputs: pre-activation ≤ 0 on every input
        model[2].weight[:4] = -1.0
    assert dnfa.dead_units(model, x)[1] >= 4 / 16
    with pytest.raises(ValueError, match="features"):
        dnfa.dead_units(model, torch.randn(3, 2))


def test_protocol_grid_and_reference_records():
    model, x = _net(d_in=7, width=16, depth=2), _x()
    W0 = model[0].weight.detach().clone()
    grid = dnfa.protocol_grid(model, x)
    assert len(grid) == 8 and {r["weights"] for r in grid} == {"W"}
    with torch.no_grad():
        model[0].weight.add_(0.1)
    grid = dnfa.protocol_grid(model, x, W0)
    assert len(grid) == 16
    N = dnfa.nfm(model[0])
    A = dnfa.agop(model, x)[0]
    row = next(
        r
        for r in grid
        if (r["weights"], r["alpha"], r["measure"], r["gop"])
        == ("W", 1.0, "cosine", "raw")
    )
    assert row["value"] == pytest.approx(dnfa.nfa_similarity(N, A), abs=1e-12)
    with pytest.raises(ValueError, match="shape"):
        dnfa.protocol_grid(model, x, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="layer must be"):
        dnfa.protocol_grid(model, x, layer=5)
    P = torch.zeros(7, 7)
    P[0, 0] = P[1, 1] = 1.0
    recs = dnfa.nfa_records(model, x, reference=P)
    assert recs[0]["nfm_reference"] == pytest.approx(dnfa.cosine_similarity(N, P))
    assert "nfm_reference" not in recs[1]
    with pytest.raises(ValueError, match="reference must be"):
        dnfa.nfa_records(model, x, reference=torch.eye(3))


def test_deep_linear_net_and_best_alpha():
    net = dnfa.deep_linear_net([5, 7, 3], 0.1, torch.Generator().manual_seed(0))
    assert [tuple(m.weight.shape) for m in net] == [(7, 5), (3, 7)]
    x = _x(30, 5)
    W1, W2 = net[0].weight.detach(), net[1].weight.detach()
    m = dnfa.layer_matrices(net, x)[0]
    assert torch.allclose(m.agop, W1.T @ W2.T @ W2 @ W1, atol=1e-6)
    # an exact power: NFM = AGOP^(1/3)
    Q, _ = torch.linalg.qr(
        torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    )
    N = Q @ torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])) @ Q.T
    alpha, value = dnfa.best_alpha(
        N, dnfa.matrix_power(N, 3.0), [0.25, 1 / 3, 0.5, 1.0]
    )
    assert alpha == pytest.approx(1 / 3) and value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alphas"):
        dnfa.best_alpha(N, N, [])
    with pytest.raises(ValueError, match="init_std"):
        dnfa.deep_linear_net([3, 2], 0)
    with pytest.raises(ValueError, match="dims"):
        dnfa.deep_linear_net([3], 0.1)


def _ridge(n=50, d=6, c=3, lam=0.1, seed=0, dtype=torch.float64):
    """A linear least-squares problem with ridge and its minimiser in closed form."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randn(n, c, generator=g, dtype=dtype)
    # mean((xWᵀ - y)²) + λ/2 ‖W‖²: (2/(nc)) (W xᵀx - yᵀx) + λW = 0
    eye = torch.eye(d, dtype=dtype)
    W = y.T @ x @ torch.linalg.inv(x.T @ x + lam * n * c / 2 * eye)
    model = nn.Sequential(nn.Linear(d, c, bias=False)).to(dtype)
    with torch.no_grad():
        model[0].weight.copy_(W)
    return model, x, y, W


def test_fact_is_exact_at_the_ridge_minimiser():
    model, x, y, W = _ridge()
    rhs = dnfa.fact_matrix(model, x, y, 0.1)
    assert rhs.shape == (6, 6)
    assert torch.allclose(rhs, rhs.T)
    assert ((rhs - W.T @ W).norm() / (W.T @ W).norm()).item() <= 1e-10
    rep = dnfa.fact_report(model, x, y, 0.1)
    assert rep["gradient_norm"] <= 1e-10 and rep["gap"] <= 1e-10
    assert rep["cos"] >= 1 - 1e-12 and rep["cos_bound"] >= 1 - 1e-12


def test_fact_away_from_stationarity_obeys_its_bound():
    # a two-layer ReLU net at random weights: far from stationary, the bound still holds
    model, x = _net(depth=2, seed=3), _x(seed=4)
    y = torch.randn(40, 1, generator=torch.Generator().manual_seed(5))
    for layer in range(3):
        rep = dnfa.fact_report(model, x, y, 0.05, layer=layer)
        assert rep["gap"] <= rep["relative_gap"] * (1 + 1e-6)
        assert rep["cos"] >= rep["cos_bound"] - 1e-6
    # a non-stationary ridge point: the gap is exactly -(1/λ) sym(WᵀR)
    model, x, y, W = _ridge()
    with torch.no_grad():
        model[0].weight.mul_(1.1)
    rep = dnfa.fact_report(model, x, y, 0.1)
    assert rep["gradient_norm"] > 1e-3 and rep["gap"] > 1e-4
    assert rep["cos"] >= rep["cos_bound"]


def test_cosine_lower_bound():
    assert dnfa.cosine_lower_bound(0.0) == 1.0
    assert dnfa.cosine_lower_bound(0.6) == pytest.approx(0.8)
    assert dnfa.cosine_lower_bound(1.5) == -1.0
    with pytest.raises(ValueError):
        dnfa.cosine_lower_bound(-0.1)
    with pytest.raises(ValueError):
        dnfa.cosine_lower_bound(float("nan"))


def test_fact_along_gd_remainder_is_exact_and_bounded():
    model, x = _net(d_in=5, width=12, depth=2, seed=2, scale=0.5), _x(n=64, d=5, seed=6)
    y = (x[:, :1] * x[:, 1:2]).contiguous()
    out = dnfa.fact_along_gd(model, x, y, 0.05, 0.05, 200, seed=0)
    assert out["remainder_error"] <= 1e-5
    assert out["gap_mean"] <= out["relative_gap_mean"] * (1 + 1e-5) + 1e-6
    assert out["cos_mean"] >= out["cos_bound_mean"] - 1e-6
    assert set(out["last"]) == {
        "cos",
        "gradient_norm",
        "relative_gap",
        "cos_bound",
        "gap",
    }
    # the ridge minimiser stays put and the average is exact
    model, x, y, W = _ridge()
    out = dnfa.fact_along_gd(model, x, y, 0.1, 0.01, 20)
    assert out["gap_mean"] <= 1e-9 and out["gradient_norm_rms"] <= 1e-9


def assert_same_run(model, log, ref, opt, x, y, n_steps):
    """``log``/``model`` from train_tracking_nfa match ``n_steps`` of torch's ``opt`` on ``ref``."""
    losses = []
    for _ in range(n_steps):
        loss = ((ref(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert log.losses == pytest.approx(losses, rel=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_weight_decay_fast_path_matches_torch_sgd():
    # the hand-written full-batch step equals torch.optim.SGD with weight decay
    model, x = _net(depth=2, seed=1), _x(seed=2)
    y = torch.randn(40, 1, generator=torch.Generator().manual_seed(3))
    ref = copy.deepcopy(model)
    _, log = dnfa.train_tracking_nfa(model, x, y, 25, 0.05, [], weight_decay=0.01)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, weight_decay=0.01)
    assert_same_run(model, log, ref, opt, x, y, 25)


def test_fact_and_centred_nfa_bad_inputs():
    model, x, y, _ = _ridge()
    with pytest.raises(ValueError):
        dnfa.fact_matrix(model, x, y, 0.0)
    with pytest.raises(ValueError):
        dnfa.fact_matrix(model, x, y, -1.0)
    with pytest.raises(ValueError):
        dnfa.fact_matrix(model, x, y[:, :2], 0.1)  # wrong target shape
    with pytest.raises(ValueError):
        dnfa.fact_matrix(model, x, y, 0.1, layer=1)
    with pytest.raises(TypeError):
        dnfa.fact_matrix(model, x, y.numpy(), 0.1)
    with pytest.raises(ValueError):
        dnfa.fact_along_gd(model, x, y, 0.1, 0.0, 10)
    with pytest.raises(ValueError):
        dnfa.fact_along_gd(nn.Sequential(nn.Linear(6, 3)), x, y, 0.1, 0.1, 10)
    with pytest.raises(ValueError):
        dnfa.train_tracking_nfa(model, x, y, 5, 0.1, [], weight_decay=-1.0)
    W = torch.randn(8, 5)
    with pytest.raises(ValueError):
        dnfa.centred_nfa(W, W.clone(), torch.eye(8))  # before training: undefined
    with pytest.raises(ValueError):
        dnfa.centred_nfa(W, torch.zeros(8, 4), torch.eye(8))
    with pytest.raises(ValueError):
        dnfa.centred_nfa(W, torch.zeros(8, 5), torch.eye(5))
    with pytest.raises(TypeError):
        dnfa.centred_nfa(W, None, torch.eye(8))
    with pytest.raises(ValueError):
        dnfa.centred_nfa(W, torch.zeros(8, 5), torch.eye(8), measure="spearman")


def test_centred_nfa():
    g = torch.Generator().manual_seed(0)
    W0, dW = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    G = torch.randn(30, 8, generator=g)
    K = G.T @ G / 30
    # with W0 = 0 it is the uncentred NFA
    for measure in ("cosine", "pearson"):
        assert dnfa.centred_nfa(dW, torch.zeros_like(dW), K, measure) == pytest.approx(
            dnfa.nfa_similarity(dW.T @ dW, dW.T @ K @ dW, 1.0, measure)
        )
    # it only sees W - W0
    value = dnfa.centred_nfa(W0 + dW, W0, K)
    assert value == pytest.approx(dnfa.centred_nfa(dW, torch.zeros_like(dW), K))
    # K = I gives 1 (the readout-layer situation), for any W0
    assert dnfa.centred_nfa(W0 + dW, W0, torch.eye(8), "cosine") == pytest.approx(1.0)
    assert dnfa.centred_nfa(W0 + dW, W0, K, alpha=0.5) <= 1.0


def test_ridge_model_matches_the_hand_solution_and_checks_inputs():
    model, x, y, W = _ridge()
    ours = dnfa.ridge_model(x, y, 0.1)
    assert ours[0].weight.dtype == torch.float64
    assert torch.allclose(ours[0].weight, W, atol=1e-12)
    floor = dnfa.fact_report(
        dnfa.ridge_model(x.float(), y.float(), 0.1), x.float(), y.float(), 0.1
    )
    assert floor["gap"] <= 1e-5  # float32 floor
    with pytest.raises(ValueError):
        dnfa.ridge_model(x, y[:10], 0.1)
    with pytest.raises(ValueError):
        dnfa.ridge_model(x, y, 0)
    with pytest.raises(TypeError):
        dnfa.ridge_model(x.numpy(), y, 0.1)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_fast_path_matches_torch_adam(weight_decay):
    x = _x(seed=5)
    y = torch.randn(40, 2, generator=torch.Generator().manual_seed(6))
    model = dnfa.relu_mlp(7, 16, 2, d_out=2, generator=torch.Generator().manual_seed(4))
    ref = copy.deepcopy(model)
    _, log = dnfa.train_tracking_nfa(
        model, x, y, 30, 3e-3, [], optimizer="adam", weight_decay=weight_decay
    )
    opt = torch.optim.Adam(ref.parameters(), lr=3e-3, weight_decay=weight_decay)
    assert_same_run(model, log, ref, opt, x, y, 30)


def test_rfm_first_update_is_the_agop_of_the_kernel_predictor():
    g = torch.Generator().manual_seed(0)
    x, y = dnfa.product_task(20, 4, g)
    x, y = x.double(), y.double()
    coef = torch.linalg.solve(
        dnfa.laplace_kernel(x, x, torch.eye(4, dtype=x.dtype), 10.0)
        + 1e-3 * torch.eye(20, dtype=x.dtype),
        y,
    )
    grads = []
    for j in range(20):
        z = x[j].clone().requires_grad_()
        others = torch.cat([x[:j], x[j + 1 :]])  # the i = j term has no gradient
        k = torch.exp(-(z - others).norm(dim=1) / 10.0)
        (k @ torch.cat([coef[:j], coef[j + 1 :]])[:, 0]).backward()
        grads.append(z.grad)
    expected = torch.stack(grads).T @ torch.stack(grads) / 20
    M, _ = dnfa.rfm(x, y, iters=1, bandwidth=10.0, reg=1e-3)
    assert torch.allclose(M, expected, rtol=1e-9, atol=1e-12)


def test_rfm_learns_the_relevant_inputs_and_predicts():
    g = torch.Generator().manual_seed(1)
    x, y = dnfa.product_task(300, 6, g)
    P = torch.zeros(6, 6, dtype=torch.float64)
    P[0, 0] = P[1, 1] = 1.0
    M0, predict0 = dnfa.rfm(x, y, iters=0)
    M, predict = dnfa.rfm(x, y[:, 0], iters=3)
    assert torch.equal(M0, torch.eye(6, dtype=torch.float64))
    assert dnfa.cosine_similarity(M, P) > 0.9
    x_test, y_test = dnfa.product_task(500, 6, g)
    err = ((predict(x_test) - y_test.double()) ** 2).mean()
    err0 = ((predict0(x_test) - y_test.double()) ** 2).mean()
    assert predict(x_test).shape == (500, 1) and err < err0 / 2


def test_rfm_rejects_bad_input():
    x = torch.randn(10, 3)
    with pytest.raises(TypeError):
        dnfa.rfm(x.long(), torch.randn(10))
    with pytest.raises(ValueError, match="y must be"):
        dnfa.rfm(x, torch.randn(9))
    with pytest.raises(ValueError, match="bandwidth"):
        dnfa.rfm(x, torch.randn(10), bandwidth=0.0)
    with pytest.raises(ValueError, match="iters"):
        dnfa.rfm(x, torch.randn(10), iters=-1)
    _, predict = dnfa.rfm(x, torch.randn(10), iters=0)
    with pytest.raises(ValueError, match="columns"):
        predict(torch.randn(4, 2))
