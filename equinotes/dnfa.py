"""The Deep Neural Feature Ansatz (DNFA) and its tight-frame reformulation.

For a fully connected network ``f`` with layers ``h_l = W_l a_{l-1}`` (pre-activations) and
``a_l = σ(h_l)`` (activations, ``a_0 = x``), the objects of chapter 5 are, per layer ``l``:

* the neural feature matrix ``NFM_l = W_lᵀ W_l``                                  ``[d_in, d_in]``
* the gradient second moment ``K_l = 1/n Σ_i Σ_k g_ik g_ikᵀ`` with
  ``g_ik = ∂f_k(x_i)/∂h_l`` (output gradients w.r.t. the pre-activations)          ``[d_out, d_out]``
* the average gradient outer product ``AGOP_l = 1/n Σ_i J_iᵀ J_i`` with
  ``J_i = ∂f(x_i)/∂a_{l-1}``; by the chain rule ``AGOP_l = W_lᵀ K_l W_l``           ``[d_in, d_in]``

The ansatz says ``NFM_l ∝ AGOP_l^α`` (α = 1 in the first arXiv version, α = 1/2 in the Science
version). With ``W = U S Vᵀ`` and ``Ũ = Uᵀ K U`` it is equivalent to ``Ũ ∝ S^{2/α - 2}``; for α = 1,
to the pre-activation gradients forming a tight frame on ``range(W)``.

``gradient_moments`` gets every ``K_l`` from ONE batched backward pass per output (the per-sample
gradients w.r.t. all pre-activations come out of the same pass because samples do not interact),
instead of one Jacobian of a sub-network per layer (``agop_jacobian``, the usual approach, kept as
the reference the tests and the benchmark compare with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .utils import check_int, check_tensor

__all__ = [
    "relu_mlp",
    "linear_layers",
    "preactivation_gradients",
    "gradient_moments",
    "nfm",
    "agop",
    "moments_and_agops",
    "layer_matrices",
    "LayerMatrices",
    "agop_jacobian",
    "cosine_similarity",
    "pearson_correlation",
    "matrix_power",
    "nfa_similarity",
    "identity_similarity",
    "traceless_similarity",
    "participation_ratio",
    "rotated_moment",
    "tight_frame_metrics",
    "flat_spectrum_identity",
    "product_task",
    "subspace_product_task",
    "subspace_projector",
    "dead_units",
    "protocol_grid",
    "PYTORCH_DEFAULT_SCALE",
    "deep_linear_net",
    "best_alpha",
    "nfa_records",
    "train_tracking_nfa",
    "fact_matrix",
    "fact_report",
    "fact_along_gd",
    "ridge_model",
    "cosine_lower_bound",
    "centred_nfa",
    "laplace_kernel",
    "rfm",
]

# PyTorch's default nn.Linear init, U(-1/√fan_in, 1/√fan_in), has std 1/√(3 fan_in): 1/√6 of He's.
PYTORCH_DEFAULT_SCALE = 1 / math.sqrt(6)

_ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Softplus,
    nn.Identity,
)


# ----------------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------------
def relu_mlp(
    d_in: int,
    width: int,
    depth: int,
    d_out: int = 1,
    init_scale: float = 1.0,
    generator: torch.Generator | None = None,
    distribution: str = "normal",
) -> nn.Sequential:
    """A bias-free ReLU MLP ``Linear, ReLU, ..., Linear`` with ``depth`` hidden layers.

    Weights are drawn i.i.d. with standard deviation ``init_scale · √(2 / fan_in)`` (He
    initialisation times ``init_scale``), so ``init_scale = 1`` keeps activations at unit scale and
    smaller values shrink the output by ``init_scale^(depth+1)``. PyTorch's default ``nn.Linear``
    initialisation is ``distribution="uniform"`` with ``init_scale = PYTORCH_DEFAULT_SCALE``
    (``U(-1/√fan_in, 1/√fan_in)``, about 0.41 × He).

    Args:
        d_in, width, d_out: input, hidden and output dimensions. depth: number of hidden layers (≥ 1).
        init_scale: positive multiplier of the He standard deviation.
        generator: optional seeded ``torch.Generator`` for the weights.
        distribution: ``"normal"`` (Gaussian) or ``"uniform"`` (symmetric uniform, same std).
    Returns:
        ``nn.Sequential``; input ``[n, d_in]`` → output ``[n, d_out]``.
    """
    d_in = check_int("d_in", d_in, minimum=1)
    width = check_int("width", width, minimum=1)
    depth = check_int("depth", depth, minimum=1)
    d_out = check_int("d_out", d_out, minimum=1)
    if (
        isinstance(init_scale, bool)
        or not isinstance(init_scale, (int, float))
        or not init_scale > 0
    ):
        raise ValueError(f"init_scale must be a positive number, got {init_scale!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    if distribution not in ("normal", "uniform"):
        raise ValueError(
            f"distribution must be 'normal' or 'uniform', got {distribution!r}"
        )
    dims = [d_in] + [width] * depth + [d_out]
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layer = nn.Linear(a, b, bias=False)
        std = init_scale * math.sqrt(2.0 / a)
        with torch.no_grad():
            if distribution == "normal":
                w = torch.randn(b, a, generator=generator) * std
            else:  # U(-√3 std, √3 std) has standard deviation std
                w = (2 * torch.rand(b, a, generator=generator) - 1) * (
                    math.sqrt(3) * std
                )
            layer.weight.copy_(w)
        modules.append(layer)
        if i < len(dims) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a fully connected ``nn.Sequential``, in order.

    The model must alternate ``nn.Linear`` layers and element-wise activations (ReLU, Tanh, …) and end
    with a ``nn.Linear``: that is what makes per-sample gradients come out of one batched backward pass.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"model must be an nn.Sequential of Linear layers and activations, got {type(model).__name__}"
        )
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            layers.append(m)
        elif not isinstance(m, _ELEMENTWISE):
            raise ValueError(
                f"model may only hold nn.Linear and element-wise activations, found {type(m).__name__}"
            )
    if not layers:
        raise ValueError("model has no nn.Linear layer")
    if not isinstance(model[-1], nn.Linear):
        raise ValueError("model must end with an nn.Linear readout layer")
    return layers


def _check_inputs(model: nn.Module, x) -> tuple[list[nn.Linear], torch.Tensor]:
    layers = linear_layers(model)
    check_tensor(x, "x", "[n, d_in]")
    if x.shape[0] < 1:
        raise ValueError("x must hold at least one sample")
    if x.shape[1] != layers[0].in_features:
        raise ValueError(
            f"x has {x.shape[1]} features but the first layer expects {layers[0].in_features}"
        )
    return layers, x


# ----------------------------------------------------------------------------------------------------
# gradients, K, NFM, AGOP
# ----------------------------------------------------------------------------------------------------
def preactivation_gradients(
    model: nn.Sequential, x: torch.Tensor
) -> list[torch.Tensor]:
    """Per-sample gradients of every output w.r.t. every layer's pre-activations.

    One forward pass, then one backward pass per output coordinate over the whole batch: since samples
    never interact in an MLP, the gradient of ``Σ_i f_k(x_i)`` w.r.t. ``h_l(x_i)`` is ``∂f_k(x_i)/∂h_l``.

    Args:
        model: fully connected ``nn.Sequential`` (see ``linear_layers``). x: inputs ``[n, d_in]``.
    Returns:
        one tensor per linear layer, ``[n, d_out_model, d_l]`` with ``d_l`` that layer's output width
        (for the readout layer it is the identity for every sample).
    """
    layers, x = _check_inputs(model, x)
    with torch.enable_grad():
        a = x.detach().requires_grad_(
            True
        )  # keeps every pre-activation in the graph, even for frozen weights
        pre = []
        for m in model:
            a = m(a)
            if isinstance(m, nn.Linear):
                pre.append(a)
        out = a
        c = out.shape[1]
        grads = [[] for _ in pre]
        for k in range(c):
            gs = torch.autograd.grad(out[:, k].sum(), pre, retain_graph=k < c - 1)
            for store, g in zip(grads, gs):
                store.append(g)
    return [torch.stack(g, dim=1) for g in grads]


def gradient_moments(
    model: nn.Sequential, x: torch.Tensor, centre: bool = False
) -> list[torch.Tensor]:
    """``K_l = 1/n Σ_i Σ_k g_ik g_ikᵀ`` for every layer, ``g_ik = ∂f_k(x_i)/∂h_l``; each ``[d_l, d_l]``.

    With ``centre=True`` the mean gradient ``ḡ_k = 1/n Σ_i g_ik`` is subtracted first (the covariance
    of the gradients): ``W_lᵀ K_l W_l`` is then the mean-centred gradient outer product, since
    ``J_i - J̄ = (G_i - Ḡ) W_l``.
    """
    if not isinstance(centre, bool):
        raise TypeError(f"centre must be a bool, got {type(centre).__name__}")
    n = x.shape[0] if isinstance(x, torch.Tensor) and x.dim() == 2 else None
    moments = []
    for g in preactivation_gradients(model, x):  # [n, c, d_l]
        if centre:
            g = g - g.mean(0, keepdim=True)
        flat = g.reshape(-1, g.shape[-1])
        moments.append(flat.T @ flat / n)
    return moments


def nfm(layer) -> torch.Tensor:
    """Neural feature matrix ``WᵀW`` of an ``nn.Linear`` or weight ``[d_out, d_in]``; ``[d_in, d_in]``."""
    w = _weight(layer)
    return w.T @ w


def _weight(layer) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return layer.weight.detach()
    if isinstance(layer, torch.Tensor) and layer.dim() == 2:
        return layer.detach()
    raise TypeError(
        f"expected an nn.Linear or a weight matrix [d_out, d_in], got {type(layer).__name__}"
    )


@dataclass
class LayerMatrices:
    """The matrices of one layer: weight ``W [d_out, d_in]``, ``nfm = WᵀW``, ``K [d_out, d_out]``, ``agop =
    WᵀKW``.
    """

    index: int
    W: torch.Tensor
    nfm: torch.Tensor
    K: torch.Tensor
    agop: torch.Tensor


def moments_and_agops(
    model: nn.Sequential, x: torch.Tensor, centre: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(K_l, AGOP_l = W_lᵀ K_l W_l)`` for every linear layer: one backward pass per output, then two
    matrix products per layer (no Jacobian of any sub-network). Shapes ``[d_out_l, d_out_l]`` and
    ``[d_in_l, d_in_l]``. ``centre=True``: the mean-centred versions (see ``gradient_moments``)."""
    layers = linear_layers(model)
    moments = gradient_moments(model, x, centre)
    agops = []
    for layer, K in zip(layers, moments):
        W = layer.weight.detach()
        agops.append(W.T @ (K @ W))
    return moments, agops


