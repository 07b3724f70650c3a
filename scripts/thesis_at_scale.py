"""The thesis at scale (issue 16): does iterating a [U,U]-equivariant learned step make registration
[W,U]-equivariant at every angle?

    python scripts/thesis_at_scale.py --preset cpu                 # ~40 min on 2 CPU cores
    python scripts/thesis_at_scale.py --preset gpu --device cuda   # several thousand steps
    python scripts/thesis_at_scale.py --preset smoke --out /tmp/t.json   # seconds (the test suite)

Arms (every arm trains the package's StepNet on pairs of rotated 9s at *all* relative angles, with the
loss on every unrolled iterate, LNCC + lam * GradICON (scored on the inscribed disc unless
--gradicon-region square, so that an exact rotation costs nothing), and the same seed-derived
initial weights and pairs per seed):
  learned_blur    the step conjugated by a fresh random rotation at every call during training
                  (learned [U,U]), coarse-to-fine blur between iterations
  learned_noblur  the same without blur
  c4_blur         the exactly C4-symmetrized step (registration.symmetrize_c4), with blur
  c4_noblur       the same without blur
  control         no conjugation, no symmetrization, with blur (the control that should fail).
                  Its pairs still come at random absolute angles (registration.pair_sampler),
                  which is itself a rotation augmentation of both images alike, so:
  control_upright the same with the fixed image always upright (thesis.upright_pair_sampler):
                  nothing in its data teaches [U,U]; reported, not used by the verdict
  one_shot        one step (K = 1 in training), conjugated, no blur, trained for k_train x steps
                  steps: the compute of the iterated arms spent on a single step
Measures, per arm and seed, for K in (1, 2, 4, 8, 16, 32): the [W,U] error (pixels over the digit)
in 10-degree bins of relative angle 0-180 for the same 9 and for two different 9s; the [U,U] floor
(W = U at random angles); the median recovered-angle error per bin (same 9); the basin of attraction
of Psi_32 (recovered angle against start angle every 10 degrees, share within 15 degrees) and the
fixed-point residual (how far one more step moves); wall time.

Output: one JSON (--out) with schema_version, results[arm][seed], provenance (git commit, seeds,
versions, machine, device, preset, every size, date) and a verdict computed by the rules in
equinotes.thesis.RULES_TEXT; with --save-weights also the trained weights (in --weights-dir) when
they take < 5 MB. equinotes.thesis.load_results checks the file's schema.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = {
    "learned_blur": {"conjugation": "random", "blur": True, "one_shot": False},
    "learned_noblur": {"conjugation": "random", "blur": False, "one_shot": False},
    "c4_blur": {"conjugation": "c4", "blur": True, "one_shot": False},
    "c4_noblur": {"conjugation": "c4", "blur": False, "one_shot": False},
    "control": {"conjugation": "none", "blur": True, "one_shot": False},
    "control_upright": {
        "conjugation": "none",
        "blur": True,
        "one_shot": False,
        "pairs": "upright",
    },
    "one_shot": {"conjugation": "random", "blur": False, "one_shot": True},
}
THESIS_ARMS = ("learned_blur", "learned_noblur", "c4_blur", "c4_noblur")
CONTROL = "control"

# Sizes. "cpu" is sized from a single-threaded timing run on the 2-core development machine
# (the constants below) to about 40 CPU-minutes; "gpu" runs several thousand steps.
PRESETS = {
    "smoke": {
        "steps": 2,
        "batch": 4,
        "k_train": 2,
        "hidden": 32,
        "n_eval": 18,
        "n_basin": 1,
        "sigma_max": 2.0,
        "lr": 2e-3,
        "lam": 0.5,
    },
    "cpu": {
        "steps": 250,
        "batch": 32,
        "k_train": 4,
        "hidden": 256,
        "n_eval": 270,
        "n_basin": 8,
        "sigma_max": 2.0,
        "lr": 2e-3,
        "lam": 0.5,
    },
    "gpu": {
        "steps": 4000,
        "batch": 64,
        "k_train": 4,
        "hidden": 256,
        "n_eval": 1080,
        "n_basin": 16,
        "sigma_max": 2.0,
        "lr": 2e-3,
        "lam": 0.5,
    },
}
SIZE_HELP = {
    "steps": "optimizer steps per iterated arm (one_shot: k_train x steps)",
    "batch": "training pairs per step",
    "k_train": "iterations unrolled in training (the loss is on every one)",
    "hidden": "StepNet hidden width",
    "n_eval": "held-out pairs per [W,U] / angle-error evaluation (each of same 9, two 9s)",
    "n_basin": "held-out 9s in the basin measurement (each at 36 start angles)",
    "sigma_max": "blur (pixels) of the first iteration; linear to 0 over k_train iterations",
    "lr": "Adam learning rate",
    "lam": "GradICON weight",
}
# Single-threaded CPU seconds on the 2-core development machine (issue 16 timing run, 2026-12-01,
# measured while other jobs shared the CPU, so they are on the high side): training, per pair and
# unrolled step, per arm; evaluation, per pair unrolled to K = 32 (no gradient).
SECONDS_PER_PAIR_STEP = {
    "learned_blur": 3.5e-3,
    "learned_noblur": 2.0e-3,
    "c4_blur": 5.0e-3,
    "c4_noblur": 5.0e-3,
    "control": 1.5e-3,
    "control_upright": 1.5e-3,
    "one_shot": 1.9e-3,
}
EVAL_SECONDS_PER_PAIR = {"plain": 4.3e-3, "c4": 15.5e-3}
EDGES = tuple(range(0, 181, 10))
MAX_WEIGHTS_BYTES = 5 * 1024 * 1024


def presets_text() -> str:
    """The presets' sizes and estimated single-threaded CPU times, for --help."""
    keys = list(SIZE_HELP)
    lines = ["Presets (every size can be overridden by its flag):"]
    lines.append(
        "  " + f"{'':8}" + "".join(f"{k:>10}" for k in keys) + f"{'est. CPU':>10}"
    )
    for name, sizes in PRESETS.items():
        minutes = estimate_seconds(sizes, list(ARMS), 3) / 60
        lines.append(
            f"  {name:8}"
            + "".join(f"{sizes[k]:>10g}" for k in keys)
            + f"{minutes:>7.1f} min"
        )
    lines.append(
        "  (est. CPU: 3 seeds, all arms, single-threaded, from the timing run on the "
        "2-core development machine; a GPU is far faster)"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2] + "\n\n" + presets_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cpu",
        help="sizes: smoke (seconds), cpu (~40 min on 2 cores), gpu (several thousand steps); "
        "any size flag below overrides the preset's value",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds 0..N-1 per arm (default 3)"
    )
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"comma-separated subset of {', '.join(ARMS)} (default: all; the verdict needs "
        "all of the [U,U] arms and the control)",
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto"
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "equinotes" / "_data" / "thesis_at_scale.json"),
        help="results JSON (default: the committed run the book reads, "
        "equinotes/_data/thesis_at_scale.json)",
    )
    parser.add_argument(
        "--weights-dir",
        default=str(ROOT / "results"),
        help="where --save-weights writes <name of --out>.pt (default: results/)",
    )
    parser.add_argument(
        "--save-weights", action="store_true", help="also save weights (.pt) if < 5 MB"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--estimate-only",
        action="store_true",
        help="print the estimated CPU time of the chosen sizes and exit",
    )
    parser.add_argument(
        "--gradicon-region",
        choices=("disc", "square"),
        default="disc",
        help="where GradICON is scored (registration.gradicon): 'disc' (default) charges an exact "
        "rotation nothing; 'square', the chapter's live loss, charges its corners and so pushes "
        "the step away from rotating",
    )
    for key, text in SIZE_HELP.items():
        kind = float if key in ("sigma_max", "lr", "lam") else int
        parser.add_argument(
            f"--{key.replace('_', '-')}", type=kind, default=None, help=text
        )
    args = parser.parse_args(argv)
    sizes = dict(PRESETS[args.preset])
    for key in SIZE_HELP:
        value = getattr(args, key)
        if value is not None:
            sizes[key] = value
    for key in ("steps", "batch", "k_train", "hidden", "n_eval", "n_basin"):
        if sizes[key] < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got {sizes[key]}")
    for key in ("sigma_max", "lam"):
        if not sizes[key] >= 0:
            parser.error(f"--{key.replace('_', '-')} must be >= 0, got {sizes[key]}")
    if not sizes["lr"] > 0:
        parser.error(f"--lr must be > 0, got {sizes['lr']}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        parser.error(f"--arms: unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    sizes["gradicon_region"] = args.gradicon_region
    args.arms, args.sizes = arms, sizes
    return args


def estimate_seconds(sizes, arms, seeds) -> float:
    """Single-threaded CPU seconds of a run, from the timing constants above."""
    total = 0.0
    eval_pairs = 9 * sizes["n_eval"] + 36 * sizes["n_basin"]
    for arm in arms:
        spec = ARMS[arm]
        k_train = 1 if spec["one_shot"] else sizes["k_train"]
        steps = sizes["steps"] * (sizes["k_train"] if spec["one_shot"] else 1)
        total += SECONDS_PER_PAIR_STEP[arm] * sizes["batch"] * k_train * steps
        family = "c4" if spec["conjugation"] == "c4" else "plain"
        total += EVAL_SECONDS_PER_PAIR[family] * eval_pairs
    return total * seeds


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "equinotes",
                "scripts/thesis_at_scale.py",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return done.stdout.strip() + ("+dirty" if dirty else "") or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_model(arm, sizes, size, seed):
    import torch

    from equinotes import registration as reg
    from equinotes import thesis

    class C4Step(torch.nn.Module):
        """The exactly C4-symmetrized step (registration.symmetrize_c4), as a module."""

        def __init__(self, step):
            super().__init__()
            self.step = step
            self.sym = reg.symmetrize_c4(step)

        def forward(self, moving, fixed):
            return self.sym(moving, fixed)

    torch.manual_seed(seed)
    step = reg.StepNet(size, hidden=sizes["hidden"])
    kind = ARMS[arm]["conjugation"]
    if kind == "random":
        return thesis.ConjugatedStep(step, seed=seed)
    if kind == "c4":
        return C4Step(step)
    return step


def chunks(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def evaluate(model, sigmas, test9, seed, sizes, device):
    """Every measure of one trained arm at one seed (see the module docstring)."""
    import torch

    from equinotes import registration as reg
    from equinotes import registration_metrics as rm
    from equinotes import thesis, utils

    deg = math.pi / 180
    ks = thesis.KS
    n = sizes["n_eval"]
    g = utils.generator(seed, 3)  # held-out stream, as in chapter 4
    out = {"ks": list(ks), "edges_deg": list(EDGES)}
    wu_bins, floors = {}, {K: [] for K in ks}
    for group, same_fraction in (("same", 1.0), ("two_9s", 0.0)):
        base = reg.rotated_pairs(test9, n, g, shared=True, same_fraction=same_fraction)
        u = (2 * math.pi * torch.rand(n, generator=g)).to(device)
        delta = ((2 * torch.rand(n, generator=g) - 1) * math.pi).to(device)
        w = u + delta
        wu = {K: [] for K in ks}
        for part in chunks(n, 128):
            m, f = base.moving[part], base.fixed[part]
            for K, e in thesis.wu_errors(
                model, m, f, w[part], u[part], ks, sigmas
            ).items():
                wu[K].append(e)
            for K, e in thesis.wu_errors(
                model, m, f, u[part], u[part], ks, sigmas
            ).items():
                floors[K].append(e)
        wu_bins[group] = {
            str(K): [
                v.mean().item() if len(v) else None
                for v in rm.by_angle_bin(torch.cat(wu[K]), delta, EDGES)
            ]
            for K in ks
        }
    out["wu_px_by_bin"] = wu_bins
    out["uu_floor_px"] = {str(K): torch.cat(floors[K]).mean().item() for K in ks}
    # recovered angle of Psi_K on one 9 at two independent angles
    pairs = reg.rotated_pairs(test9, n, g, same_fraction=1.0)
    errors = {K: [] for K in ks}
    with torch.no_grad():
        for part in chunks(n, 128):
            iterates = thesis.unroll(
                model, pairs.moving[part], pairs.fixed[part], max(ks), sigmas
            )
            for K in ks:
                found = rm.recovered_angle(iterates[K - 1], pairs.fixed[part])
                errors[K].append(rm.angle_error_deg(found, pairs.delta[part]))
    out["median_angle_error_deg_by_bin"] = {
        str(K): [
            v.median().item() if len(v) else None
            for v in rm.by_angle_bin(torch.cat(errors[K]), pairs.delta, EDGES)
        ]
        for K in ks
    }
    # basin of attraction: one 9 turned so that the true relative angle runs every 10 degrees
    upright = reg.rotated_pairs(
        test9,
        sizes["n_basin"],
        utils.generator(seed, 4),
        shared=True,
        same_fraction=1.0,
    )
    true_deg = list(range(-180, 180, 10))
    moving = torch.cat([reg.pull_back(upright.moving, -t * deg) for t in true_deg])
    fixed = upright.fixed.repeat(len(true_deg), 1, 1, 1)
    truth = torch.tensor(
        true_deg, device=device, dtype=torch.float32
    ).repeat_interleave(sizes["n_basin"])
    parts = [
        thesis.basin(model, moving[p], fixed[p], truth[p], max(ks), sigmas)
        for p in chunks(len(truth), 128)
    ]
    b = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    right = b["error_deg"] < 15
    wrong = b["error_deg"] >= 45

    def median(values):
        return values.median().item() if len(values) else None

    out["basin"] = {
        "k": max(ks),
        "true_deg": truth.tolist(),
        "found_deg": [round(x, 2) for x in b["found_deg"].tolist()],
        "residual_px": [round(x, 4) for x in b["residual_px"].tolist()],
        "share_within_15": right.float().mean().item(),
        "share_wrong": wrong.float().mean().item(),
        "share_within_15_by_true_deg": {
            str(t): right[truth == t].float().mean().item() for t in true_deg
        },
        "median_residual_right_px": median(b["residual_px"][right]),
        "median_residual_wrong_px": median(b["residual_px"][wrong]),
        "median_to_truth_wrong_px": median(b["to_truth_px"][wrong]),
    }
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = args.sizes
    estimate = estimate_seconds(sizes, args.arms, args.seeds)
    print(
        f"preset {args.preset}: {sizes}; arms {args.arms}; seeds 0..{args.seeds - 1}\n"
        f"estimated time on the 2-core development CPU (single-threaded): "
        f"{estimate / 60:.1f} min",
        flush=True,
    )
    if args.estimate_only:
        return 0

    import torch

    from equinotes import data, thesis, training, utils
    from equinotes import registration as reg

    device = utils.get_device(None if args.device == "auto" else args.device)
    train9, _ = data.load_mnist(9, split="train", pad=2)
    test9, _ = data.load_mnist(9, split="test", pad=2)
    train9, test9 = train9.to(device), test9.to(device)
    size = train9.shape[-1]

    results, weights = {}, {}
    start_all = time.perf_counter()
    for arm in args.arms:
        spec = ARMS[arm]
        k_train = 1 if spec["one_shot"] else sizes["k_train"]
        steps = sizes["steps"] * (sizes["k_train"] if spec["one_shot"] else 1)
        sigmas = (
            thesis.blur_schedule(k_train, sizes["sigma_max"]) if spec["blur"] else None
        )
        sampler = (
            thesis.upright_pair_sampler(train9, sizes["batch"])
            if spec.get("pairs") == "upright"
            else reg.pair_sampler(train9, sizes["batch"], max_delta=math.pi)
        )
        results[arm] = {}
        for seed in range(args.seeds):
            model = build_model(arm, sizes, size, seed)
            log = training.train(
                model,
                thesis.every_iterate_loss(
                    k_train,
                    sigmas,
                    lam=sizes["lam"],
                    region=sizes["gradicon_region"],
                ),
                sampler,
                steps,
                lr=sizes["lr"],
                device=device,
                seed=seed,
                desc=f"{arm}, seed {seed}",
                progress=not args.quiet,
            )
            t0 = time.perf_counter()
            model.eval()
            run = evaluate(model, sigmas, test9, seed, sizes, device)
            run.update(
                {
                    "train_steps": steps,
                    "k_train": k_train,
                    "blur_sigmas": list(sigmas or ()),
                    "final_loss": log.final_loss,
                    "loss_every_10": log.losses[::10],
                    "train_seconds": log.seconds,
                    "eval_seconds": time.perf_counter() - t0,
                }
            )
            run["seconds"] = run["train_seconds"] + run["eval_seconds"]
            results[arm][str(seed)] = run
            weights[f"{arm}/{seed}"] = {
                k: v.detach().cpu() for k, v in model.state_dict().items()
            }
            print(
                f"{arm} seed {seed}: {steps} steps in {log.seconds:.1f} s "
                f"({log.seconds / steps:.3f} s/step), loss {log.final_loss:.3f}, "
                f"basin {run['basin']['share_within_15']:.2f}, "
                f"[U,U] floor at K=32 {run['uu_floor_px']['32']:.2f} px",
                flush=True,
            )
    complete = all(a in results for a in (*THESIS_ARMS, CONTROL))
    verdict = (
        thesis.verdict(results, THESIS_ARMS, CONTROL)
        if complete
        else {
            "verdict": "inconclusive",
            "rules": thesis.RULES_TEXT,
            "note": "not every [U,U] arm and the control were run",
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved, saved_what = None, None
    if args.save_weights:
        # all weights in float32 if they fit in 5 MB, else float16, else seed 0 of each arm in
        # float16; the provenance says which
        first = {k: v for k, v in weights.items() if k.endswith("/0")}
        for what, chosen, dtype in (
            ("all seeds, float32", weights, torch.float32),
            ("all seeds, float16", weights, torch.float16),
            ("seed 0 of each arm, float16", first, torch.float16),
        ):
            buffer = io.BytesIO()
            torch.save(
                {
                    key: {k: v.to(dtype) for k, v in state.items()}
                    for key, state in chosen.items()
                },
                buffer,
            )
            if buffer.tell() < MAX_WEIGHTS_BYTES:
                saved = Path(args.weights_dir) / (out.stem + ".pt")
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved_what = what
                saved.write_bytes(buffer.getvalue())
                break
    provenance = {
        "git_commit": git_commit(),
        "seeds": list(range(args.seeds)),
        "arms": args.arms,
        "arm_specs": {a: ARMS[a] for a in args.arms},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor()}".strip(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device)
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "preset": args.preset,
        "sizes": sizes,
        "image_size": size,
        "edges_deg": list(EDGES),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - start_all,
        "estimated_cpu_seconds": estimate,
        "weights": str(saved.name) if saved else None,
        "weights_saved": saved_what,
        "command": " ".join(
            [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    payload = {
        "schema_version": thesis.SCHEMA_VERSION,
        "results": results,
        "provenance": provenance,
        "verdict": verdict,
    }
    out.write_text(json.dumps(payload, indent=1))
    thesis.load_results(out)  # the file we wrote passes its own schema check
    print(
        f"verdict: {verdict['verdict']}; wrote {out}"
        + (f" and {saved}" if saved else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
