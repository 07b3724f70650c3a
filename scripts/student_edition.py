"""Build the student edition: the same book with every solution removed.

Solution blocks (``{solution}`` directives, and everything between ``{solution-start}`` and
``{solution-end}``) are dropped; each code cell inside a solution becomes a stub that raises
``NotImplementedError`` (tagged ``raises-exception`` so the chapter still runs to its end).

    python scripts/student_edition.py            # write student/ (notebooks + book sources)
    python scripts/student_edition.py --build    # ... and build its site into student/_build/html
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
OPEN_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\{solution(?P<kind>-start|-end)?\}")
STUB = 'raise NotImplementedError("Exercise {label}: write your solution here")'


def _label(line: str) -> str:
    rest = OPEN_FENCE.sub("", line).strip()
    return rest or "exercise"


def strip_solutions(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """Return the notebook without solutions and the number of stubs put in their place."""
    cells, inside, label, stubs = [], False, "exercise", 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            if inside:
                stub = nbformat.v4.new_code_cell(STUB.format(label=label))
                stub.metadata["tags"] = ["exercise-stub", "raises-exception"]
                cells.append(stub)
                stubs += 1
            else:
                cells.append(cell)
            continue
        kept, lines, i = [], cell.source.splitlines(), 0
        while i < len(lines):
            match = OPEN_FENCE.match(lines[i])
            if not match:
                if not inside:
                    kept.append(lines[i])
                i += 1
                continue
            kind, fence = match.group("kind"), match.group("fence")
            if kind == "-start":
                inside, label = True, _label(lines[i])
                i = _skip_block(lines, i, fence)
            elif kind == "-end":
                inside = False
                i = _skip_block(lines, i, fence)
            else:  # a whole {solution} block inside one cell
                i = _skip_block(lines, i, fence, nested_close=True)
        text = "\n".join(kept).strip()
        if text and cell.cell_type == "markdown":
            cell.source = text
            cells.append(cell)
        elif cell.cell_type != "markdown":
            cells.append(cell)
    nb.cells = cells
    return nb, stubs


def _skip_block(lines, start, fence, nested_close=False):
    """Index after the fenced block that opens at ``start`` (its options included)."""
    char, width = fence[0], len(fence)
    i = start + 1
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= width:
            return i + 1
        i += 1
    return i


def write_edition(out: Path) -> list[Path]:
    """Copy the book's sources to ``out`` with solutions stripped; return the notebooks written."""
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    for name in ("_toc.yml", "_ext"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, out / name)
    config = (ROOT / "_config.yml").read_text()
    config = re.sub(
        r'^title: "(.*)"', r'title: "\1 (student edition)"', config, count=1, flags=re.M
    )
    (out / "_config.yml").write_text(config)
    written = []
    for src in sorted((ROOT / "book").iterdir()):
        if src.suffix == ".ipynb":
            nb, _ = strip_solutions(nbformat.read(src, as_version=4))
            nbformat.write(nb, out / "book" / src.name)
            written.append(out / "book" / src.name)
        elif src.is_file():
            shutil.copy(src, out / "book" / src.name)
        elif src.is_dir() and not src.name.startswith((".", "_")):
            shutil.copytree(src, out / "book" / src.name)  # e.g. book/images
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "student"),
        help="folder to write (default: student/)",
    )
    parser.add_argument(
        "--build",
        action="store_true",
        help="also build the student site (runs every chapter)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    notebooks = write_edition(out)
    print(f"student edition: {len(notebooks)} notebooks in {out / 'book'}")
    if args.build:
        done = subprocess.run(
            ["jupyter-book", "build", str(out), "-W", "-n", "--keep-going", "--all"]
        )
        if done.returncode:
            return done.returncode
        print(f"student site: {out / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