def layer_matrices(model: nn.Sequential, x: torch.Tensor) -> list[LayerMatrices]:
    """NFM, K and AGOP (= WᵀKW) of every linear layer, from one backward pass per output."""
    moments, agops = moments_and_agops(model, x)
    out = []
    for i, (layer, K, A) in enumerate(zip(linear_layers(model), moments, agops)):
        W = layer.weight.detach()
        out.append(LayerMatrices(i, W, W.T @ W, K, A))
    return out


def agop(
    model: nn.Sequential, x: torch.Tensor, centre: bool = False
) -> list[torch.Tensor]:
    """AGOP of the output w.r.t. each layer's input activations, computed as ``W_lᵀ K_l W_l``.

    ``centre=True`` gives the mean-centred ``1/n Σ_i (J_i - J̄)ᵀ (J_i - J̄)`` instead."""
    return moments_and_agops(model, x, centre)[1]


def agop_jacobian(
    model: nn.Sequential, x: torch.Tensor, layer: int, centre: bool = False
) -> torch.Tensor:
    """The usual way: ``torch.func.vmap(jacrev(sub-network))`` from layer ``layer``'s input to the output.

    Args:
        model: fully connected ``nn.Sequential``. x: inputs ``[n, d_in]``. layer: index of the linear layer.
        centre: subtract the mean Jacobian ``J̄`` first (the authors' "centered" EGOP).
    Returns:
        ``1/n Σ_i J_iᵀ J_i`` with ``J_i = ∂f(x_i)/∂a_{layer-1}``, ``[d_in_layer, d_in_layer]``.
    """
    from torch.func import jacrev, vmap

    layers, x = _check_inputs(model, x)
    layer = check_int("layer", layer, minimum=0)
    if layer >= len(layers):
        raise ValueError(
            f"layer must be < {len(layers)} (number of linear layers), got {layer}"
        )
    modules = list(model)
    start = modules.index(layers[layer])
    head = nn.Sequential(*modules[:start])
    tail = nn.Sequential(*modules[start:])
    with torch.no_grad():
        a = head(x)
    jac = vmap(jacrev(lambda v: tail(v.unsqueeze(0)).squeeze(0)))(
        a.detach()
    )  # [n, c, d]
    jac = jac.detach()
    if centre:
        jac = jac - jac.mean(0, keepdim=True)
    flat = jac.reshape(-1, jac.shape[-1])
    return flat.T @ flat / x.shape[0]


# ----------------------------------------------------------------------------------------------------
# similarities
# ----------------------------------------------------------------------------------------------------
def _check_pair(A, B) -> tuple[torch.Tensor, torch.Tensor]:
    for name, M in (("A", A), ("B", B)):
        if not isinstance(M, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(M).__name__}")
    if A.shape != B.shape:
        raise ValueError(
            f"A and B must have the same shape, got {tuple(A.shape)} and {tuple(B.shape)}"
        )
    return A, B


