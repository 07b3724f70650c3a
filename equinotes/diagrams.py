"""Commutative diagrams: drawing them, checking them numerically, and solving them exactly.

A commutative diagram is a specification: every path between two objects must give the same map.
The equivariance square of a map ``f: X -> Y`` under a group element ``g``::

    X --f--> Y
    |        |
  rho_in(g) rho_out(g)
    v        v
    X --f--> Y

says ``f(rho_in(g) x) = rho_out(g) f(x)``. This module

* draws diagrams with matplotlib (``draw_diagram`` and the shapes the book uses: ``draw_square``,
  ``draw_pasted_squares``, ``draw_swap_triangle``);
* measures how far two paths disagree (``path_error``) and how each square of a stack of layers,
  and the whole pasted diagram, commutes (``pasting_errors``), with a small permutation-equivariant
  layer (``SetLayer``) to paste;
* solves the square exactly for *linear* ``f = W``: ``intertwiner_basis`` returns an exact (sympy,
  rational) basis of ``{W : rho_out(g) W = W rho_in(g) for all generators g}``, ``character_dimension``
  predicts its dimension from characters, ``reynolds`` projects any matrix onto it, and
  ``project_onto_span`` does the same by least squares against a basis (the nearest-point check);
* for *permutation* representations, reads the solution off the group's orbits: ``orbit_pattern``
  labels each (output index, input index) pair by its orbit (the weight-sharing pattern: entries with
  one label share one weight), ``orbit_basis`` gives the orbit indicator matrices (a basis of the
  equivariant maps) and ``burnside_count`` counts the orbits with Burnside's lemma.

Representation matrices act on column vectors; images ``[H, W]`` are flattened row-major.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy as sp
import torch

from .equivariance import equivariance_error, symmetrize
from .groups import FiniteGroup, rot90, shift
from .utils import check_int

__all__ = [
    "Arrow",
    "draw_diagram",
    "draw_square",
    "draw_pasted_squares",
    "draw_swap_triangle",
    "path_error",
    "pasting_errors",
    "SetLayer",
    "permutation_matrix",
    "rotation_representation",
    "translation_representation",
    "trivial_representation",
    "permutation_of",
    "intertwiner_basis",
    "character_dimension",
    "reynolds",
    "project_onto_span",
    "basis_to_tensor",
    "orbit_pattern",
    "orbit_basis",
    "burnside_count",
]


# --------------------------------------------------------------------------------------------- drawing
@dataclass
class Arrow:
    """An arrow of a diagram from object ``source`` to object ``target`` (names of objects).

    ``side`` puts the label left (+1) or right (-1) of the direction of travel; ``curve`` bends the
    arrow (matplotlib ``arc3`` radius); ``style`` is a matplotlib line style; ``color`` its colour.
    """

    source: str
    target: str
    label: str = ""
    side: int = 1
    curve: float = 0.0
    style: str = "solid"
    color: str = "black"


def _exit_point(centre, toward, box, margin: float = 0.04):
    """Where the ray from ``centre`` toward ``toward`` leaves the box ``[[x0, y0], [x1, y1]]`` (plus a
    margin).
    """
    (cx, cy), (tx, ty) = centre, toward
    dx, dy = tx - cx, ty - cy
    half_w = (box[1][0] - box[0][0]) / 2 + margin
    half_h = (box[1][1] - box[0][1]) / 2 + margin
    scales = [
        half_w / abs(dx) if abs(dx) > 1e-12 else np.inf,
        half_h / abs(dy) if abs(dy) > 1e-12 else np.inf,
    ]
    t = min(min(scales), 0.45)  # never cross the middle of the arrow
    return (cx + t * dx, cy + t * dy)


def _new_axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def draw_diagram(
    objects: dict,
    arrows: Sequence,
    ax=None,
    title: str | None = None,
    figsize=(4.0, 3.0),
    fontsize: int = 13,
):
    """Draw a diagram: named objects at positions, arrows between them with labels.

    Args:
        objects: ``{name: (x, y)}``; the name is drawn as the object's label (matplotlib mathtext allowed).
        arrows: ``Arrow`` instances, or tuples ``(source, target, label)`` / ``(source, target, label,
            side)``.
        ax: axes to draw on (a new figure when ``None``). title: the axes title.
    Returns:
        the matplotlib ``Figure``.
    """
    if not isinstance(objects, dict) or not objects:
        raise TypeError("objects must be a non-empty dict {name: (x, y)}")
    for name, pos in objects.items():
        if not isinstance(name, str):
            raise TypeError(f"object names must be strings, got {name!r}")
        if not (
            isinstance(pos, (tuple, list))
            and len(pos) == 2
            and all(isinstance(v, (int, float)) for v in pos)
        ):
            raise ValueError(f"object {name!r} needs a position (x, y), got {pos!r}")
    parsed = []
    for a in arrows:
        if isinstance(a, (tuple, list)):
            if not 2 <= len(a) <= 4:
                raise ValueError(
                    f"an arrow tuple is (source, target[, label[, side]]), got {a!r}"
                )
            a = Arrow(*a)
        if not isinstance(a, Arrow):
            raise TypeError(
                f"arrows must be Arrow instances or tuples, got {type(a).__name__}"
            )
        for end in (a.source, a.target):
            if end not in objects:
                raise ValueError(
                    f"arrow end {end!r} is not an object of the diagram ({list(objects)})"
                )
        if a.side not in (1, -1):
            raise ValueError(f"side must be +1 or -1, got {a.side!r}")
        parsed.append(a)

    fig, ax = _new_axes(ax, figsize)
    texts = {}
    for name, (x, y) in objects.items():
        texts[name] = ax.text(
            x,
            y,
            name,
            ha="center",
            va="center",
            fontsize=fontsize,
            bbox=dict(boxstyle="round,pad=0.35", fc="white", ec="none"),
            zorder=3,
        )
    xs = [p[0] for p in objects.values()]
    ys = [p[1] for p in objects.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.45, max(ys) + 0.45)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.canvas.draw()  # lay the labels out, so arrows can stop at their boxes
    to_data = ax.transData.inverted()
    boxes = {
        name: to_data.transform(t.get_window_extent().get_points())
        for name, t in texts.items()
    }
    for a in parsed:
        (x0, y0), (x1, y1) = objects[a.source], objects[a.target]
        start = _exit_point((x0, y0), (x1, y1), boxes[a.source])
        end = _exit_point((x1, y1), (x0, y0), boxes[a.target])
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            zorder=2,
            arrowprops=dict(
                arrowstyle="-|>",
                color=a.color,
                lw=1.4,
                linestyle=a.style,
                mutation_scale=14,
                connectionstyle=f"arc3,rad={a.curve}",
                shrinkA=0,
                shrinkB=0,
            ),
        )
        if a.label:
            dx, dy = x1 - x0, y1 - y0
            length = max(float(np.hypot(dx, dy)), 1e-9)
            nx, ny = (
                -dy / length * a.side,
                dx / length * a.side,
            )  # unit normal on the label's side
            # an arc3 arrow bulges by about curve*length/2 to the right of travel
            bulge = -a.curve * length / 2 * a.side
            off = 0.07 + max(bulge, 0.0)
            ha = "left" if nx > 0.3 else ("right" if nx < -0.3 else "center")
            va = "bottom" if ny > 0.3 else ("top" if ny < -0.3 else "center")
            ax.text(
                (x0 + x1) / 2 + off * nx,
                (y0 + y1) / 2 + off * ny,
                a.label,
                ha=ha,
                va=va,
                fontsize=fontsize - 2,
                color=a.color,
                zorder=4,
            )
    if title:
        ax.set_title(title, fontsize=fontsize - 1)
    return fig


def draw_square(
    top_left: str,
    top_right: str,
    bottom_left: str,
    bottom_right: str,
    top: str = "",
    bottom: str = "",
    left: str = "",
    right: str = "",
    ax=None,
    title: str | None = None,
    width: float = 2.4,
    height: float = 1.6,
    **kwargs,
):
    """A commutative square: ``top: TL -> TR``, ``left: TL -> BL``, ``right: TR -> BR``, ``bottom: BL -> BR``.

    The four object names must be distinct. Returns the ``Figure``.
    """
    names = [top_left, top_right, bottom_left, bottom_right]
    if len(set(names)) != 4:
        raise ValueError(
            f"the four corners of a square need distinct names, got {names}"
        )
    objects = {
        top_left: (0.0, height),
        top_right: (width, height),
        bottom_left: (0.0, 0.0),
        bottom_right: (width, 0.0),
    }
    arrows = [
        Arrow(top_left, top_right, top, side=1),
        Arrow(bottom_left, bottom_right, bottom, side=-1),
        Arrow(top_left, bottom_left, left, side=-1),
        Arrow(top_right, bottom_right, right, side=1),
    ]
    return draw_diagram(objects, arrows, ax=ax, title=title, **kwargs)


def draw_pasted_squares(
    top_objects: Sequence[str],
    bottom_objects: Sequence[str],
    top_labels: Sequence[str],
    bottom_labels: Sequence[str],
    vertical_labels: Sequence[str],
    ax=None,
    title: str | None = None,
    spacing: float = 2.2,
    height: float = 1.6,
    **kwargs,
):
    """A row of squares sharing their vertical edges (a composite map under a group action).

    With n+1 objects per row: ``top_labels``/``bottom_labels`` name the n horizontal arrows,
    ``vertical_labels`` the n+1 vertical arrows (top -> bottom). Object names must be distinct.
    Returns the ``Figure``.
    """
    top_objects, bottom_objects = list(top_objects), list(bottom_objects)
    n = len(top_objects)
    if n < 2 or len(bottom_objects) != n:
        raise ValueError(
            f"need the same number (>= 2) of top and bottom objects, got {n} and {len(bottom_objects)}"
        )
    if len(top_labels) != n - 1 or len(bottom_labels) != n - 1:
        raise ValueError(f"{n} objects per row need {n - 1} top and bottom labels")
    if len(vertical_labels) != n:
        raise ValueError(
            f"{n} objects per row need {n} vertical labels, got {len(vertical_labels)}"
        )
    if len(set(top_objects + bottom_objects)) != 2 * n:
        raise ValueError("object names must be distinct (add primes or subscripts)")
    objects = {}
    for i, (t, b) in enumerate(zip(top_objects, bottom_objects)):
        objects[t] = (i * spacing, height)
        objects[b] = (i * spacing, 0.0)
    arrows = [
        Arrow(top_objects[i], top_objects[i + 1], top_labels[i], side=1)
        for i in range(n - 1)
    ]
    arrows += [
        Arrow(bottom_objects[i], bottom_objects[i + 1], bottom_labels[i], side=-1)
        for i in range(n - 1)
    ]
    arrows += [
        Arrow(t, b, lab, side=-1 if i == 0 else 1)
        for i, (t, b, lab) in enumerate(
            zip(top_objects, bottom_objects, vertical_labels)
        )
    ]
    kwargs.setdefault("figsize", (1.9 * n + 0.6, 2.8))
    return draw_diagram(objects, arrows, ax=ax, title=title, **kwargs)


def draw_swap_triangle(
    left: str,
    right: str,
    apex: str,
    swap: str = "swap",
    left_map: str = "f",
    right_map: str = "f",
    ax=None,
    title: str | None = None,
    width: float = 2.6,
    height: float = 1.6,
    **kwargs,
):
    """The invariance triangle: ``swap: left -> right`` on top, and ``left_map: left -> apex``,
    ``right_map: right -> apex`` meeting below. It commutes when ``f(swap(x)) = f(x)``.
    Returns the ``Figure``."""
    if len({left, right, apex}) != 3:
        raise ValueError(
            f"the triangle's objects need distinct names, got {[left, right, apex]}"
        )
    objects = {left: (0.0, height), right: (width, height), apex: (width / 2, 0.0)}
    arrows = [
        Arrow(left, right, swap, side=1),
        Arrow(left, apex, left_map, side=-1),
        Arrow(right, apex, right_map, side=1),
    ]
    return draw_diagram(objects, arrows, ax=ax, title=title, **kwargs)


# ----------------------------------------------------------------------------- numeric commutation
def _compose_path(path, x):
    if callable(path):
        path = [path]
    path = list(path)
    if not path or not all(callable(f) for f in path):
        raise TypeError(
            "a path is a non-empty sequence of callables (applied first to last)"
        )
    for f in path:
        x = f(x)
    return x


def path_error(path_a, path_b, x) -> float:
    """Largest absolute disagreement between two paths of a diagram starting at ``x``.

    Args:
        path_a, path_b: a callable or a sequence of callables, applied first to last
            (``[f, g]`` means ``g(f(x))``).
        x: the starting object (a tensor, or anything the paths accept).
    Returns:
        ``max |path_a(x) - path_b(x)|`` as a float (0 when the diagram commutes at x).
    """
    with torch.no_grad():
        a, b = _compose_path(path_a, x), _compose_path(path_b, x)
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("both paths must end in tensors")
    if a.shape != b.shape:
        raise ValueError(
            f"the paths end in different shapes: {tuple(a.shape)} vs {tuple(b.shape)}"
        )
    return (a - b).abs().max().item() if a.numel() else 0.0


def pasting_errors(
    layers: Sequence[Callable], actions: Sequence[Callable], elements, x
) -> dict:
    """Check each square of a stack ``layers[-1] o ... o layers[0]`` and the pasted, end-to-end square.

    Args:
        layers: n callables; layer i maps object i to object i+1.
        actions: n+1 actions ``act(g, value)``; ``actions[i]`` is how g acts on object i.
        elements: group elements to test (a ``FiniteGroup`` or an iterable).
        x: an input (object 0).
    Returns:
        ``{"squares": [max error of square i over elements], "composite": max error of the whole stack}``.
        Square i is measured at the input that actually reaches layer i.
    """
    layers, actions = list(layers), list(actions)
    if not layers:
        raise ValueError("layers is empty")
    if len(actions) != len(layers) + 1:
        raise ValueError(
            f"{len(layers)} layers need {len(layers) + 1} actions (one per object), got {len(actions)}"
        )
    squares, h = [], x
    with torch.no_grad():
        for layer, a_in, a_out in zip(layers, actions[:-1], actions[1:]):
            squares.append(equivariance_error(layer, h, a_in, a_out, elements).max_abs)
            h = layer(h)

    def stack(v):
        for layer in layers:
            v = layer(v)
        return v

    composite = equivariance_error(stack, x, actions[0], actions[-1], elements).max_abs
    return {"squares": squares, "composite": composite}


class SetLayer(torch.nn.Module):
    """A permutation-equivariant layer on sets ``[B, n, d_in] -> [B, n, d_out]``:

        y_i = sigma(lambda(x_i) + gamma(mean_j x_j))      (lambda, gamma linear; sigma = tanh)

    Per feature channel its linear part is ``lambda I + gamma 11^T / n``, the solution of the permutation
    square. With ``broken=True`` a learned per-position bias is added, which breaks the square.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        n: int | None = None,
        broken: bool = False,
        activation: bool = True,
    ):
        super().__init__()
        d_in, d_out = (
            check_int("d_in", d_in, minimum=1),
            check_int("d_out", d_out, minimum=1),
        )
        self.lam = torch.nn.Linear(d_in, d_out)
        self.gamma = torch.nn.Linear(d_in, d_out, bias=False)
        self.activation = activation
        self.position_bias = None
        if broken:
            if n is None:
                raise ValueError(
                    "a broken SetLayer needs the set size n for its per-position bias"
                )
            self.position_bias = torch.nn.Parameter(
                0.5 * torch.randn(check_int("n", n, minimum=1), d_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            raise ValueError(
                f"SetLayer expects [B, n, d], got {getattr(x, 'shape', type(x).__name__)}"
            )
        y = self.lam(x) + self.gamma(x.mean(dim=1, keepdim=True))
        if self.position_bias is not None:
            if self.position_bias.shape[0] != x.shape[1]:
                raise ValueError(
                    f"this broken layer was built for sets of {self.position_bias.shape[0]}, got {x.shape[1]}"
                )
            y = y + self.position_bias
        return torch.tanh(y) if self.activation else y


# ----------------------------------------------------------------------- exact linear solutions (sympy)
def _to_sympy(m, name: str = "matrix") -> sp.Matrix:
    if isinstance(m, sp.MatrixBase):
        out = sp.Matrix(m)
    elif isinstance(m, torch.Tensor):
        if m.dim() != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(m.shape)}")
        out = sp.Matrix(
            [[sp.nsimplify(float(v), rational=True) for v in row] for row in m.tolist()]
        )
    elif isinstance(m, (np.ndarray, list, tuple)):
        arr = np.asarray(m)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {arr.shape}")
        out = sp.Matrix(
            [[sp.nsimplify(v, rational=True) for v in row] for row in arr.tolist()]
        )
    else:
        raise TypeError(
            f"{name} must be a sympy Matrix, torch tensor, numpy array or nested list, "
            f"got {type(m).__name__}"
        )
    return out


def _square(m: sp.Matrix, name: str) -> sp.Matrix:
    if m.rows != m.cols:
        raise ValueError(
            f"{name} must be square (a representation matrix), got {m.rows}x{m.cols}"
        )
    return m


def permutation_matrix(perm: Sequence[int]) -> sp.Matrix:
    """The matrix P of a permutation acting on vectors as ``groups.permute`` does: ``P e_i = e_{perm[i]}``.

    Returns an ``n x n`` sympy Matrix of 0s and 1s.
    """
    perm = [check_int("perm entry", p) for p in perm]
    n = len(perm)
    if sorted(perm) != list(range(n)):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}, got {perm}")
    P = sp.zeros(n, n)
    for i, p in enumerate(perm):
        P[p, i] = 1
    return P


