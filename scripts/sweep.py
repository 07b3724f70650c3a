"""Replicate the book's claims: run notebooks at several seeds and scales, and tabulate every claim.

    python scripts/sweep.py --seeds 0-4 --scale 1 2 [--notebooks 01 04]
    python scripts/sweep.py --merge _build/sweep-scale1 _build/sweep-scale2 [--out _build/sweep]

Each notebook runs once per (seed, scale) with papermill's parameter injection (SEED and SCALE
are injected after the notebook's ``parameters`` cell, and ``EQUINOTES_SEED`` / ``EQUINOTES_SCALE``
are set in the kernel's environment) and nbclient, in the book's folder, with errors allowed: a
claim that fails is recorded and the notebook goes on, so its later claims are recorded too.

Outputs, under --out (default _build/sweep/):
  runs/<notebook>-seed<S>-scale<K>.jsonl  the claims ledger of one run
  runs/<notebook>-seed<S>-scale<K>.ipynb  the executed notebook (tracebacks of failing cells)
  runs/<notebook>-seed<S>-scale<K>.log    what the kernel process wrote outside its cells
  summary.json  every run (completed, cell errors, seconds) and every claim: its status in each
                run, how many runs held, whether the status was the same in every run, and the
                min / median / max of its number; the site's ledger page shows it
  summary.md    the same as Markdown tables, also printed at the end

--merge combines earlier sweeps (each a folder with summary.json and runs/) into one summary under
--out without running anything: e.g. seeds 0-2 at SCALE 1 and seed 0 at SCALE 2, which one sweep's
grid of seeds x scales cannot express. A (notebook, seed, scale) run made by two of them is an error.

Exit status: 0 when every run completed without a cell error and every claim had, in every run,
the status its notebook expects ("holds", or an honest "refuted" / "open"); 1 otherwise; 2 for
bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATUSES = ("holds", "refuted", "open", "missing")


# --- arguments ---------------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,2,5"``, ``"3"`` or ``"0-2,7"`` -> the sorted seeds, each once."""
    seeds = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected non-negative integers and ranges such as "
                "'0-4', '0,2,5' or '0-2,7'"
            )
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the range {part!r} runs backwards (write {last}-{first})"
            )
        seeds.update(range(first, last + 1))
    return sorted(seeds)


