"""Every notebook follows the book's conventions (fast: reads the files, runs nothing)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTERS = [nb for nb in NOTEBOOKS if re.match(r"0[1-9]_", nb.name)]
REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def read(path):
    return nbformat.read(path, as_version=4)


def test_the_book_has_its_chapters():
    names = [nb.name for nb in NOTEBOOKS]
    assert "00_getting_started.ipynb" in names and "research_note.ipynb" in names
    assert [n[:3] for n in sorted(n for n in names if re.match(r"0[1-9]_", n))] == [
        f"0{k}_" for k in range(1, 8)
    ]


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [
        c["file"] for part in toc["parts"] for c in part["chapters"]
    ]
    for f in files:
        assert (ROOT / f"{f}.md").is_file() or (ROOT / f"{f}.ipynb").is_file(), f


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_starts_with_the_colab_setup_cell(path):
    nb = read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{path.name}: outputs not stripped"
            )
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert 'importlib.util.find_spec("equinotes") is None' in first_code.source
    assert f'"git+{REPO_URL}"' in first_code.source, (
        f"{path.name}: the install URL must match _config.yml"
    )
    assert "%pip install -q {source}" in first_code.source
    assert (
        "--force" not in first_code.source
        and "torch" not in first_code.source.split("#")[0]
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_the_device_helper_and_no_downloads(path):
    text = path.read_text()
    assert ".cuda()" not in text and "download=True" not in text
    sources = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    assert re.search(r"claims\.check(_replicated)?\(", sources), (
        f"{path.name} records no claim"
    )
    assert "utils.start_run(SEED, SCALE, DEVICE)" in sources, (
        f"{path.name} must seed and pick its device with utils.start_run"
    )
    assert "get_device()" not in sources, f"{path.name}: get_device() ignores DEVICE"
    # A literal seed is a random choice that a new SEED would not touch: derive it instead
    # (utils.derive_seed, utils.generator, utils.replicate_seeds).
    fixed = re.findall(
        r"(?:manual_seed|seed_everything)\(\s*\d+\s*\)|\w*seed=\d+", sources
    )
    assert not fixed, f"{path.name}: literal seeds {fixed} ignore SEED"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_follows_the_setup_cell(path):
    """Papermill's convention: one cell tagged 'parameters', read from the environment."""
    codes = [c for c in read(path).cells if c.cell_type == "code"]
    tagged = [c for c in codes if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert codes[1] is tagged[0], (
        f"{path.name}: the parameters cell must follow the setup cell"
    )
    source = tagged[0].source
    for name, variable in (
        ("SEED", "EQUINOTES_SEED"),
        ("SCALE", "EQUINOTES_SCALE"),
        ("DEVICE", "EQUINOTES_DEVICE"),
    ):
        assert re.search(rf"^{name} = .*{variable}", source, flags=re.M), (
            f"{path.name}: {name} must be read from ${variable}"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_exercises_with_solutions_after_every_claim(path):
    nb = read(path)
    labels = re.findall(
        r"\{exercise\}[^\n]*\n:label: (\S+)",
        "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"),
    )
    assert len(labels) >= 3, f"{path.name} has {len(labels)} exercises"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for label in labels:
        assert re.search(rf"\{{solution(-start)?\}} {re.escape(label)}", markdown), (
            f"{label} has no solution"
        )
    first_exercise = next(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and "{exercise}" in c.source
    )
    assert not any(
        "claims.check(" in c.source
        for c in nb.cells[first_exercise:]
        if c.cell_type == "code"
    ), (
        f"{path.name}: a claim comes after the exercises (the student edition would not record it)"
    )
    assert any(
        "solution" in c.metadata.get("tags", [])
        for c in nb.cells
        if c.cell_type == "code"
    ), f"{path.name}: no exercise has a code solution"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_an_interactive_exploration(path):
    assert "slider_explorer(" in path.read_text()
