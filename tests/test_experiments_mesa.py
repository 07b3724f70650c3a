"""Chapter 3's experiment plumbing (equinotes.experiments.mesa), on tiny settings (seconds)."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from equinotes import periodic, utils
from equinotes.experiments import mesa as runs

matplotlib.use("Agg")

TINY = runs.Setting().smaller(batch=8, train_steps=3, unroll=1, n_test=12, k_max=6)


@pytest.fixture(scope="module")
def trained():
    learned = runs.train_recipes(TINY, [0, 1], progress=False)
    x, y0 = runs.sample_problems(TINY, utils.generator(0, 5), TINY.n_test)
    return learned, x, y0


@pytest.fixture(scope="module")
def circle():
    phi = runs.train_phi(TINY, 0, progress=False)
    run = runs.wu_test(phi, TINY, seed=0, stream=7)
    run_p = runs.wu_test(phi, TINY, seed=0, stream=8, amplitudes=runs.PERIOD_PI)
    runs.add_basins(phi, run, n_starts=4, n_steps=4, k_max=TINY.k_max)
    runs.add_basins(phi, run_p, n_starts=4, n_steps=4, k_max=TINY.k_max)
    return phi, run, run_p


def test_setting_for_scale_grows_batches_steps_and_test_set():
    one, two = runs.Setting.for_scale(1), runs.Setting.for_scale(2)
    assert (two.batch, two.train_steps, two.n_test) == (256, 1200, 1024)
    assert one.k_max == two.k_max == 16 * one.unroll
    with pytest.raises(ValueError):
        runs.Setting.for_scale(0)


def test_sample_problems_are_shifted_pairs_started_at_zero():
    (A, B), y0 = runs.sample_problems(TINY, utils.generator(0, 1), batch=5, span=0.5)
    assert A.shape == B.shape == (5, TINY.n_samples) and y0.shape == (5,)
    assert torch.all(y0 == 0)
    # B = A o T_delta with |delta| <= 0.5: some shift within the span aligns them
    ts = torch.linspace(-0.5, 0.5, 2001)
    losses = torch.stack([runs.outer_loss((A, B), t.expand(5)) for t in ts])
    assert losses.min(0).values.max() < 1e-4
    with pytest.raises(TypeError, match="Setting"):
        runs.sample_problems({"batch": 5}, utils.generator(0, 1))


def test_train_rejects_an_unknown_recipe_and_bad_seeds():
    with pytest.raises(ValueError, match="recipe"):
        runs.train_optimizer(TINY, 0, "loss whenever")
    with pytest.raises(ValueError, match="seeds"):
        runs.train_recipes(TINY, [])
    with pytest.raises(ValueError, match="seeds"):
        runs.train_recipes(TINY, [0.5])


def test_recipes_train_one_net_per_seed_and_score_along_the_iteration(trained):
    learned, x, y0 = trained
    assert list(learned) == list(runs.RECIPES)
    assert all(len(nets) == 2 for nets in learned.values())
    curves, moves = runs.recipe_curves(learned, x, y0, TINY.k_max)
    for name in learned:
        assert curves[name].shape == (2, TINY.k_max + 1)
        assert moves[name].shape == (2, TINY.k_max)
    # y_0 = 0 for every net: the first loss is the same for all of them
    firsts = torch.stack([c[:, 0] for c in curves.values()])
    assert torch.allclose(firsts, firsts[0, 0].expand_as(firsts))
    rows = runs.recipe_summary(curves, TINY.unroll)
    assert [row[0] for row in rows] == list(runs.RECIPES) and all(
        len(r) == 3 for r in rows
    )


def test_every_iterate_of_an_equivariant_step_is_equivariant(trained):
    learned, x, y0 = trained
    kept = list(range(TINY.k_max + 1))
    worst = runs.worst_equivariance_errors(learned, x, y0, kept, TINY.k_max, n_pairs=4)
    assert set(worst) == {torch.float32, torch.float64}
    assert max(max(e) for e in worst[torch.float64].values()) <= 1e-10
    assert max(max(e) for e in worst[torch.float32].values()) <= 1e-4


def test_per_replication_and_html_table():
    rows = runs.per_replication(a=torch.tensor([1.0, 2.0]), b=[3, 4])
    assert rows == [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 4.0}]
    with pytest.raises(ValueError, match="one value per replication"):
        runs.per_replication(a=[1.0], b=[1.0, 2.0])
    table = runs.html_table(["x<y"], [["a&b"]])
    assert "<th>x&lt;y</th>" in table and "<td>a&amp;b</td>" in table


def test_the_circle_runs_hold_the_start_identity_and_uu(circle):
    phi, run, run_p = circle
    k, n = TINY.k_max, TINY.n_test
    for key in ("wu", "uu", "psi", "psi_wu"):
        assert run[key].shape == (k, n)
    assert run["uu"].max() <= 1e-10 and run_p["uu"].max() <= 1e-10
    assert runs.restart_gap(phi, run) <= 1e-10
    assert runs.restart_gap(phi, run_p) <= 1e-10
    # the second zero is exact, by the reflection symmetry
    assert run["zero at Δ+π"].max() <= 1e-10
    assert run["share"].shape == (n,) and run["attracts"].dtype == torch.bool
    answers = runs.two_answers(run_p)
    assert 0 <= answers["fraction ~0"] + answers["fraction ~pi"] <= 1
    assert runs.final_alignment_loss(run).shape == (n,)


def test_the_second_zero_attracts_exactly_when_its_slope_lies_in_minus_two_to_zero():
    def sine_step(sign):
        def phi(moving, fixed):  # sign * sin(Delta - t) at the current shift t
            a = torch.fft.rfft(moving, dim=-1)[:, 1]
            b = torch.fft.rfft(fixed, dim=-1)[:, 1]
            return sign * torch.sin(torch.angle(b) - torch.angle(a))

        return phi

    run = runs.wu_test(sine_step(1.0), TINY, seed=0, stream=3)
    # sin(Delta - t): slope -1 at the alignment, +1 at Delta + pi (repels)
    assert not runs.second_zero_attracts(sine_step(1.0), run).any()
    # -sin(Delta - t): slope -1 at Delta + pi, so the second zero attracts
    assert runs.second_zero_attracts(sine_step(-1.0), run).all()


def test_perturbed_errors_keep_each_eps(circle):
    phi, run, _ = circle
    out = runs.perturbed_errors(phi, run, [0.0, 0.1])
    assert list(out) == [0.0, 0.1]
    first, final = out[0.0]
    assert first.shape == final.shape == (TINY.n_test,)
    assert torch.allclose(final, run["wu"][-1].cpu())


def test_cloud_test_holds_uu_and_the_start_identity():
    run = runs.cloud_test(TINY, seed=0, stream=200)
    assert run["wu"].shape == run["uu"].shape == (TINY.k_max, TINY.n_test)
    assert run["uu"].max() <= 1e-10 and run["identity gap"].max() <= 1e-10
    assert run["start angle"].abs().max() <= math.pi + 1e-12
    header, rows = runs.cloud_table([run], [0])
    assert len(rows) == 1 and len(rows[0]) == len(header)


def test_figures_and_tables_are_made(trained, circle):
    learned, x, y0 = trained
    phi, run, run_p = circle
    curves, moves = runs.recipe_curves(learned, x, y0, TINY.k_max)
    clouds = [runs.cloud_test(TINY, seed=0, stream=200)]
    A = periodic.random_signals(
        1, 32, 3, generator=utils.generator(0, 2), dtype=torch.float64
    )
    figures = [
        runs.plot_toy_pair(A, A),
        runs.plot_recipe_curves(curves, moves, TINY.unroll),
        runs.trajectory_frames(learned, x, y0, TINY.k_max)(2),
        runs.plot_correction(phi, {"generic": run}),
        runs.plot_wu_errors([run, run], [run_p]),
        runs.plot_clouds(clouds),
        runs.summary_figure(curves, [run], clouds, TINY.unroll),
    ]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figures)
    header, rows = runs.circle_table([run], [run_p], [0])
    assert len(rows[0]) == len(header)
    header, rows = runs.perturbed_table(
        [run], [runs.perturbed_errors(phi, run, [0.1])], [0]
    )
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    matplotlib.pyplot.close("all")