def rotation_representation(size: int, k: int = 1) -> sp.Matrix:
    """The ``size^2 x size^2`` permutation matrix of ``groups.rot90(., k)`` on ``size x size`` images
    flattened row-major: ``vec(rot90(I, k)) = R vec(I)``."""
    size = check_int("size", size, minimum=1)
    k = check_int("k", k)
    n = size * size
    basis = torch.eye(n, dtype=torch.float64).reshape(n, size, size)
    images = rot90(basis, k).reshape(n, n)  # row i = vec(rot90(e_i))
    return sp.Matrix(images.T.round().to(torch.int64).tolist())


def translation_representation(size: int, dy: int = 0, dx: int = 1) -> sp.Matrix:
    """The ``size^2 x size^2`` permutation matrix of the cyclic shift ``groups.shift(., (dy, dx))``
    of ``size x size`` images flattened row-major (pixel ``(i, j)`` moves to
    ``((i + dy) mod size, (j + dx) mod size)``)."""
    size = check_int("size", size, minimum=1)
    dy, dx = check_int("dy", dy), check_int("dx", dx)
    n = size * size
    basis = torch.eye(n, dtype=torch.float64).reshape(n, size, size)
    images = shift(basis, (dy, dx)).reshape(n, n)  # row i = vec(shift(e_i))
    return sp.Matrix(images.T.round().to(torch.int64).tolist())


