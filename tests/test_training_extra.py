"""Tests of the classification helpers added to equinotes.training for chapter 1."""

import math

import pytest
import torch

from equinotes import groups, training


class _Constant(torch.nn.Module):
    """Predicts class ``argmax(logits)`` for every input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_random_rotation_quarter_turns_are_exact_turns():
    x = torch.rand(6, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = training.random_rotation(x, g, quarter_turns_only=True)
    ks = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(0))
    for i in range(6):
        assert torch.equal(out[i], groups.rot90(x[i], int(ks[i])))


def test_random_rotation_continuous_is_reproducible_and_keeps_shape():
    x = torch.rand(4, 2, 12, 12)
    a = training.random_rotation(x, torch.Generator().manual_seed(3))
    b = training.random_rotation(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    angles = torch.rand(
        4, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    ) * (2 * math.pi)
    assert torch.allclose(a, groups.rotate(x, angles), atol=1e-6)


def test_random_rotation_bad_input():
    with pytest.raises(TypeError, match="Generator"):
        training.random_rotation(torch.rand(1, 1, 4, 4), 0)
    with pytest.raises(ValueError):
        training.random_rotation(torch.rand(4, 4), torch.Generator())


def test_classification_sampler_draws_matching_pairs():
    images = (
        torch.arange(10, dtype=torch.float32)
        .view(10, 1, 1, 1)
        .expand(10, 1, 2, 2)
        .contiguous()
    )
    labels = torch.arange(10)
    sample = training.classification_sampler(images, labels, batch_size=7, device="cpu")
    x, y = sample(0, torch.Generator().manual_seed(0))
    assert x.shape == (7, 1, 2, 2) and y.shape == (7,)
    assert torch.equal(x[:, 0, 0, 0].long(), y)
    x2, _ = training.classification_sampler(
        images, labels, 7, augment=lambda v, g: v + 100, device="cpu"
    )(0, torch.Generator().manual_seed(0))
    assert torch.equal(x2, x + 100)


def test_classification_sampler_bad_input():
    with pytest.raises(ValueError, match="labels"):
        training.classification_sampler(
            torch.rand(3, 1, 4, 4), torch.zeros(2, dtype=torch.int64)
        )
    with pytest.raises(TypeError, match="int64"):
        training.classification_sampler(torch.rand(3, 1, 4, 4), torch.zeros(3))
    with pytest.raises(ValueError):
        training.classification_sampler(
            torch.rand(3, 1, 4, 4), torch.zeros(3, dtype=torch.int64), batch_size=0
        )
    with pytest.raises(TypeError, match="augment"):
        training.classification_sampler(
            torch.rand(3, 1, 4, 4), torch.zeros(3, dtype=torch.int64), augment=3
        )


def test_predict_and_accuracy():
    model = _Constant([0.0, 2.0, 1.0])
    x = torch.rand(5, 1, 4, 4)
    logits = training.predict(model, x, batch_size=2)
    assert logits.shape == (5, 3)
    labels = torch.tensor([1, 1, 0, 2, 1])
    assert training.accuracy(model, x, labels, batch_size=3) == pytest.approx(0.6)
    model.train()
    training.predict(model, x)
    assert model.training  # the mode is restored


def test_predict_and_accuracy_bad_input():
    model = _Constant([0.0, 1.0])
    with pytest.raises(TypeError, match="Module"):
        training.predict(lambda v: v, torch.rand(1, 1, 2, 2))
    with pytest.raises(ValueError):
        training.predict(model, torch.rand(2, 2))
    with pytest.raises(ValueError, match="labels"):
        training.accuracy(
            model, torch.rand(3, 1, 2, 2), torch.zeros(2, dtype=torch.int64)
        )


def test_cross_entropy_loss_trains_a_tiny_classifier():
    torch.manual_seed(0)
    images = torch.cat([torch.zeros(20, 1, 4, 4), torch.ones(20, 1, 4, 4)])
    labels = torch.cat(
        [torch.zeros(20, dtype=torch.int64), torch.ones(20, dtype=torch.int64)]
    )
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    log = training.train(
        model,
        training.cross_entropy_loss,
        training.classification_sampler(images, labels, 8, device="cpu"),
        60,
        lr=0.05,
        progress=False,
        device="cpu",
    )
    assert log.final_loss < log.losses[0]
    assert training.accuracy(model, images, labels) == 1.0
    assert training.cross_entropy_loss(model, (images, labels)).dim() == 0


def test_samples_to_reach_interpolates_in_log_n():
    assert training.samples_to_reach([10, 100], [0.5, 0.9], 0.7) == pytest.approx(
        math.sqrt(10 * 100)
    )
    assert training.samples_to_reach(
        [10, 100, 1000], [0.5, 0.6, 0.9], 0.9
    ) == pytest.approx(1000)
    assert training.samples_to_reach([10, 100], [0.95, 0.99], 0.9) == 10
    assert training.samples_to_reach([10, 100], [0.5, 0.6], 0.9) == float("inf")
    # The first crossing counts, even if the curve dips later.
    assert training.samples_to_reach(
        [10, 100, 1000], [0.5, 0.9, 0.8], 0.9
    ) == pytest.approx(100)


def test_samples_to_reach_bad_input():
    with pytest.raises(ValueError, match="increasing"):
        training.samples_to_reach([100, 10], [0.5, 0.6], 0.5)
    with pytest.raises(ValueError, match="matching"):
        training.samples_to_reach([10, 100], [0.5], 0.5)
    with pytest.raises(ValueError, match="target"):
        training.samples_to_reach([10, 100], [0.5, 0.6], 1.5)


def test_fit_classifier_is_seeded_and_learns():
    images = torch.cat([torch.zeros(10, 1, 4, 4), torch.ones(10, 1, 4, 4)])
    labels = torch.cat(
        [torch.zeros(10, dtype=torch.int64), torch.ones(10, dtype=torch.int64)]
    )

    def run():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        log = training.fit_classifier(
            model,
            images,
            labels,
            40,
            batch_size=8,
            lr=0.05,
            seed=3,
            device="cpu",
            progress=False,
        )
        return model, log

    (m1, l1), (m2, l2) = run(), run()
    assert l1.losses == l2.losses
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert training.accuracy(m1, images, labels) == 1.0 and not m1.training
    with pytest.raises(ValueError, match="labels"):
        training.fit_classifier(m1, images, labels[:3], 1, device="cpu", progress=False)
