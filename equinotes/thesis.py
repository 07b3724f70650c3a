"""The thesis at scale (issues 16, 24): does iterating a [U,U]-equivariant step give [W,U]-equivariance?

Reusable pieces of ``scripts/thesis_at_scale.py`` and of the pages that read its results.
Rules v2 (issue 24, ``RULES_V2``): a competence gate, a basin that must reach 0.90 at every
seed, a [W,U] error per angle bin against the identity map's, and two controls; the
family-agnostic evaluation ``evaluate_v2`` that feeds them, ``verdict_v2`` and the transform
relaxation ``relax_field``. Rules v1 (issue 16, kept so the first committed file still reads):
a coarse-to-fine blur schedule between iterations, a step conjugated by a fresh random rotation
(learned [U,U]-equivariance), the loss on every iterate, the [W,U] error of every iterate in one
pass, the basin of attraction with the fixed-point residual (chapter 4's "basin of attraction"
cell), the v1 verdict rules and ``load_results``, the schema check of the results files.

Shapes: images ``[B, 1, H, W]`` (square), transforms ``[B, H, W, 2]``, angles in radians ``[B]``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from . import registration as reg
from . import registration_metrics as rm
from .groups import conjugate_transform, rotation_transform
from .utils import check_images, check_int

__all__ = [
    "SCHEMA_VERSION",
    "KS",
    "blur",
    "blur_schedule",
    "unroll",
    "conjugated",
    "ConjugatedStep",
    "upright_pair_sampler",
    "every_iterate_loss",
    "wu_errors",
    "wu_errors_by_probe",
    "basin",
    "arm_verdict",
    "verdict",
    "load_results",
    "RESULTS_FILE",
    "RIGID_CPU_FILE",
    "seed_mean",
    "wu_to_floor",
    "RULES_VERSION",
    "RULES_V2",
    "RULES_V2_TEXT",
    "evaluate_v2",
    "seed_status",
    "verdict_v2",
    "relax_field",
    "read_k",
    "basin_summary",
    "verdict_table_html",
    "gate_table_html",
    "plot_direction_field",
    "plot_basins",
    "wu_to_identity",
    "plot_wu_heatmap",
]

#: The committed CPU run of ``scripts/thesis_at_scale.py --preset cpu`` (issue 24: rigid-head
#: family, rules v2), shipped with the package so that the research note reads it in Colab too.
#: It replaces the issue-16 run (rules v1), whose schema ``load_results`` still reads.
RIGID_CPU_FILE = Path(__file__).parent / "_data" / "thesis_at_scale_rigid_cpu.json"
RESULTS_FILE = RIGID_CPU_FILE

SCHEMA_VERSION = 1  # the issue-16 file (rules v1)
SCHEMA_VERSION_V2 = 2  # the issue-24 files (rules v2)
KS = (1, 2, 4, 8, 16, 32)  # the iterations measured


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``[B, C, H, W]`` images by ``sigma`` pixels (zero padding); ``sigma <= 0``
    returns the images unchanged.

    The kernel is symmetric, so the blur commutes exactly with quarter turns (and with any rotation
    up to interpolation away from the border).
    """
    check_images(images)
    if not isinstance(sigma, (int, float)) or math.isnan(sigma):
        raise TypeError(f"sigma must be a number of pixels, got {sigma!r}")
    if sigma <= 0:
        return images
    g = reg.gaussian_kernel_1d(sigma, dtype=images.dtype, device=images.device)
    radius = len(g) // 2
    c = images.shape[1]
    out = F.conv2d(
        images, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c
    )
    return F.conv2d(
        out, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c
    )


def blur_schedule(k: int, sigma_max: float, coarse_steps: int | None = None) -> tuple:
    """Blur (pixels) for iterations 1..k: linear from ``sigma_max`` down to 0 over the first
    ``coarse_steps`` iterations (default ``k``), then 0 (full resolution).

    ``sigma_max = 0`` gives no blur. Returns a tuple of ``k`` floats.
    """
    k = check_int("k", k, minimum=1)
    if not isinstance(sigma_max, (int, float)) or not sigma_max >= 0:
        raise ValueError(f"sigma_max must be a number >= 0, got {sigma_max!r}")
    coarse = (
        k
        if coarse_steps is None
        else check_int("coarse_steps", coarse_steps, minimum=1)
    )
    if coarse == 1:
        ramp = [float(sigma_max)]
    else:
        ramp = [sigma_max * (1 - j / (coarse - 1)) for j in range(coarse)]
    return tuple(float(s) for s in (ramp + [0.0] * k)[:k])


def unroll(
    step: Callable,
    moving: torch.Tensor,
    fixed: torch.Tensor,
    k: int,
    sigmas=None,
    relax=None,
) -> list:
    """All iterates ``[Psi_1, ..., Psi_k]`` of ``step`` in one pass (k calls), with a blur schedule.

    ``Psi_1 = step(b_1(A), b_1(B))``, ``Psi_{j+1} = Psi_j o step(b_{j+1}(A o Psi_j), b_{j+1}(B))``
    with ``b_j`` the blur by ``sigmas[j-1]`` pixels (0 beyond the end of ``sigmas``; ``None``: no
    blur, when it equals ``registration.iterate(step, j)``). ``relax``: the source's relaxation
    instead, ``Psi_j <- relax_field(Psi_j, relax[j-1])`` after each composition (the last value
    repeats beyond the end; ``None``: none). Returns a list of ``k`` transforms ``[B, H, W, 2]``.
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> transform")
    reg.check_pair(moving, fixed)
    k = check_int("k", k, minimum=1)
    sigmas = tuple(sigmas or ())
    relax = tuple(relax or ())
    out, psi = [], None
    for j in range(k):
        sigma = sigmas[j] if j < len(sigmas) else 0.0
        warped = moving if psi is None else reg.warp(moving, psi)
        phi = step(blur(warped, sigma), blur(fixed, sigma))
        psi = phi if psi is None else reg.compose(psi, phi)
        if relax:
            psi = relax_field(psi, relax[min(j, len(relax) - 1)])
        out.append(psi)
    return out


def conjugated(step: Callable, angles) -> Callable:
    """``A, B -> U o step(A o U, B o U) o U^{-1}`` for rotations U by ``angles`` (number or ``[B]``).

    For a [U,U]-equivariant step it is the step itself (exactly for quarter turns, up to
    interpolation otherwise).
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> transform")

    def f(moving, fixed):
        reg.check_pair(moving, fixed)
        phi = step(reg.pull_back(moving, angles), reg.pull_back(fixed, angles))
        neg = -angles if isinstance(angles, torch.Tensor) else -float(angles)
        return conjugate_transform(phi, neg, neg)

    return f


