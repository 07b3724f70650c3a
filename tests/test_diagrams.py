"""Tests for equinotes.diagrams: drawing, numeric commutation, the sympy solver, characters, Reynolds."""

import matplotlib

matplotlib.use("Agg")

import pytest
import sympy as sp
import torch

from equinotes import diagrams as D
from equinotes import groups as G


def _perm_generators(n):
    return [tuple([1, 0] + list(range(2, n))), tuple((i + 1) % n for i in range(n))]


# ------------------------------------------------------------------------------------------ drawing
def test_draw_diagram_and_shapes_return_figures():
    import matplotlib.pyplot as plt

    fig = D.draw_diagram(
        {"X": (0, 0), "Y": (2, 0)},
        [("X", "Y", "f"), D.Arrow("Y", "X", "g", side=-1, curve=0.3)],
    )
    assert len(fig.axes) == 1
    fig2 = D.draw_square(
        "A", "B", "C", "D", top="f", bottom="f", left="g", right="g", title="sq"
    )
    fig3 = D.draw_pasted_squares(
        ["a", "b", "c"], ["a'", "b'", "c'"], ["f", "g"], ["f", "g"], ["r0", "r1", "r2"]
    )
    fig4 = D.draw_swap_triangle("(a, s)", "(b, s)", "d")
    for f in (fig, fig2, fig3, fig4):
        plt.close(f)


def test_draw_bad_input():
    with pytest.raises(TypeError):
        D.draw_diagram({}, [])
    with pytest.raises(ValueError):
        D.draw_diagram({"X": (0, 0)}, [("X", "Z", "f")])
    with pytest.raises(ValueError):
        D.draw_diagram({"X": (0,)}, [])
    with pytest.raises(ValueError):
        D.draw_diagram({"X": (0, 0), "Y": (1, 0)}, [D.Arrow("X", "Y", side=2)])
    with pytest.raises(TypeError):
        D.draw_diagram({"X": (0, 0)}, ["X"])
    with pytest.raises(ValueError):
        D.draw_square("A", "A", "C", "D")
    with pytest.raises(ValueError):
        D.draw_pasted_squares(["a", "b"], ["c"], ["f"], ["f"], ["r", "s"])
    with pytest.raises(ValueError):
        D.draw_pasted_squares(["a", "b"], ["c", "d"], ["f"], ["f"], ["r"])
    with pytest.raises(ValueError):
        D.draw_swap_triangle("a", "a", "b")


# ------------------------------------------------------------------------------- numeric commutation
def test_path_error():
    x = torch.randn(5)
    assert (
        D.path_error([lambda v: 2 * v, lambda v: v + 1], lambda v: 2 * v + 1, x) == 0.0
    )
    assert D.path_error(lambda v: v, lambda v: v + 1, x) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        D.path_error(lambda v: v, lambda v: v[:2], x)
    with pytest.raises(TypeError):
        D.path_error([], lambda v: v, x)
    with pytest.raises(TypeError):
        D.path_error(lambda v: 1.0, lambda v: v, x)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_pasting_errors_stack_commutes_and_broken_layer_breaks_it(dtype, tol):
    torch.manual_seed(0)
    n = 4
    layers = [
        D.SetLayer(3, 5).to(dtype),
        D.SetLayer(5, 5).to(dtype),
        D.SetLayer(5, 2, activation=False).to(dtype),
    ]
    act = lambda p, x: G.permute(x, p, dim=1)  # noqa: E731
    x = torch.randn(2, n, 3, dtype=dtype)
    S = G.symmetric_group(n)
    out = D.pasting_errors(layers, [act] * 4, S, x)
    assert max(out["squares"]) <= tol and out["composite"] <= tol
    layers[1] = D.SetLayer(5, 5, n=n, broken=True).to(dtype)
    out = D.pasting_errors(layers, [act] * 4, S, x)
    assert (
        out["squares"][0] <= tol
        and out["squares"][1] > 1e-3
        and out["composite"] > 1e-3
    )


def test_pasting_errors_bad_input():
    with pytest.raises(ValueError):
        D.pasting_errors([], [lambda g, x: x], [0], torch.zeros(1))
    with pytest.raises(ValueError):
        D.pasting_errors([lambda x: x], [lambda g, x: x], [0], torch.zeros(1))


def test_set_layer_bad_input():
    with pytest.raises(ValueError):
        D.SetLayer(2, 2, broken=True)
    with pytest.raises(ValueError):
        D.SetLayer(2, 3)(torch.zeros(3, 2))
    with pytest.raises(ValueError):
        D.SetLayer(2, 3, n=4, broken=True)(torch.zeros(1, 5, 2))
    with pytest.raises(TypeError):
        D.SetLayer(2.5, 3)