def cosine_similarity(A: torch.Tensor, B: torch.Tensor) -> float:
    """``⟨A, B⟩_F / (‖A‖_F ‖B‖_F)`` for two tensors of the same shape (the first paper's measure)."""
    A, B = _check_pair(A, B)
    a, b = A.reshape(-1).double(), B.reshape(-1).double()
    den = a.norm() * b.norm()
    if den == 0:
        raise ValueError("cosine similarity is undefined for a zero matrix")
    return float(a @ b / den)


def pearson_correlation(A: torch.Tensor, B: torch.Tensor) -> float:
    """Pearson correlation of the entries of ``A`` and ``B`` (the Science version's measure)."""
    A, B = _check_pair(A, B)
    a, b = A.reshape(-1).double(), B.reshape(-1).double()
    return cosine_similarity(a - a.mean(), b - b.mean())


def _check_square(A, name="A") -> torch.Tensor:
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(A).__name__}")
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(
            f"{name} must be a square matrix [d, d], got shape {tuple(A.shape)}"
        )
    return A


def matrix_power(A: torch.Tensor, alpha: float) -> torch.Tensor:
    """``A^α`` of a symmetric positive semi-definite ``[d, d]`` matrix (negative round-off
    eigenvalues → 0).
    """
    A = _check_square(A)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if not torch.isfinite(A).all():
        raise ValueError("A has non-finite entries (did training diverge?)")
    if alpha == 1:
        return A.clone()
    evals, evecs = torch.linalg.eigh((A + A.T) / 2)
    return (evecs * evals.clamp_min(0) ** alpha) @ evecs.T


def nfa_similarity(
    nfm_: torch.Tensor, agop_: torch.Tensor, alpha: float = 1.0, measure: str = "cosine"
) -> float:
    """Similarity of ``NFM`` and ``AGOP^α``: ``measure`` is ``"cosine"`` or ``"pearson"``.

    The first arXiv version of the ansatz uses ``alpha=1, measure="cosine"``; the Science version
    ``alpha=0.5, measure="pearson"``.
    """
    if measure not in ("cosine", "pearson"):
        raise ValueError(f"measure must be 'cosine' or 'pearson', got {measure!r}")
    powered = matrix_power(agop_.double(), alpha)
    return (cosine_similarity if measure == "cosine" else pearson_correlation)(
        nfm_.double(), powered
    )


def identity_similarity(A: torch.Tensor) -> float:
    """Cosine similarity of ``A [d, d]`` with the identity: ``tr A / (√d ‖A‖_F)`` (a baseline)."""
    A = _check_square(A)
    return cosine_similarity(A, torch.eye(A.shape[0], dtype=A.dtype, device=A.device))


def traceless_similarity(A: torch.Tensor, B: torch.Tensor) -> float:
    """Cosine similarity after removing the identity part of each matrix: ``cos(A - tr(A)/d I, B - tr(B)/d
    I)``.
    """
    A, B = _check_square(A), _check_square(B, "B")
    _check_pair(A, B)
    eye = torch.eye(A.shape[0], dtype=torch.float64, device=A.device)
    A, B = A.double(), B.double()
    return cosine_similarity(
        A - A.trace() / A.shape[0] * eye, B - B.trace() / B.shape[0] * eye
    )


def participation_ratio(A: torch.Tensor) -> float:
    """``PR(A) = (tr A)² / tr(A²)`` of a symmetric ``[d, d]`` matrix: between 1 and d for PSD ``A``."""
    A = _check_square(A).double()
    den = (A * A).sum()
    if den == 0:
        raise ValueError("participation ratio is undefined for a zero matrix")
    return float(A.trace() ** 2 / den)


# ----------------------------------------------------------------------------------------------------
# the tight-frame view
# ----------------------------------------------------------------------------------------------------
def rotated_moment(
    W: torch.Tensor, K: torch.Tensor, rtol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Ũ = Uᵀ K U`` with ``W = U S Vᵀ`` (thin SVD restricted to the numerical rank ``r``).

    Args:
        W: weight ``[d_out, d_in]``. K: gradient second moment ``[d_out, d_out]``.
        rtol: singular values below ``rtol · s_max`` count as zero.
    Returns:
        ``(Ũ [r, r], S [r])``.
    """
    W = _weight(W).double()
    K = _check_square(K, "K").double()
    if K.shape[0] != W.shape[0]:
        raise ValueError(
            f"K must be [{W.shape[0]}, {W.shape[0]}] to match W {tuple(W.shape)}, got {tuple(K.shape)}"
        )
    if not isinstance(rtol, (int, float)) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be in [0, 1), got {rtol!r}")
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    r = int((S > rtol * S[0]).sum())
    if r == 0:
        raise ValueError("W is zero: it has no range")
    U, S = U[:, :r], S[:r]
    return U.T @ K @ U, S


def tight_frame_metrics(W: torch.Tensor, K: torch.Tensor, rtol: float = 1e-6) -> dict:
    """How close the pre-activation gradients are to a tight frame on ``range(W)``.

    Returns a dict with ``rank`` r, ``pr`` = PR(Ũ), ``tightness`` = √(PR(Ũ)/r) ∈ (0, 1] (1 iff
    ``Ũ ∝ I``; it equals ``cos(WᵀW, WᵀKW)`` when the singular values of W are equal), ``flatness`` =
    PR(S²)/r (1 iff the singular values are equal) and ``nfa_cosine`` = cos(WᵀW, WᵀKW) recomputed from
    ``S`` and ``Ũ``.
    """
    U_tilde, S = rotated_moment(W, K, rtol)
    r = U_tilde.shape[0]
    pr = participation_ratio(U_tilde)
    S2 = torch.diag(S**2)
    nfa = (
        cosine_similarity(S2, torch.diag(S) @ U_tilde @ torch.diag(S))
        if (U_tilde != 0).any()
        else float("nan")
    )
    return {
        "rank": r,
        "pr": pr,
        "tightness": math.sqrt(pr / r),
        "flatness": participation_ratio(S2) / r,
        "nfa_cosine": nfa,
    }


def flat_spectrum_identity(r: int = 2):
    """Sympy check of ``cos(WᵀW, WᵀKW)² = PR(Ũ)/r`` when ``W = U (s I_r) Vᵀ`` (all singular values equal).

    ``U`` and ``V`` are symbolic rotations (angles θ, φ; for r = 1 they are 1) and ``K`` is a generic
    symbolic symmetric ``r × r`` matrix. Returns ``(difference, cos², PR(Ũ)/r)`` with ``difference``
    simplified: it is 0 when the identity holds for every angle, scale and ``K``.
    """
    import sympy as sp

    r = check_int("r", r, minimum=1)
    if r > 2:
        raise ValueError(
            f"r must be 1 or 2 (symbolic simplification grows quickly; larger r is checked "
            f"numerically), got {r}"
        )
    s = sp.symbols("s", positive=True)
    ks = sp.symbols(f"k0:{r * (r + 1) // 2}", real=True)
    K = sp.zeros(r, r)
    it = iter(ks)
    for i in range(r):
        for j in range(i, r):
            K[i, j] = K[j, i] = next(it)
    if r == 1:
        U = V = sp.eye(1)
    else:
        th, ph = sp.symbols("theta phi", real=True)
        U = sp.Matrix([[sp.cos(th), -sp.sin(th)], [sp.sin(th), sp.cos(th)]])
        V = sp.Matrix([[sp.cos(ph), -sp.sin(ph)], [sp.sin(ph), sp.cos(ph)]])
    W = U * (s * sp.eye(r)) * V.T
    N, G = W.T * W, W.T * K * W
    inner = lambda X, Y: sum(X[i, j] * Y[i, j] for i in range(r) for j in range(r))  # noqa: E731
    cos2 = sp.simplify(inner(N, G) ** 2 / (inner(N, N) * inner(G, G)))
    Ut = sp.simplify(U.T * K * U)
    pr_over_r = sp.simplify(Ut.trace() ** 2 / inner(Ut, Ut) / r)
    return sp.simplify(cos2 - pr_over_r), cos2, pr_over_r


# ----------------------------------------------------------------------------------------------------
# the toy task and a per-layer summary
# ----------------------------------------------------------------------------------------------------
def product_task(
    n: int, d: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' toy target ``y = x₁ x₂`` with ``x ~ N(0, I_d)``: returns ``x [n, d]`` and ``y [n, 1]``."""
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=2)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    x = torch.randn(n, d, generator=generator)
    return x, (x[:, 0] * x[:, 1]).unsqueeze(1)


