"""The repository's pytest setup (conftest.py) does what it promises to notebook runs."""

from pathlib import Path

import nbformat

from conftest import NBVAL_OUTPUT_TIMEOUT  # the repository's root conftest.py

ROOT = Path(__file__).resolve().parents[1]


def test_nbval_cells_wait_longer_for_kernel_messages_than_nbval_default(pytester):
    """nbval's own 5 s wait is replaced by conftest.NBVAL_OUTPUT_TIMEOUT on every notebook cell."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("1 + 1"),
            nbformat.v4.new_code_cell("print('two')"),
        ]
    )
    pytester.makefile(".ipynb", probe=nbformat.writes(notebook))
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    items, _ = pytester.inline_genitems(
        "--nbval-lax", "--nbval-current-env", "-p", "no:xdist", "probe.ipynb"
    )
    cells = [item for item in items if type(item).__name__ == "IPyNbCell"]
    assert len(cells) == 2
    timeouts = {item.output_timeout for item in cells}
    assert timeouts == {NBVAL_OUTPUT_TIMEOUT}, (
        f"nbval cells wait {timeouts} s for kernel messages, expected {NBVAL_OUTPUT_TIMEOUT} s"
    )