def positive_int(text: str) -> int:
    """An integer >= 1 (a scale, or a timeout in seconds)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer (expected an integer >= 1)"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return number


def has_parameters_cell(path: Path) -> bool:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def resolve_notebooks(book: Path, prefixes: list[str] | None) -> list[str]:
    """The notebook names (no suffix) the prefixes pick out of ``book``; every notebook with a
    ``parameters`` cell when ``prefixes`` is None. Raises ValueError for a prefix that names no
    notebook, several notebooks, or one without a parameters cell."""
    paths = {p.stem: p for p in sorted(book.glob("*.ipynb"))}
    if prefixes is None:
        names = [name for name, path in paths.items() if has_parameters_cell(path)]
        if not names:
            raise ValueError(f"no notebook in {book} has a cell tagged 'parameters'")
        return names
    names = []
    for prefix in prefixes:
        stem = prefix.removesuffix(".ipynb")
        found = [stem] if stem in paths else [n for n in paths if n.startswith(stem)]
        if not found:
            raise ValueError(
                f"unknown notebook {prefix!r}: expected the start of one of "
                f"{', '.join(paths) or '(none)'} in {book}"
            )
        if len(found) > 1:
            raise ValueError(
                f"notebook {prefix!r} is ambiguous: it starts {', '.join(found)}"
            )
        if not has_parameters_cell(paths[found[0]]):
            raise ValueError(
                f"notebook {found[0]} has no cell tagged 'parameters' to inject into"
            )
        if found[0] not in names:
            names.append(found[0])
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/sweep.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        help="seeds to run: '0-4', '0,2,5', '3' or '0-2,7' (required unless --merge)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="SWEEP_DIR",
        help="combine these earlier sweeps' runs into one summary under --out; "
        "runs nothing",
    )
    parser.add_argument(
        "--scale",
        type=positive_int,
        nargs="+",
        default=[1],
        help="one or more SCALE values, integers >= 1 (default: 1)",
    )
    parser.add_argument(
        "--notebooks",
        nargs="+",
        metavar="PREFIX",
        help="notebooks to run, by the start of their name ('01', 'notation'); "
        "default: every notebook of --book with a 'parameters' cell",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=ROOT / "book",
        help="folder holding the notebooks; they run with it as working directory "
        "(default: book/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "_build" / "sweep",
        help="folder for summary.json, summary.md and runs/ (default: _build/sweep/)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=900,
        help="seconds one cell may run before its run is stopped (default: 900)",
    )
    parser.add_argument(
        "--device",
        help="passed to the notebooks as EQUINOTES_DEVICE, e.g. 'cpu' or 'cuda' "
        "(default: CUDA when present, else the CPU)",
    )
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and check the command line (argparse exits with status 2 on an error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.merge is not None:
        if args.seeds is not None or args.notebooks is not None:
            parser.error("--merge runs nothing: it takes no --seeds or --notebooks")
        for folder in args.merge:
            if not (folder / "summary.json").is_file():
                parser.error(
                    f"--merge {folder}: expected a sweep folder with summary.json"
                )
        return args
    if args.seeds is None:
        parser.error("the following arguments are required: --seeds (or --merge)")
    if not args.book.is_dir():
        parser.error(f"--book {args.book}: expected a folder of notebooks")
    try:
        args.notebooks = resolve_notebooks(args.book, args.notebooks)
    except ValueError as error:
        parser.error(str(error))
    args.scale = sorted(set(args.scale))
    if args.device is not None:
        import torch

        try:
            torch.device(args.device)
        except RuntimeError:
            parser.error(
                f"--device {args.device!r}: expected a torch device such as "
                "'cpu', 'cuda' or 'cuda:1'"
            )
    return args


# --- aggregation (pure: records in, summary out) ----------------------------------------------


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record_number(record: dict) -> float | None:
    """The number a run contributes to a claim's spread: its value when that is a single
    number, the median of the replications for a replicated claim, else None."""
    value = record.get("value")
    if _is_number(value):
        return float(value)
    if record.get("replicated") and isinstance(value, dict):
        median = value.get("median")
        return float(median) if _is_number(median) else None
    return None


def claim_order(claim_id: str):
    """Sort key that puts 1.9 before 1.10 and 4.3 before 4.3b."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", claim_id)
    ]


def summarize(
    runs: list[dict],
    records: list[list[dict]],
    *,
    seeds: list[int],
    scales: list[int],
    notebooks: list[str],
    created: str,
) -> dict:
    """The sweep's summary (the schema of ``summary.json``).

    Args:
        runs: one dict per run made, in the order they ran: ``notebook``, ``seed``, ``scale``,
            ``ok``, ``errors``, ``seconds``, ``ledger``.
        records: for each run, the claims its ledger holds (in the order written).
        seeds, scales, notebooks: what the sweep was asked to run.
        created: the UTC time stamp to record.
    A claim belongs to the notebooks that recorded it in some run; every run of those notebooks
    counts for it, with status ``"missing"`` when that run did not record it (it stopped before).
    When one run records a claim several times, its last record counts.
    """
    if len(runs) != len(records):
        raise ValueError(f"{len(runs)} runs but {len(records)} lists of records")
    last = [{r["id"]: r for r in run_records} for run_records in records]
    owners: dict[str, list[str]] = {}
    for run, by_id in zip(runs, last):
        for claim_id in by_id:
            owners.setdefault(claim_id, [])
            if run["notebook"] not in owners[claim_id]:
                owners[claim_id].append(run["notebook"])
    claims = {}
    for claim_id in sorted(owners, key=claim_order):
        entries, latest = [], None
        for run, by_id in zip(runs, last):
            if run["notebook"] not in owners[claim_id]:
                continue
            record = by_id.get(claim_id)
            if record is not None:
                latest = record
            entries.append(
                {
                    "notebook": run["notebook"],
                    "seed": run["seed"],
                    "scale": run["scale"],
                    "status": record["status"] if record else "missing",
                    "number": record_number(record) if record else None,
                    "margin": record.get("margin") if record else None,
                }
            )
        counts = {}
        for entry in entries:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        statuses = {s: counts[s] for s in STATUSES if s in counts}
        statuses.update({s: n for s, n in counts.items() if s not in statuses})
        numbers = [e["number"] for e in entries if e["number"] is not None]
        claims[claim_id] = {
            "statement": latest["statement"],
            "chapter": latest.get("chapter"),
            "runs": entries,
            "n_runs": len(entries),
            "n_held": counts.get("holds", 0),
            "statuses": statuses,
            "consistent": len(statuses) == 1,
            "number": {
                "min": min(numbers),
                "median": statistics.median(numbers),
                "max": max(numbers),
            }
            if numbers
            else None,
        }
    return {
        "created": created,
        "seeds": list(seeds),
        "scales": list(scales),
        "notebooks": list(notebooks),
        "runs": [
            {
                key: run[key]
                for key in (
                    "notebook",
                    "seed",
                    "scale",
                    "ok",
                    "errors",
                    "seconds",
                    "ledger",
                )
            }
            for run in runs
        ],
        "claims": claims,
    }