def subspace_product_task(
    n: int,
    d: int,
    weights=(1.0, 0.5),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A target whose relevant subspace is not axis-aligned: ``y = Σ_j c_j z_{2j} z_{2j+1}``.

    ``z = Bᵀx`` with ``B [d, 2m]`` a random orthonormal basis (``m = len(weights)`` products), and
    ``x ~ N(0, I_d)``. The target's own gradient outer product is
    ``E[∇y ∇yᵀ] = B diag(c_1², c_1², c_2², c_2², …) Bᵀ``: a matrix that is not a projector when the
    weights differ.

    Args:
        n: samples. d: input dimension (≥ 2m). weights: the positive ``c_j``.
        generator: optional seeded ``torch.Generator`` (draws the basis, then the inputs).
    Returns:
        ``x [n, d]``, ``y [n, 1]`` and the basis ``B [d, 2m]``.
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=2)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    weights = [float(c) for c in weights]
    if not weights or not all(math.isfinite(c) and c > 0 for c in weights):
        raise ValueError(f"weights must be positive numbers, got {weights!r}")
    k = 2 * len(weights)
    if k > d:
        raise ValueError(f"{len(weights)} products need d ≥ {k}, got d = {d}")
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=generator))
    x = torch.randn(n, d, generator=generator)
    z = x @ basis
    y = sum(c * z[:, 2 * j] * z[:, 2 * j + 1] for j, c in enumerate(weights))
    return x, y.unsqueeze(1), basis


def subspace_projector(basis: torch.Tensor) -> torch.Tensor:
    """Orthogonal projector ``[d, d]`` onto the span of the columns of ``basis [d, k]``."""
    check_tensor(basis, "basis", "[d, k]")
    Q, R = torch.linalg.qr(basis.double())
    if (R.diagonal().abs() <= 1e-12 * R.diagonal().abs().max()).any():
        raise ValueError("basis must have linearly independent columns")
    return (Q @ Q.T).to(basis.dtype)


def dead_units(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """Fraction of dead units in every hidden layer: ReLU units whose pre-activation is ≤ 0 on every
    input of ``x [n, d_in]``, so that every output gradient through them is zero. One entry per hidden
    layer (all linear layers but the readout)."""
    layers, x = _check_inputs(model, x)
    fractions = []
    with torch.no_grad():
        a = x
        for m in model:
            a = m(a)
            if isinstance(m, nn.Linear) and m is not layers[-1]:
                fractions.append(float((a <= 0).all(0).float().mean()))
    return fractions


def protocol_grid(
    model: nn.Sequential,
    x: torch.Tensor,
    initial=None,
    layer: int = 0,
) -> list[dict]:
    """The NFA score of one layer under every protocol choice: weights ``W`` or ``W - W₀`` ×
    α ∈ {1, 1/2} × cosine or Pearson × raw or mean-centred gradient outer product.

    The authors' verification code uses the NFM of ``W - W₀``, α = 1, cosine, and reports both the raw
    and the centred gradient outer product.

    Args:
        model: fully connected ``nn.Sequential``. x: inputs ``[n, d_in]`` (the AGOP's average).
        initial: the initial weight of that layer ``[d_out, d_in]`` (an ``nn.Linear`` or tensor), or
            ``None`` to leave out the ``W - W₀`` rows.
        layer: index of the linear layer.
    Returns:
        one dict per combination: ``weights`` ("W" or "W-W0"), ``alpha``, ``measure``, ``gop``
        ("raw" or "centred") and ``value``.
    """
    layers, x = _check_inputs(model, x)
    layer = check_int("layer", layer, minimum=0)
    if layer >= len(layers):
        raise ValueError(
            f"layer must be < {len(layers)} (number of linear layers), got {layer}"
        )
    W = layers[layer].weight.detach()
    weights = {"W": W}
    if initial is not None:
        W0 = _weight(initial)
        if W0.shape != W.shape:
            raise ValueError(
                f"initial must have the layer's shape {tuple(W.shape)}, got {tuple(W0.shape)}"
            )
        weights["W-W0"] = W - W0.to(W.device, W.dtype)
    gops = {
        "raw": agop(model, x)[layer],
        "centred": agop(model, x, centre=True)[layer],
    }
    rows = []
    for wname, M in weights.items():
        N = M.T @ M
        for alpha in (1.0, 0.5):
            for measure in ("cosine", "pearson"):
                for gname, G in gops.items():
                    rows.append(
                        {
                            "weights": wname,
                            "alpha": alpha,
                            "measure": measure,
                            "gop": gname,
                            "value": nfa_similarity(N, G, alpha, measure),
                        }
                    )
    return rows


def deep_linear_net(
    dims, init_std: float, generator: torch.Generator | None = None
) -> nn.Sequential:
    """A deep *linear* network ``x ↦ W_L ⋯ W_1 x`` (bias-free ``nn.Linear`` layers, no activation).

    Args:
        dims: layer widths ``[d_in, d_1, …, d_out]`` (at least two entries, each ≥ 1).
        init_std: positive standard deviation of every weight entry (small for a near-balanced start).
        generator: optional seeded ``torch.Generator``.
    Returns:
        ``nn.Sequential``; input ``[n, d_in]`` → output ``[n, d_out]``.
    """
    dims = [check_int("dims entry", d, minimum=1) for d in dims]
    if len(dims) < 2:
        raise ValueError(f"dims needs at least an input and an output size, got {dims}")
    if (
        isinstance(init_std, bool)
        or not isinstance(init_std, (int, float))
        or not init_std > 0
    ):
        raise ValueError(f"init_std must be a positive number, got {init_std!r}")
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layer = nn.Linear(a, b, bias=False)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(b, a, generator=generator) * init_std)
        layers.append(layer)
    return nn.Sequential(*layers)


