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

# CI checks two independent replications of every claim: the notebooks nbval executes run at
# SEED 1 (their kernels inherit this environment), while the site build runs at SEED 0
# (tests/site_helpers.py sets it for the build the tests make). A seed chosen by the user wins.
os.environ.setdefault("EQUINOTES_SEED", "1")

# Inside the tests a claim that fails fails its notebook (a reader's own run only warns; claims.strict).
os.environ.setdefault("EQUINOTES_STRICT", "1")

# Claims recorded while tests run go to a throwaway ledger, never to the site's (kernels inherit this).
os.environ.setdefault(
    "EQUINOTES_LEDGER", os.path.join(ROOT, "_build", "test_ledger.jsonl")
)

pytest_plugins = [
    "pytester"
]  # tests/test_pytest_setup.py runs a small pytest session of its own

# After a cell's execute_reply, nbval waits for each further kernel message (the final "idle" status
# among them) at most a hard-coded 5 s, with no option to change it (nbval issues #136, #231). On a
# loaded 2-core CI machine that wait once ran out after chapter 1's longest training cell, failing a
# cell that had run correctly: after its reply a kernel still sends the output it queued during the
# cell (that cell then queued ~2,900 progress-bar messages; equinotes.utils.progress now sends far
# fewer). The cell's own run time stays bounded by --nbval-cell-timeout.
NBVAL_OUTPUT_TIMEOUT = 120  # seconds


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test under both float32 and float64 (tolerances are keyed by dtype)."""
    return request.param


@pytest.fixture
def tolerance(dtype):
    return {torch.float32: 1e-5, torch.float64: 1e-10}[dtype]
