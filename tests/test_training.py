import pytest
import torch

from equinotes import training


def regression_task():
    target = torch.tensor([[2.0], [-1.0]])

    def sample(step, generator):
        x = torch.randn(32, 2, generator=generator)
        return x, x @ target

    return sample, lambda model, batch: ((model(batch[0]) - batch[1]) ** 2).mean()


def test_train_fits_a_linear_map_and_is_reproducible():
    sample, loss = regression_task()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1, bias=False)
        log = training.train(
            model, loss, sample, n_steps=200, lr=0.05, seed=7, progress=False
        )
        runs.append(model.weight.detach().clone())
        assert log.final_loss < 1e-3 and len(log.losses) == 200 and log.seconds > 0
        assert not model.training
    assert torch.equal(runs[0], runs[1])


def test_sgd_option_and_zero_steps():
    sample, loss = regression_task()
    log = training.train(
        torch.nn.Linear(2, 1),
        loss,
        sample,
        n_steps=5,
        lr=0.01,
        optimizer="sgd",
        progress=False,
    )
    assert len(log.losses) == 5
    empty = training.train(
        torch.nn.Linear(2, 1), loss, sample, n_steps=0, progress=False
    )
    assert empty.losses == [] and empty.final_loss != empty.final_loss  # NaN


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"model": "net"}, TypeError),
        ({"loss_fn": None}, TypeError),
        ({"n_steps": -1}, ValueError),
        ({"lr": 0}, ValueError),
        ({"optimizer": "lbfgs"}, ValueError),
        ({"seed": -3}, ValueError),
        ({"model": torch.nn.ReLU()}, ValueError),
        ({"loss_fn": lambda m, b: torch.zeros(3, requires_grad=True)}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    sample, loss = regression_task()
    args = {
        "model": torch.nn.Linear(2, 1),
        "loss_fn": loss,
        "sample_batch": sample,
        "n_steps": 2,
        "progress": False,
    }
    args.update(kwargs)
    with pytest.raises(error):
        training.train(**args)