def best_alpha(nfm_: torch.Tensor, agop_: torch.Tensor, alphas) -> tuple[float, float]:
    """The power α (from the candidates ``alphas``) that maximises ``cos(NFM, AGOP^α)``.

    Args:
        nfm_, agop_: ``[d, d]`` matrices (the AGOP positive semi-definite). alphas: positive candidates.
    Returns:
        ``(best α, its cosine)``.
    """
    alphas = [float(a) for a in alphas]
    if not alphas or not all(math.isfinite(a) and a > 0 for a in alphas):
        raise ValueError("alphas must be a non-empty list of positive numbers")
    _check_pair(_check_square(nfm_, "nfm_"), _check_square(agop_, "agop_"))
    values = [nfa_similarity(nfm_, agop_, a) for a in alphas]
    i = max(range(len(values)), key=values.__getitem__)
    return alphas[i], values[i]


def nfa_records(
    model: nn.Sequential,
    x: torch.Tensor,
    rtol: float = 1e-6,
    rtol_used: float = 0.1,
    reference: torch.Tensor | None = None,
) -> list[dict]:
    """One dict per linear layer: both published NFA forms, the baselines and the tight-frame metrics.

    Keys: ``layer``, ``cos`` (α = 1, cosine), ``pearson`` (α = 1/2, Pearson), ``traceless`` (α = 1),
    ``nfm_identity`` and ``agop_identity`` (similarity of each matrix to I), then the keys of
    ``tight_frame_metrics`` (range: singular values above ``rtol · s_max``) and ``tightness_used``,
    ``rank_used``: the same tightness on the directions W actually uses (above ``rtol_used · s_max``).
    With ``reference`` (a ``[d_in, d_in]`` matrix, e.g. the projector onto the relevant inputs), the
    first layer's record also holds ``nfm_reference`` = cos(NFM, reference), ``nfm_reference_pearson``
    (Pearson) and ``agop_reference`` = cos(AGOP, reference).
    """
    if reference is not None:
        reference = _check_square(reference, "reference")
    recs = []
    for m in layer_matrices(model, x):
        rec = {
            "layer": m.index,
            "cos": nfa_similarity(m.nfm, m.agop, 1.0, "cosine"),
            "pearson": nfa_similarity(m.nfm, m.agop, 0.5, "pearson"),
            "traceless": traceless_similarity(m.nfm, m.agop),
            "nfm_identity": identity_similarity(m.nfm),
            "agop_identity": identity_similarity(m.agop),
        }
        rec.update(tight_frame_metrics(m.W, m.K, rtol))
        used = tight_frame_metrics(m.W, m.K, rtol_used)
        rec["tightness_used"], rec["rank_used"] = used["tightness"], used["rank"]
        if reference is not None and m.index == 0:
            if reference.shape != m.nfm.shape:
                raise ValueError(
                    f"reference must be {tuple(m.nfm.shape)}, got {tuple(reference.shape)}"
                )
            P = reference.to(m.nfm.device)
            rec["nfm_reference"] = cosine_similarity(m.nfm, P)
            rec["nfm_reference_pearson"] = pearson_correlation(m.nfm, P)
            rec["agop_reference"] = cosine_similarity(m.agop, P)
        recs.append(rec)
    return recs


def _full_batch_gd(
    model,
    x,
    y,
    n_steps,
    lr,
    seed,
    weight_decay,
    sample_batch,
    progress,
    desc,
    optimizer="sgd",
    on_grads=None,
):
    """Full-batch gradient descent (or Adam) on ``mean((f(x) - y)²) + λ/2 ‖θ‖²`` for an
    ``nn.Sequential`` of bias-free ``nn.Linear`` and ``nn.ReLU``, with the backward pass written out
    (see ``train_tracking_nfa``). Same seeding, modes, updates and ``TrainLog`` as ``training.train``
    (``torch.optim.SGD`` / ``torch.optim.Adam`` with their defaults and ``weight_decay=λ``).
    ``on_grads(weights, grads)``, if given, sees each step's weights and the gradients of the data
    loss (without the decay) before the update."""
    import time

    from .training import TrainLog
    from .utils import progress as progress_bar

    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    seed = check_int("seed", seed, minimum=0)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    modules = list(model)
    weights = [m.weight for m in modules if isinstance(m, nn.Linear)]
    if optimizer == "adam":  # torch.optim.Adam's defaults, single-tensor form
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        moments = [(torch.zeros_like(w), torch.zeros_like(w)) for w in weights]
    scale = 2.0 / y.numel()
    log = TrainLog()
    start = time.perf_counter()
    bar = progress_bar(range(n_steps), desc=desc, leave=False, disable=not progress)
    with torch.no_grad():
        for step in bar:
            sample_batch(step, generator)  # records the checkpoints
            a, inputs = x, []
            for m in modules:
                inputs.append(a)
                a = m(a)
            residual = a - y
            log.losses.append(float((residual * residual).mean()))
            g, grads = residual * scale, []
            for i in range(len(modules) - 1, -1, -1):
                m = modules[i]
                if isinstance(m, nn.ReLU):
                    g = g * (inputs[i] > 0)
                else:
                    grads.append(g.T @ inputs[i])
                    if i > 0:
                        g = g @ m.weight
            grads.reverse()
            if on_grads is not None:
                on_grads(weights, grads)
            for j, (w, dw) in enumerate(zip(weights, grads)):
                if weight_decay:
                    dw = dw.add(w, alpha=weight_decay)
                if optimizer == "sgd":
                    w.add_(dw, alpha=-lr)
                    continue
                m1, m2 = moments[j]
                m1.lerp_(dw, 1 - beta1)
                m2.mul_(beta2).addcmul_(dw, dw, value=1 - beta2)
                t = step + 1
                denom = (m2.sqrt() / (1 - beta2**t) ** 0.5).add_(eps)
                w.addcdiv_(m1, denom, value=-lr / (1 - beta1**t))
            if step % 10 == 0:
                bar.set_postfix(loss=f"{log.losses[-1]:.4f}", refresh=False)
    log.seconds = time.perf_counter() - start
    model.eval()
    return log


