"""The thesis at scale (issue 16): does iterating a [U,U]-equivariant step give [W,U]-equivariance?

Reusable pieces of ``scripts/thesis_at_scale.py`` and of the chapter 4 section that reads its
results: a coarse-to-fine blur schedule between iterations, a step conjugated by a fresh random
rotation (learned [U,U]-equivariance), the loss on every iterate, the [W,U] error of every iterate
in one pass, the basin of attraction with the fixed-point residual (the definitions of chapter 4's
"basin of attraction" cell), the verdict rules and ``load_results``, the schema check of the
results file.

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
    "seed_mean",
    "wu_to_floor",
]

#: The committed results of ``scripts/thesis_at_scale.py`` (shipped with the package, so that the
#: chapter reads them in Colab too).
RESULTS_FILE = Path(__file__).parent / "_data" / "thesis_at_scale.json"

SCHEMA_VERSION = 1
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
    step: Callable, moving: torch.Tensor, fixed: torch.Tensor, k: int, sigmas=None
) -> list:
    """All iterates ``[Psi_1, ..., Psi_k]`` of ``step`` in one pass (k calls), with a blur schedule.

    ``Psi_1 = step(b_1(A), b_1(B))``, ``Psi_{j+1} = Psi_j o step(b_{j+1}(A o Psi_j), b_{j+1}(B))``
    with ``b_j`` the blur by ``sigmas[j-1]`` pixels (0 beyond the end of ``sigmas``; ``None``: no
    blur, when it equals ``registration.iterate(step, j)``). Returns a list of ``k`` transforms
    ``[B, H, W, 2]``.
    """
    if not callable(step):
        raise TypeError("step must be callable: (A, B) -> transform")
    reg.check_pair(moving, fixed)
    k = check_int("k", k, minimum=1)
    sigmas = tuple(sigmas or ())
    out, psi = [], None
    for j in range(k):
        sigma = sigmas[j] if j < len(sigmas) else 0.0
        warped = moving if psi is None else reg.warp(moving, psi)
        phi = step(blur(warped, sigma), blur(fixed, sigma))
        psi = phi if psi is None else reg.compose(psi, phi)
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
        return conjugated(self.step, angles.to(moving.device))(moving, fixed)


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
) -> Callable:
    """The loss on every iterate: ``mean_j sim(A o Psi_j, B) + lam * GradICON(Psi_j[A,B], Psi_j[B,A])``
    over j = 1..k (``unroll`` with ``sigmas``), for ``training.train``; ``loss_fn(model, pairs)``
    with ``pairs`` a ``RotatedPairs``. The similarity reads the unblurred images. ``region`` is
    GradICON's (``registration.gradicon``): ``"disc"`` charges an exact rotation nothing, the
    default ``"square"`` charges its corners.
    """
    k = check_int("k", k, minimum=1)
    if not callable(similarity):
        raise TypeError("similarity must be callable: (warped, fixed) -> loss")
    if not isinstance(lam, (int, float)) or lam < 0:
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if region not in ("square", "disc"):
        raise ValueError(f"region must be 'square' or 'disc', got {region!r}")

    def loss_fn(model, pairs):
        forward = unroll(model, pairs.moving, pairs.fixed, k, sigmas)
        backward = unroll(model, pairs.fixed, pairs.moving, k, sigmas) if lam else None
        total = 0.0
        for j, phi in enumerate(forward):
            total = total + similarity(reg.warp(pairs.moving, phi), pairs.fixed)
            if lam:
                total = total + lam * reg.gradicon(phi, backward[j], region=region)
        return total / k

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


def load_results(path=None) -> dict:
    """Read the results JSON of ``scripts/thesis_at_scale.py`` (default: ``RESULTS_FILE``, the
    committed run) and check its schema.

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
    if data["schema_version"] != SCHEMA_VERSION:
        fail(f"schema_version {data['schema_version']} is not {SCHEMA_VERSION}")
    for key in _PROVENANCE:
        if key not in data["provenance"]:
            fail(f"provenance lacks {key!r}")
    if not data["results"]:
        fail("results is empty")
    for arm, runs in data["results"].items():
        if not isinstance(runs, dict) or not runs:
            fail(f"results[{arm!r}] must be a non-empty object of seeds")
        for seed, run in runs.items():
            where = f"results[{arm!r}][{seed!r}]"
            if not isinstance(run, dict):
                fail(f"{where} must be an object")
            for key in _RUN:
                if key not in run:
                    fail(f"{where} lacks {key!r}")
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