def trivial_representation(dim: int = 1) -> sp.Matrix:
    """The identity matrix of size ``dim``: the group does nothing (use it as rho_out for invariance)."""
    return sp.eye(check_int("dim", dim, minimum=1))


def _check_generators(rho_in, rho_out):
    if isinstance(rho_in, (sp.MatrixBase, torch.Tensor, np.ndarray)) or isinstance(
        rho_out, (sp.MatrixBase, torch.Tensor, np.ndarray)
    ):
        raise TypeError(
            "rho_in and rho_out must be sequences of matrices (one per generator)"
        )
    rho_in = [_square(_to_sympy(m, "rho_in matrix"), "rho_in matrix") for m in rho_in]
    rho_out = [
        _square(_to_sympy(m, "rho_out matrix"), "rho_out matrix") for m in rho_out
    ]
    if not rho_in or len(rho_in) != len(rho_out):
        raise ValueError(
            f"give one rho_in and one rho_out matrix per generator, got {len(rho_in)} and {len(rho_out)}"
        )
    n, m = rho_in[0].rows, rho_out[0].rows
    if any(r.rows != n for r in rho_in) or any(r.rows != m for r in rho_out):
        raise ValueError(
            "all rho_in matrices must have one size and all rho_out matrices another"
        )
    return rho_in, rho_out, n, m


