import pytest
import torch

from equinotes import utils


def test_seed_everything_makes_runs_repeat():
    utils.seed_everything(3)
    a = torch.rand(5)
    generator = utils.seed_everything(3)
    assert torch.equal(a, torch.rand(5))
    assert isinstance(generator, torch.Generator)


@pytest.mark.parametrize(
    "bad, error",
    [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)],
)
def test_seed_everything_rejects_bad_seed(bad, error):
    with pytest.raises(error):
        utils.seed_everything(bad)


def test_get_device_defaults_to_what_is_there(monkeypatch):
    monkeypatch.delenv("EQUINOTES_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert utils.get_device().type == expected
    assert utils.get_device("cpu").type == "cpu"
    monkeypatch.setenv("EQUINOTES_DEVICE", "")
    assert utils.get_device().type == expected


def test_get_device_reads_equinotes_device(monkeypatch):
    monkeypatch.setenv("EQUINOTES_DEVICE", " CPU ")
    assert utils.get_device() == torch.device("cpu")
    monkeypatch.setenv("EQUINOTES_DEVICE", "tpu")
    with pytest.raises(ValueError, match="EQUINOTES_DEVICE"):
        utils.get_device()
    # An explicit request wins over the variable.
    assert utils.get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cpu:0", "mps:1", "cuda:-1", ""])
def test_get_device_rejects_malformed_names(name):
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'mps'"):
        utils.get_device(name)


def test_get_device_rejects_bad_requests():
    with pytest.raises(TypeError):
        utils.get_device(0)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error on a machine without CUDA"
)
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_on_a_machine_without_it_fails_loudly(monkeypatch, name):
    with pytest.raises(ValueError, match="cuda.is_available"):
        utils.get_device(name)
    monkeypatch.setenv("EQUINOTES_DEVICE", name)
    with pytest.raises(ValueError, match="EQUINOTES_DEVICE"):
        utils.start_run(0, 1)


@pytest.mark.skipif(
    getattr(torch.backends, "mps", None) is not None
    and torch.backends.mps.is_available(),
    reason="checks the error on a machine without MPS",
)
def test_mps_on_a_machine_without_it_fails_loudly():
    with pytest.raises(ValueError, match="mps"):
        utils.get_device("mps")


def test_derive_seed_keeps_stream_numbers_at_seed_zero_and_separates_seeds():
    assert utils.derive_seed(0, 5) == 5
    assert utils.derive_seed(1, 5) != utils.derive_seed(0, 5)
    seeds = {utils.derive_seed(s, k) for s in range(4) for k in (0, 1, 123, 9999)}
    assert len(seeds) == 16
    with pytest.raises(ValueError, match="stream"):
        utils.derive_seed(0, utils.SEED_STREAMS)
    with pytest.raises(ValueError):
        utils.derive_seed(-1, 0)
    with pytest.raises(TypeError):
        utils.derive_seed(0, 1.0)


def test_generator_is_the_derived_stream():
    a = torch.rand(4, generator=utils.generator(2, 7))
    b = torch.rand(4, generator=torch.Generator().manual_seed(utils.derive_seed(2, 7)))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.rand(4, generator=utils.generator(3, 7)))


def test_replicate_seeds_are_disjoint_between_seeds():
    assert utils.replicate_seeds(0, 3) == [0, 1, 2]
    assert not set(utils.replicate_seeds(0, 3)) & set(utils.replicate_seeds(1, 3))
    with pytest.raises(ValueError):
        utils.replicate_seeds(0, 0)


def test_start_run_seeds_and_exports_the_parameters(monkeypatch):
    monkeypatch.delenv("EQUINOTES_DEVICE", raising=False)
    monkeypatch.setenv("EQUINOTES_SEED", "0")
    monkeypatch.setenv("EQUINOTES_SCALE", "1")
    device = utils.start_run(4, 2, "cpu")
    assert device == torch.device("cpu")
    first = torch.rand(3)
    utils.start_run(4, 2, "")
    assert torch.equal(first, torch.rand(3))
    assert (
        utils.os.environ["EQUINOTES_SEED"],
        utils.os.environ["EQUINOTES_SCALE"],
    ) == ("4", "2")


@pytest.mark.parametrize(
    "args, error",
    [
        ((-1, 1), ValueError),
        ((0, 0), ValueError),
        ((0.5, 1), TypeError),
        ((0, "2"), TypeError),
        ((0, 1, 3), TypeError),
    ],
)
def test_start_run_rejects_bad_parameters(args, error):
    with pytest.raises(error):
        utils.start_run(*args)


def test_check_images_accepts_and_rejects():
    x = torch.zeros(2, 1, 4, 4)
    assert utils.check_images(x, square=True, channels=1) is x
    with pytest.raises(TypeError):
        utils.check_images(x.numpy())
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        utils.check_images(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="floating"):
        utils.check_images(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="square"):
        utils.check_images(torch.zeros(2, 1, 4, 5), square=True)
    with pytest.raises(ValueError, match="channel"):
        utils.check_images(x, channels=3)


