"""Smoke test of scripts/thesis_at_scale.py (issue 16): a tiny run, its schema, its arguments."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from equinotes import thesis

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "thesis_at_scale.py"


def run(*args, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def test_help_documents_arms_presets_and_sizes():
    done = run("--help", timeout=120)
    assert done.returncode == 0, done.stderr
    for word in ("learned_blur", "c4_noblur", "control_upright", "one_shot", "smoke"):
        assert word in done.stdout
    assert "Presets" in done.stdout and "gpu" in done.stdout
    for flag in ("--steps", "--batch", "--k-train", "--n-eval", "--seeds", "--device"):
        assert flag in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--arms", "learned_blur,bogus"], "unknown arm"),
        (["--preset", "huge"], "invalid choice"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--device", "tpu"], "invalid choice"),
    ],
)
def test_bad_arguments_give_a_clear_error(args, message):
    done = run("--preset", "smoke", "--estimate-only", *args, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.slow
def test_smoke_run_writes_a_valid_results_file(tmp_path):
    out = tmp_path / "thesis.json"
    done = run(
        "--preset",
        "smoke",
        "--seeds",
        "1",
        "--quiet",
        "--save-weights",
        "--out",
        str(out),
        "--weights-dir",
        str(tmp_path / "weights"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = thesis.load_results(out)
    assert set(results["results"]) == {
        "learned_blur",
        "learned_noblur",
        "c4_blur",
        "c4_noblur",
        "control",
        "control_upright",
        "one_shot",
    }
    prov = results["provenance"]
    assert prov["preset"] == "smoke" and prov["seeds"] == [0]
    assert prov["sizes"]["steps"] == 2
    assert results["verdict"]["verdict"] in ("confirm", "refute", "inconclusive")
    run0 = results["results"]["c4_blur"]["0"]
    assert len(run0["wu_px_by_bin"]["same"]["32"]) == 18  # 10-degree bins up to 180
    # the C4-symmetrized step is exactly [U,U]-equivariant for quarter turns, not for the
    # random angles of the floor, whose interpolation keeps it above zero
    assert run0["uu_floor_px"]["1"] > 0
    assert "verdict:" in done.stdout
    assert prov["weights_saved"] == "all seeds, float32"
    assert prov["weights"] == "thesis.pt"
    assert (tmp_path / "weights" / "thesis.pt").stat().st_size < 5 * 1024 * 1024