def intertwiner_basis(rho_in: Sequence, rho_out: Sequence) -> list:
    """An exact basis of ``{W (m x n) : rho_out(g) W = W rho_in(g)}`` for the given generators.

    Solving for generators suffices: if the square commutes for g and h it commutes for g h.

    Args:
        rho_in: n x n matrices, one per generator (sympy, torch, numpy or nested lists; entries are
            converted to exact rationals).
        rho_out: m x m matrices, the same generators acting on the output, in the same order.
    Returns:
        a list of ``m x n`` sympy Matrices with rational entries (reduced echelon form of the solution
        space, so the basis is canonical); its length is the dimension.
    """
    from sympy.polys.matrices import DomainMatrix

    rho_in, rho_out, n, m = _check_generators(rho_in, rho_out)
    # Row-major vec(W): vec(A W) = (A kron I_n) vec(W), vec(W B) = (I_m kron B^T) vec(W).
    blocks = [
        sp.kronecker_product(ro, sp.eye(n)) - sp.kronecker_product(sp.eye(m), ri.T)
        for ri, ro in zip(rho_in, rho_out)
    ]
    system = sp.Matrix.vstack(*blocks)
    null = DomainMatrix.from_Matrix(system).convert_to(sp.QQ).nullspace().to_Matrix()
    if null.rows == 0:
        return []
    rref, _ = DomainMatrix.from_Matrix(null).convert_to(sp.QQ).rref()
    rref = rref.to_Matrix()
    return [
        sp.Matrix(m, n, list(rref.row(i)))
        for i in range(rref.rows)
        if any(v != 0 for v in rref.row(i))
    ]