def test_check_int():
    assert utils.check_int("n", 3, minimum=1) == 3
    with pytest.raises(ValueError):
        utils.check_int("n", 0, minimum=1)
    with pytest.raises(TypeError):
        utils.check_int("n", 2.0)


def test_check_tensor_names_the_layout():
    x = torch.zeros(3, 4)
    assert utils.check_tensor(x, "x", "[B, N]") is x
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        utils.check_tensor(torch.zeros(3), "x", "[B, N]")
    with pytest.raises(TypeError, match="floating"):
        utils.check_tensor(torch.zeros(3, 4, dtype=torch.int64), "x", "[B, N]")
    with pytest.raises(TypeError, match="torch.Tensor"):
        utils.check_tensor([[0.0]], "x", "[B, N]")


def test_progress_bar_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("EQUINOTES_PROGRESS", "0")
    assert utils.progress(range(3)).disable
    monkeypatch.setenv("EQUINOTES_PROGRESS", "1")
    bar = utils.progress(range(3), desc="x")
    assert not bar.disable and list(bar) == [0, 1, 2]


def widget_messages_of(code: str) -> tuple[int, float]:
    """Run ``code`` in a fresh Jupyter kernel; return how many widget update messages it sent and how
    many seconds it ran (a loaded machine runs the same loop longer, and a bar redraws per second)."""
    import time

    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        start = time.perf_counter()
        msg_id = client.execute(code)
        client.get_shell_msg(timeout=120)
        updates = 0
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            updates += msg["msg_type"] == "comm_msg"
            if (
                msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return updates, time.perf_counter() - start
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# One redraw of a notebook bar is about three widget messages: once a second, plus slack. tqdm's default
# (10 redraws a second) sends ~30 a second, and forcing a redraw per loss update more.
MESSAGES_PER_SECOND = 4


@pytest.mark.slow
def test_notebook_progress_bar_redraws_at_most_about_once_a_second(monkeypatch):
    """A 3 s loop: tqdm's default (10 redraws/s) sends ~95 widget updates; ours must stay near 3 redraws."""
    monkeypatch.setenv("EQUINOTES_PROGRESS", "1")  # the kernel inherits it
    loop = "import time\nfrom equinotes import utils\nfor _ in utils.progress(range(300)): time.sleep(0.01)"
    updates, seconds = widget_messages_of(loop)
    assert updates <= MESSAGES_PER_SECOND * seconds + 10, (updates, seconds)


@pytest.mark.slow
def test_training_bar_with_loss_postfix_redraws_at_most_about_once_a_second(
    monkeypatch,
):
    """training.train updates the loss shown on its bar every 10 steps without forcing a redraw each time."""
    monkeypatch.setenv("EQUINOTES_PROGRESS", "1")
    run = (
        "import time, torch\nfrom equinotes import training\n"
        "model = torch.nn.Linear(2, 1)\n"
        "def loss_fn(m, batch):\n    time.sleep(0.001)\n    return m(batch).pow(2).mean()\n"
        "training.train(model, loss_fn, lambda step, g: torch.randn(8, 2, generator=g), n_steps=2000)"
    )
    updates, seconds = widget_messages_of(run)
    assert updates <= MESSAGES_PER_SECOND * seconds + 10, (updates, seconds)


def test_cpu_threads_respects_the_cap_the_cores_and_omp_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(utils.os, "cpu_count", lambda: 8)
    assert utils.cpu_threads() == 2 and utils.cpu_threads(4) == 4
    monkeypatch.setattr(utils.os, "cpu_count", lambda: 1)
    assert utils.cpu_threads(4) == 1
    monkeypatch.setattr(utils.os, "cpu_count", lambda: 8)
    monkeypatch.setenv(
        "OMP_NUM_THREADS", "1"
    )  # what conftest.py sets per pytest-xdist worker
    assert utils.cpu_threads(4) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert utils.cpu_threads(4) == 4


@pytest.mark.parametrize(
    "bad, error", [(0, ValueError), (1.5, TypeError), ("2", TypeError)]
)
def test_cpu_threads_rejects_bad_input(bad, error):
    with pytest.raises(error, match="max_threads"):
        utils.cpu_threads(bad)


def test_git_commit_names_the_checkout_and_marks_watched_changes(tmp_path):
    import shutil
    import subprocess

    assert utils.git_commit(tmp_path) == "unknown"  # not a checkout
    if shutil.which("git") is None:
        return
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True,  # noqa: E731
                                    capture_output=True)  # fmt: skip
    run("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    (tmp_path / "b.txt").write_text("1")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    head = utils.git_commit(tmp_path, ["a.txt"])
    assert len(head) == 40 and all(c in "0123456789abcdef" for c in head)
    (tmp_path / "b.txt").write_text("2")  # not watched
    assert utils.git_commit(tmp_path, ["a.txt"]) == head
    (tmp_path / "a.txt").write_text("2")
    assert utils.git_commit(tmp_path, ["a.txt"]) == head + "+dirty"
    with pytest.raises(TypeError, match="sequence"):
        utils.git_commit(tmp_path, "a.txt")
