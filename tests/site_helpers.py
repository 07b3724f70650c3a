"""Helpers for the site tests: build the book once, serve it on localhost, drive headless Chromium."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1300,1800",
]


def toc_pages() -> list[str]:
    """Every page of the table of contents, as paths like ``book/notation`` (no suffix)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


def site_build_env() -> dict[str, str]:
    """The environment of the site build: this one, at SEED 0 (as the README's build command runs
    it), whatever seed the test session's notebooks use (conftest.py sets 1 for them)."""
    return {**os.environ, "EQUINOTES_SEED": "0"}


def build_offline_site(out: Path) -> subprocess.CompletedProcess:
    """Build the offline variant of the site into ``out/_build`` (runs every notebook at SEED 0)."""
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_offline.py"),
            "--path-output",
            str(out),
        ],
        cwd=ROOT,
        env=site_build_env(),
        capture_output=True,
        text=True,
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def chromium_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


@contextlib.contextmanager
def browser(profile_dir: Path):
    """Headless Debian Chromium driven by Selenium through the system chromedriver (no downloads)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver")), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


def load(driver, url: str, settle: float = 3.0) -> None:
    """Open a page and give MathJax and the widget manager time to render."""
    driver.get(url)
    deadline = time.time() + 20
    while (
        time.time() < deadline
        and driver.execute_script("return document.readyState") != "complete"
    ):
        time.sleep(0.2)
    time.sleep(settle)


EXPLORER_STATE_JS = """return Array.from(document.querySelectorAll('.equinotes-explorer')).map(box => {
  const visible = Array.from(box.querySelectorAll('img')).filter(img => img.offsetParent !== null);
  return visible.map(img => img.src).join('|');
});"""


# Maths that did not render: a "$" glued to a rendered math span, or LaTeX left in the text.
_STRAY_DOLLAR = re.compile(
    r'\$\s*<span class="math|</span>\s*\$|\$\$\s*<span class="math'
)
# Maths MathJax typesets: spans and divs classed "math" (also MyST-NB's LaTeX outputs, "output
# text_latex math"), and anything between \( \) or \[ \] delimiters.
_OUT_OF_TEXT = re.compile(
    r"<(script|style|pre|code)\b.*?</\1>"
    r'|<(span|div) class="(?:[^"]* )?math(?: [^"]*)?">.*?</\2>'
    r"|\\\(.*?\\\)|\\\[.*?\\\]",
    re.S,
)
_RAW_LATEX = re.compile(
    r"\\(?:frac|mathbb|mathrm|mathcal|operatorname|sum|circ|cdot|text)\b|\^\{|_\{"
)


def broken_maths(page_html: str, raw_latex: bool = True) -> list[str]:
    """Snippets of ``page_html`` where maths did not render: stray dollars beside a rendered math span,
    and (``raw_latex``) raw LaTeX (``\\frac``, ``^{``, ...) in the text outside maths, code and
    scripts. The API page's docstrings write formulas as plain text (``R_k^{-1}``): check it with
    ``raw_latex=False``."""
    found = [m.group(0) for m in _STRAY_DOLLAR.finditer(page_html)]
    if not raw_latex:
        return found
    text = _OUT_OF_TEXT.sub(" ", page_html)
    text = re.sub(r"<[^>]+>", " ", text)
    for m in _RAW_LATEX.finditer(text):
        found.append(text[max(0, m.start() - 30) : m.end() + 30].strip())
    return found
