"""A moral principle as a diagram: a toy decision model that must not care whose name is on a case.

Inputs are pairs (name, situation): ``names`` are indices ``[B]`` into a list of people, ``situations``
are feature vectors ``[B, d]``; the output is a decision logit ``[B]`` ("act" when positive). The
principle is the invariance triangle

    (a, s) --swap names--> (b, s)
         \\                 /
          f               f
           \\             /
            v           v
             decision

Two ways to get it:

* ``DecisionModel`` learns it, at best, from data in which names carry no information (trained-only);
* ``NameInvariantModel`` averages a ``DecisionModel`` over a group that moves every name to every
  other (the cyclic shifts of the name list), with ``equivariance.symmetrize``; its output cannot
  depend on the name, for every name, seen in training or not.

``feedback_rounds`` plays operator: it corrects the decision for one name at a time, fine-tunes, and
counts how many corrections it takes until the decision is right for every name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .equivariance import symmetrize
from .groups import cyclic_group
from .utils import check_int

__all__ = [
    "NAMES",
    "name_features",
    "DecisionModel",
    "NameInvariantModel",
    "rule_direction",
    "make_cases",
    "decisions",
    "swap_disagreement",
    "fine_tune",
    "FeedbackResult",
    "feedback_rounds",
]

NAMES = (
    "Ahmed",
    "Colin",
    "Mei",
    "Olu",
    "Priya",
    "Sven",
    "Ana",
    "Kenji",
    "Fatima",
    "Liam",
    "Zara",
    "Dmitri",
    "Amara",
    "Tomás",
    "Yuki",
    "Noah",
    "Leila",
    "Kwame",
    "Ines",
    "Ravi",
    "Hana",
    "Mateo",
    "Sofia",
    "Jamal",
    "Ingrid",
    "Chen",
    "Nadia",
    "Pedro",
    "Aisha",
    "Lars",
    "Maya",
    "Tariq",
    "Elena",
    "Kofi",
    "Rosa",
    "Arjun",
    "Greta",
    "Omar",
    "Lucia",
    "Ade",
)


def _check_inputs(names, situations, n_names: int, d_situation: int):
    if (
        not isinstance(names, torch.Tensor)
        or names.dtype not in (torch.int64, torch.int32)
        or names.dim() != 1
    ):
        raise TypeError("names must be an integer tensor [B] of name indices")
    if (
        not isinstance(situations, torch.Tensor)
        or not situations.is_floating_point()
        or situations.dim() != 2
    ):
        raise TypeError("situations must be a floating tensor [B, d]")
    if situations.shape[0] != names.shape[0]:
        raise ValueError(
            f"got {names.shape[0]} names for {situations.shape[0]} situations"
        )
    if situations.shape[1] != d_situation:
        raise ValueError(
            f"situations must have {d_situation} features, got {situations.shape[1]}"
        )
    if names.numel() and (names.min() < 0 or names.max() >= n_names):
        raise ValueError(f"name indices must be in 0..{n_names - 1}")


def name_features(
    n_names: int, d_name: int = 8, seen=(), seen_dims: int = 4, seed: int = 0
) -> torch.Tensor:
    """A frozen "name encoder": one feature vector per name, ``[N, d_name]``, entries ``~ N(0, 1)``.

    Names listed in ``seen`` (the names of the training data) vary only in the first ``seen_dims``
    coordinates (the others are 0); every other name varies in all ``d_name`` coordinates. This is the
    toy's version of "new names differ from the training names in ways the training names never did".
    """
    n_names = check_int("n_names", n_names, minimum=2)
    d_name = check_int("d_name", d_name, minimum=1)
    seen_dims = check_int("seen_dims", seen_dims, minimum=0)
    if seen_dims > d_name:
        raise ValueError(f"seen_dims ({seen_dims}) cannot exceed d_name ({d_name})")
    seen = [check_int("seen entry", i, minimum=0) for i in seen]
    if any(i >= n_names for i in seen):
        raise ValueError(f"seen names must be indices in 0..{n_names - 1}")
    feats = torch.randn(
        n_names,
        d_name,
        generator=torch.Generator().manual_seed(check_int("seed", seed, minimum=0)),
    )
    if seen:
        feats[torch.tensor(seen), seen_dims:] = 0.0
    return feats


class DecisionModel(torch.nn.Module):
    """``f(name, situation) -> logit``: the name's (frozen) features, concatenated with the situation,
    through a small MLP. Nothing stops it from using the name.

    Args:
        features: ``[N, d_name]`` name features (see ``name_features``); stored as a buffer, not trained.
        d_situation: features per situation. hidden: hidden width.
    """

    def __init__(self, features: torch.Tensor, d_situation: int, hidden: int = 32):
        super().__init__()
        if (
            not isinstance(features, torch.Tensor)
            or features.dim() != 2
            or not features.is_floating_point()
        ):
            raise TypeError("features must be a floating tensor [n_names, d_name]")
        self.n_names = check_int("n_names", features.shape[0], minimum=2)
        self.d_situation = check_int("d_situation", d_situation, minimum=1)
        self.register_buffer("features", features.detach().clone())
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(
                features.shape[1] + d_situation, check_int("hidden", hidden, minimum=1)
            ),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1),
        )

    def forward(self, names: torch.Tensor, situations: torch.Tensor) -> torch.Tensor:
        """names ``[B]`` (int), situations ``[B, d]`` -> logits ``[B]``."""
        _check_inputs(names, situations, self.n_names, self.d_situation)
        return self.mlp(torch.cat([self.features[names], situations], dim=1)).squeeze(1)


class NameInvariantModel(torch.nn.Module):
    """A ``DecisionModel`` averaged over the cyclic shifts of the name list (the Reynolds operator):

        f_sym(a, s) = (1/N) sum_k f(a + k mod N, s).

    The shifts move any name to any other, so ``f_sym`` is invariant to *every* renaming, by construction.
    ``forward`` evaluates the N terms in one batched call; it equals
    ``equivariance.symmetrize(f, cyclic_group(N), shift_names)`` (see ``symmetrized_reference``).
    """

    def __init__(self, features: torch.Tensor, d_situation: int, hidden: int = 32):
        super().__init__()
        self.base = DecisionModel(features, d_situation, hidden)
        self.n_names, self.d_situation = self.base.n_names, self.base.d_situation

    def forward(self, names: torch.Tensor, situations: torch.Tensor) -> torch.Tensor:
        """names ``[B]`` (int), situations ``[B, d]`` -> logits ``[B]``."""
        _check_inputs(names, situations, self.n_names, self.d_situation)
        n, b = self.n_names, names.shape[0]
        shifted = (
            names[None, :] + torch.arange(n, device=names.device)[:, None]
        ) % n  # [N, B]
        logits = self.base(shifted.reshape(-1), situations.repeat(n, 1))
        return logits.reshape(n, b).mean(dim=0)

    def symmetrized_reference(self):
        """The same average written with the core ``equivariance.symmetrize`` (slow: one call per shift)."""
        return symmetrize(
            lambda x: self.base(*x),
            cyclic_group(self.n_names),
            act_in=lambda k, x: ((x[0] + k) % self.n_names, x[1]),
        )


def rule_direction(d_situation: int, seed: int = 0) -> torch.Tensor:
    """The fixed unit vector w of the rule "act when w . s > 0" (``[d]``)."""
    d = check_int("d_situation", d_situation, minimum=1)
    w = torch.randn(
        d, generator=torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    )
    return w / w.norm()


def make_cases(
    n: int, names_pool, w: torch.Tensor, generator: torch.Generator | None = None
):
    """Draw ``n`` cases: a name from ``names_pool`` (list of indices), a situation ``~ N(0, I)``, and the
    label ``w . s > 0`` (which does not look at the name). Situations and labels take ``w``'s dtype.

    Returns:
        ``(names [n] int64, situations [n, d], labels [n] float 0/1)``.
    """
    n = check_int("n", n, minimum=1)
    pool = torch.as_tensor(list(names_pool), dtype=torch.int64)
    if pool.numel() == 0:
        raise ValueError("names_pool is empty")
    if not isinstance(w, torch.Tensor) or w.dim() != 1:
        raise TypeError("w must be a 1-D tensor [d]")
    names = pool[torch.randint(len(pool), (n,), generator=generator)]
    situations = torch.randn(n, w.numel(), generator=generator, dtype=w.dtype)
    return names, situations, (situations @ w > 0).to(w.dtype)


@torch.no_grad()
def decisions(
    model: torch.nn.Module, situations: torch.Tensor, n_names: int | None = None
) -> torch.Tensor:
    """The decision table: ``[N, S]`` booleans, entry (a, s) is "act" for name a in situation s."""
    if not isinstance(situations, torch.Tensor) or situations.dim() != 2:
        raise TypeError("situations must be a tensor [S, d]")
    n_names = (
        model.n_names if n_names is None else check_int("n_names", n_names, minimum=1)
    )
    S = situations.shape[0]
    names = torch.arange(n_names, device=situations.device).repeat_interleave(S)
    logits = model(names, situations.repeat(n_names, 1))
    return (logits > 0).reshape(n_names, S)


def swap_disagreement(table: torch.Tensor, group_a, group_b=None) -> float:
    """Fraction of (name a, name b, situation) with a != b where swapping a for b changes the decision.

    Args:
        table: ``[N, S]`` decision table. group_a: name indices. group_b: other names (default: group_a).
    """
    if not isinstance(table, torch.Tensor) or table.dim() != 2:
        raise TypeError("table must be a [N, S] tensor of decisions")
    a = torch.as_tensor(list(group_a), dtype=torch.int64, device=table.device)
    b = (
        a
        if group_b is None
        else torch.as_tensor(list(group_b), dtype=torch.int64, device=table.device)
    )
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("name groups must be non-empty")
    diff = table[a][:, None, :] != table[b][None, :, :]  # [|a|, |b|, S]
    distinct = (a[:, None] != b[None, :]).float()[:, :, None]
    pairs = distinct.sum() * table.shape[1]
    if pairs == 0:
        raise ValueError("need at least two distinct names")
    return float((diff.float() * distinct).sum() / pairs)


def fine_tune(
    model: torch.nn.Module,
    feedback,
    replay,
    steps: int = 60,
    lr: float = 1e-2,
    feedback_weight: float = 1.0,
) -> torch.nn.Module:
    """Fine-tune ``model`` in place on feedback cases, replaying old cases so it does not forget.

    Args:
        feedback: ``(names [F], situations [F, d], labels [F])``, the corrections.
        replay: ``(names [R], situations [R, d], labels [R])``, a sample of the original training data.
        steps: Adam steps (fixed). lr: learning rate. feedback_weight: weight of the feedback loss.
    Returns:
        the model (in eval mode).
    """
    steps = check_int("steps", steps, minimum=1)
    if len(feedback) != 3 or len(replay) != 3:
        raise ValueError("feedback and replay are (names, situations, labels) triples")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = feedback_weight * bce(
            model(feedback[0], feedback[1]), feedback[2]
        ) + bce(model(replay[0], replay[1]), replay[2])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


@dataclass
class FeedbackResult:
    """What ``feedback_rounds`` saw: ``given`` lists the names corrected in order; ``fixed_after[i]`` is how
    many names decide correctly after i+1 corrections; ``all_fixed`` whether every name ended correct."""

    given: list = field(default_factory=list)
    fixed_after: list = field(default_factory=list)
    all_fixed: bool = False
    model: torch.nn.Module | None = None

    @property
    def n_feedback(self) -> int:
        return len(self.given)


def feedback_rounds(
    model: torch.nn.Module,
    situation: torch.Tensor,
    wanted: bool,
    replay,
    order=None,
    steps: int = 60,
    lr: float = 1e-2,
    max_rounds: int | None = None,
) -> FeedbackResult:
    """Correct the decision in one situation, one name at a time, until every name gets it right.

    Each round picks the first name in ``order`` whose decision is still wrong, adds the case
    (name, situation, wanted) to the feedback set, and fine-tunes (``fine_tune``) a copy of the model
    on all feedback so far. The input model is not changed.

    Args:
        situation: ``[d]``, the situation the operator corrects. wanted: the right decision there.
        replay: old training cases, as for ``fine_tune``. order: name indices in the order the operator
            meets them (default 0..N-1). max_rounds: stop after this many corrections (default N).
    Returns:
        a ``FeedbackResult`` (its ``model`` is the corrected copy).
    """
    if not isinstance(situation, torch.Tensor) or situation.dim() != 1:
        raise TypeError("situation must be a 1-D tensor [d]")
    if not isinstance(wanted, bool):
        raise TypeError("wanted must be a bool (the right decision)")
    n = model.n_names
    order = (
        list(range(n))
        if order is None
        else [check_int("order entry", i, minimum=0) for i in order]
    )
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must list every name index 0..{n - 1} once")
    max_rounds = (
        n if max_rounds is None else check_int("max_rounds", max_rounds, minimum=1)
    )
    result, work = FeedbackResult(), copy.deepcopy(model).eval()
    for _ in range(max_rounds):
        correct = decisions(work, situation[None, :])[:, 0] == wanted
        if bool(correct.all()):
            break
        name = next(i for i in order if not bool(correct[i]))
        result.given.append(name)
        k = len(result.given)
        fb = (
            torch.tensor(result.given, device=situation.device),
            situation[None, :].repeat(k, 1),
            torch.full(
                (k,), float(wanted), dtype=situation.dtype, device=situation.device
            ),
        )
        work = fine_tune(copy.deepcopy(model), fb, replay, steps=steps, lr=lr)
        result.fixed_after.append(
            int((decisions(work, situation[None, :])[:, 0] == wanted).sum())
        )
    result.all_fixed = bool((decisions(work, situation[None, :])[:, 0] == wanted).all())
    result.model = work
    return result
