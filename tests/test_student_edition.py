"""The student edition drops every solution and leaves stubs; its notebooks run up to (and past) them.

A student notebook is its original with each code cell of a solution replaced by a stub that
raises. So it runs to its end when (1) every other code cell is the original's, unchanged (nbval
executes the originals), (2) the stubs raise NotImplementedError and, being tagged
``raises-exception``, let the run go on, and (3) no cell after a stub needs a name that only the
replaced solution defined. (1) and (3) are checked on the sources of every notebook, (2) by
executing every stub of the book in one kernel and a small student notebook end to end. A
chapter is executed as a whole only where a cell other than a stub follows its first stub, the one
case where a solution's side effects could matter."""

from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402


def synthetic_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell(
            "```{exercise}\n:label: ex-9-1\n\nCompute y.\n```"
        ),
        nbformat.v4.new_markdown_cell(
            "```{solution-start} ex-9-1\n:class: dropdown\n```\nWe add one."
        ),
        nbformat.v4.new_code_cell("y = x + 1"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
        nbformat.v4.new_markdown_cell(
            "```{exercise}\n:label: ex-9-2\n\nWhy?\n```\n\n"
            "````{solution} ex-9-2\n:class: dropdown\n\nBecause.\n````\n\nAfter."
        ),
    ]
    cells[4].metadata["tags"] = ["solution"]
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def test_solutions_are_removed_and_code_becomes_a_stub():
    nb, stubs = student_edition.strip_solutions(synthetic_notebook())
    text = "\n".join(c.source for c in nb.cells)
    assert stubs == 1
    assert (
        "solution" not in text.replace("your solution", "")
        and "We add one" not in text
        and "Because" not in text
    )
    assert (
        "Compute y." in text and "Why?" in text and "After." in text and "x = 1" in text
    )
    stub = next(c for c in nb.cells if "NotImplementedError" in c.source)
    assert "ex-9-1" in stub.source and "raises-exception" in stub.metadata["tags"]


def test_the_stub_raises():
    nb, _ = student_edition.strip_solutions(synthetic_notebook())
    stub = next(c for c in nb.cells if "NotImplementedError" in c.source)
    with pytest.raises(NotImplementedError):
        exec(stub.source, {})


def test_a_student_notebook_runs_past_its_stub():
    from nbclient import NotebookClient

    nb, _ = student_edition.strip_solutions(synthetic_notebook())
    nb.cells.append(nbformat.v4.new_code_cell("z = x + 2\nprint(z)"))
    NotebookClient(
        nb, timeout=120, startup_timeout=300, kernel_name="python3"
    ).execute()
    stub = next(c for c in nb.cells if "NotImplementedError" in c.source)
    assert [o.get("ename") for o in stub.outputs] == ["NotImplementedError"]
    assert nb.cells[-1].outputs[0]["text"] == "3\n"


def _python(source: str) -> ast.Module:
    """A code cell as Python (IPython magics and shell lines blanked)."""
    return ast.parse(
        "\n".join(
            "" if line.strip().startswith(("%", "!")) else line
            for line in source.splitlines()
        )
    )


