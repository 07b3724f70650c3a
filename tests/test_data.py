import pytest
import torch

from equinotes import data


def test_all_digits_split_sizes_add_up():
    train_x, train_y = data.load_mnist(split="train")
    test_x, test_y = data.load_mnist(split="test")
    all_x, _ = data.load_mnist(split="all")
    assert train_x.shape[1:] == (1, 28, 28) and train_x.dtype == torch.float32
    assert len(train_x) + len(test_x) == len(all_x) == 10_000
    assert 0.0 <= float(all_x.min()) and float(all_x.max()) <= 1.0
    assert set(train_y.tolist()) == set(range(10)) == set(test_y.tolist())


def test_filter_by_digit_and_pad():
    nines, labels = data.load_mnist(digits=9, split="test", pad=4)
    assert nines.shape[1:] == (1, 36, 36)
    assert torch.all(labels == 9)
    assert float(nines[..., :4, :].abs().max()) == 0.0  # the padding is black
    some, labels = data.load_mnist(digits=[6, 9], split="train", n=10, shuffle_seed=0)
    assert len(some) == 10 and set(labels.tolist()) <= {6, 9}


def test_train_and_test_are_disjoint_and_deterministic():
    a, _ = data.load_mnist(digits=3, split="train")
    b, _ = data.load_mnist(digits=3, split="test")
    flat_a = {bytes(x.numpy().tobytes()) for x in a}
    assert not any(bytes(x.numpy().tobytes()) in flat_a for x in b)
    assert torch.equal(a, data.load_mnist(digits=3, split="train")[0])


def test_float64_option():
    x, _ = data.load_mnist(digits=0, n=2, dtype=torch.float64)
    assert x.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"digits": 10}, ValueError),
        ({"digits": -1}, ValueError),
        ({"digits": "9"}, TypeError),
        ({"digits": []}, ValueError),
        ({"split": "validation"}, ValueError),
        ({"n": 0}, ValueError),
        ({"n": 100_000}, ValueError),
        ({"pad": -2}, ValueError),
        ({"pad": 1.5}, TypeError),
        ({"dtype": torch.int64}, TypeError),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error):
    with pytest.raises(error):
        data.load_mnist(**kwargs)


def test_checksum_is_verified(monkeypatch):
    data._raw_arrays.cache_clear()
    monkeypatch.setattr(data, "MNIST_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256"):
        data.load_mnist(digits=1)
    monkeypatch.undo()
    data._raw_arrays.cache_clear()
    assert len(data.load_mnist(digits=1, n=1)[0]) == 1


def test_full_mnist_is_never_downloaded_without_torchvision():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="torchvision"):
            data.load_full_mnist("/nonexistent")
    else:  # pragma: no cover - torchvision present: the loader would go online, which tests never do
        pytest.skip("torchvision installed; not going online in tests")