def character_dimension(
    group: FiniteGroup, rho_in: Callable, rho_out: Callable
) -> sp.Rational:
    """The dimension of the equivariant linear maps predicted by characters:

        dim = mean over g in G of chi_in(g^{-1}) chi_out(g),   chi(g) = trace rho(g).

    Args:
        group: a ``FiniteGroup``. rho_in, rho_out: ``rho(g) -> matrix`` for every element g.
    Returns:
        an exact sympy Rational (an integer when rho_in, rho_out are representations).
    """
    if not isinstance(group, FiniteGroup):
        raise TypeError(f"group must be a FiniteGroup, got {type(group).__name__}")
    if not callable(rho_in) or not callable(rho_out):
        raise TypeError("rho_in and rho_out must be callables g -> matrix")
    total = sp.Integer(0)
    for g in group.elements:
        a = _square(_to_sympy(rho_in(group.inverse(g)), "rho_in(g)"), "rho_in(g)")
        b = _square(_to_sympy(rho_out(g), "rho_out(g)"), "rho_out(g)")
        total += a.trace() * b.trace()
    return sp.Rational(total, len(group))


def _to_tensor(m, dtype=torch.float64) -> torch.Tensor:
    if isinstance(m, torch.Tensor):
        return m.to(dtype)
    if isinstance(m, sp.MatrixBase):
        return torch.tensor(np.array(m.tolist(), dtype=np.float64), dtype=dtype)
    return torch.as_tensor(np.asarray(m, dtype=np.float64), dtype=dtype)