class ConjugatedStep(torch.nn.Module):
    """A step trained to be [U,U]-equivariant: in training mode every call conjugates it by a
    fresh random rotation per pair (uniform in [0, 2pi), drawn from its own generator seeded with
    ``seed``); in eval mode it is the plain step. ``ConjugatedStep(StepNet(32))(A, B)`` maps
    ``[B, 1, H, W]`` x 2 to ``[B, H, W, 2]``.
    """

    def __init__(self, step: torch.nn.Module, seed: int = 0):
        super().__init__()
        if not isinstance(step, torch.nn.Module):
            raise TypeError(
                f"step must be a torch.nn.Module, got {type(step).__name__}"
            )
        self.step = step
        self.generator = torch.Generator().manual_seed(
            check_int("seed", seed, minimum=0)
        )

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.step(moving, fixed)
        reg.check_pair(moving, fixed)
        angles = 2 * math.pi * torch.rand(moving.shape[0], generator=self.generator)
        return self.conjugate(moving, fixed, angles.to(moving.device))

    def conjugate(self, moving, fixed, angles: torch.Tensor):
        """``U o step(A o U, B o U) o U^{-1}`` with U the rotation by ``angles [B]`` (radians)."""
        return conjugated(self.step, angles)(moving, fixed)


def upright_pair_sampler(
    digits: torch.Tensor, batch: int, same_fraction: float = 0.5
) -> Callable:
    """``sample_batch(step, generator)`` for ``training.train``: pairs whose *fixed* image is always
    upright (``theta_fixed = 0``) and whose moving image is turned by a relative angle uniform in
    [-pi, pi]. Unlike ``registration.pair_sampler`` it never shows the step two images turned alike
    by a common angle, so nothing in the data teaches [U,U]-equivariance (the strict control).

    ``digits``: ``[N, 1, H, W]`` (square, padded). Returns ``RotatedPairs`` of ``batch`` pairs.
    """
    check_images(digits, "digits", square=True)
    batch = check_int("batch", batch, minimum=1)
    if not 0.0 <= same_fraction <= 1.0:
        raise ValueError(f"same_fraction must be in [0, 1], got {same_fraction}")

    def sample_batch(step, generator):
        count, dev, size = digits.shape[0], digits.device, digits.shape[-1]
        i_fixed = torch.randint(count, (batch,), generator=generator)
        i_moving = torch.randint(count, (batch,), generator=generator)
        same = torch.rand(batch, generator=generator) < same_fraction
        i_moving = torch.where(same, i_fixed, i_moving)
        rel = (2 * torch.rand(batch, generator=generator) - 1) * math.pi
        theta_moving, theta_fixed = (-rel).to(dev), torch.zeros(batch, device=dev)
        moving = reg.warp(
            digits[i_moving.to(dev)],
            rotation_transform(theta_moving, size, size, device=dev),
        )
        fixed = digits[i_fixed.to(dev)]
        return reg.RotatedPairs(moving, fixed, theta_moving, theta_fixed, same.to(dev))

    return sample_batch


def every_iterate_loss(
    k: int,
    sigmas=None,
    lam: float = 1.0,
    similarity: Callable = reg.lncc,
    region: str = "square",
    relax=None,
    final_only: bool = False,
) -> Callable:
    """The loss on every iterate: ``mean_j sim(A o Psi_j, B) + lam * GradICON(Psi_j[A,B], Psi_j[B,A])``
    over j = 1..k (``unroll`` with ``sigmas``), for ``training.train``; ``loss_fn(model, pairs)``
    with ``pairs`` a ``RotatedPairs``. The similarity reads the unblurred images. ``region`` is
    GradICON's (``registration.gradicon``): ``"disc"`` charges an exact rotation nothing, the
    default ``"square"`` charges its corners. ``relax``: the transform relaxation of ``unroll``;
    ``final_only``: the loss on ``Psi_k`` alone (the source's choice).
    """
    k = check_int("k", k, minimum=1)
    if not callable(similarity):
        raise TypeError("similarity must be callable: (warped, fixed) -> loss")
    if not isinstance(lam, (int, float)) or lam < 0:
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if region not in ("square", "disc"):
        raise ValueError(f"region must be 'square' or 'disc', got {region!r}")

    def loss_fn(model, pairs):
        forward = unroll(model, pairs.moving, pairs.fixed, k, sigmas, relax)
        backward = (
            unroll(model, pairs.fixed, pairs.moving, k, sigmas, relax) if lam else None
        )
        used = [k - 1] if final_only else range(k)
        total = 0.0
        for j in used:
            phi = forward[j]
            total = total + similarity(reg.warp(pairs.moving, phi), pairs.fixed)
            if lam:
                total = total + lam * reg.gradicon(phi, backward[j], region=region)
        return total / len(used)

    return loss_fn


def wu_errors(
    step: Callable, moving, fixed, w_angle, u_angle, ks=KS, sigmas=None
) -> dict:
    """[W,U] error of every iterate Psi_K, K in ``ks``, in pixels per pair: ``{K: [B]}``.

    The definition of ``registration_metrics.equivariance_error_px`` (mask: the digit in
    ``B o U``), computed for all K from two unrolls of ``max(ks)`` steps.
    """
    probes = {"wu": (w_angle, u_angle)}
    return wu_errors_by_probe(step, moving, fixed, probes, ks, sigmas)["wu"]