def failures(runs: list[dict], records: list[list[dict]]) -> list[str]:
    """Why the sweep did not pass, one line per problem (empty when it passed): a cell error, a
    claim at a status its notebook does not expect, or a claim a run did not record."""
    problems = []
    ids_of = {}
    for run, run_records in zip(runs, records):
        ids_of.setdefault(run["notebook"], set()).update(r["id"] for r in run_records)
    for run, run_records in zip(runs, records):
        where = f"{run['notebook']} seed {run['seed']} scale {run['scale']}"
        for error in run["errors"]:
            problems.append(
                f"{where}: cell {error['cell']} raised {error['ename']}: {error['evalue']}"
            )
        by_id = {r["id"]: r for r in run_records}
        for claim_id in sorted(by_id, key=claim_order):
            record = by_id[claim_id]
            if record["status"] != record.get("expect", "holds"):
                problems.append(
                    f"{where}: claim {claim_id} {record['status']}, "
                    f"expected {record.get('expect', 'holds')}"
                )
        for claim_id in sorted(ids_of[run["notebook"]] - set(by_id), key=claim_order):
            problems.append(f"{where}: claim {claim_id} was not recorded")
    return problems


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(summary: dict) -> str:
    """The summary as Markdown: the runs, then one table of claims per notebook."""
    runs = summary["runs"]
    claims = summary["claims"]
    n_ok = sum(run["ok"] for run in runs)
    n_consistent = sum(c["consistent"] for c in claims.values())
    lines = [
        "# Sweep summary",
        "",
        f"{summary['created']}: seeds {', '.join(map(str, summary['seeds']))}; "
        f"scales {', '.join(map(str, summary['scales']))}; "
        f"{len(runs)} runs, {n_ok} without a cell error; "
        f"{n_consistent} of {len(claims)} claims had the same status in every run.",
        "",
        "## Runs",
        "",
        "| notebook | seed | scale | completed | seconds | cell errors |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        errors = "<br>".join(
            _cell(f"cell {e['cell']}: {e['ename']}: {e['evalue']}")
            for e in run["errors"]
        )
        lines.append(
            f"| {run['notebook']} | {run['seed']} | {run['scale']} | "
            f"{'yes' if run['ok'] else 'no'} | {run['seconds']:.0f} | {errors or '—'} |"
        )
    for notebook in summary["notebooks"]:
        own = [(r["seed"], r["scale"]) for r in runs if r["notebook"] == notebook]
        rows = {
            claim_id: claim
            for claim_id, claim in claims.items()
            if any(e["notebook"] == notebook for e in claim["runs"])
        }
        lines += ["", f"## {notebook}", ""]
        if not rows:
            lines.append("No claim recorded.")
            continue
        heads = [f"seed {seed} ×{scale}" for seed, scale in own]
        lines.append(
            "| claim | "
            + " | ".join(heads)
            + " | held / runs | number min / median / max | margin min |"
        )
        lines.append("|---" * (len(heads) + 4) + "|")
        for claim_id, claim in rows.items():
            status = {
                (e["seed"], e["scale"]): e["status"]
                for e in claim["runs"]
                if e["notebook"] == notebook
            }
            number = claim["number"] or {}
            margins = [e["margin"] for e in claim["runs"] if _is_number(e["margin"])]
            label = claim_id if claim["consistent"] else f"{claim_id} **(differs)**"
            lines.append(
                f"| {label} | "
                + " | ".join(status.get(key, "—") for key in own)
                + f" | {claim['n_held']}/{claim['n_runs']} | "
                + " / ".join(_fmt(number.get(k)) for k in ("min", "median", "max"))
                + f" | {'×' + _fmt(min(margins)) if margins else '—'} |"
            )
    return "\n".join(lines) + "\n"


