"""Replication: scripts/sweep.py (arguments, aggregation of ledgers, one real run on a tiny
notebook) and the second seed every CI run checks (conftest.py, tests/site_helpers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import sweep  # noqa: E402

# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("0-4", [0, 1, 2, 3, 4]),
        ("0,2,5", [0, 2, 5]),
        ("3", [3]),
        ("0-2,7", [0, 1, 2, 7]),
        ("2,0-2", [0, 1, 2]),
    ],
)
def test_seed_ranges(text, seeds):
    assert sweep.parse_seeds(text) == seeds


def notebook(cells, tagged=True):
    """A notebook of code cells; the first is tagged 'parameters' when ``tagged``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    if tagged:
        nb.cells[0].metadata["tags"] = ["parameters"]
    return nb


@pytest.fixture
def book(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    for name in ("01_first", "02_second", "02b_other"):
        nbformat.write(notebook(["SEED = 0"]), folder / f"{name}.ipynb")
    nbformat.write(notebook(["x = 1"], tagged=False), folder / "03_plain.ipynb")
    return folder


def test_notebooks_default_to_those_with_a_parameters_cell(book):
    args = sweep.parse_args(["--seeds", "0", "--book", str(book)])
    assert args.notebooks == ["01_first", "02_second", "02b_other"]
    assert args.scale == [1] and args.timeout == 900 and args.device is None


def test_notebooks_are_chosen_by_prefix(book):
    args = sweep.parse_args(
        ["--seeds", "0-1", "--scale", "2", "1", "--book", str(book)]
        + ["--notebooks", "02_s", "01", "01_first.ipynb"]
    )
    assert args.notebooks == ["02_second", "01_first"]
    assert args.seeds == [0, 1] and args.scale == [1, 2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "3-1"], "runs backwards"),
        (["--seeds", "a"], "non-negative integers"),
        (["--seeds", "-1"], "non-negative integers"),
        (["--seeds", "0,,2"], "non-negative integers"),
        (["--seeds", "1-"], "non-negative integers"),
        (["--seeds", "0", "--scale", "0"], "integer >= 1"),
        (["--seeds", "0", "--scale", "1.5"], "not an integer"),
        (["--seeds", "0", "--scale", "x"], "not an integer"),
        (["--seeds", "0", "--timeout", "0"], "integer >= 1"),
        (["--seeds", "0", "--notebooks", "09"], "unknown notebook '09'"),
        (["--seeds", "0", "--notebooks", "02"], "ambiguous"),
        (["--seeds", "0", "--notebooks", "03"], "no cell tagged 'parameters'"),
        (["--seeds", "0", "--device", "warp-drive"], "torch device"),
        (["--scale", "1"], "--seeds"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(book, capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        sweep.parse_args(argv + ["--book", str(book)])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_book_folder_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        sweep.parse_args(["--seeds", "0", "--book", str(tmp_path / "nothing")])
    assert exit.value.code == 2 and "folder of notebooks" in capsys.readouterr().err


# --- aggregation -------------------------------------------------------------------------------


def record(claim_id, status, value=None, margin=None, expect="holds", **extra):
    return {
        "id": claim_id,
        "chapter": int(claim_id.split(".")[0]),
        "statement": f"statement of {claim_id}",
        "value": value,
        "threshold": None,
        "margin": margin,
        "holds": status == "holds",
        "expect": expect,
        "status": status,
        **extra,
    }


def run(notebook, seed, scale=1, errors=()):
    return {
        "notebook": notebook,
        "seed": seed,
        "scale": scale,
        "ok": not errors,
        "errors": list(errors),
        "seconds": 1.0,
        "ledger": f"runs/{sweep.run_name(notebook, seed, scale)}.jsonl",
    }


CRASH = {"cell": 7, "ename": "ValueError", "evalue": "too few digits"}


def synthetic_sweep():
    """Chapter 1 at seeds 0, 1, 2 (seed 2 crashes before claim 1.10); chapter 2 at seed 0."""
    runs = [
        run("01_a", 0),
        run("01_a", 1),
        run("01_a", 2, errors=[CRASH]),
        run("02_b", 0),
    ]
    replicated = {"per_replication": [1, 2, 9], "median": 2.0, "min": 1, "max": 9}
    records = [
        [
            record("1.2", "holds", 2.0, 1.5),
            record("1.10", "holds", replicated, 1.2, replicated=True),
            record("1.3b", "holds", 0.5, 1.1),
        ],
        [
            record("1.2", "holds", 3.0, 1.3),
            record(
                "1.10", "holds", {**replicated, "median": 4.0}, 1.1, replicated=True
            ),
            record("1.3b", "holds", 0.7, 1.4),
            record("1.3b", "refuted", 0.9, 0.8),  # recorded twice: the last one counts
        ],
        [record("1.2", "holds", 1.0, 2.0), record("1.3b", "holds", 0.6, 1.2)],
        [
            record("2.1", "refuted", {"a": 1}, None, expect="refuted"),
            record("2.2", "open", True, None, expect="open"),
        ],
    ]
    summary = sweep.summarize(
        runs,
        records,
        seeds=[0, 1, 2],
        scales=[1],
        notebooks=["01_a", "02_b"],
        created="2026-12-01T06:40:00+00:00",
    )
    return runs, records, summary


def test_summary_follows_the_schema():
    runs, _, summary = synthetic_sweep()
    assert set(summary) == {"created", "seeds", "scales", "notebooks", "runs", "claims"}
    assert summary["runs"] == runs
    assert list(summary["claims"]) == ["1.2", "1.3b", "1.10", "2.1", "2.2"]
    for claim in summary["claims"].values():
        assert set(claim) == {
            "statement",
            "chapter",
            "runs",
            "n_runs",
            "n_held",
            "statuses",
            "consistent",
            "number",
        }
        for entry in claim["runs"]:
            assert set(entry) == {
                "notebook",
                "seed",
                "scale",
                "status",
                "number",
                "margin",
            }
    json.dumps(summary)  # writable as it is


def test_a_claim_that_holds_in_every_run_is_consistent():
    _, _, summary = synthetic_sweep()
    claim = summary["claims"]["1.2"]
    assert claim["n_runs"] == 3 and claim["n_held"] == 3
    assert claim["statuses"] == {"holds": 3} and claim["consistent"]
    assert claim["number"] == {"min": 1.0, "median": 2.0, "max": 3.0}
    assert [e["margin"] for e in claim["runs"]] == [1.5, 1.3, 2.0]
    assert claim["chapter"] == 1 and claim["statement"] == "statement of 1.2"


def test_a_claim_whose_status_changes_is_inconsistent():
    _, _, summary = synthetic_sweep()
    claim = summary["claims"]["1.3b"]
    assert [e["status"] for e in claim["runs"]] == ["holds", "refuted", "holds"]
    assert claim["statuses"] == {"holds": 2, "refuted": 1}
    assert not claim["consistent"] and claim["n_held"] == 2
    assert claim["number"] == {"min": 0.5, "median": 0.6, "max": 0.9}


def test_a_run_that_crashed_before_a_claim_counts_as_missing():
    _, _, summary = synthetic_sweep()
    claim = summary["claims"]["1.10"]
    assert claim["n_runs"] == 3 and claim["n_held"] == 2
    assert claim["statuses"] == {"holds": 2, "missing": 1}
    assert not claim["consistent"]
    assert claim["runs"][2] == {
        "notebook": "01_a",
        "seed": 2,
        "scale": 1,
        "status": "missing",
        "number": None,
        "margin": None,
    }
    # a replicated claim contributes the median of its replications
    assert claim["number"] == {"min": 2.0, "median": 3.0, "max": 4.0}


def test_claims_count_only_the_runs_of_their_notebook():
    _, _, summary = synthetic_sweep()
    refuted, open_ = summary["claims"]["2.1"], summary["claims"]["2.2"]
    assert refuted["n_runs"] == 1 and refuted["statuses"] == {"refuted": 1}
    assert refuted["n_held"] == 0 and refuted["consistent"]
    assert refuted["number"] is None  # a dict value that is not a replicated claim
    assert open_["number"] is None  # a boolean is not a number


def test_failures_name_errors_unexpected_statuses_and_missing_claims():
    runs, records, _ = synthetic_sweep()
    problems = sweep.failures(runs, records)
    assert problems == [
        "01_a seed 1 scale 1: claim 1.3b refuted, expected holds",
        "01_a seed 2 scale 1: cell 7 raised ValueError: too few digits",
        "01_a seed 2 scale 1: claim 1.10 was not recorded",
    ]
    assert sweep.failures(runs[3:], records[3:]) == []  # honest negatives pass


def test_summarize_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="2 runs but 1"):
        sweep.summarize(
            [run("a", 0), run("a", 1)],
            [[]],
            seeds=[0, 1],
            scales=[1],
            notebooks=["a"],
            created="now",
        )


def write_sweep(folder, runs, records):
    """An earlier sweep on disk: summary.json and one ledger per run."""
    (folder / "runs").mkdir(parents=True)
    for run_, run_records in zip(runs, records):
        lines = "".join(json.dumps(r) + "\n" for r in run_records)
        (folder / run_["ledger"]).write_text(lines)
    sweep.write_summary(
        folder,
        sweep.summarize(
            runs,
            records,
            seeds=sorted({r["seed"] for r in runs}),
            scales=sorted({r["scale"] for r in runs}),
            notebooks=list(dict.fromkeys(r["notebook"] for r in runs)),
            created="2026-12-01T06:40:00+00:00",
        ),
    )


def test_merge_combines_sweeps_that_one_grid_cannot_express(tmp_path, capsys):
    # seeds 0 and 1 at SCALE 1, then seed 0 at SCALE 2: not a grid of seeds x scales
    write_sweep(
        tmp_path / "scale1",
        [run("01_a", 0), run("01_a", 1)],
        [[record("1.2", "holds", 2.0, 1.5)], [record("1.2", "holds", 3.0, 1.3)]],
    )
    write_sweep(
        tmp_path / "scale2",
        [run("01_a", 0, scale=2)],
        [[record("1.2", "refuted", 0.5, 0.8)]],
    )
    out = tmp_path / "all"
    status = sweep.main(
        [
            "--merge",
            str(tmp_path / "scale1"),
            str(tmp_path / "scale2"),
            "--out",
            str(out),
        ]
    )
    assert status == 1  # 1.2 is refuted at SCALE 2 but expected to hold
    merged = json.loads((out / "summary.json").read_text())
    assert [(r["seed"], r["scale"]) for r in merged["runs"]] == [(0, 1), (1, 1), (0, 2)]
    assert merged["seeds"] == [0, 1] and merged["scales"] == [1, 2]
    claim = merged["claims"]["1.2"]
    assert claim["statuses"] == {"holds": 2, "refuted": 1} and not claim["consistent"]
    assert claim["number"] == {"min": 0.5, "median": 2.0, "max": 3.0}
    for run_ in merged["runs"]:
        assert (out / run_["ledger"]).is_file()  # the ledgers travel with the summary
    assert "not as expected: 01_a seed 0 scale 2" in capsys.readouterr().out


def test_merge_refuses_a_run_made_twice_and_a_folder_without_a_summary(
    tmp_path, capsys
):
    for name in ("a", "b"):
        write_sweep(tmp_path / name, [run("01_a", 0)], [[record("1.2", "holds", 2.0)]])
    both = ["--merge", str(tmp_path / "a"), str(tmp_path / "b")]
    assert sweep.main(both + ["--out", str(tmp_path / "c")]) == 2
    assert "01_a-seed0-scale1 is in both" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        sweep.parse_args(["--merge", str(tmp_path)])
    assert exit.value.code == 2 and "summary.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        sweep.parse_args(["--merge", str(tmp_path / "a"), "--seeds", "0"])
    assert exit.value.code == 2 and "runs nothing" in capsys.readouterr().err


def test_markdown_table_has_a_column_per_run_and_flags_differences():
    _, _, summary = synthetic_sweep()
    text = sweep.markdown(summary)
    assert "| claim | seed 0 ×1 | seed 1 ×1 | seed 2 ×1 | held / runs |" in text
    assert "| 1.2 | holds | holds | holds | 3/3 | 1 / 2 / 3 | ×1.3 |" in text
    assert "| 1.3b **(differs)** | holds | refuted | holds | 2/3 |" in text
    assert "| 1.10 **(differs)** | holds | holds | missing | 2/3 |" in text
    assert "| 2.1 | refuted | 0/1 | — / — / — | — |" in text
    assert "cell 7: ValueError: too few digits" in text
    assert "3 of 5 claims had the same status in every run" in text


@pytest.mark.parametrize(
    "value, expected",
    [(2, 2.0), (float("nan"), None), (True, None), ("1.5", None), ([1, 2], None)],
)
def test_record_number(value, expected):
    assert sweep.record_number({"value": value}) == expected


def test_claim_order_is_numeric():
    ids = ["1.10", "1.9", "4.3b", "4.3", "0.1", "10.1"]
    assert sorted(ids, key=sweep.claim_order) == [
        "0.1",
        "1.9",
        "1.10",
        "4.3",
        "4.3b",
        "10.1",
    ]


def test_cell_errors_count_cells_as_written_and_skip_expected_errors():
    nb = notebook(["SEED = 0", "SEED = 1", "1 / 0", "raise KeyError('k')", "x"])
    nb.cells[1].metadata["tags"] = ["injected-parameters"]
    nb.cells[3].metadata["tags"] = ["raises-exception"]
    for cell, (ename, evalue) in zip(
        nb.cells[2:],
        [("ZeroDivisionError", "division by zero"), ("KeyError", "'k'"), ("E", "a\nb")],
    ):
        cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue)]
    assert sweep.cell_errors(nb) == [
        {"cell": 1, "ename": "ZeroDivisionError", "evalue": "division by zero"},
        {"cell": 3, "ename": "E", "evalue": "a"},
    ]