def wu_errors_by_probe(
    step: Callable, moving, fixed, probes: dict, ks=KS, sigmas=None
) -> dict:
    """``wu_errors`` for several probes ``{name: (w_angle, u_angle)}`` on the same pairs, sharing
    the unroll of the unrotated pair: ``{name: {K: [B]}}`` from ``1 + len(probes)`` unrolls."""
    reg.check_pair(moving, fixed)
    ks = tuple(check_int("K", K, minimum=1) for K in ks)
    if not ks:
        raise ValueError("ks must name at least one K")
    if not isinstance(probes, dict) or not probes:
        raise ValueError("probes must be a non-empty {name: (w_angle, u_angle)} dict")
    out = {}
    with torch.no_grad():
        rhs = unroll(step, moving, fixed, max(ks), sigmas)
        for name, angles in probes.items():
            if not isinstance(angles, (tuple, list)) or len(angles) != 2:
                raise ValueError(f"probe {name!r} must be a pair (w_angle, u_angle)")
            w_angle, u_angle = angles
            fixed_u = reg.pull_back(fixed, u_angle)
            lhs = unroll(step, reg.pull_back(moving, w_angle), fixed_u, max(ks), sigmas)
            mask = rm.digit_mask(fixed_u)
            out[name] = {
                K: rm.distance_px(
                    lhs[K - 1],
                    conjugate_transform(rhs[K - 1], w_angle, u_angle),
                    mask,
                )
                for K in ks
            }
    return out


def basin(
    step: Callable, moving, fixed, truth_deg: torch.Tensor, k: int, sigmas=None
) -> dict:
    """Where Psi_k ends from each start, and how far one more step moves it (chapter 4's basin cell).

    Args:
        moving, fixed: pairs ``[B, 1, H, W]`` whose true relative angle is ``truth_deg [B]`` degrees.
        k: iterations; sigmas: the blur schedule (the extra step uses ``sigmas[k]`` or 0).
    Returns:
        ``{"found_deg", "error_deg", "residual_px", "to_truth_px"}``, each ``[B]``: the recovered
        angle of Psi_k, its error to the truth, the fixed-point residual (how far, in pixels over the
        digit of B, one more step moves) and the distance of Psi_k to the true rotation.
    """
    reg.check_pair(moving, fixed)
    k = check_int("k", k, minimum=1)
    if not isinstance(truth_deg, torch.Tensor) or truth_deg.shape != moving.shape[:1]:
        raise ValueError("truth_deg must be a tensor of shape [B] (degrees)")
    sigmas = tuple(sigmas or ())
    deg = math.pi / 180
    size = moving.shape[-1]
    with torch.no_grad():
        phi_end = unroll(step, moving, fixed, k, sigmas)[-1]
        sigma = sigmas[k] if k < len(sigmas) else 0.0
        one_more = step(blur(reg.warp(moving, phi_end), sigma), blur(fixed, sigma))
        mask = rm.digit_mask(fixed)
        still = reg.identity_grid(size, size, len(moving), device=moving.device)
        found = rm.recovered_angle(phi_end, fixed)
        truth = truth_deg.to(moving.device, moving.dtype)
        true_phi = rotation_transform(truth * deg, size, size, device=moving.device)
        return {
            "found_deg": found / deg,
            "error_deg": rm.angle_error_deg(found, truth * deg),
            "residual_px": rm.distance_px(one_more, still, mask),
            "to_truth_px": rm.distance_px(phi_end, true_phi, mask),
        }


# ------------------------------------------------------------------------------------ verdict
RULES = {
    "wu_to_floor_at_most": 1.5,
    "basin_share_at_least": 0.95,
    "right_within_deg": 15,
    "wrong_from_deg": 45,
    "refute_right_share_at_least": 0.20,
    "refute_wrong_share_at_least": 0.10,
    "refute_residual_ratio_at_most": 2.0,
}
RULES_TEXT = (
    "An arm confirms at a seed when, from some K0 on up to K = 32, every 10-degree bin's mean "
    "[W,U] error (same 9 and two 9s) is at most 1.5x the [U,U] floor at the same K, and the basin "
    "(share of starts whose Psi_32 is within 15 degrees of the truth) is >= 0.95. It shows the "
    "refuting pattern when the final angles are bimodal, >= 20% of starts within 15 degrees and "
    ">= 10% ending >= 45 degrees off, with a median fixed-point residual at the wrong answers no "
    "more than 2x that at the right ones (settled at wrong answers; a map that never moves is "
    "not bimodal). Verdict: "
    "'confirm' when every [U,U] arm (learned and C4, with and without blur) confirms at every seed "
    "and the no-conjugation control does not confirm at any seed; 'refute' when every [U,U] arm "
    "shows the refuting pattern at every seed; otherwise 'inconclusive'."
)


def arm_verdict(run: dict) -> dict:
    """The rules of ``RULES_TEXT`` applied to one arm at one seed (a ``results[arm][seed]`` entry)."""
    ks = [int(K) for K in run["ks"]]
    floor = run["uu_floor_px"]
    worst_ratio = {}
    for K in ks:
        bins = (
            run["wu_px_by_bin"]["same"][str(K)] + run["wu_px_by_bin"]["two_9s"][str(K)]
        )
        bins = [b for b in bins if b is not None]
        worst_ratio[str(K)] = max(bins) / max(floor[str(K)], 1e-12) if bins else None
    within = [
        r is not None and r <= RULES["wu_to_floor_at_most"]
        for r in worst_ratio.values()
    ]
    settled_from = next(
        (ks[i] for i in range(len(ks)) if all(within[i:])), None
    )  # smallest K0 from which every later K is within
    b = run["basin"]
    confirms = (
        settled_from is not None
        and b["share_within_15"] >= RULES["basin_share_at_least"]
    )
    refutes = (
        b["share_within_15"] >= RULES["refute_right_share_at_least"]
        and b["share_wrong"] >= RULES["refute_wrong_share_at_least"]
        and b["median_residual_wrong_px"] is not None
        and b["median_residual_right_px"] is not None
        and b["median_residual_wrong_px"]
        <= RULES["refute_residual_ratio_at_most"] * b["median_residual_right_px"]
    )
    return {
        "worst_bin_to_floor_by_K": worst_ratio,
        "within_from_K": settled_from,
        "basin_share": b["share_within_15"],
        "confirms": bool(confirms),
        "refutes": bool(refutes),
    }


