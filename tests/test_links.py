"""External links live in one list (external_links.txt); internal references are checked by the build (-n)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"https?://[^\s\"'<>`)\]\\]+")


def listed_links() -> set[str]:
    lines = (ROOT / "external_links.txt").read_text().splitlines()
    return {
        line.split()[0] for line in lines if line.strip() and not line.startswith("#")
    }


def used_links() -> dict[str, list[str]]:
    sources = [
        *(ROOT / "book").glob("*.md"),
        *(ROOT / "book").glob("*.ipynb"),
        ROOT / "README.md",
        ROOT / "_config.yml",
        *(ROOT / "equinotes").glob("*.py"),
    ]
    used: dict[str, list[str]] = {}
    for path in sources:
        for url in URL.findall(path.read_text()):
            used.setdefault(url.rstrip(".,;:"), []).append(path.name)
    return used


def test_every_external_link_is_listed_in_one_place():
    unlisted = {
        url: files for url, files in used_links().items() if url not in listed_links()
    }
    assert not unlisted, f"add these to external_links.txt: {unlisted}"


def test_every_listed_link_is_used():
    stale = listed_links() - set(used_links())
    assert not stale, f"external_links.txt lists links nothing uses: {stale}"