# --- one real run -----------------------------------------------------------------------------

TINY = [
    # setup cell (like the book's Colab cell: nothing to install here)
    "import os",
    # parameters cell: literal values, so the runs only see their seed through injection
    "SEED = 7\nSCALE = 5\nDEVICE = ''",
    "from equinotes import claims\n"
    "assert os.environ['EQUINOTES_SEED'] == str(SEED)\n"
    "assert os.environ['EQUINOTES_SCALE'] == str(SCALE)\n"
    "assert os.environ['EQUINOTES_PROGRESS'] == '0'\n"
    "run = f'tiny-seed{SEED}-scale{SCALE}.jsonl'\n"
    "assert os.environ['EQUINOTES_LEDGER'].endswith(os.path.join('runs', run))\n"
    "assert os.path.isfile('tiny.ipynb')  # the kernel works in the book's folder",
    "claims.check('9.1', 'The seed is what the sweep asked for.', SEED, SEED <= 1, 1)",
    "claims.check('9.2', 'Holds at seed 0 only.', SEED, SEED == 0, 0)",
    "claims.check('9.3', 'Recorded after a failing claim.', SCALE, SCALE >= 1, 1)",
]


@pytest.mark.slow
def test_sweep_runs_a_tiny_notebook_past_its_failing_claim(tmp_path):
    book, out = tmp_path / "book", tmp_path / "out"
    book.mkdir()
    nb = notebook(TINY, tagged=False)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, book / "tiny.ipynb")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--seeds", "0-1"]
        + ["--book", str(book), "--out", str(out), "--timeout", "120"],
        capture_output=True,
        text=True,
        env={**os.environ, "EQUINOTES_LEDGER": str(tmp_path / "not-this.jsonl")},
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["notebooks"] == ["tiny"]
    first, second = summary["runs"]
    assert first["ok"] and first["errors"] == []
    assert not second["ok"] and len(second["errors"]) == 1
    error = second["errors"][0]
    assert error["cell"] == 4 and error["ename"] == "AssertionError"
    assert error["evalue"].startswith("claim 9.2 does not hold: Holds at seed 0 only.")
    for run_ in summary["runs"]:
        assert (out / run_["ledger"]).is_file()
    claims = summary["claims"]
    assert claims["9.1"]["number"] == {"min": 0.0, "median": 0.5, "max": 1.0}
    assert claims["9.2"]["statuses"] == {"holds": 1, "refuted": 1}
    assert claims["9.3"]["statuses"] == {"holds": 2}  # recorded after the failure
    assert claims["9.3"]["number"]["max"] == 1.0  # SCALE injected too
    assert not (tmp_path / "not-this.jsonl").exists()
    table = (out / "summary.md").read_text()
    assert "| 9.2 **(differs)** | holds | refuted | 1/2 |" in table
    assert table in done.stdout and str(out / "summary.json") in done.stdout
    assert "not as expected: tiny seed 1 scale 1: cell 4 raised" in done.stdout
    assert "tiny seed 1 scale 1" in done.stderr  # the progress bar names the run