def reynolds(
    W: torch.Tensor, group: FiniteGroup, rho_in: Callable, rho_out: Callable
) -> torch.Tensor:
    """The Reynolds average of a linear map over a finite group:

        R(W) = mean over g in G of rho_out(g)^{-1} W rho_in(g).

    It is built with ``equivariance.symmetrize`` applied to ``x -> W x`` (so it *is* the symmetrization
    of chapter 1, read on matrices). For orthogonal representations (permutations, rotations) it is the
    orthogonal projection onto the equivariant maps in the Frobenius inner product.

    Args:
        W: ``[m, n]`` floating tensor. group: a ``FiniteGroup``. rho_in, rho_out: ``rho(g) -> matrix``
            (``n x n`` and ``m x m``).
    Returns:
        ``[m, n]`` tensor of W's dtype.
    """
    if not isinstance(W, torch.Tensor) or W.dim() != 2 or not W.is_floating_point():
        raise TypeError("W must be a 2-D floating torch.Tensor [m, n]")
    if not isinstance(group, FiniteGroup):
        raise TypeError(f"group must be a FiniteGroup, got {type(group).__name__}")
    m, n = W.shape
    mats_in = {g: _to_tensor(rho_in(g), W.dtype).to(W.device) for g in group.elements}
    mats_out = {g: _to_tensor(rho_out(g), W.dtype).to(W.device) for g in group.elements}
    for g in group.elements:
        if mats_in[g].shape != (n, n):
            raise ValueError(
                f"rho_in(g) must be {n}x{n} to act on W's input, got {tuple(mats_in[g].shape)}"
            )
        if mats_out[g].shape != (m, m):
            raise ValueError(
                f"rho_out(g) must be {m}x{m} to act on W's output, got {tuple(mats_out[g].shape)}"
            )
    f_sym = symmetrize(
        lambda x: W @ x,
        group,
        lambda g, x: mats_in[g] @ x,
        lambda g, y: mats_out[g] @ y,
    )
    return f_sym(torch.eye(n, dtype=W.dtype, device=W.device))