def verdict(results: dict, thesis_arms, control: str) -> dict:
    """Apply the rules to ``results[arm][seed]``; returns ``{"verdict", "rules", "per_arm", ...}``."""
    thesis_arms = list(thesis_arms)
    missing = [a for a in thesis_arms + [control] if a not in results]
    if missing:
        raise ValueError(f"results lack the arms {missing}")
    per_arm = {
        arm: {seed: arm_verdict(run) for seed, run in runs.items()}
        for arm, runs in results.items()
    }

    def every(arm, key):
        return all(v[key] for v in per_arm[arm].values())

    control_confirms = any(v["confirms"] for v in per_arm[control].values())
    if all(every(a, "confirms") for a in thesis_arms) and not control_confirms:
        outcome = "confirm"
    elif all(every(a, "refutes") for a in thesis_arms):
        outcome = "refute"
    else:
        outcome = "inconclusive"
    return {
        "verdict": outcome,
        "rules": RULES_TEXT,
        "thresholds": dict(RULES),
        "thesis_arms": thesis_arms,
        "control": control,
        "per_arm": per_arm,
    }


# ------------------------------------------------------------------------------------ reading
def wu_to_floor(run: dict, group: str = "same") -> list:
    """One run's [W,U] error over its [U,U] floor, ``[len(ks)][n_bins]`` (rows K, columns angle bins;
    ``None`` for an empty bin): the quantity the verdict compares with 1.5."""
    if group not in ("same", "two_9s"):
        raise ValueError(f"group must be 'same' or 'two_9s', got {group!r}")
    rows = []
    for K in run["ks"]:
        floor = max(run["uu_floor_px"][str(K)], 1e-12)
        rows.append(
            [
                None if e is None else e / floor
                for e in run["wu_px_by_bin"][group][str(K)]
            ]
        )
    return rows