@pytest.mark.slow
def test_a_cell_that_runs_too_long_stops_its_run(tmp_path):
    nb = notebook(["SEED = 0", "import time\ntime.sleep(60)", "x = 1"])
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    ledger = tmp_path / "runs" / "slow.jsonl"
    executed, errors = sweep.execute_run(path, 3, 1, ledger, timeout=2, device=None)
    assert errors == [
        {
            "cell": 1,
            "ename": "CellTimeoutError",
            "evalue": "cell ran longer than 2 s; the run was stopped",
        }
    ]
    assert "SEED = 3" in executed.cells[1].source  # the injected parameters
    assert ledger.with_suffix(".log").is_file()


# --- the second seed of every CI run ----------------------------------------------------------


def test_site_build_runs_at_seed_0_whatever_the_test_session_uses(monkeypatch):
    import site_helpers

    monkeypatch.setenv("EQUINOTES_SEED", "1")
    assert site_helpers.site_build_env()["EQUINOTES_SEED"] == "0"


def run_conftest(monkeypatch, seed):
    """Execute the root conftest.py on a copy of the environment; return EQUINOTES_SEED after."""
    import runpy

    environ = {k: v for k, v in os.environ.items() if k != "EQUINOTES_SEED"}
    if seed is not None:
        environ["EQUINOTES_SEED"] = seed
    monkeypatch.setattr(os, "environ", environ)
    runpy.run_path(str(ROOT / "conftest.py"))
    return environ.get("EQUINOTES_SEED")


def test_conftest_sets_seed_1_unless_the_user_chose_one(monkeypatch):
    assert run_conftest(monkeypatch, None) == "1"
    assert run_conftest(monkeypatch, "4") == "4"


@pytest.mark.slow
def test_notebooks_under_nbval_run_at_seed_1(pytester, monkeypatch):
    """With the root conftest.py, the kernels nbval starts see EQUINOTES_SEED=1 and a book
    parameters cell reads SEED = 1 (the site build runs at 0: a CI run checks two replications)."""
    parameters = nbformat.read(ROOT / "book" / "notation.ipynb", as_version=4)
    cell = next(
        c for c in parameters.cells if "parameters" in c.metadata.get("tags", [])
    )
    probe = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(cell.source),
            nbformat.v4.new_code_cell("assert SEED == 1, SEED"),
        ]
    )
    pytester.makefile(".ipynb", probe=nbformat.writes(probe))
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    monkeypatch.delenv("EQUINOTES_SEED", raising=False)
    result = pytester.runpytest_subprocess(
        "--nbval-lax", "--nbval-current-env", "-p", "no:xdist", "probe.ipynb"
    )
    result.assert_outcomes(passed=2)