def train_tracking_nfa(
    model: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int,
    lr: float,
    checkpoints,
    optimizer: str = "sgd",
    batch_size: int | None = None,
    seed: int = 0,
    x_eval: torch.Tensor | None = None,
    loss: str = "mse",
    progress: bool = False,
    desc: str = "training",
    reference: torch.Tensor | None = None,
    weight_decay: float = 0.0,
) -> tuple[list[tuple[int, list[dict]]], "object"]:
    """Train with ``equinotes.training.train`` and record ``nfa_records`` at the given steps.

    Args:
        model: fully connected ``nn.Sequential``. x: inputs ``[n, d_in]``. y: targets ``[n, d_out]``
            (``loss="mse"``) or class indices ``[n]`` (``loss="cross_entropy"``).
        n_steps, lr, optimizer, seed: passed to ``train`` (``"sgd"`` or ``"adam"``).
        checkpoints: steps (0 ≤ step ≤ n_steps) at which to record; step ``s`` means "after s updates".
        batch_size: mini-batch size drawn with the seeded generator; ``None`` = full batch.
        x_eval: inputs the AGOP is averaged over (default ``x``, the training inputs).
        reference: passed to ``nfa_records`` (a first-layer comparison matrix ``[d_in, d_in]``).
        weight_decay: λ ≥ 0 of the penalty λ/2 ‖θ‖² (as ``torch.optim.SGD(weight_decay=λ)``).
    Returns:
        ``(history, log)``: ``history`` is a list of ``(step, nfa_records(...))``; ``log`` the ``TrainLog``.

    Full-batch training (gradient descent or Adam) on the squared error of a bias-free ReLU (or linear)
    MLP — every run of chapter 5 — takes a fast path: the same updates as ``train`` (same seed
    handling, same ``TrainLog``), with the backward pass and the optimizer step written out by hand
    instead of autograd and ``torch.optim``. On these tiny networks the per-step overhead, not the
    arithmetic, is the cost.
    """
    from .training import train

    layers, x = _check_inputs(model, x)
    if not isinstance(y, torch.Tensor) or y.shape[0] != x.shape[0]:
        raise ValueError("y must be a tensor with one row per sample of x")
    if loss not in ("mse", "cross_entropy"):
        raise ValueError(f"loss must be 'mse' or 'cross_entropy', got {loss!r}")
    n_steps = check_int("n_steps", n_steps, minimum=0)
    checkpoints = sorted({check_int("checkpoint", c, minimum=0) for c in checkpoints})
    if checkpoints and checkpoints[-1] > n_steps:
        raise ValueError(
            f"checkpoints must be ≤ n_steps = {n_steps}, got {checkpoints[-1]}"
        )
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    x_eval = x if x_eval is None else _check_inputs(model, x_eval)[1]
    history = []
    wanted = set(checkpoints)

    def sample_batch(step, generator):
        if step in wanted:  # the model as it is before update number `step`
            history.append((step, nfa_records(model, x_eval, reference=reference)))
        if batch_size is None or batch_size >= x.shape[0]:
            return x, y
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=generator).to(
            x.device
        )
        return x[idx], y[idx]

    def loss_fn(m, batch):
        xb, yb = batch
        out = m(xb)
        if loss == "mse":
            return ((out - yb) ** 2).mean()
        return nn.functional.cross_entropy(out, yb)

    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not weight_decay >= 0
    ):
        raise ValueError(f"weight_decay must be a number ≥ 0, got {weight_decay!r}")
    fast = (
        optimizer in ("sgd", "adam")
        and loss == "mse"
        and (batch_size is None or batch_size >= x.shape[0])
        and all(
            isinstance(m, nn.ReLU) or (isinstance(m, nn.Linear) and m.bias is None)
            for m in model
        )
        and all(p.requires_grad for p in model.parameters())
    )
    if fast:
        if y.shape != model(x).shape:
            raise ValueError("y must have the model output's shape [n, d_out]")
        log = _full_batch_gd(
            model,
            x,
            y,
            n_steps,
            lr,
            seed,
            weight_decay,
            sample_batch,
            progress,
            desc,
            optimizer,
        )
    else:
        log = train(
            model,
            loss_fn,
            sample_batch,
            n_steps,
            lr=lr,
            optimizer=optimizer,
            seed=seed,
            device=x.device,
            progress=progress,
            desc=desc,
            weight_decay=weight_decay,
        )
    if n_steps in wanted:
        history.append((n_steps, nfa_records(model, x_eval, reference=reference)))
    return history, log


# ----------------------------------------------------------------------------------------------------
# FACT: the exact identity at a stationary point of the weight-decayed loss (Boix-Adsera et al. 2025)
# ----------------------------------------------------------------------------------------------------
def _fact_terms(model, x, y, weight_decay, layer):
    """(W, Σ_i ∂L/∂a_i a_iᵀ, ∂L/∂W) for ``L = mean((f(x) - y)²)``; shapes ``[d_out, d_in]``,
    ``[d_in, d_in]``, ``[d_out, d_in]``."""
    layers, x = _check_inputs(model, x)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not math.isfinite(weight_decay)
        or not weight_decay > 0
    ):
        raise ValueError(
            f"weight_decay must be a positive number (λ of the penalty λ/2 ‖W‖²), got "
            f"{weight_decay!r}"
        )
    layer = check_int("layer", layer, minimum=0)
    if layer >= len(layers):
        raise ValueError(
            f"layer must be < {len(layers)} (number of linear layers), got {layer}"
        )
    target = layers[layer]
    with torch.enable_grad():
        a, a_in = x.detach(), None
        for m in model:
            if m is target:
                a_in = a.detach().requires_grad_(True)
                a = a_in
            a = m(a)
        if a.shape != y.shape:
            raise ValueError(
                f"y must have the output's shape {tuple(a.shape)}, got {tuple(y.shape)}"
            )
        loss = ((a - y.to(a)) ** 2).mean()
        grad_a, grad_w = torch.autograd.grad(loss, [a_in, target.weight])
    W = target.weight.detach()
    return W, grad_a.T @ a_in.detach(), grad_w.detach()


def fact_matrix(
    model: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    layer: int = 0,
) -> torch.Tensor:
    """The right-hand side of FACT for one layer: ``-(1/λ) Σ_i (∂L/∂a_i) a_iᵀ``, symmetrised.

    For the objective ``L(θ) + λ/2 ‖θ‖²`` with ``L = mean((f(x) - y)²)`` (what ``train`` minimises with
    ``weight_decay=λ``), a stationary point has ``λ W = -∂L/∂W = -Σ_i g_i a_iᵀ`` (``a_i`` the layer's input
    on sample ``i``, ``g_i = ∂L/∂h_i`` at its pre-activation). Multiplying by ``Wᵀ`` and using
    ``Wᵀ g_i = ∂L/∂a_i`` gives ``WᵀW = -(1/λ) Σ_i (∂L/∂a_i) a_iᵀ``. Away from stationarity the gap is
    exactly ``-(1/λ) Wᵀ R`` with ``R = ∂L/∂W + λW`` (see ``fact_report``).

    Args:
        model: fully connected ``nn.Sequential`` (see ``linear_layers``). x: inputs ``[n, d_in]``.
        y: targets, the output's shape ``[n, d_out_model]``. weight_decay: λ > 0.
        layer: index of the linear layer.
    Returns:
        ``[d_in_l, d_in_l]``, symmetric (``d_in_l`` the layer's input width).
    """
    _, M, _ = _fact_terms(model, x, y, weight_decay, layer)
    M = -M / weight_decay
    return (M + M.T) / 2


