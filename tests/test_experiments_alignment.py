"""equinotes.experiments.alignment: chapter 7's experiment plumbing, on small worlds."""

import pytest
import torch

from equinotes import alignment as al
from equinotes.experiments import alignment as ex


@pytest.fixture(scope="module")
def pair():
    return ex.pretrained_pair(al.make_world(6), seed=0, steps=80)


def test_pair_shares_corpus_and_initial_draw(pair):
    assert set(pair) == {"plain", "equivariant", "untrained"}
    assert isinstance(pair["equivariant"], al.RenamingEquivariantLM)
    # pretraining changed the weights
    before = pair["untrained"]["plain"].gru.weight_ih_l0
    assert not torch.equal(before, pair["plain"].gru.weight_ih_l0)


def test_renaming_error_separates_the_models(pair):
    world = al.make_world(6)
    g = torch.Generator().manual_seed(0)
    assert ex.renaming_error(pair["equivariant"], world, range(6), 5, g) <= 1e-6
    assert ex.renaming_error(pair["plain"], world, range(6), 5, g) > 1e-3
    with pytest.raises(ValueError):
        ex.renaming_error(pair["plain"], world, [0], 5, g)


def test_bias_gap_is_zero_for_the_equivariant_model(pair):
    world = al.make_world(6)
    assert abs(ex.bias_gap(pair["equivariant"], world)) < 1e-6
    with pytest.raises(ValueError):
        ex.bias_gap(pair["plain"], world, names=[1, 4])  # neutral names only


def test_feedback_until_reaches_the_target_or_reports_the_budget(pair):
    world = al.make_world(6)
    g = torch.Generator().manual_seed(0)
    run = ex.feedback_until(pair["equivariant"], world, g, target=0.9, budget=2000)
    assert run.labels is not None and run.worst[-1] >= 0.9
    short = ex.feedback_until(pair["plain"], world, g, target=0.99, budget=8)
    assert short.labels is None and len(short.worst) == 3
    with pytest.raises(ValueError):
        ex.feedback_until(pair["plain"], world, g, target=1.5)


def test_one_thumbs_down_moves_every_name_alike_when_equivariant(pair):
    world = al.make_world(6)
    out = ex.one_thumbs_down(pair["equivariant"], world, "Mei embezzled", "thank Mei")
    down = torch.tensor(out["down_voted"])
    assert out["named"] == 2 and down.max() < 0
    assert (down - down[0]).abs().max() <= 1e-6
    with pytest.raises(ValueError, match="prompt's person"):
        ex.one_thumbs_down(pair["plain"], world, "Mei embezzled", "thank Olu")


def test_data_rate_sweep_rows():
    rows = ex.data_rate_sweep([3], [0], show_progress=False, budget_per_name=10)
    assert rows[0]["n"] == 3 and set(rows[0]["base_worst"]) == {"plain", "equivariant"}
    assert rows[0]["plain"] is None or rows[0]["plain"] <= 30


def test_html_table():
    text = ex.html_table(["a", "b"], [[1, "<x>"]])
    assert "&lt;x&gt;" in text and text.count("<td") == 2
    with pytest.raises(ValueError):
        ex.html_table(["a"], [[1, 2]])