# --- running ----------------------------------------------------------------------------------


def run_name(notebook: str, seed: int, scale: int) -> str:
    return f"{notebook}-seed{seed}-scale{scale}"


def cell_errors(nb) -> list[dict]:
    """Each error a code cell raised (its index in the notebook as written, before the injected
    parameters cell), except in cells tagged ``raises-exception``, whose errors are expected."""
    errors, injected = [], 0
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            injected += 1
            continue
        if cell.cell_type != "code" or "raises-exception" in tags:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(
                    {
                        "cell": index - injected,
                        "ename": output.get("ename", ""),
                        "evalue": (output.get("evalue") or "").strip().split("\n")[0],
                    }
                )
    return errors


def execute_run(
    path: Path,
    seed: int,
    scale: int,
    ledger: Path,
    *,
    timeout: int,
    device: str | None,
    on_cell=None,
) -> tuple:
    """Run one notebook at (seed, scale); return the executed notebook and its cell errors.

    The ledger file is emptied first; the kernel process's output goes to the ledger's name with
    ``.log``. Errors do not stop the notebook; a cell that runs past ``timeout`` seconds, or a
    kernel that dies, stops the run and is reported as that cell's error.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    parameters = {"SEED": seed, "SCALE": scale}
    if device is not None:
        parameters["DEVICE"] = device
    nb = parameterize_notebook(
        load_notebook_node(str(path)),
        parameters,
        kernel_name="python3",
        language="python",
    )
    env = dict(os.environ)
    env.update(
        EQUINOTES_SEED=str(seed),
        EQUINOTES_SCALE=str(scale),
        EQUINOTES_PROGRESS="0",
        EQUINOTES_LEDGER=str(ledger.resolve()),
    )
    if device is not None:
        env["EQUINOTES_DEVICE"] = device
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.unlink(missing_ok=True)
    current = {"index": None}

    def started(cell, cell_index):
        current["index"] = cell_index
        if on_cell is not None:
            on_cell(cell_index + 1, len(nb.cells))

    client = NotebookClient(
        nb,
        timeout=timeout,
        # nbclient waits 60 s for a new kernel's first reply; next to a notebook run on a busy
        # 2-core machine that was once not enough (CI: "Kernel didn't respond in 60 seconds")
        startup_timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_cell_start=started,
    )
    stopped = None
    try:
        with open(ledger.with_suffix(".log"), "w") as log:
            client.execute(env=env, stdout=log, stderr=log)
    except (CellTimeoutError, DeadKernelError) as error:
        stopped = error
    errors = cell_errors(nb)
    if stopped is not None:
        index = current["index"]
        injected = sum(
            "injected-parameters" in c.metadata.get("tags", [])
            for c in nb.cells[: index or 0]
        )
        reason = (
            f"cell ran longer than {timeout} s; the run was stopped"
            if isinstance(stopped, CellTimeoutError)
            else str(stopped).strip().split("\n")[0]
        )
        cell = None if index is None else index - injected
        # the kernel is interrupted as the run stops: that cell's KeyboardInterrupt is this stop
        errors = [e for e in errors if e["cell"] != cell]
        errors.append(
            {
                "cell": cell,
                "ename": type(stopped).__name__,
                "evalue": reason,
            }
        )
    return nb, errors


def read_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_summary(out: Path, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))


def load_sweep(folder: Path) -> tuple[list[dict], list[list[dict]]]:
    """The runs of an earlier sweep (from its summary.json) and each run's claims (its ledger)."""
    summary = json.loads((folder / "summary.json").read_text())
    runs = summary["runs"]
    return runs, [read_records(folder / run["ledger"]) for run in runs]


