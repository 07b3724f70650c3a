"""The Colab path: in a fresh virtual environment holding only what Colab ships, a notebook's first
cell installs equinotes (here from this checkout) without touching torch, and the notebooks run.

What runs where (nbval already executes every notebook in the development environment, so this
file only pays for what that run cannot show):
- every notebook's setup, parameters and imports cells run in the Colab-like kernel, in an empty
  working directory; the setup cells are one and the same text, so one of them installs
  equinotes and the others find it installed;
- every module any cell of any notebook imports (solutions included) is importable there;
- the package data ships with the installed package;
- FULL_NOTEBOOK, the cheapest chapter, runs to its end there and records its claims.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
# The cheapest chapter (measured: 260 s here, against 280 s to 1,260 s for the others, on a
# loaded 2-core machine); it loads the bundled digits, trains small models and records claims.
FULL_NOTEBOOK = ROOT / "book" / "05_neural_feature_ansatz.ipynb"
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


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules a cell imports (IPython magics and shell lines left out)."""
    python = "\n".join(
        "" if line.strip().startswith(("%", "!")) else line
        for line in source.splitlines()
    )
    names = set()
    for node in ast.walk(ast.parse(python)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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


def has_equinotes(python) -> bool:
    # Run away from the checkout: `python -c` puts the working directory on sys.path.
    done = subprocess.run(
        [str(python), "-c", "import equinotes"], capture_output=True, cwd=python.parent
    )
    return done.returncode == 0


def run_in_colab_kernel(nb, colab_venv, workdir: Path, monkeypatch):
    """Execute ``nb`` in the Colab-like kernel, in ``workdir`` (an empty folder, as in Colab)."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    _, kernels = colab_venv
    monkeypatch.setenv("EQUINOTES_SOURCE", str(ROOT))
    monkeypatch.setenv("EQUINOTES_LEDGER", str(workdir / "ledger.jsonl"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    specs = KernelSpecManager()
    specs.kernel_dirs = [str(kernels / "kernels")]
    manager = KernelManager(kernel_name="colab-like", kernel_spec_manager=specs)
    client = NotebookClient(
        nb,
        km=manager,
        timeout=900,
        startup_timeout=300,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    finally:  # a kernel manager we pass in is ours to shut down (nbclient only stops kernels it started)
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    return nb


@pytest.fixture(scope="module")
def installed(colab_venv, tmp_path_factory):
    """The Colab-like runtime after the first notebook's setup cell installed equinotes."""
    python, _ = colab_venv
    assert not has_equinotes(python), "the Colab-like runtime must start without it"
    before = torch_version(python)
    setup = nbformat.v4.new_notebook(cells=[code_cells(NOTEBOOKS[0])[0]])
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_in_colab_kernel(
            setup, colab_venv, tmp_path_factory.mktemp("setup"), monkeypatch
        )
    output = "".join(o.get("text", "") for o in setup.cells[0].outputs)
    assert "ERROR" not in output, output
    assert has_equinotes(python), "the setup cell did not install equinotes"
    assert torch_version(python) == before, "installing equinotes changed torch"
    return python


def test_every_notebook_has_the_same_setup_cell():
    """So the one install above exercises every notebook's install path."""
    sources = {code_cells(path)[0].source for path in NOTEBOOKS}
    assert len(sources) == 1, "the notebooks' setup cells differ"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_parameters_and_imports_cells_run(
    installed, colab_venv, path, tmp_path, monkeypatch
):
    cells = code_cells(path)
    last = next(i for i, c in enumerate(cells) if "utils.start_run(" in c.source)
    nb = nbformat.v4.new_notebook(cells=cells[: last + 1])
    nb.metadata = nbformat.read(path, as_version=4).metadata
    run_in_colab_kernel(nb, colab_venv, tmp_path, monkeypatch)
    output = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "ERROR" not in output, output


def test_every_imported_module_is_in_the_colab_runtime(installed):
    modules = set()
    for path in NOTEBOOKS:
        for cell in code_cells(path):
            modules |= imported_modules(cell.source)
    check = (
        "import importlib.util, sys\n"
        "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    )
    done = subprocess.run(
        [str(installed), "-c", check, *sorted(modules)],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed.parent,
    )
    assert done.stdout.split() == [], "modules Colab lacks"


def test_the_installed_package_ships_its_data(installed):
    done = subprocess.run(
        [
            str(installed),
            "-c",
            "from equinotes import data; print(len(data.load_mnist()[1]))",
        ],
        capture_output=True,
        text=True,
        cwd=installed.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_cheapest_chapter_runs_to_the_end(installed, colab_venv, tmp_path, monkeypatch):
    nb = nbformat.read(FULL_NOTEBOOK, as_version=4)
    before = torch_version(installed)
    run_in_colab_kernel(nb, colab_venv, tmp_path, monkeypatch)
    assert torch_version(installed) == before
    assert (tmp_path / "ledger.jsonl").is_file(), "the notebook recorded no claim"
