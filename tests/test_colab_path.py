"""The Colab path: in a fresh virtual environment holding only what Colab ships, each notebook's first
cell installs equinotes (here from this checkout) and the notebook runs to the end, without touching torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
# What a Colab runtime already has (at the versions of requirements.txt), plus its Jupyter kernel.
COLAB_PACKAGES = [
    "torch",
    "numpy",
    "matplotlib",
    "sympy",
    "ipywidgets",
    "tqdm",
    "scikit-learn",
    "ipykernel",
]

pytestmark = pytest.mark.slow


def pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        spec = line.split("#")[0].strip()
        if spec.lower().startswith(name + "=="):
            return spec
    return name


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q"]
        + [pinned(p) for p in COLAB_PACKAGES],
        check=True,
        capture_output=True,
    )
    kernels = venv / "share" / "jupyter"
    subprocess.run(
        [
            str(python),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(venv),
            "--name",
            "colab-like",
        ],
        check=True,
        capture_output=True,
    )
    return python, kernels


def torch_version(python):
    return subprocess.run(
        [str(python), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_colab_like_environment_has_no_equinotes(colab_venv):
    python, _ = colab_venv
    # Run away from the checkout: `python -c` puts the working directory on sys.path.
    done = subprocess.run(
        [str(python), "-c", "import equinotes"], capture_output=True, cwd=python.parent
    )
    assert done.returncode != 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_to_the_end_from_its_setup_cell(
    colab_venv, path, tmp_path, monkeypatch
):
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    python, kernels = colab_venv
    # Each notebook starts from a runtime without equinotes, so each one exercises its own setup cell.
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "-y", "-q", "equinotes"],
        capture_output=True,
    )
    before = torch_version(python)
    monkeypatch.setenv("EQUINOTES_SOURCE", str(ROOT))
    monkeypatch.setenv("EQUINOTES_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    nb = nbformat.read(path, as_version=4)
    # Like Colab, the notebook runs in an empty working directory, away from the checkout.
    specs = KernelSpecManager()
    specs.kernel_dirs = [str(kernels / "kernels")]
    manager = KernelManager(kernel_name="colab-like", kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=manager, timeout=900, resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:  # a kernel manager we pass in is ours to shut down (nbclient only stops kernels it started)
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    setup_output = "".join(
        o.get("text", "")
        for o in nb.cells[[c.cell_type for c in nb.cells].index("code")].outputs
    )
    assert "ERROR" not in setup_output, setup_output
    assert torch_version(python) == before, "installing equinotes changed torch"
    assert (tmp_path / "ledger.jsonl").is_file(), "the notebook recorded no claim"
