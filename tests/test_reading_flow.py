"""What a reader meets on a chapter page: the lesson in front, the evidence behind (fast: reads files).

The targets are the book's (DESIGN.md, "Lesson in front, evidence behind"): display maths in blocks of
their own; claim checks in hidden cells and one "What this section checked" box per section that checks
claims; claim ids out of headings and (at most five times) out of the prose; short visible code cells.
``broken_maths`` is the check the site test applies to every built page.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import nbformat
import pytest
from site_helpers import broken_maths

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTERS = [p for p in PAGES if re.match(r"0[1-9]_", p.name)] + [
    p for p in PAGES if p.name == "research_note.ipynb"
]
HIDDEN = {"hide-input", "remove-input", "hide-cell", "remove-cell", "solution"}
CLAIM_ID = re.compile(
    r"(?<![\d.])[1-9]\.[1-9]\d?[a-z](?![\w])|[Cc]laims? [1-9]\.[1-9]\d?(?![\d])"
)
CHECKS = ("claims.check(", "claims.check_replicated(")


def tags(cell) -> set:
    return set(cell.metadata.get("tags", []))


def display_maths_problems(markdown: str) -> list[str]:
    """Each ``$$`` block glued to the text around it (no blank line before its opening ``$$`` or after
    its closing one): such a block renders as stray dollars inside the paragraph."""
    lines, problems, inside = markdown.split("\n"), [], False
    for i, line in enumerate(lines):
        n = line.count("$$")
        if not n:
            continue
        opens = n >= 2 or not inside
        closes = n >= 2 or inside
        if n % 2:
            inside = not inside
        if opens and i > 0 and lines[i - 1].strip():
            problems.append(f"no blank line before: {line.strip()[:60]}")
        if closes and i + 1 < len(lines) and lines[i + 1].strip():
            problems.append(f"no blank line after: {line.strip()[:60]}")
    return problems


def test_display_maths_problems_finds_glued_blocks():
    assert display_maths_problems("text\n\n$$\nx\n$$\n\nmore") == []
    assert display_maths_problems("text\n\n$$ x = 1 $$\n\nmore") == []
    assert len(display_maths_problems("text\n$$\nx\n$$\nmore")) == 2
    assert len(display_maths_problems("text\n$$ x $$\n")) == 1


def test_broken_maths_finds_stray_dollars_and_raw_latex():
    ok = '<p>Let <span class="math notranslate nohighlight">\\(x^{2}\\)</span> be.</p>'
    assert broken_maths(ok) == []
    stray = '<p>Let $<span class="math notranslate nohighlight">\\(x\\)</span>$ be.</p>'
    assert broken_maths(stray)
    raw = "<p>and the error is 10^{-5} or \\frac{a}{b} here</p>"
    assert len(broken_maths(raw)) == 2
    assert broken_maths(raw, raw_latex=False) == []
    code = "<pre>x = r'\\frac{a}{b}'</pre><code>10^{-5}</code>"
    assert broken_maths(code) == []
    latex_output = (
        '<div class="output text_latex math notranslate nohighlight">\n'
        "\\[\\displaystyle \\frac{k_{0}^{2}}{2}\\]</div>"
    )
    assert broken_maths(latex_output) == []
    assert broken_maths("<p>typeset \\(x_{1}\\) by MathJax</p>") == []


@pytest.mark.parametrize(
    "path", PAGES + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name
)
def test_display_maths_stands_in_a_block_of_its_own(path):
    if path.suffix == ".ipynb":
        text = "\n\n".join(
            c.source for c in nbformat.read(path, 4).cells if c.cell_type == "markdown"
        )
    else:
        text = path.read_text()
    assert display_maths_problems(text) == [], path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_claims_are_checked_out_of_sight_and_boxed_per_section(path):
    cells = nbformat.read(path, 4).cells
    section, pending = "the start", []
    for cell in cells:
        if cell.cell_type == "markdown" and re.search(r"^## ", cell.source, re.M):
            assert not pending, (
                f"{path.name}: section {section!r} checks {pending} with no box"
            )
            section = re.search(r"^## (.*)", cell.source, re.M).group(1)
        if cell.cell_type != "code":
            continue
        if any(c in cell.source for c in CHECKS):
            assert tags(cell) & HIDDEN, (
                f"{path.name}: a claim is checked in a visible cell: {cell.source[:80]!r}"
            )
            pending.append(section)
        if "claims.section_box()" in cell.source:
            assert "remove-input" in tags(cell), (
                f"{path.name}: box cell not remove-input"
            )
            pending = []
    assert not pending, f"{path.name}: the last section's claims have no box"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_claim_ids_stay_out_of_headings_and_prose(path):
    headings, prose = [], 0
    for cell in nbformat.read(path, 4).cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            hits = CLAIM_ID.findall(line)
            if line.lstrip().startswith("#") and hits:
                headings.append(line)
            elif not line.lstrip().startswith("#"):
                prose += len(hits)
    assert headings == [], f"{path.name}: claim ids in headings {headings}"
    assert prose <= 5, f"{path.name}: {prose} claim ids in the prose (at most 5)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_visible_code_cells_are_short(path):
    lengths = [
        len(c.source.rstrip("\n").splitlines())
        for c in nbformat.read(path, 4).cells
        if c.cell_type == "code" and not tags(c) & HIDDEN
    ]
    assert lengths, path.name
    assert statistics.median(lengths) <= 15, (
        f"{path.name}: median {statistics.median(lengths)}"
    )
    assert max(lengths) <= 40, f"{path.name}: a visible cell of {max(lengths)} lines"
