"""The student edition published with the site (_ext/student.py): every chapter's notebook without its
solutions, a zip of all of them, and the course page's table of links."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import student  # noqa: E402


def test_every_chapter_is_written_without_solutions_and_zipped(tmp_path):
    written = student.write_edition(tmp_path)
    chapters = student.chapters()
    assert [p.name for p in written] == [c.name for c in chapters] and len(
        chapters
    ) >= 6
    for target, source in zip(written, chapters):
        nb = nbformat.read(target, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        original = nbformat.read(source, as_version=4)
        assert "{solution" not in text, target.name
        assert "{exercise}" in text, target.name
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells), (
            target.name
        )
        n_solution_cells = sum(
            "solution" in c.metadata.get("tags", []) for c in original.cells
        )
        n_stubs = sum("exercise-stub" in c.metadata.get("tags", []) for c in nb.cells)
        assert n_stubs >= n_solution_cells, target.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    with zipfile.ZipFile(tmp_path / student.FOLDER / student.ZIP) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in written)


def test_colab_links_point_to_the_student_branch():
    class App:
        class config:
            html_theme_options = {"repository_url": "https://github.com/owner/repo"}

    assert student._colab(App, "01_x.ipynb") == (
        "https://colab.research.google.com/github/owner/repo/blob/student-edition/01_x.ipynb"
    )
    App.config.html_theme_options = {}
    assert student._colab(App, "01_x.ipynb") is None