def cosine_lower_bound(relative_gap: float) -> float:
    """The smallest ``cos(A, B)`` over all ``B`` with ``‖B - A‖ ≤ ε ‖A‖``: ``√(1 - ε²)`` for ε < 1.

    (The sine of the angle between ``A`` and ``B`` is at most ε.) For ε ≥ 1 nothing is guaranteed:
    -1.
    """
    eps = float(relative_gap)
    if not eps >= 0:
        raise ValueError(f"relative_gap must be a number ≥ 0, got {relative_gap!r}")
    return math.sqrt(1 - eps**2) if eps < 1 else -1.0


def fact_report(
    model: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    layer: int = 0,
) -> dict:
    """FACT for one layer, with what stationarity guarantees about it.

    Returns a dict: ``cos`` = cos(WᵀW, ``fact_matrix``); ``gradient_norm`` = ‖R‖_F with
    ``R = ∂L/∂W + λW`` the gradient of the weight-decayed objective w.r.t. this layer (0 at a stationary
    point); ``relative_gap`` = ε = ‖W‖₂ ‖R‖_F / (λ ‖WᵀW‖_F), which bounds ‖FACT - WᵀW‖_F / ‖WᵀW‖_F
    (the gap is the symmetric part of -(1/λ) WᵀR); ``cos_bound`` = ``cosine_lower_bound(ε)``, a lower
    bound on ``cos`` that follows from the gradient norm alone; ``gap`` = the measured
    ‖FACT - WᵀW‖_F / ‖WᵀW‖_F.
    """
    W, M, grad_w = _fact_terms(model, x, y, weight_decay, layer)
    W, M, grad_w = W.double(), M.double(), grad_w.double()
    rhs = -M / weight_decay
    rhs = (rhs + rhs.T) / 2
    N = W.T @ W
    R = grad_w + weight_decay * W
    eps = float(
        torch.linalg.matrix_norm(W, ord=2) * R.norm() / (weight_decay * N.norm())
    )
    return {
        "cos": cosine_similarity(N, rhs),
        "gradient_norm": float(R.norm()),
        "relative_gap": eps,
        "cos_bound": cosine_lower_bound(eps),
        "gap": float((rhs - N).norm() / N.norm()),
    }


def ridge_model(x: torch.Tensor, y: torch.Tensor, weight_decay: float) -> nn.Sequential:
    """The minimiser of ``mean((x Wᵀ - y)²) + λ/2 ‖W‖²`` in closed form, as a one-layer model.

    Stationarity, ``(2/(n c)) (W xᵀx - yᵀx) + λ W = 0``, gives ``W = yᵀx (xᵀx + (λ n c / 2) I)⁻¹``: a
    point where FACT holds exactly (up to the float precision of ``x``'s dtype).

    Args:
        x: ``[n, d]``. y: ``[n, c]``. weight_decay: λ > 0.
    Returns:
        ``nn.Sequential(nn.Linear(d, c, bias=False))`` in ``x``'s dtype, weight ``[c, d]``.
    """
    check_tensor(x, "x", "[n, d]")
    check_tensor(y, "y", "[n, c]")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y need the same number of rows, got {x.shape[0]} and {y.shape[0]}"
        )
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not weight_decay > 0
    ):
        raise ValueError(
            f"weight_decay must be a positive number, got {weight_decay!r}"
        )
    n, d = x.shape
    xd, yd = x.double(), y.double()
    eye = torch.eye(d, dtype=torch.float64, device=x.device)
    W = (
        yd.T
        @ xd
        @ torch.linalg.inv(xd.T @ xd + weight_decay * n * y.shape[1] / 2 * eye)
    )
    model = nn.Sequential(nn.Linear(d, y.shape[1], bias=False)).to(x.device, x.dtype)
    with torch.no_grad():
        model[0].weight.copy_(W.to(x.dtype))
    return model


def fact_along_gd(
    model: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    lr: float,
    n_steps: int,
    layer: int = 0,
    seed: int = 0,
) -> dict:
    """Run ``n_steps`` of full-batch gradient descent (step ``lr``, weight decay λ) and average FACT's
    two sides over the iterates.

    Where the loss has a kink at the minimum (ReLU units switching on a training point), gradient
    descent keeps crossing it and the gradient of the last iterate need not shrink. Averaged over the
    iterates ``W_t`` (t = 0 … T-1, ``W_{t+1} = W_t - lr R_t``) the identity still holds up to an exact
    remainder: with ``N_t = W_tᵀW_t`` and ``F_t`` = ``fact_matrix`` at ``W_t``,
    ``mean(N_t) - mean(F_t) = (1/λ) [(N_0 - N_T) / (2 lr T) + (lr/2) mean(R_tᵀR_t)]``, so
    ``‖mean F - mean N‖ / ‖mean N‖ ≤ ε̄ = [‖N_0 - N_T‖/(2 lr T) + (lr/2) mean ‖R_t‖²] / (λ ‖mean N‖)``.

    Args:
        model: bias-free ReLU/linear ``nn.Sequential`` (it is trained in place). x: ``[n, d_in]``.
        y: ``[n, d_out]``. weight_decay: λ > 0. lr: step > 0. n_steps: T ≥ 1. layer: linear layer.
        seed: passed on like ``train``'s.
    Returns:
        dict: ``cos_mean`` = cos(mean N, mean F); ``gap_mean`` (relative); ``relative_gap_mean`` = ε̄;
        ``cos_bound_mean`` = ``cosine_lower_bound(ε̄)``; ``remainder_error``: relative float error of the
        exact remainder formula; ``gradient_norm_rms`` = √mean ‖R_t‖²; ``last``: ``fact_report`` of the
        final iterate.
    """
    n_steps = check_int("n_steps", n_steps, minimum=1)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not all(
        isinstance(m, nn.ReLU) or (isinstance(m, nn.Linear) and m.bias is None)
        for m in model
    ):
        raise ValueError(
            "model must be an nn.Sequential of bias-free nn.Linear and nn.ReLU"
        )
    _fact_terms(model, x, y, weight_decay, layer)  # checks the inputs
    sums = {"N": 0.0, "F": 0.0, "RR": 0.0, "r2": 0.0}
    W = linear_layers(model)[layer].weight.detach().double()
    first = W.T @ W

    def record(weights, grads):
        # F_t = -(1/λ) Σ_i (∂L/∂a_i) a_iᵀ = -(1/λ) W_tᵀ ∂L/∂W_t (chain rule; = fact_matrix)
        W, G = weights[layer].double(), grads[layer].double()
        R = G + weight_decay * W
        F = -(W.T @ G) / weight_decay
        sums["N"] = sums["N"] + W.T @ W
        sums["F"] = sums["F"] + (F + F.T) / 2
        sums["RR"] = sums["RR"] + R.T @ R
        sums["r2"] += float(R.norm() ** 2)

    _full_batch_gd(
        model,
        x,
        y,
        n_steps,
        lr,
        seed,
        weight_decay,
        lambda step, generator: None,
        False,
        "FACT",
        on_grads=record,
    )
    W_end = _fact_terms(model, x, y, weight_decay, layer)[0].double()
    last_N = W_end.T @ W_end
    N, F = sums["N"] / n_steps, sums["F"] / n_steps
    drift = (first - last_N) / (2 * lr * n_steps)
    remainder = (drift + lr / 2 * sums["RR"] / n_steps) / weight_decay
    eps = (float(drift.norm()) + lr / 2 * sums["r2"] / n_steps) / (
        weight_decay * float(N.norm())
    )
    return {
        "cos_mean": cosine_similarity(N, F),
        "gap_mean": float((F - N).norm() / N.norm()),
        "relative_gap_mean": eps,
        "cos_bound_mean": cosine_lower_bound(eps),
        "remainder_error": float(((N - F) - remainder).norm() / N.norm()),
        "gradient_norm_rms": math.sqrt(sums["r2"] / n_steps),
        "last": fact_report(model, x, y, weight_decay, layer),
    }


