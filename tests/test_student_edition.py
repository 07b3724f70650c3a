"""The student edition drops every solution and leaves stubs; its notebooks run up to (and past) them."""

from __future__ import annotations

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
            "```{exercise}\n:label: ex-9-2\n\nWhy?\n```\n\n````{solution} ex-9-2\n:class: dropdown\n\nBecause.\n````\n\nAfter."
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


@pytest.mark.slow
def test_student_notebooks_have_no_solutions_and_execute(tmp_path):
    from nbclient import NotebookClient

    written = student_edition.write_edition(tmp_path / "student")
    assert (tmp_path / "student" / "_config.yml").read_text().count(
        "student edition"
    ) == 1
    for path in written:
        original = nbformat.read(ROOT / "book" / path.name, as_version=4)
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "{solution" not in text, path.name
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        if any("solution" in c.metadata.get("tags", []) for c in original.cells):
            assert "NotImplementedError" in text, (
                f"{path.name}: no stub left for the code solutions"
            )
        # Execute: every cell must run; the stubs raise, which their tag allows.
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        raised = [
            c
            for c in nb.cells
            if c.cell_type == "code" and "exercise-stub" in c.metadata.get("tags", [])
        ]
        assert all(
            any(o.get("ename") == "NotImplementedError" for o in c.outputs)
            for c in raised
        ), path.name