# ---------------------------------------------------------------------------------- representations
def test_permutation_matrix_matches_permute():
    p = (2, 0, 3, 1)
    x = torch.arange(4.0)
    P = torch.tensor(D.permutation_matrix(p).tolist(), dtype=torch.float32)
    assert torch.equal(P @ x, G.permute(x, p))
    with pytest.raises(ValueError):
        D.permutation_matrix((0, 0, 1))


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rotation_representation_matches_rot90(k):
    img = torch.arange(16.0).reshape(4, 4)
    R = torch.tensor(D.rotation_representation(4, k).tolist(), dtype=torch.float32)
    assert torch.equal((R @ img.reshape(-1)).reshape(4, 4), G.rot90(img, k))


def test_representation_bad_input():
    with pytest.raises(ValueError):
        D.rotation_representation(0)
    with pytest.raises(TypeError):
        D.rotation_representation(3, 1.5)
    with pytest.raises(ValueError):
        D.trivial_representation(0)


# ------------------------------------------------------------------------------------ sympy solver
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_permutation_intertwiners_are_identity_and_ones(n):
    gens = [D.permutation_matrix(p) for p in _perm_generators(n)]
    basis = D.intertwiner_basis(gens, gens)
    assert len(basis) == 2
    ones = sp.ones(n, n)
    stacked = sp.Matrix([list(b) for b in basis] + [list(sp.eye(n)), list(ones)])
    assert stacked.rank() == 2  # same span as {I, 11^T}
    for b in basis:
        for g in gens:
            assert g * b == b * g


@pytest.mark.parametrize("size,expected", [(2, 4), (3, 21), (4, 64)])
def test_c4_image_dimension_matches_characters(size, expected):
    R = D.rotation_representation(size)
    basis = D.intertwiner_basis([R], [R])
    rho = lambda k: D.rotation_representation(size, k)  # noqa: E731
    assert len(basis) == expected == D.character_dimension(G.C4, rho, rho)


def test_intertwiners_between_different_representations():
    R3, R4 = D.rotation_representation(3), D.rotation_representation(4)
    basis = D.intertwiner_basis([R3], [R4])
    assert len(basis) == 36 and basis[0].shape == (16, 9)
    assert (
        D.character_dimension(
            G.C4,
            lambda k: D.rotation_representation(3, k),
            lambda k: D.rotation_representation(4, k),
        )
        == 36
    )
    invariant = D.intertwiner_basis([R3], [D.trivial_representation(1)])
    assert len(invariant) == 3


def test_intertwiner_basis_accepts_tensors_and_empty_solution():
    sign = [torch.tensor([[-1.0]])]
    assert D.intertwiner_basis(sign, [torch.tensor([[1.0]])]) == []


def test_intertwiner_basis_bad_input():
    with pytest.raises(ValueError):  # non-square
        D.intertwiner_basis([sp.Matrix([[1, 0, 0], [0, 1, 0]])], [sp.eye(2)])
    with pytest.raises(ValueError):  # one rho_in, two rho_out
        D.intertwiner_basis([sp.eye(2)], [sp.eye(2), sp.eye(2)])
    with pytest.raises(ValueError):  # mismatched sizes between generators
        D.intertwiner_basis([sp.eye(2), sp.eye(3)], [sp.eye(2), sp.eye(2)])
    with pytest.raises(TypeError):  # a bare matrix instead of a list
        D.intertwiner_basis(sp.eye(2), [sp.eye(2)])
    with pytest.raises(TypeError):
        D.intertwiner_basis(["abc"], [sp.eye(2)])
    with pytest.raises(ValueError):
        D.intertwiner_basis([torch.zeros(2, 2, 2)], [sp.eye(2)])


def test_character_dimension_symmetric_group_and_bad_input():
    assert (
        D.character_dimension(
            G.symmetric_group(4), D.permutation_matrix, D.permutation_matrix
        )
        == 2
    )
    with pytest.raises(TypeError):
        D.character_dimension([0, 1], lambda g: sp.eye(1), lambda g: sp.eye(1))
    with pytest.raises(ValueError):
        D.character_dimension(G.C4, lambda g: sp.zeros(2, 3), lambda g: sp.eye(2))


# --------------------------------------------------------------------------------- Reynolds, projection
def test_reynolds_is_nearest_equivariant_map():
    torch.manual_seed(0)
    rho = lambda k: D.rotation_representation(3, k)  # noqa: E731
    W = torch.randn(9, 9, dtype=torch.float64)
    WR = D.reynolds(W, G.C4, rho, rho)
    R = torch.tensor(D.rotation_representation(3).tolist(), dtype=torch.float64)
    assert (R @ WR - WR @ R).abs().max() <= 1e-12
    basis = D.intertwiner_basis(
        [D.rotation_representation(3)], [D.rotation_representation(3)]
    )
    P = D.project_onto_span(W, basis)
    assert (P - WR).abs().max() <= 1e-10
    assert torch.allclose(D.reynolds(WR, G.C4, rho, rho), WR, atol=1e-12)  # idempotent