def basis_to_tensor(basis: Sequence, dtype=torch.float64) -> torch.Tensor:
    """Stack a list of k matrices ``m x n`` (sympy or tensors) into a tensor ``[k, m, n]``."""
    basis = list(basis)
    if not basis:
        raise ValueError("basis is empty")
    mats = [_to_tensor(b, dtype) for b in basis]
    if any(t.dim() != 2 or t.shape != mats[0].shape for t in mats):
        raise ValueError("basis matrices must all be 2-D and of one shape")
    return torch.stack(mats)


def project_onto_span(W: torch.Tensor, basis) -> torch.Tensor:
    """The nearest point to W (Frobenius norm) in the span of ``basis``, by least squares.

    Args:
        W: ``[m, n]`` floating tensor. basis: ``[k, m, n]`` tensor or a list of k ``m x n`` matrices.
    Returns:
        ``[m, n]`` tensor: ``sum_i c_i B_i`` with c minimising ``||W - sum_i c_i B_i||_F``.
    """
    if not isinstance(W, torch.Tensor) or W.dim() != 2 or not W.is_floating_point():
        raise TypeError("W must be a 2-D floating torch.Tensor [m, n]")
    B = basis if isinstance(basis, torch.Tensor) else basis_to_tensor(basis, W.dtype)
    if B.dim() != 3 or B.shape[1:] != W.shape:
        raise ValueError(
            f"basis must be [k, {W.shape[0]}, {W.shape[1]}], got {tuple(B.shape)}"
        )
    A = B.reshape(B.shape[0], -1).T.to(W.dtype)  # [m n, k]
    coef = torch.linalg.lstsq(A, W.reshape(-1, 1)).solution
    return (A @ coef).reshape(W.shape)


# ----------------------------------------------------------------- permutation representations: orbits
def permutation_of(matrix) -> list:
    """The permutation ``p`` of a permutation matrix ``P`` (``P e_i = e_{p(i)}``), as a list of ints.

    Args:
        matrix: an ``n x n`` matrix (sympy, torch, numpy or nested lists) with one 1 in each row and
            each column and 0 elsewhere.
    Raises:
        ValueError: when ``matrix`` is not a permutation matrix.
    """
    P = _square(_to_sympy(matrix, "permutation matrix"), "permutation matrix")
    n = P.rows
    if any(v not in (0, 1) for v in P):
        raise ValueError("a permutation matrix has entries 0 and 1 only")
    perm = []
    for i in range(n):
        column = [r for r in range(n) if P[r, i] == 1]
        if len(column) != 1:
            raise ValueError(
                f"column {i} of a permutation matrix must hold exactly one 1"
            )
        perm.append(column[0])
    if sorted(perm) != list(range(n)):
        raise ValueError("a permutation matrix has exactly one 1 in each row")
    return perm


def _generator_permutations(rho_in, rho_out):
    if isinstance(rho_in, (sp.MatrixBase, torch.Tensor, np.ndarray)) or isinstance(
        rho_out, (sp.MatrixBase, torch.Tensor, np.ndarray)
    ):
        raise TypeError(
            "rho_in and rho_out must be sequences of matrices (one per generator)"
        )
    p_in = [permutation_of(m) for m in rho_in]
    p_out = [permutation_of(m) for m in rho_out]
    if not p_in or len(p_in) != len(p_out):
        raise ValueError(
            "give one rho_in and one rho_out permutation matrix per generator, got "
            f"{len(p_in)} and {len(p_out)}"
        )
    n, m = len(p_in[0]), len(p_out[0])
    if any(len(p) != n for p in p_in) or any(len(p) != m for p in p_out):
        raise ValueError(
            "all rho_in matrices must have one size and all rho_out matrices another"
        )
    return p_in, p_out, n, m