def bound_names(source: str) -> set[str]:
    """Every name a cell binds anywhere: assignments, loop and ``with`` targets, definitions,
    arguments, imports, ``except ... as``."""
    names = set()
    for node in ast.walk(_python(source)):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def used_names(source: str) -> set[str]:
    return {
        node.id
        for node in ast.walk(_python(source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def is_stub(cell) -> bool:
    return "exercise-stub" in cell.metadata.get("tags", [])


def names_only_solutions_define(original: list, student: list) -> dict[int, set[str]]:
    """For each code cell of the student notebook (by index) that is not a stub: the names it
    uses that a replaced solution defines and no earlier non-stub cell (nor the cell itself)
    binds. Empty when every cell can run without the solutions."""
    missing = {}
    available = set(dir(builtins))
    solution_names = set()
    for index, (before, after) in enumerate(zip(original, student)):
        if is_stub(after):
            solution_names |= bound_names(before.source) - available
            continue
        own = bound_names(after.source)
        lacking = (used_names(after.source) & solution_names) - available - own
        if lacking:
            missing[index] = lacking
        available |= own
    return missing


def test_name_analysis_finds_what_only_a_solution_defines():
    original = [
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("b = a + 1\ndef f(x):\n    return x"),
        nbformat.v4.new_code_cell("print(a, b, f(2), [k for k in range(3)])"),
        nbformat.v4.new_code_cell("b = 5\nprint(b)"),
    ]
    student = [original[0], nbformat.v4.new_code_cell("raise NotImplementedError")]
    student[1].metadata["tags"] = ["exercise-stub"]
    student += original[2:]
    assert names_only_solutions_define(original, student) == {2: {"b", "f"}}
    del student[2], original[2]  # a cell that binds b itself needs no solution
    assert names_only_solutions_define(original, student) == {}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "student"
    return out, student_edition.write_edition(out)


def test_student_edition_has_its_own_title_and_every_notebook(edition):
    out, written = edition
    assert (out / "_config.yml").read_text().count("student edition") == 1
    assert [p.name for p in written] == sorted(
        p.name for p in (ROOT / "book").glob("*.ipynb")
    )


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "book").glob("*.ipynb"))
)
def test_student_notebook_is_the_original_with_stubs_for_solutions(edition, name):
    out, _ = edition
    original = nbformat.read(ROOT / "book" / name, as_version=4)
    nb = nbformat.read(out / "book" / name, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "{solution" not in text
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    before = [c for c in original.cells if c.cell_type == "code"]
    after = [c for c in nb.cells if c.cell_type == "code"]
    assert len(after) == len(before), "a code cell was added or lost"
    for old, new in zip(before, after):
        if "solution" in old.metadata.get("tags", []):
            assert is_stub(new), "a code solution was kept"
        if is_stub(new):
            assert "raises-exception" in new.metadata["tags"]
            assert new.source.startswith("raise NotImplementedError(")
        else:  # what nbval executes is what the student runs
            assert (new.source, new.metadata) == (old.source, old.metadata)
    assert nb.metadata == original.metadata
    assert names_only_solutions_define(before, after) == {}, (
        "cells after a stub use names only its solution defines"
    )


@pytest.mark.slow
def test_every_stub_of_the_book_raises_and_the_run_goes_on(edition):
    from nbclient import NotebookClient

    _, written = edition
    stubs = [
        c
        for path in written
        for c in nbformat.read(path, as_version=4).cells
        if is_stub(c)
    ]
    assert stubs, "the book has no exercise stub"
    nb = nbformat.v4.new_notebook(cells=stubs + [nbformat.v4.new_code_cell("1 + 1")])
    NotebookClient(
        nb, timeout=120, startup_timeout=300, kernel_name="python3"
    ).execute()
    for stub in nb.cells[:-1]:
        assert [o.get("ename") for o in stub.outputs] == ["NotImplementedError"]
    assert nb.cells[-1].outputs[0]["data"]["text/plain"] == "2"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "book").glob("*.ipynb"))
)
def test_student_notebook_executes_where_code_follows_a_stub(edition, tmp_path, name):
    from nbclient import NotebookClient

    out, _ = edition
    path = out / "book" / name
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next((i for i, c in enumerate(code) if is_stub(c)), len(code))
    if all(is_stub(c) for c in code[first:]):
        pytest.skip(
            "only stubs follow the first exercise: before it the student notebook is the "
            "original (checked above), which nbval executes"
        )
    NotebookClient(
        nb,
        timeout=600,
        startup_timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    assert all(
        [o.get("ename") for o in c.outputs] == ["NotImplementedError"]
        for c in nb.cells
        if is_stub(c)
    )