def test_reynolds_and_projection_bad_input():
    rho = lambda k: D.rotation_representation(3, k)  # noqa: E731
    with pytest.raises(ValueError):
        D.reynolds(torch.zeros(9, 4, dtype=torch.float64), G.C4, rho, rho)
    with pytest.raises(TypeError):
        D.reynolds(torch.zeros(9, 9, dtype=torch.int64), G.C4, rho, rho)
    with pytest.raises(TypeError):
        D.reynolds(torch.zeros(9, 9), [0, 1], rho, rho)
    with pytest.raises(ValueError):
        D.project_onto_span(torch.zeros(3, 3), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError):
        D.basis_to_tensor([])
    with pytest.raises(ValueError):
        D.basis_to_tensor([sp.eye(2), sp.eye(3)])


# --------------------------------------------------------------- orbits of permutation representations
def test_translation_representation_matches_shift():
    img = torch.arange(16.0).reshape(4, 4)
    T = torch.tensor(
        [
            [float(v) for v in row]
            for row in D.translation_representation(4, 1, 2).tolist()
        ]
    )
    assert torch.equal(T @ img.reshape(-1), G.shift(img, (1, 2)).reshape(-1))
    with pytest.raises(ValueError):
        D.translation_representation(0)


def test_permutation_of_reads_the_matrix_and_rejects_others():
    assert D.permutation_of(D.permutation_matrix([2, 0, 1])) == [2, 0, 1]
    assert D.permutation_of(torch.eye(3)) == [0, 1, 2]
    with pytest.raises(ValueError):
        D.permutation_of(sp.Matrix([[1, 1], [0, 0]]))
    with pytest.raises(ValueError):
        D.permutation_of(sp.Matrix([[2, 0], [0, 1]]))
    with pytest.raises(ValueError):
        D.permutation_of(sp.Matrix([[1, 0, 0], [0, 1, 0]]))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_orbits_of_s_n_are_diagonal_and_off_diagonal(n):
    gens = [D.permutation_matrix(p) for p in _perm_generators(n)]
    pattern = D.orbit_pattern(gens, gens)
    expected = 1 - torch.eye(n, dtype=torch.int64)  # label 0 on the diagonal
    assert torch.equal(pattern, expected)
    assert D.orbit_basis(gens, gens) == D.intertwiner_basis(gens, gens)
    assert D.burnside_count(gens, gens) == 2


@pytest.mark.parametrize(
    "gens",
    [
        [D.rotation_representation(3)],
        [D.translation_representation(3, 0, 1), D.translation_representation(3, 1, 0)],
        [
            D.translation_representation(4, 0, 1),
            D.translation_representation(4, 1, 0),
            D.rotation_representation(4),
        ],
    ],
    ids=["C4", "translations", "translations+C4"],
)
def test_orbit_basis_is_the_sympy_basis_and_burnside_counts_it(gens):
    basis = D.orbit_basis(gens, gens)
    assert basis == D.intertwiner_basis(gens, gens)
    assert len(basis) == D.burnside_count(gens, gens)
    for b in basis:
        for g in gens:
            assert g * b == b * g


def test_orbits_between_different_sets_and_for_invariant_maps():
    R3, R4 = D.rotation_representation(3), D.rotation_representation(4)
    assert D.orbit_basis([R3], [R4]) == D.intertwiner_basis([R3], [R4])
    assert D.burnside_count([R3], [R4]) == 36
    one = [D.trivial_representation(1)]
    pattern = D.orbit_pattern([R3], one)  # orbits of pixels: centre, edges, corners
    assert pattern.shape == (1, 9) and int(pattern.max()) + 1 == 3
    assert pattern[0, 4] != pattern[0, 0] and pattern[0, 0] == pattern[0, 8]


def test_translation_orbits_are_offsets_a_convolution():
    n = 5
    shift = [D.permutation_matrix([(i + 1) % n for i in range(n)])]
    pattern = D.orbit_pattern(shift, shift)
    for i in range(n):
        assert torch.equal(pattern[i], pattern[0].roll(i))  # circulant
    assert D.burnside_count(shift, shift) == n


def test_orbit_functions_bad_input():
    P = D.permutation_matrix([1, 0])
    with pytest.raises(TypeError):
        D.orbit_pattern(P, P)
    with pytest.raises(ValueError):
        D.orbit_pattern([P], [P, P])
    with pytest.raises(ValueError):
        D.orbit_pattern([P, D.permutation_matrix([0, 1, 2])], [P, P])
    with pytest.raises(ValueError):
        D.orbit_basis([sp.Matrix([[0, 2], [1, 0]])], [P])
    with pytest.raises(ValueError):
        D.burnside_count(
            [
                D.permutation_matrix([1, 2, 3, 4, 5, 6, 0]),
                D.permutation_matrix([1, 0, 2, 3, 4, 5, 6]),
            ]
            * 2,
            [sp.eye(1)] * 4,
            max_order=100,
        )