def seed_mean(runs: dict, table: Callable) -> list:
    """The mean over seeds of ``table(run)``, a ``[rows][cols]`` list per run (``None`` entries are
    left out of the mean; ``None`` where every seed has ``None``). ``runs``: ``results[arm]``."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty {seed: run} dict (results[arm])")
    tables = [table(run) for run in runs.values()]
    shape = (len(tables[0]), len(tables[0][0]))
    if any((len(t), len(t[0])) != shape for t in tables):
        raise ValueError("every seed's table must have the same shape")
    out = []
    for i in range(shape[0]):
        row = []
        for j in range(shape[1]):
            vals = [t[i][j] for t in tables if t[i][j] is not None]
            row.append(sum(vals) / len(vals) if vals else None)
        out.append(row)
    return out


# ------------------------------------------------------------------------------------ schema
_TOP = {
    "schema_version": int,
    "results": dict,
    "provenance": dict,
    "verdict": dict,
}
_PROVENANCE = (
    "git_commit",
    "seeds",
    "torch",
    "python",
    "machine",
    "device",
    "preset",
    "sizes",
    "date",
)
_RUN = (
    "ks",
    "wu_px_by_bin",
    "uu_floor_px",
    "median_angle_error_deg_by_bin",
    "basin",
    "seconds",
)
_BASIN = (
    "share_within_15",
    "share_wrong",
    "median_residual_right_px",
    "median_residual_wrong_px",
)


_RUN_V2 = (
    "ks",
    "k_train",
    "k_long",
    "gate",
    "angle_error_deg_by_bin",
    "wu_same_median_px_by_bin",
    "identity_wu_same_median_px_by_bin",
    "uu_floor_px",
    "basin",
    "identity_basin_share",
    "direction_field",
    "seconds",
)
_PROVENANCE_V2 = _PROVENANCE + (
    "family",
    "seeds_requested",
    "cpu_seconds",
    "wall_seconds",
)


def _checked_runs(data: dict, fail: Callable, provenance_keys, run_keys) -> list:
    """The checks both schemas share: provenance keys, non-empty results, each arm an object of
    seeds, each run an object with ``run_keys``. Returns ``[(where, run)]`` for the rest."""
    for key in provenance_keys:
        if key not in data["provenance"]:
            fail(f"provenance lacks {key!r}")
    if not data["results"]:
        fail("results is empty")
    out = []
    for arm, runs in data["results"].items():
        if not isinstance(runs, dict) or not runs:
            fail(f"results[{arm!r}] must be a non-empty object of seeds")
        for seed, run in runs.items():
            where = f"results[{arm!r}][{seed!r}]"
            if not isinstance(run, dict):
                fail(f"{where} must be an object")
            for key in run_keys:
                if key not in run:
                    fail(f"{where} lacks {key!r}")
            out.append((where, run))
    return out


def _check_v2(data: dict, fail: Callable) -> None:
    """The schema of a rules-v2 file, and that its verdict and per-seed statuses follow from its
    numbers by the rules."""
    if data.get("rules_version") != RULES_VERSION:
        fail(
            f"rules_version must be {RULES_VERSION}, got {data.get('rules_version')!r}"
        )
    for where, run in _checked_runs(data, fail, _PROVENANCE_V2, _RUN_V2):
        ks = sorted(str(K) for K in run["ks"])
        for key in ("angle_error_deg_by_bin", "wu_same_median_px_by_bin", "basin"):
            if sorted(run[key]) != ks:
                fail(f"{where}[{key!r}] must have one entry per K {ks}")
        n_bins = len(BIN_EDGES_DEG) - 1
        if any(len(v) != n_bins for v in run["wu_same_median_px_by_bin"].values()):
            fail(f"{where}: every K needs {n_bins} angle bins")
    v = data["verdict"]
    if v.get("verdict") not in STATUSES:
        fail(f"verdict must be one of {STATUSES}, got {v.get('verdict')!r}")
    if v.get("rules_version") != RULES_VERSION or "per_seed" not in v:
        fail("the verdict must record rules_version and per_seed")
    if all(a in data["results"] for a in ("iterated", "upright", "one_shot")):
        again = verdict_v2(data["results"])
        if (again["verdict"], again["per_seed"]) != (v["verdict"], v["per_seed"]):
            fail(
                f"the stored verdict {v['verdict']!r} / {v['per_seed']} does not follow from "
                f"the results by rules v2 ({again['verdict']!r} / {again['per_seed']})"
            )
    ran = sorted(int(s) for s in data["results"].get("iterated", {}))
    if ran and ran != sorted(data["provenance"]["seeds"]):
        fail(
            f"provenance seeds {data['provenance']['seeds']} are not the seeds that ran {ran}"
        )


def load_results(path=None) -> dict:
    """Read the results JSON of ``scripts/thesis_at_scale.py`` (default: ``RESULTS_FILE``, the
    committed issue-24 run) and check its schema (v1 or v2, by its ``schema_version``).

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` (naming the file and
    the offending key) when it is not valid JSON or its schema is wrong. Returns the parsed dict.
    """
    path = Path(RESULTS_FILE if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e

    def fail(msg):
        raise ValueError(f"{path}: {msg}")

    if not isinstance(data, dict):
        fail("the top level must be an object")
    for key, kind in _TOP.items():
        if key not in data:
            fail(f"missing key {key!r}")
        if not isinstance(data[key], kind):
            fail(f"{key!r} must be a {kind.__name__}, got {type(data[key]).__name__}")
    if data["schema_version"] == SCHEMA_VERSION_V2:
        _check_v2(data, fail)
        return data
    if data["schema_version"] != SCHEMA_VERSION:
        fail(
            f"schema_version {data['schema_version']} is not {SCHEMA_VERSION} or "
            f"{SCHEMA_VERSION_V2}"
        )
    for where, run in _checked_runs(data, fail, _PROVENANCE, _RUN):
        ks = [str(K) for K in run["ks"]]
        for group in ("same", "two_9s"):
            by_k = run["wu_px_by_bin"].get(group)
            if not isinstance(by_k, dict) or sorted(by_k) != sorted(ks):
                fail(
                    f"{where}['wu_px_by_bin'][{group!r}] must have one entry per K {ks}"
                )
        if sorted(run["uu_floor_px"]) != sorted(ks):
            fail(f"{where}['uu_floor_px'] must have one entry per K {ks}")
        for key in _BASIN:
            if key not in run["basin"]:
                fail(f"{where}['basin'] lacks {key!r}")
    v = data["verdict"]
    if v.get("verdict") not in ("confirm", "refute", "inconclusive"):
        fail(
            f"verdict must be 'confirm', 'refute' or 'inconclusive', got {v.get('verdict')!r}"
        )
    if (
        "thesis_arms" in v
    ):  # a full run: the stored verdict must follow from the results
        again = verdict(data["results"], v["thesis_arms"], v["control"])["verdict"]
        if again != v["verdict"]:
            fail(
                f"the stored verdict {v['verdict']!r} does not follow from the results "
                f"by the rules ({again!r})"
            )
    return data


# ------------------------------------------------------------------------------ rules v2 (issue 24)
RULES_VERSION = 2
RULES_V2 = {
    "gate_max_median_error_deg": 5.0,  # at K_train, pairs with |delta| <= 45 degrees
    "gate_max_abs_delta_deg": 45.0,
    "right_within_deg": 15.0,  # a start is in the basin when Psi_K ends this close to the truth
    "confirm_basin_at_least": 0.90,  # at every seed, read at 4 x K_train
    "confirm_wu_to_identity_at_most": 0.15,  # same-9 median [W,U] error, every 10-degree bin
    "control_margin_at_least": 0.30,  # each control's basin at least this much lower
    "refute_basin_at_most": 0.60,  # at every seed (with the gate passed)
    "long_k_factor": 4,  # the verdict reads Psi_K at K = 4 x K_train
}
RULES_V2_TEXT = (
    "Rules v2 (issue 24). Competence gate: at the trained horizon K_train, the median recovered-"
    "angle error of same-9 pairs with |delta| <= 45 degrees is <= 5 degrees; a seed whose iterated "
    "arm fails it is 'underpowered' (it can neither confirm nor refute). A seed confirms when the "
    "gate passes; the basin (share of start angles whose Psi_K, K = 4 x K_train, ends within 15 "
    "degrees of the truth) is >= 0.90; in every 10-degree bin the same-9 median [W,U] error of "
    "Psi_K is <= 0.15x the identity map's; and both controls sit at least 0.3 lower in basin: the "
    "step trained without conjugation on upright pairs (read at the same K) and the one-shot step "
    "trained with the same number of step calls (read at K = 1). A seed refutes when the gate "
    "passes and the basin is <= 0.60. Otherwise it is inconclusive. The run's verdict: "
    "'underpowered' if any seed is, 'confirm' if every seed confirms, 'refute' if every seed "
    "refutes, else 'inconclusive'. The [W,U]/[U,U]-floor ratio is a diagnostic only."
)
BIN_EDGES_DEG = tuple(range(0, 181, 10))
BASIN_TRUE_DEG = tuple(range(-180, 180, 10))
STATUSES = ("confirm", "refute", "inconclusive", "underpowered")


def relax_field(phi: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur a transform's displacement by ``sigma`` pixels, leaving affine maps exact (the source's
    relaxation between iterations: it erases stroke-squishing and keeps the rigid part).

    The displacement is padded by odd reflection about the border (``2 u_edge - u_mirror``), which
    continues an affine field affinely, so a symmetric kernel returns it unchanged.
    ``phi [B, H, W, 2]`` -> ``[B, H, W, 2]``; ``sigma <= 0`` returns ``phi``.
    """
    reg.check_transform(phi)
    if not isinstance(sigma, (int, float)) or math.isnan(sigma):
        raise TypeError(f"sigma must be a number of pixels, got {sigma!r}")
    if sigma <= 0:
        return phi
    g = reg.gaussian_kernel_1d(sigma, dtype=phi.dtype, device=phi.device)
    radius = len(g) // 2
    h, w = phi.shape[1:3]
    if radius >= min(h, w):
        raise ValueError(f"sigma {sigma} px is too wide for a {h}x{w} field")
    u = reg.transform_to_displacement(phi).permute(0, 3, 1, 2)  # [B, 2, H, W]
    mirrored = F.pad(u, (radius,) * 4, mode="reflect")
    edge = F.pad(u, (radius,) * 4, mode="replicate")
    padded = 2 * edge - mirrored
    out = F.conv2d(padded, g.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2)
    out = F.conv2d(out, g.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2)
    return reg.displacement_to_transform(out.permute(0, 2, 3, 1))


def _medians(values: torch.Tensor, delta: torch.Tensor) -> list:
    return [
        round(v.median().item(), 5) if len(v) else None
        for v in rm.by_angle_bin(values, delta, BIN_EDGES_DEG)
    ]


def evaluate_v2(
    unroll_fn: Callable,
    test9: torch.Tensor,
    seed: int,
    k_train: int,
    n_eval: int,
    n_basin: int,
    chunk: int = 256,
) -> dict:
    """Every measure rules v2 read, for one trained step at one seed (family-agnostic).

    Args:
        unroll_fn: ``(moving, fixed, k) -> [Psi_1, ..., Psi_k]`` transforms ``[B, H, W, 2]``.
        test9: held-out 9s ``[N, 1, H, W]`` (square, padded). seed: picks the held-out streams.
        k_train: the trained horizon; measured at K = 1, K_train and 4 x K_train.
        n_eval: same-9 pairs for the angle error and [W,U] error (relative angles uniform in
            [-180, 180]); n_basin: 9s in the basin, each at the 36 start angles -180, -170, ... 170.
    Returns:
        a JSON-ready dict: ``ks``, ``gate``, ``angle_error_deg_by_bin`` and
        ``wu_same_median_px_by_bin`` (per K, 10-degree bins), ``identity_wu_same_median_px_by_bin``,
        ``uu_floor_px`` (per K, diagnostic), ``basin`` (per K: share within 15 degrees, overall and
        per true angle), ``identity_basin_share`` and ``direction_field`` (one step).
    """
    if not callable(unroll_fn):
        raise TypeError(
            "unroll_fn must be callable: (moving, fixed, k) -> list of transforms"
        )
    check_images(test9, "test9", square=True)
    k_train = check_int("k_train", k_train, minimum=1)
    n_eval = check_int("n_eval", n_eval, minimum=1)
    n_basin = check_int("n_basin", n_basin, minimum=1)
    k_long = RULES_V2["long_k_factor"] * k_train
    ks = sorted({1, k_train, k_long})
    deg, dev, size = math.pi / 180, test9.device, test9.shape[-1]
    g = _generator(seed, 5)
    base = reg.rotated_pairs(test9, n_eval, g, shared=True, same_fraction=1.0)
    u = (2 * math.pi * torch.rand(n_eval, generator=g)).to(dev)
    delta = ((2 * torch.rand(n_eval, generator=g) - 1) * math.pi).to(dev)
    w = (
        u - delta
    )  # the problem [A o W, B o U] has the true relative angle u - w = delta
    errors, wu, floor, ident = (
        {K: [] for K in ks},
        {K: [] for K in ks},
        {K: [] for K in ks},
        [],
    )
    still = reg.identity_grid(size, size, 1, device=dev)
    with torch.no_grad():
        for part in _chunks(n_eval, chunk):
            m, f, wp, up = base.moving[part], base.fixed[part], w[part], u[part]
            fixed_u = reg.pull_back(f, up)
            mask = rm.digit_mask(fixed_u)
            rhs = unroll_fn(m, f, k_long)
            lhs = unroll_fn(reg.pull_back(m, wp), fixed_u, k_long)
            same = unroll_fn(reg.pull_back(m, up), fixed_u, k_long)
            ident.append(
                rm.distance_px(
                    still.expand_as(rhs[0]),
                    conjugate_transform(still.expand_as(rhs[0]), wp, up),
                    mask,
                )
            )
            for K in ks:
                found = rm.recovered_angle(lhs[K - 1], fixed_u)
                errors[K].append(rm.angle_error_deg(found, delta[part]))
                wu[K].append(
                    rm.distance_px(
                        lhs[K - 1], conjugate_transform(rhs[K - 1], wp, up), mask
                    )
                )
                floor[K].append(
                    rm.distance_px(
                        same[K - 1], conjugate_transform(rhs[K - 1], up, up), mask
                    )
                )
    errors = {K: torch.cat(v) for K, v in errors.items()}
    small = delta.abs() <= RULES_V2["gate_max_abs_delta_deg"] * deg
    out = {
        "ks": ks,
        "k_train": k_train,
        "k_long": k_long,
        "n_eval": n_eval,
        "n_basin": n_basin,
        "edges_deg": list(BIN_EDGES_DEG),
        "gate": {
            "k": k_train,
            "median_error_deg": errors[k_train][small].median().item(),
            "n_pairs": int(small.sum().item()),
        },
        "angle_error_deg_by_bin": {str(K): _medians(errors[K], delta) for K in ks},
        "wu_same_median_px_by_bin": {
            str(K): _medians(torch.cat(wu[K]), delta) for K in ks
        },
        "identity_wu_same_median_px_by_bin": _medians(torch.cat(ident), delta),
        "uu_floor_px": {str(K): torch.cat(floor[K]).mean().item() for K in ks},
    }
    # basin: n_basin 9s, each turned so that the true relative angle runs every 10 degrees
    upright = reg.rotated_pairs(
        test9, n_basin, _generator(seed, 6), shared=True, same_fraction=1.0
    )
    true_deg = torch.tensor(BASIN_TRUE_DEG, dtype=torch.float32, device=dev)
    moving = torch.cat(
        [reg.pull_back(upright.moving, -t * deg) for t in BASIN_TRUE_DEG]
    )
    fixed = upright.fixed.repeat(len(BASIN_TRUE_DEG), 1, 1, 1)
    truth = true_deg.repeat_interleave(n_basin)
    found = {K: [] for K in ks}
    with torch.no_grad():
        for part in _chunks(len(truth), chunk):
            iterates = unroll_fn(moving[part], fixed[part], k_long)
            for K in ks:
                found[K].append(rm.recovered_angle(iterates[K - 1], fixed[part]) / deg)
    found = {K: torch.cat(v) for K, v in found.items()}
    out["basin"] = {}
    for K in ks:
        err = rm.angle_error_deg(found[K] * deg, truth * deg)
        right = err < RULES_V2["right_within_deg"]
        out["basin"][str(K)] = {
            "share_within_15": right.float().mean().item(),
            "share_by_true_deg": [
                right[truth == t].float().mean().item() for t in true_deg
            ],
            "median_error_by_true_deg": [
                round(err[truth == t].median().item(), 3) for t in true_deg
            ],
        }
    out["identity_basin_share"] = (
        (truth.abs() < RULES_V2["right_within_deg"]).float().mean().item()
    )
    turn = torch.remainder(found[1] + 180, 360) - 180  # one step's turn, degrees
    signed = truth.sign() * turn.sign()
    out["direction_field"] = {
        "true_deg": list(BASIN_TRUE_DEG),
        "right_way_share": [
            None if t in (0, -180) else (signed[truth == t] > 0).float().mean().item()
            for t in BASIN_TRUE_DEG
        ],
        "median_turn_deg": [
            round(turn[truth == t].median().item(), 3) for t in BASIN_TRUE_DEG
        ],
    }
    return out


def _generator(seed: int, stream: int) -> torch.Generator:
    from .utils import generator

    return generator(seed, stream)


def _chunks(n: int, size: int) -> list:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def seed_status(thesis_run: dict, controls: dict) -> dict:
    """Rules v2 for one seed: ``thesis_run`` is the iterated arm's ``evaluate_v2`` dict, ``controls``
    ``{name: (run, K)}`` the controls' dicts and the K each is read at (upright: 4 x K_train,
    one-shot: 1). Returns the status and every number it rests on."""
    r = RULES_V2
    k_long = str(thesis_run["k_long"])
    gate = thesis_run["gate"]["median_error_deg"]
    gate_ok = gate <= r["gate_max_median_error_deg"]
    basin_share = thesis_run["basin"][k_long]["share_within_15"]
    wu = thesis_run["wu_same_median_px_by_bin"][k_long]
    ident = thesis_run["identity_wu_same_median_px_by_bin"]
    ratios = [
        None if a is None or b is None else a / max(b, 1e-12) for a, b in zip(wu, ident)
    ]
    worst = max((x for x in ratios if x is not None), default=None)
    bins_ok = worst is not None and worst <= r["confirm_wu_to_identity_at_most"]
    control_basins = {
        name: run["basin"][str(K)]["share_within_15"]
        for name, (run, K) in controls.items()
    }
    controls_ok = bool(controls) and all(
        basin_share - b >= r["control_margin_at_least"] - 1e-9
        for b in control_basins.values()
    )
    if not gate_ok:
        status = "underpowered"
    elif basin_share >= r["confirm_basin_at_least"] and bins_ok and controls_ok:
        status = "confirm"
    elif basin_share <= r["refute_basin_at_most"]:
        status = "refute"
    else:
        status = "inconclusive"
    return {
        "status": status,
        "gate_median_error_deg": gate,
        "gate_passes": bool(gate_ok),
        "basin_share": basin_share,
        "worst_wu_to_identity": worst,
        "wu_bins_pass": bool(bins_ok),
        "control_basins": control_basins,
        "controls_pass": bool(controls_ok),
    }


def verdict_v2(results: dict, thesis_arm: str = "iterated", controls=None) -> dict:
    """Rules v2 over ``results[arm][seed]`` (``evaluate_v2`` dicts): the run's verdict, each seed's
    status (``per_seed``), and the numbers. ``controls``: ``{arm: "long" | K}`` (default: upright at
    4 x K_train, one_shot at K = 1); a seed counts only where the thesis arm and every control ran."""
    controls = (
        {"upright": "long", "one_shot": 1} if controls is None else dict(controls)
    )
    missing = [a for a in [thesis_arm, *controls] if a not in results]
    if missing:
        raise ValueError(f"results lack the arms {missing}")
    seeds = [s for s in results[thesis_arm] if all(s in results[c] for c in controls)]
    if not seeds:
        raise ValueError("no seed ran in the thesis arm and every control")
    detail = {}
    for s in seeds:
        ctl = {
            c: (results[c][s], results[c][s]["k_long"] if K == "long" else K)
            for c, K in controls.items()
        }
        detail[s] = seed_status(results[thesis_arm][s], ctl)
    statuses = [d["status"] for d in detail.values()]
    if "underpowered" in statuses:
        outcome = "underpowered"
    elif all(x == "confirm" for x in statuses):
        outcome = "confirm"
    elif all(x == "refute" for x in statuses):
        outcome = "refute"
    else:
        outcome = "inconclusive"
    gates = {
        arm: {s: run["gate"]["median_error_deg"] for s, run in runs.items()}
        for arm, runs in results.items()
    }
    return {
        "verdict": outcome,
        "per_seed": {s: d["status"] for s, d in detail.items()},
        "seed_detail": detail,
        "gate_by_arm": gates,
        "rules_version": RULES_VERSION,
        "rules": RULES_V2_TEXT,
        "thresholds": dict(RULES_V2),
        "thesis_arm": thesis_arm,
        "controls": {c: K for c, K in controls.items()},
    }


# ----------------------------------------------------------------------- reading a v2 file
def read_k(run: dict, arm: str) -> int:
    """The K an arm is read at by rules v2: the one-shot step at K = 1, every other arm at
    4 x K_train."""
    return 1 if arm == "one_shot" else int(run["k_long"])


def basin_summary(data: dict) -> dict:
    """``{arm: {seed: basin share}}`` at the K each arm is read at, plus ``"identity"``."""
    out = {
        arm: {
            s: run["basin"][str(read_k(run, arm))]["share_within_15"]
            for s, run in runs.items()
        }
        for arm, runs in data["results"].items()
    }
    first = next(iter(next(iter(data["results"].values())).values()))
    out["identity"] = {s: first["identity_basin_share"] for s in out[next(iter(out))]}
    return out


def verdict_table_html(data: dict) -> str:
    """One row per seed: the gate, the basins (iterated at 4 x K_train and K = 1, the controls),
    the worst same-9 [W,U] bin over the identity's, and the seed's status (HTML)."""
    v, res = data["verdict"], data["results"]
    it = res["iterated"]
    k_long = next(iter(it.values()))["k_long"]
    head = (
        "seed",
        "gate (°)",
        f"basin K={k_long}",
        "basin K=1",
        f"upright K={k_long}",
        "one-shot K=1",
        "worst [W,U] / identity",
        "status",
    )
    rows = []
    for s, d in v["seed_detail"].items():
        rows.append(
            (
                s,
                f"{d['gate_median_error_deg']:.2f}",
                f"{d['basin_share']:.2f}",
                f"{it[s]['basin']['1']['share_within_15']:.2f}",
                f"{d['control_basins']['upright']:.2f}",
                f"{d['control_basins']['one_shot']:.2f}",
                f"{d['worst_wu_to_identity']:.2f}",
                d["status"],
            )
        )
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def gate_table_html(data: dict) -> str:
    """The competence gate of every arm at every seed: median angle error (degrees) for
    ``|delta| <= 45`` at K_train, against the bound (HTML)."""
    bound = RULES_V2["gate_max_median_error_deg"]
    arms = list(data["results"])
    seeds = list(data["results"][arms[0]])
    head = "".join(f"<th>seed {s}</th>" for s in seeds)
    body = ""
    for arm in arms:
        cells = ""
        for s in seeds:
            run = data["results"][arm].get(s)
            if run is None:
                cells += "<td></td>"
                continue
            e = run["gate"]["median_error_deg"]
            cells += f"<td>{e:.2f}{' ✓' if e <= bound else ' ✗'}</td>"
        body += f"<tr><td>{arm} (K={data['results'][arm][seeds[0]]['k_train']})</td>{cells}</tr>"
    return (
        f"<table><thead><tr><th>arm (K_train)</th>{head}</tr></thead><tbody>{body}"
        f"</tbody></table>"
    )


def plot_direction_field(
    data: dict, arms=("iterated", "one_shot", "upright"), axes=None
):
    """For each true angle, the share of starts one step turns the right way (top) and the median
    turn (bottom), one thin line per seed; the diagonal is a step that registers in one call."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 5.4), sharex=True)
    colours = dict(zip(arms, ("C0", "C1", "C2")))
    for arm in arms:
        for i, run in enumerate(data["results"][arm].values()):
            field = run["direction_field"]
            label = arm if i == 0 else None
            share = [float("nan") if x is None else x for x in field["right_way_share"]]
            axes[0].plot(
                field["true_deg"], share, color=colours[arm], lw=1, label=label
            )
            axes[1].plot(
                field["true_deg"], field["median_turn_deg"], color=colours[arm], lw=1
            )
    axes[0].axhline(0.5, color="gray", ls=":", lw=0.8)
    axes[0].set(ylabel="share turned the right way", ylim=(-0.05, 1.05))
    axes[0].legend(fontsize=8, loc="lower center", ncol=3)
    axes[1].plot([-180, 170], [-180, 170], "k--", lw=0.8, label="registers in one step")
    axes[1].axhline(0, color="gray", ls=":", lw=0.8)
    axes[1].set(xlabel="true relative angle (°)", ylabel="median turn of one step (°)")
    axes[1].legend(fontsize=8)
    return axes


def plot_basins(data: dict, ax=None):
    """The basin by true angle: share of starts that end within 15 degrees, for the iterated step
    at 4 x K_train and at K = 1, the controls at the K they are read at, and the identity map."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.4))
    true_deg = list(BASIN_TRUE_DEG)
    lines = [("iterated", None, "C0", "-"), ("iterated", 1, "C0", ":")]
    lines += [("one_shot", None, "C1", "-"), ("upright", None, "C2", "-")]
    for arm, K, colour, style in lines:
        for i, run in enumerate(data["results"][arm].values()):
            k = read_k(run, arm) if K is None else K
            share = run["basin"][str(k)]["share_by_true_deg"]
            label = f"{arm}, K={k}" if i == 0 else None
            ax.plot(true_deg, share, color=colour, ls=style, lw=1, label=label)
    ident = [1.0 if abs(t) < RULES_V2["right_within_deg"] else 0.0 for t in true_deg]
    ax.plot(true_deg, ident, color="k", lw=1.5, ls="--", label="identity map")
    ax.set(
        xlabel="true relative angle (°)",
        ylabel="share ending within 15°",
        ylim=(-0.05, 1.05),
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=5)
    return ax


def wu_to_identity(run: dict) -> list:
    """One run's same-9 median [W,U] error over the identity map's, ``[len(ks)][18]`` (rows K,
    columns 10-degree bins; ``None`` for an empty bin): what rules v2 compare with 0.15."""
    ident = run["identity_wu_same_median_px_by_bin"]
    return [
        [
            None if a is None or b is None else a / max(b, 1e-12)
            for a, b in zip(run["wu_same_median_px_by_bin"][str(K)], ident)
        ]
        for K in run["ks"]
    ]


def plot_wu_heatmap(data: dict, arms=("iterated", "one_shot", "upright"), axes=None):
    """Same-9 median [W,U] error over the identity map's, by angle bin (columns) and K (rows),
    averaged over seeds, one panel per arm; the cyan contour is the rules' bound 0.15."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 2.8), sharey=False)
    bound = RULES_V2["confirm_wu_to_identity_at_most"]
    image = None
    for ax, arm in zip(axes, arms):
        runs = data["results"][arm]
        ks = next(iter(runs.values()))["ks"]
        ratio = seed_mean(runs, wu_to_identity)
        grid = torch.tensor(
            [[float("nan") if v is None else v for v in r] for r in ratio]
        )
        log_ratio = grid.clamp_min(1e-3).log10().numpy()
        image = ax.imshow(
            log_ratio,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=-2,
            vmax=0.5,
            extent=(0, 180, -0.5, len(ks) - 0.5),
        )
        if len(ks) > 1:
            ax.contour(
                torch.linspace(5, 175, grid.shape[1]).tolist(),
                list(range(len(ks))),
                log_ratio,
                levels=[math.log10(bound)],
                colors="c",
                linewidths=1,
            )
        ax.set(
            title=arm,
            yticks=range(len(ks)),
            yticklabels=ks,
            xlabel="relative angle (°)",
        )
    axes[0].set_ylabel("iterations K")
    axes[-1].figure.colorbar(image, ax=list(axes), label="log10 ([W,U] / identity's)")
    return image