# ----------------------------------------------------------------------------------------------------
# the centred NFA (Beaglehole, Mitliagkas & Agarwala 2024)
# ----------------------------------------------------------------------------------------------------
def centred_nfa(
    W: torch.Tensor,
    W0: torch.Tensor,
    K: torch.Tensor,
    measure: str = "pearson",
    alpha: float = 1.0,
) -> float:
    """The centred NFA: the ansatz for the part of the weights that training added.

    With ``ΔW = W - W0`` it compares ``ΔWᵀΔW`` with ``(ΔWᵀ K ΔW)^α``, where ``K`` is the *current*
    network's gradient second moment of that layer (``layer_matrices(...)[l].K``). The uncentred NFA is
    the same with ``W0 = 0``. Beaglehole, Mitliagkas and Agarwala's code measures it with ``α = 1`` and
    the Pearson correlation of the entries (the defaults).

    Args:
        W: trained weight ``[d_out, d_in]``. W0: initial weight, same shape. K: ``[d_out, d_out]``.
        measure: ``"pearson"`` or ``"cosine"``. alpha: power of the centred AGOP (> 0).
    Returns:
        the similarity (a float in [-1, 1]).
    """
    for name, M in (("W", W), ("W0", W0), ("K", K)):
        if not isinstance(M, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(M).__name__}")
    if W.dim() != 2 or W0.shape != W.shape:
        raise ValueError(
            f"W and W0 must be matrices of one shape, got {tuple(W.shape)} and "
            f"{tuple(W0.shape)}"
        )
    K = _check_square(K, "K")
    if K.shape[0] != W.shape[0]:
        raise ValueError(
            f"K must be [{W.shape[0]}, {W.shape[0]}] (the layer's output width), got "
            f"{tuple(K.shape)}"
        )
    dW = W.detach().double() - W0.detach().double().to(W.device)
    if dW.norm() == 0:
        raise ValueError("W equals W0: the centred NFA is undefined before training")
    return nfa_similarity(dW.T @ dW, dW.T @ K.double() @ dW, alpha, measure)


def laplace_kernel(
    a: torch.Tensor, b: torch.Tensor, M: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """The Laplace kernel with metric ``M``: ``k(a_i, b_j) = exp(-‖a_i - b_j‖_M / L)`` with
    ``‖v‖_M = √(vᵀ M v)``; ``a [n, d]``, ``b [m, d]``, ``M [d, d]`` (PSD) → ``[n, m]``."""
    d2 = (
        ((a @ M) * a).sum(1, keepdim=True)
        - 2 * a @ M @ b.T
        + ((b @ M) * b).sum(1).unsqueeze(0)
    )
    return torch.exp(-d2.clamp_min(0).sqrt() / bandwidth)


def rfm(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    iters: int = 5,
    bandwidth: float = 10.0,
    reg: float = 1e-3,
):
    """Recursive Feature Machine (Radhakrishnan et al.): kernel ridge regression with the Laplace
    kernel of metric ``M``, where ``M`` is repeatedly set to the AGOP of the current predictor.

    Starting from ``M = I``, each of ``iters`` rounds solves ``(K_M + reg·I) a = y`` and sets
    ``M = 1/n Σ_j ∇f(x_j)ᵀ ∇f(x_j)`` (summed over outputs), with ``∇f(x_j)`` the gradient of
    ``f(z) = Σ_i a_i k_M(z, x_i)`` at the training point (the term ``i = j``, where the Laplace kernel
    has no gradient, left out as in the authors' code); a last solve fits the final ``M``.

    Args:
        x: training inputs ``[n, d]`` (float). y: targets ``[n]`` or ``[n, c]``.
        iters: rounds of the AGOP update (≥ 0; 0 is plain Laplace kernel regression).
        bandwidth: the kernel's ``L`` (> 0). reg: ridge (≥ 0).
    Returns:
        ``(M [d, d], predict)`` with ``predict(z [m, d]) -> [m, c]`` (float64).
    """
    x = check_tensor(x, "x", "[n, d]").detach().double()
    if not isinstance(y, torch.Tensor) or not y.is_floating_point():
        raise TypeError("y must be a floating torch.Tensor [n] or [n, c]")
    y = y.detach().double().to(x.device)
    if y.dim() == 1:
        y = y.unsqueeze(1)
    if y.dim() != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y must be [n] or [n, c] with n = {x.shape[0]}, got {tuple(y.shape)}"
        )
    iters = check_int("iters", iters, minimum=0)
    for name, v, low in (("bandwidth", bandwidth, "> 0"), ("reg", reg, ">= 0")):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
        ):
            raise ValueError(f"{name} must be a finite number {low}, got {v!r}")
    if bandwidth <= 0 or reg < 0:
        raise ValueError(f"bandwidth must be > 0 and reg >= 0, got {bandwidth}, {reg}")
    n, d = x.shape
    M = torch.eye(d, dtype=x.dtype, device=x.device)
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    for t in range(iters + 1):
        K = laplace_kernel(x, x, M, bandwidth)
        coef = torch.linalg.solve(K + reg * eye, y)  # [n, c]
        if t == iters:
            break
        diff = x.unsqueeze(1) - x.unsqueeze(0)  # [n, n, d]: x_j - x_i
        dist = ((diff @ M) * diff).sum(-1).clamp_min(0).sqrt()
        weight = torch.where(dist > 0, K / dist.clamp_min(1e-300), torch.zeros_like(K))
        # ∇f(x_j) = -(1/L) Σ_i a_ic k_ji / d_ji · M (x_j - x_i)   → [n, c, d]
        grads = -torch.einsum("ji,ic,jid->jcd", weight, coef, diff) @ M / bandwidth
        M = torch.einsum("jcd,jce->de", grads, grads) / n

    def predict(z: torch.Tensor) -> torch.Tensor:
        z = check_tensor(z, "z", "[m, d]").detach().double().to(x.device)
        if z.shape[1] != d:
            raise ValueError(f"z must have {d} columns like x, got {z.shape[1]}")
        return laplace_kernel(z, x, M, bandwidth) @ coef

    return M, predict