def merge(folders: list[Path], out: Path) -> int:
    """Combine earlier sweeps into one summary under ``out`` (their ledgers and executed
    notebooks copied to ``out/runs``); the exit status as for a sweep."""
    import shutil

    runs, records, made = [], [], {}
    for folder in folders:
        for run, run_records in zip(*load_sweep(folder)):
            key = (run["notebook"], run["seed"], run["scale"])
            if key in made:
                raise ValueError(
                    f"{run_name(*key)} is in both {made[key]} and {folder}: "
                    "merge sweeps whose runs differ"
                )
            made[key] = folder
            runs.append(run)
            records.append(run_records)
            (out / "runs").mkdir(parents=True, exist_ok=True)
            for suffix in (".jsonl", ".ipynb", ".log"):
                source = (folder / run["ledger"]).with_suffix(suffix)
                target = out / "runs" / source.name
                if source.is_file() and source.resolve() != target.resolve():
                    shutil.copyfile(source, target)
    notebooks = list(dict.fromkeys(run["notebook"] for run in runs))
    summary = summarize(
        runs,
        records,
        seeds=sorted({run["seed"] for run in runs}),
        scales=sorted({run["scale"] for run in runs}),
        notebooks=notebooks,
        created=now(),
    )
    write_summary(out, summary)
    print(markdown(summary))
    problems = failures(runs, records)
    for problem in problems:
        print(f"not as expected: {problem}")
    print(f"summary: {out / 'summary.json'}")
    return 1 if problems else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge is not None:
        try:
            return merge(args.merge, args.out)
        except ValueError as error:
            print(f"scripts/sweep.py: error: {error}", file=sys.stderr)
            return 2
    import nbformat
    from tqdm import tqdm

    plan = [
        (notebook, seed, scale)
        for notebook in args.notebooks
        for scale in args.scale
        for seed in args.seeds
    ]
    runs, records = [], []
    bar = tqdm(total=len(plan), unit="run", file=sys.stderr, mininterval=1.0)

    def save() -> dict:
        summary = summarize(
            runs,
            records,
            seeds=args.seeds,
            scales=args.scale,
            notebooks=args.notebooks,
            created=now(),
        )
        write_summary(args.out, summary)
        return summary

    with bar:
        for notebook, seed, scale in plan:
            name = run_name(notebook, seed, scale)
            bar.set_description(f"{notebook} seed {seed} scale {scale}")
            ledger = args.out / "runs" / f"{name}.jsonl"
            start = time.perf_counter()
            nb, errors = execute_run(
                args.book / f"{notebook}.ipynb",
                seed,
                scale,
                ledger,
                timeout=args.timeout,
                device=args.device,
                on_cell=lambda i, n: bar.set_postfix_str(f"cell {i}/{n}"),
            )
            seconds = time.perf_counter() - start
            nbformat.write(nb, args.out / "runs" / f"{name}.ipynb")
            runs.append(
                {
                    "notebook": notebook,
                    "seed": seed,
                    "scale": scale,
                    "ok": not errors,
                    "errors": errors,
                    "seconds": round(seconds, 1),
                    "ledger": f"runs/{name}.jsonl",
                }
            )
            records.append(read_records(ledger))
            for error in errors:
                bar.write(
                    f"{name}: cell {error['cell']} raised {error['ename']}: "
                    f"{error['evalue']}"
                )
            save()  # after every run, so an interrupted sweep keeps what it measured
            bar.update()
    summary = save()
    print(markdown(summary))
    problems = failures(runs, records)
    for problem in problems:
        print(f"not as expected: {problem}")
    print(f"summary: {args.out / 'summary.json'}")
    print(f"table:   {args.out / 'summary.md'}")
    print(f"ledgers and executed notebooks: {args.out / 'runs'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
