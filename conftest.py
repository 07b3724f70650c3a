"""Shared pytest setup for unit tests (tests/) and notebook runs (book/ via nbval)."""
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
# With pytest-xdist each worker runs notebooks (and the site build) next to the other worker: one
# thread per worker keeps torch from oversubscribing the cores, which slowed training cells tenfold.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402  (after the thread settings, which torch reads when it loads)

# Claims recorded while tests run go to a throwaway ledger, never to the site's (kernels inherit this).
os.environ.setdefault("EQUINOTES_LEDGER", os.path.join(ROOT, "_build", "test_ledger.jsonl"))


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test under both float32 and float64 (tolerances are keyed by dtype)."""
    return request.param


@pytest.fixture
def tolerance(dtype):
    return {torch.float32: 1e-5, torch.float64: 1e-10}[dtype]
