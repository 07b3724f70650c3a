"""The built site: every page exists, the ledger is complete, and a real browser sees maths, figures and
working sliders with no console errors. Builds the offline variant once (it runs every chapter)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from site_helpers import (
    EXPLORER_STATE_JS,
    ROOT,
    broken_maths,
    browser,
    build_offline_site,
    chromium_available,
    load,
    serve,
    toc_pages,
)

pytestmark = pytest.mark.slow

# Messages a page may log without being broken: the widget manager's JSON-schema validator warns about
# its own schema on every page that has widgets.
BENIGN_CONSOLE = ("strict mode: use allowUnionTypes",)

# Code must fit the page: at this window width no code cell may need a horizontal scrollbar.
WINDOW_WIDTH = 1400
# The code cells (MyST-NB puts each cell's source in div.cell_input) whose text is wider than their
# box, each as the start of its longest line.
OVERFLOWING_CODE_JS = """return Array.from(document.querySelectorAll('div.cell_input div.highlight pre'))
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => pre.textContent.split('\\n')
    .reduce((a, b) => (b.length > a.length ? b : a), '').trim().slice(0, 80));"""
# The ledger page: per-chapter sections with a summary line, and status badges coloured by the CSS.
LEDGER_STATE_JS = """const sections = Array.from(document.querySelectorAll('section[id^="ledger-chapter-"]'));
const badges = Array.from(document.querySelectorAll('table.equinotes-ledger .equinotes-badge'));
return {
  summaries: sections.map(s => (s.querySelector('p.equinotes-summary') || {}).innerText || ''),
  badges: badges.length,
  uncoloured: badges.filter(b => ['rgba(0, 0, 0, 0)', 'transparent']
    .includes(getComputedStyle(b).backgroundColor)).length,
  overall: (document.querySelector('p.equinotes-overall') || {}).innerText || '',
};"""


def overflowing_code(driver) -> list[str]:
    """The code cells of the open page that overflow horizontally (start of their longest line)."""
    return driver.execute_script(OVERFLOWING_CODE_JS)


def ledger_problems(driver, n_claims: int) -> list[str]:
    """What is missing from the open ledger page: per-chapter summaries, one badge per claim, colours."""
    state = driver.execute_script(LEDGER_STATE_JS)
    problems = []
    if not re.search(r"\d+ claims checked by this build", state["overall"]):
        problems.append("no overall summary line")
    if not state["summaries"]:
        problems.append("no per-chapter sections")
    for text in state["summaries"]:
        if not re.search(r"\d+ hold, \d+ refuted, \d+ open", text):
            problems.append(f"a chapter summary reads {text!r}")
    if state["badges"] != n_claims:
        problems.append(f"{state['badges']} status badges for {n_claims} claims")
    if state["uncoloured"]:
        problems.append(f"{state['uncoloured']} status badges without a colour (CSS?)")
    return problems


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = build_offline_site(out)
    log = done.stdout + done.stderr
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "test_site_build.log").write_text(log)
    assert done.returncode == 0, "site build failed:\n" + log[-6000:]
    return out / "_build"


def test_every_toc_page_is_built(site):
    for page in toc_pages():
        assert (site / "html" / f"{page}.html").is_file(), page


def test_course_page_links_the_student_edition_built_with_the_site(site):
    html = (site / "html" / "book" / "course.html").read_text()
    links = re.findall(r'href="\.\./student/([^"]+\.ipynb)" download', html)
    chapters = sorted(p.name for p in (ROOT / "book").glob("0[1-9]_*.ipynb"))
    assert sorted(links) == chapters
    for name in links:
        text = (site / "html" / "student" / name).read_text()
        assert "{exercise}" in text and "{solution" not in text, name
    assert "blob/student-edition/01_" in html


def test_maths_renders_on_every_page(site):
    for page in toc_pages():
        html = (site / "html" / f"{page}.html").read_text()
        found = broken_maths(html, raw_latex=page != "book/api")
        assert found == [], f"{page}: maths that did not render: {found[:5]}"


def test_no_page_prints_a_raw_claim_record(site):
    for page in toc_pages():
        executed = site / "jupyter_execute" / f"{page}.ipynb"
        if executed.is_file():
            assert "recorded_at" not in executed.read_text(), page


def test_ledger_holds_every_promised_claim_and_links_to_it(site):
    records = [
        json.loads(line)
        for line in (site / "ledger.jsonl").read_text().splitlines()
        if line.strip()
    ]
    ids = {r["id"] for r in records}
    expected = (
        re.search(r":expected:(.*)", (ROOT / "book" / "ledger.md").read_text())
        .group(1)
        .split()
    )
    for claim in expected:
        assert any(
            i == claim or (i.startswith(claim) and not i[len(claim)].isdigit())
            for i in ids
        ), claim
    page = (site / "html" / "book" / "ledger.html").read_text()
    for claim_id in ids:
        anchor = "claim-" + claim_id.replace(".", "-")
        link = re.search(rf'href="([^"#]+)#{re.escape(anchor)}"', page)
        assert link, f"ledger page does not link claim {claim_id}"
        target = (site / "html" / "book" / link.group(1)).resolve()
        assert f'id="{anchor}"' in target.read_text(), (
            f"{link.group(1)} has no anchor for claim {claim_id}"
        )


def test_chapter_pages_have_colab_buttons_to_the_repository(site):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].replace("https://github.com/", "")
    for page in toc_pages():
        if (ROOT / f"{page}.ipynb").is_file():
            html = (site / "html" / f"{page}.html").read_text()
            assert (
                f"colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}/{page}.ipynb"
                in html
            ), page


def test_course_page_shows_measured_execution_times(site):
    html = (site / "html" / "book" / "course.html").read_text()
    assert "execution time" in html
    for page in toc_pages():
        if (ROOT / f"{page}.ipynb").is_file():
            assert re.search(r"\d+ s</p>", html), "no measured time"


@pytest.mark.skipif(
    not chromium_available(),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_every_page_renders_in_a_real_browser(site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    n_claims = len(
        {
            json.loads(line)["id"]
            for line in (site / "ledger.jsonl").read_text().splitlines()
            if line.strip()
        }
    )
    problems = []
    with serve(site / "html") as base, browser(tmp_path / "profile") as driver:
        driver.set_window_size(WINDOW_WIDTH, 1800)
        for page in toc_pages():
            driver.get_log("browser")  # drop what earlier pages logged
            load(driver, f"{base}/{page}.html")
            source = (
                (ROOT / f"{page}.md")
                if (ROOT / f"{page}.md").is_file()
                else (ROOT / f"{page}.ipynb")
            )
            text = source.read_text()
            if "$" in text.replace("\\$", "") and page != "book/bibliography":
                if (
                    driver.execute_script(
                        "return document.querySelectorAll('mjx-container').length"
                    )
                    == 0
                ):
                    problems.append(f"{page}: no MathJax output")
            body = driver.execute_script(
                "return document.querySelector('main').innerText"
            )
            if "$$" in body:
                problems.append(f"{page}: raw $$ left in the text")
            broken = driver.execute_script(
                "return Array.from(document.images)"
                ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
            )
            if broken:
                problems.append(f"{page}: images that did not load: {broken[:3]}")
            if "slider_explorer" in text:
                before = driver.execute_script(EXPLORER_STATE_JS)
                if not before or not all(before):
                    problems.append(f"{page}: slider explorer did not render")
                else:
                    handle = driver.find_element(
                        By.CSS_SELECTOR, ".equinotes-explorer .noUi-handle"
                    )
                    driver.execute_script(
                        "arguments[0].scrollIntoView({block: 'center'})", handle
                    )
                    handle.click()
                    handle.send_keys(Keys.ARROW_RIGHT)
                    after = driver.execute_script(EXPLORER_STATE_JS)
                    if after[0] == before[0]:
                        problems.append(
                            f"{page}: moving the slider did not change the figure"
                        )
            errors = [
                e["message"]
                for e in driver.get_log("browser")
                if e["level"] == "SEVERE"
                and not any(b in e["message"] for b in BENIGN_CONSOLE)
            ]
            if errors:
                problems.append(f"{page}: console errors: {errors[:3]}")
            wide = overflowing_code(driver)
            if wide:
                problems.append(
                    f"{page}: {len(wide)} code cells overflow at {WINDOW_WIDTH} px, e.g. {wide[:3]}"
                )
            driver.save_screenshot(str(shots / (page.replace("/", "_") + ".png")))
            if page == "book/ledger":
                problems += [f"{page}: {p}" for p in ledger_problems(driver, n_claims)]
                save_full_page(driver, shots / "book_ledger_full.png")
    assert not problems, "\n".join(problems)


def save_full_page(driver, path, max_height: int = 16000) -> None:
    """A screenshot of the whole page (the window made as tall as the page), then the window back."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WINDOW_WIDTH, min(int(height) + 100, max_height))
    driver.save_screenshot(str(path))
    driver.set_window_size(WINDOW_WIDTH, 1800)
