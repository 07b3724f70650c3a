"""Chapter 6 at longer training budgets (issue 25, chapter 6 item 3): which conclusions survive?

    python scripts/every_angle_budget.py                         # the committed run (~1 h, one thread)
    python scripts/every_angle_budget.py --preset smoke --out /tmp/b.json   # seconds (the test suite)

Trains the page's models on upright digits exactly as the page does (``every_angle.train_and_sweep``:
Adam, learning rate 1e-2, batches of 32) at several budgets, and evaluates each at every multiple of
15 degrees and on the control (the same resampling, upright). Models: plain, C4, C8, harmonic, the
canonicalized CNN, the axis frame, and the plain CNN widened to the harmonic network's multiply-adds.
The predictions were committed first: results/every_angle_budget_prediction.md.

Output: one JSON (--out, default equinotes/_data/every_angle_budget.json), rewritten after every
trained model, so a stopped run resumes where it stopped (same config). Read it with
``equinotes.experiments.every_angle.load_budget_run``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESETS = {
    "cpu": {"seed": 10, "replications": 5, "steps": [100, 400, 1600], "n_test": 1000},
    "smoke": {"seed": 10, "replications": 1, "steps": [2], "n_test": 20},
}
MODELS = ["plain", "plain, wide", "C4", "C8", "harmonic", "canonicalized", "axis frame"]
ANGLES = list(range(0, 360, 15))


# The files the run's numbers depend on: a change to one of them marks the commit "+dirty".
RUN_FILES = (
    ["scripts/every_angle_budget.py", "equinotes/_data/mnist_10k.npz"]
    + [
        f"equinotes/{name}.py"
        for name in (
            "steerable",
            "canonical",
            "models",
            "training",
            "data",
            "groups",
            "utils",
        )
    ]
    + ["equinotes/experiments/every_angle.py"]
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "equinotes/_data/every_angle_budget.json"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from equinotes import utils
    from equinotes.experiments import every_angle

    torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    seeds = utils.replicate_seeds(preset["seed"], preset["replications"])
    config = {
        "preset": args.preset,
        "seed": preset["seed"],
        "replications": seeds,
        "steps": preset["steps"],
        "n_test": preset["n_test"],
        "angles_deg": ANGLES,
        "batch": 32,
        "lr": 1e-2,
        "models": MODELS,
    }
    builders = {
        **every_angle.networks(),
        **every_angle.wrappers(),
        **every_angle.compute_matched("harmonic"),
    }
    builders = {name: builders[name] for name in MODELS}
    run = {
        "schema_version": 1,
        "config": config,
        "costs": every_angle.costs(builders),
        "results": [],
        "provenance": {},
    }
    if args.out.exists():  # resume a stopped run with the same config
        old = json.loads(args.out.read_text())
        if old.get("config") == config:
            run["results"] = old["results"]
    done = {(r["model"], r["steps"], r["seed"]) for r in run["results"]}
    digits = every_angle.load_digits(preset["seed"], preset["n_test"])
    start_wall, start_cpu = time.time(), time.process_time()
    commit = utils.git_commit(ROOT, RUN_FILES)  # once: the code this invocation runs
    todo = [(s, seed, m) for s in preset["steps"] for seed in seeds for m in MODELS]
    todo = [t for t in todo if (t[2], t[0], t[1]) not in done]
    for steps, seed, name in utils.progress(todo, desc="budgets"):
        t0 = time.process_time()
        _, sweep = every_angle.train_and_sweep(
            name, builders[name], seed, digits, ANGLES, steps, batch=32, lr=1e-2,
            device=torch.device("cpu"),
        )  # fmt: skip
        run["results"].append(
            {
                "model": name,
                "steps": steps,
                "seed": seed,
                "accuracy": [round(float(a), 6) for a in sweep["accuracy"]],
                "control": [round(float(a), 6) for a in sweep["control"]],
                "cpu_seconds": round(time.process_time() - t0, 2),
            }
        )
        run["provenance"] = {
            "commit_at_start": commit,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": "python scripts/every_angle_budget.py "
            + " ".join(argv or sys.argv[1:]),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} thread(s)",
            "cpu_seconds_this_invocation": round(time.process_time() - start_cpu, 1),
            "wall_seconds_this_invocation": round(time.time() - start_wall, 1),
            "finished": len(run["results"])
            == len(MODELS) * len(seeds) * len(preset["steps"]),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(run, indent=1))
        tmp.replace(args.out)
    print(f"wrote {args.out}: {len(run['results'])} trained models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