def orbit_pattern(rho_in: Sequence, rho_out: Sequence) -> torch.Tensor:
    """The weight-sharing pattern of the equivariant linear maps between permutation representations.

    The group generated by the given generators acts on the pairs (output index i, input index j) by
    ``g.(i, j) = (p_out(i), p_in(j))``, where ``p`` is the permutation of each generator's matrix.
    ``W`` satisfies ``rho_out(g) W = W rho_in(g)`` exactly when it is constant on each orbit of pairs,
    so the orbits say which entries of an equivariant ``W`` share one weight.

    Args:
        rho_in: ``n x n`` permutation matrices, one per generator. rho_out: ``m x m`` permutation
            matrices, the same generators acting on the output, in the same order.
    Returns:
        ``[m, n]`` int64 tensor of orbit labels ``0 .. k-1``, numbered in the order in which the
        orbits first appear when the entries are read row by row (so the labelling is canonical).
    """
    p_in, p_out, n, m = _generator_permutations(rho_in, rho_out)
    parent = list(range(m * n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for pi, po in zip(p_in, p_out):
        for i in range(m):
            for j in range(n):
                a, b = find(i * n + j), find(po[i] * n + pi[j])
                if a != b:
                    parent[max(a, b)] = min(a, b)
    labels, out = {}, []
    for k in range(m * n):
        out.append(labels.setdefault(find(k), len(labels)))
    return torch.tensor(out, dtype=torch.int64).reshape(m, n)


def orbit_basis(rho_in: Sequence, rho_out: Sequence) -> list:
    """The indicator matrices of the orbits of ``orbit_pattern``: a basis of the equivariant maps.

    Args:
        rho_in, rho_out: as for ``orbit_pattern`` (permutation matrices, one per generator).
    Returns:
        a list of ``m x n`` sympy Matrices of 0s and 1s, one per orbit, in label order; every
        equivariant ``W`` is ``sum_k w_k B_k`` with one weight ``w_k`` per orbit.
    """
    pattern = orbit_pattern(rho_in, rho_out)
    m, n = pattern.shape
    labels = pattern.tolist()
    k = int(pattern.max()) + 1
    basis = [sp.zeros(m, n) for _ in range(k)]
    for i in range(m):
        for j in range(n):
            basis[labels[i][j]][i, j] = 1
    return basis


def burnside_count(
    rho_in: Sequence, rho_out: Sequence, max_order: int = 100_000
) -> sp.Rational:
    """The number of orbits of pairs (output index, input index), by Burnside's lemma::

        number of orbits = mean over g in G of |{(i, j) : g.(i, j) = (i, j)}|
                         = mean over g in G of fix_out(g) * fix_in(g),

    where G is the group generated by the given generators (enumerated here, element by element,
    as pairs of permutations) and ``fix`` counts the points a permutation leaves in place. This
    does not use ``orbit_pattern``: it is an independent count of the same orbits.

    Args:
        rho_in, rho_out: permutation matrices, one per generator (as for ``orbit_pattern``).
        max_order: stop with ValueError if the group has more elements than this.
    Returns:
        an exact sympy Rational (an integer, the number of orbits).
    """
    p_in, p_out, n, m = _generator_permutations(rho_in, rho_out)
    max_order = check_int("max_order", max_order, minimum=1)
    gens = [(tuple(a), tuple(b)) for a, b in zip(p_in, p_out)]
    identity = (tuple(range(n)), tuple(range(m)))
    seen, frontier = {identity}, [identity]
    while frontier:
        new = []
        for g_in, g_out in frontier:
            for h_in, h_out in gens:
                e = (
                    tuple(h_in[g_in[i]] for i in range(n)),
                    tuple(h_out[g_out[i]] for i in range(m)),
                )
                if e not in seen:
                    seen.add(e)
                    new.append(e)
                    if len(seen) > max_order:
                        raise ValueError(
                            f"the generated group has more than {max_order} elements"
                        )
        frontier = new
    total = 0
    for g_in, g_out in seen:
        fixed_in = sum(i == p for i, p in enumerate(g_in))
        fixed_out = sum(i == p for i, p in enumerate(g_out))
        total += fixed_in * fixed_out
    return sp.Rational(total, len(seen))
