"""Sphinx extension: the student edition, published with the site.

At the end of every HTML build each chapter notebook is written, with its solutions removed
(``scripts/student_edition.strip_solutions``: a solution's code becomes a stub that raises
``NotImplementedError``), to ``<html>/student/``, with all of them in one zip, so that a teacher can
hand out the exercises without their solutions. ``{student-edition}`` (in book/course.md) becomes a
table with, for each chapter, its number of exercises, a download link and an "open in Colab" link.
The Colab links point to the ``student-edition`` branch of the repository, which the site workflow
(.github/workflows/book.yml) fills with the same notebooks at every deployment (Colab opens notebooks
from GitHub, not from a web site).
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import nbformat
from docutils import nodes
from docutils.parsers.rst import Directive

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402

FOLDER = "student"  # under the site's html root
BRANCH = "student-edition"
ZIP = "equinotes-student-notebooks.zip"
EXERCISE = re.compile(r"\{exercise\}")


class student_placeholder(nodes.General, nodes.Element):
    pass


class StudentEdition(Directive):
    def run(self):
        return [student_placeholder()]


def chapters(book: Path = ROOT / "book") -> list[Path]:
    """The chapter notebooks (``01_…`` to ``09_…``) whose exercises the edition hands out."""
    return sorted(book.glob("0[1-9]_*.ipynb"))


def student_notebook(path: Path) -> nbformat.NotebookNode:
    """``path``'s notebook without its solutions, outputs cleared."""
    nb, _ = student_edition.strip_solutions(nbformat.read(path, as_version=4))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def write_edition(html_dir: Path, book: Path = ROOT / "book") -> list[Path]:
    """Write every chapter's student notebook and the zip of all of them under ``html_dir/student``."""
    out = Path(html_dir) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters(book):
        target = out / path.name
        nbformat.write(student_notebook(path), target)
        written.append(target)
    with zipfile.ZipFile(out / ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        for target in written:
            archive.write(target, target.name)
    return written


def _colab(app, name: str) -> str | None:
    options = getattr(app.config, "html_theme_options", {}) or {}
    repo = (options.get("repository_url") or "").rstrip("/")
    if not repo.startswith("https://github.com/"):
        return None
    return (
        "https://colab.research.google.com/github/"
        + repo.removeprefix("https://github.com/")
        + f"/blob/{BRANCH}/{name}"
    )


def _fill(app, doctree, docname):
    up = "../" * docname.count("/")
    for node in doctree.findall(student_placeholder):
        rows = []
        for path in chapters():
            nb = nbformat.read(path, as_version=4)
            n_ex = sum(
                len(EXERCISE.findall(c.source))
                for c in nb.cells
                if c.cell_type == "markdown"
            )
            title = app.env.titles.get(f"book/{path.stem}")
            title = title.astext() if title is not None else path.stem
            colab = _colab(app, path.name)
            links = f'<a href="{up}{FOLDER}/{path.name}" download>download</a>'
            if colab:
                links += f' · <a href="{colab}">open in Colab</a>'
            rows.append(f"<tr><td>{title}</td><td>{n_ex}</td><td>{links}</td></tr>")
        html = (
            '<table class="table equinotes-student"><thead><tr><th>chapter</th>'
            "<th>exercises</th><th>student notebook</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
            + f'<p>All chapters in one file: <a href="{up}{FOLDER}/{ZIP}" download>{ZIP}</a>.</p>'
        )
        node.replace_self(nodes.raw("", html, format="html"))


def _write(app, exception):
    if exception is None and app.builder.format == "html":
        write_edition(Path(app.outdir))


def setup(app):
    app.add_node(student_placeholder)
    app.add_directive("student-edition", StudentEdition)
    app.connect("doctree-resolved", _fill)
    app.connect("build-finished", _write)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
