"""Smoke test of scripts/thesis_at_scale.py (issues 16, 24): tiny runs, their schema, the
arguments, and that one seed re-run alone gives that seed's numbers again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from equinotes import thesis

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "thesis_at_scale.py"
sys.path.insert(0, str(ROOT / "scripts"))


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


def test_help_documents_families_arms_presets_and_sizes():
    done = run("--help", timeout=120)
    assert done.returncode == 0, done.stderr
    for word in (
        "iterated_c4",
        "iterated_norelax",
        "one_shot",
        "upright",
        "augment_only",
    ):
        assert word in done.stdout
    for word in ("Presets", "smoke", "cpu", "gpu", "rigid", "dense"):
        assert word in done.stdout
    for flag in ("--steps", "--k-train", "--n-basin", "--seeds", "--relax", "--loss"):
        assert flag in done.stdout


def test_seed_lists_and_ranges():
    import thesis_at_scale as script

    assert script.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert script.parse_seeds("7") == [7]
    assert script.parse_seeds("0,2,5-6") == [0, 2, 5, 6]
    for bad in ("a", "4-2", "1,1", "-1"):
        with pytest.raises(ValueError):
            script.parse_seeds(bad)
    assert script.parse_relax("none") is None
    assert script.parse_relax("6,2") == (6.0, 2.0)
    assert script.relax_schedule((6.0, 2.0), 3) == (6.0, 4.0, 2.0)
    with pytest.raises(ValueError):
        script.parse_relax("2,6")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "x"], "--seeds"),
        (["--arms", "iterated,bogus"], "unknown arm"),
        (["--arms", "iterated_c4"], "unknown arm"),  # a dense arm in the rigid preset
        (["--preset", "huge"], "invalid choice"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--k-train", "8"], "--k-train must be in 1..7"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--relax", "1,5"], "--relax"),
        (["--loss", "some"], "invalid choice"),
    ],
)
def test_bad_arguments_give_a_clear_error(args, message):
    done = run("--preset", "smoke", "--estimate-only", *args, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run of two seeds (rigid family), shared by the tests below."""
    tmp = tmp_path_factory.mktemp("thesis")
    out = tmp / "thesis.json"
    done = run(
        "--preset",
        "smoke",
        "--seeds",
        "0-1",
        "--quiet",
        "--save-weights",
        "--out",
        str(out),
        "--weights-dir",
        str(tmp / "weights"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def test_smoke_run_writes_a_valid_results_file(smoke):
    results = thesis.load_results(smoke)
    assert results["schema_version"] == 2 and results["rules_version"] == 2
    assert set(results["results"]) == {"iterated", "one_shot", "upright"}
    prov = results["provenance"]
    assert prov["preset"] == "smoke" and prov["seeds"] == [0, 1]
    assert prov["family"] == "rigid" and prov["cpu_seconds"] > 0
    v = results["verdict"]
    assert v["verdict"] in thesis.STATUSES and set(v["per_seed"]) == {"0", "1"}
    run0 = results["results"]["iterated"]["0"]
    assert run0["ks"] == [1, 2, 8]  # K = 1, K_train, 4 x K_train
    assert len(run0["wu_same_median_px_by_bin"]["8"]) == 18  # 10-degree bins up to 180
    assert len(run0["direction_field"]["right_way_share"]) == 36
    assert (smoke.parent / "weights" / "thesis.pt").stat().st_size < 5 * 1024 * 1024


@pytest.mark.slow
def test_one_seed_reruns_alone(smoke, tmp_path):
    results = thesis.load_results(smoke)
    again = tmp_path / "seed1.json"
    done = run("--preset", "smoke", "--seeds", "1", "--quiet", "--out", str(again))
    assert done.returncode == 0, done.stderr[-2000:]
    alone = thesis.load_results(again)
    assert alone["verdict"]["per_seed"] == {"1": results["verdict"]["per_seed"]["1"]}
    for arm in ("iterated", "one_shot", "upright"):
        a, b = alone["results"][arm]["1"], results["results"][arm]["1"]
        assert a["basin"] == b["basin"] and a["gate"] == b["gate"]


def test_tables_and_figures_read_a_results_file(smoke):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = thesis.load_results(smoke)
    table = thesis.verdict_table_html(data)
    assert table.count("<tr>") == 3 and "status" in table  # header + two seeds
    assert thesis.gate_table_html(data).count("<tr>") == 4  # header + three arms
    basins = thesis.basin_summary(data)
    assert basins["identity"]["0"] == pytest.approx(3 / 36)
    assert set(basins) == {"iterated", "one_shot", "upright", "identity"}
    axes = thesis.plot_direction_field(data)
    assert len(axes[0].lines) >= 6  # three arms x two seeds
    assert thesis.plot_basins(data).get_ylabel().startswith("share")
    assert thesis.plot_wu_heatmap(data) is not None
    ratio = thesis.wu_to_identity(data["results"]["iterated"]["0"])
    assert len(ratio) == 3 and len(ratio[0]) == 18
    plt.close("all")


def test_load_results_rejects_a_verdict_that_does_not_follow(smoke, tmp_path):
    data = json.loads(smoke.read_text())
    data["verdict"]["verdict"] = (
        "confirm" if data["verdict"]["verdict"] != "confirm" else "refute"
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not follow"):
        thesis.load_results(bad)
    data = json.loads(smoke.read_text())
    del data["results"]["iterated"]["0"]["gate"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="lacks 'gate'"):
        thesis.load_results(bad)
    data = json.loads(smoke.read_text())
    data["provenance"]["seeds"] = [0]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="seeds that ran"):
        thesis.load_results(bad)


@pytest.mark.slow
def test_dense_smoke_preset_runs_every_dense_arm(tmp_path):
    out = tmp_path / "dense.json"
    done = run("--preset", "smoke_dense", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = thesis.load_results(out)
    assert set(results["results"]) == {
        "iterated",
        "iterated_c4",
        "iterated_norelax",
        "one_shot",
        "upright",
        "augment_only",
    }
    assert results["results"]["iterated"]["0"]["relax_sigmas"] == [6.0, 2.0]
    assert results["results"]["iterated_norelax"]["0"]["relax_sigmas"] == []
