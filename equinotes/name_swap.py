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

Averaging over a group that moves every name to every other gives a function that cannot depend on
the name: it is the same as deleting the name input. Some decisions must depend on the name, because
they *refer to* a person: "report a" must become "report b" when a is renamed b. Cases with two
people, ``people [B, 2]`` (name indices, two distinct names), and a ``ReportModel`` that decides whom
to report make this the equivariance square::

    (a, b, s) --rename by pi--> (pi a, pi b, s)
        |                             |
      report                        report
        v                             v
    reported name --rename by pi--> pi(reported name)

``ReportModel(read_names=False)`` is equivariant by construction: it decides on the roles (the first
or the second person named) without reading names, and reports whoever holds the role;
``renaming_average`` shows that averaging any report model over all renamings gives such a model.
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
    "make_report_cases",
    "ReportModel",
    "renaming_average",
    "report_equivariance",
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


def _check_name_features(features) -> None:
    """Raise ``TypeError`` unless ``features`` is a floating tensor ``[n_names, d_name]``."""
    if (
        not isinstance(features, torch.Tensor)
        or features.dim() != 2
        or not features.is_floating_point()
    ):
        raise TypeError("features must be a floating tensor [n_names, d_name]")


class DecisionModel(torch.nn.Module):
    """``f(name, situation) -> logit``: the name's (frozen) features, concatenated with the situation,
    through a small MLP. Nothing stops it from using the name.

    Args:
        features: ``[N, d_name]`` name features (see ``name_features``); stored as a buffer, not trained.
        d_situation: features per situation. hidden: hidden width.
    """

    def __init__(self, features: torch.Tensor, d_situation: int, hidden: int = 32):
        super().__init__()
        _check_name_features(features)
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


def _check_cases(cases, n_names: int) -> torch.Tensor:
    if (
        not isinstance(cases, torch.Tensor)
        or cases.dtype not in (torch.int64, torch.int32)
        or cases.dim() not in (1, 2)
        or (cases.dim() == 2 and cases.shape[1] != 2)
    ):
        raise TypeError(
            "cases must be an integer tensor [K] (one name each) or [K, 2] (two people each)"
        )
    if cases.shape[0] == 0:
        raise ValueError("cases is empty")
    if cases.min() < 0 or cases.max() >= n_names:
        raise ValueError(f"name indices must be in 0..{n_names - 1}")
    return cases.to(torch.int64)


@torch.no_grad()
def decisions(
    model: torch.nn.Module,
    situations: torch.Tensor,
    n_names: int | None = None,
    cases: torch.Tensor | None = None,
) -> torch.Tensor:
    """The decision table: ``[K, S]`` booleans, entry (k, s) is "logit > 0" for case k in situation s.

    Args:
        model: called as ``model(cases, situations)``. situations: ``[S, d]``.
        n_names: the number of names (default ``model.n_names``).
        cases: ``[K]`` name indices or ``[K, 2]`` pairs of people (for a ``ReportModel``: entry
            True reports the first person). Default: every name, ``0 .. n_names-1``.
    """
    if not isinstance(situations, torch.Tensor) or situations.dim() != 2:
        raise TypeError("situations must be a tensor [S, d]")
    n_names = (
        model.n_names if n_names is None else check_int("n_names", n_names, minimum=1)
    )
    if cases is None:
        cases = torch.arange(n_names, device=situations.device)
    cases = _check_cases(cases, n_names).to(situations.device)
    S, K = situations.shape[0], cases.shape[0]
    logits = model(cases.repeat_interleave(S, dim=0), situations.repeat(K, 1))
    return (logits > 0).reshape(K, S)


def swap_disagreement(table: torch.Tensor, group_a, group_b=None) -> float:
    """Fraction of (name a, name b, situation) with a != b where swapping a for b changes the decision.

    Args:
        table: ``[N, S]`` decision table (booleans; other dtypes are compared entry by entry).
            group_a: name indices (or, for a table over cases, case indices). group_b: other
            names (default: group_a).
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
    distinct = int((a[:, None] != b[None, :]).sum())
    if distinct == 0:
        raise ValueError("need at least two distinct names")
    pairs = distinct * table.shape[1]
    if table.dtype == torch.bool:
        # Count, per situation, the "act" entries of each group: a pair disagrees when one
        # acts and the other does not (a pair of equal indices never does), so no
        # [|a|, |b|, S] tensor is needed.
        ka, kb = table[a].sum(dim=0).double(), table[b].sum(dim=0).double()
        disagree = ka * (b.numel() - kb) + (a.numel() - ka) * kb
        return float(disagree.sum() / pairs)
    diff = table[a][:, None, :] != table[b][None, :, :]  # [|a|, |b|, S]
    mask = (a[:, None] != b[None, :])[:, :, None]
    return float((diff & mask).sum().double() / pairs)


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
    """What ``feedback_rounds`` saw: ``given`` lists the cases corrected in order (indices into the
    cases); ``fixed_after[i]`` is how many cases decide correctly after i+1 corrections;
    ``before`` and ``after[i]`` are the decisions of every case (lists of bools) before any
    correction and after i+1 corrections; ``all_fixed`` whether every case ended correct."""

    given: list = field(default_factory=list)
    fixed_after: list = field(default_factory=list)
    all_fixed: bool = False
    model: torch.nn.Module | None = None
    before: list = field(default_factory=list)
    after: list = field(default_factory=list)

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
    cases: torch.Tensor | None = None,
) -> FeedbackResult:
    """Correct the decision in one situation, one case at a time, until every case gets it right.

    Each round picks the first case in ``order`` whose decision is still wrong, adds it (case,
    situation, wanted) to the feedback set, and fine-tunes (``fine_tune``) a copy of the model on all
    feedback so far. The input model is not changed.

    Args:
        situation: ``[d]``, the situation the operator corrects. wanted: the right decision there.
        replay: old training cases, as for ``fine_tune``. order: case indices in the order the
            operator meets them (default 0..K-1). max_rounds: stop after this many corrections
            (default K).
        cases: the cases the operator checks: ``[K]`` names (default: every name) or ``[K, 2]``
            pairs of people for a ``ReportModel``.
    Returns:
        a ``FeedbackResult`` (its ``model`` is the corrected copy).
    """
    if not isinstance(situation, torch.Tensor) or situation.dim() != 1:
        raise TypeError("situation must be a 1-D tensor [d]")
    if not isinstance(wanted, bool):
        raise TypeError("wanted must be a bool (the right decision)")
    if cases is None:
        cases = torch.arange(model.n_names, device=situation.device)
    cases = _check_cases(cases, model.n_names).to(situation.device)
    n = cases.shape[0]
    order = (
        list(range(n))
        if order is None
        else [check_int("order entry", i, minimum=0) for i in order]
    )
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must list every case index 0..{n - 1} once")
    max_rounds = (
        n if max_rounds is None else check_int("max_rounds", max_rounds, minimum=1)
    )

    def decide(m):
        return decisions(m, situation[None, :], cases=cases)[:, 0]

    result, work = FeedbackResult(), copy.deepcopy(model).eval()
    now = decide(work)
    result.before = now.tolist()
    for _ in range(max_rounds):
        correct = now == wanted
        if bool(correct.all()):
            break
        index = next(i for i in order if not bool(correct[i]))
        result.given.append(index)
        k = len(result.given)
        fb = (
            cases[torch.tensor(result.given, device=situation.device)],
            situation[None, :].repeat(k, 1),
            torch.full(
                (k,), float(wanted), dtype=situation.dtype, device=situation.device
            ),
        )
        work = fine_tune(copy.deepcopy(model), fb, replay, steps=steps, lr=lr)
        now = decide(work)
        result.after.append(now.tolist())
        result.fixed_after.append(int((now == wanted).sum()))
    result.all_fixed = bool((now == wanted).all())
    result.model = work
    return result


# ------------------------------------------------------------- decisions that refer to a person
def make_report_cases(
    n: int, names_pool, w: torch.Tensor, generator: torch.Generator | None = None
):
    """Draw ``n`` cases with two people: two distinct names from ``names_pool`` (the first and the
    second person named), a situation ``~ N(0, I)``, and the label "report the first person" when
    ``w . s > 0``, else the second (the rule looks at the roles, never at the names).

    Returns:
        ``(people [n, 2] int64, situations [n, d], labels [n] float 0/1)``; situations and labels
        take ``w``'s dtype.
    """
    n = check_int("n", n, minimum=1)
    pool = torch.as_tensor(list(names_pool), dtype=torch.int64)
    if pool.numel() < 2:
        raise ValueError("names_pool needs at least two names")
    if not isinstance(w, torch.Tensor) or w.dim() != 1:
        raise TypeError("w must be a 1-D tensor [d]")
    first = torch.randint(len(pool), (n,), generator=generator)
    # the second person: any other name of the pool, uniformly
    second = (first + torch.randint(1, len(pool), (n,), generator=generator)) % len(
        pool
    )
    people = torch.stack([pool[first], pool[second]], dim=1)
    situations = torch.randn(n, w.numel(), generator=generator, dtype=w.dtype)
    return people, situations, (situations @ w > 0).to(w.dtype)


def _check_people(people, n_names: int):
    if (
        not isinstance(people, torch.Tensor)
        or people.dtype not in (torch.int64, torch.int32)
        or people.dim() != 2
        or people.shape[1] != 2
    ):
        raise TypeError("people must be an integer tensor [B, 2] of name indices")
    if people.numel() and (people.min() < 0 or people.max() >= n_names):
        raise ValueError(f"name indices must be in 0..{n_names - 1}")
    if bool((people[:, 0] == people[:, 1]).any()):
        raise ValueError("the two people of a case must have different names")


class ReportModel(torch.nn.Module):
    """Whom to report: ``f(people, situation) -> logit``; a positive logit reports the first person
    named (``people[:, 0]``), a negative one the second (``people[:, 1]``).

    With ``read_names=True`` (trained-only) a small MLP reads both people's (frozen) name features and
    the situation, so nothing stops it from deciding differently for different names. With
    ``read_names=False`` the same MLP gets zeros in place of the name features: it decides on the roles
    alone, so the person it reports is renamed with the case, for every renaming and every name:
    equivariant by construction. Both variants have the same parameters, so one seed gives them the
    same initial weights.

    Args:
        features: ``[N, d_name]`` name features (``name_features``); a buffer, not trained.
        d_situation: features per situation. hidden: hidden width. read_names: see above.
    """

    def __init__(
        self,
        features: torch.Tensor,
        d_situation: int,
        hidden: int = 32,
        read_names: bool = True,
    ):
        super().__init__()
        _check_name_features(features)
        if not isinstance(read_names, bool):
            raise TypeError("read_names must be a bool")
        self.n_names = check_int("n_names", features.shape[0], minimum=2)
        self.d_situation = check_int("d_situation", d_situation, minimum=1)
        self.read_names = read_names
        self.register_buffer("features", features.detach().clone())
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(
                2 * features.shape[1] + d_situation,
                check_int("hidden", hidden, minimum=1),
            ),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1),
        )

    def forward(self, people: torch.Tensor, situations: torch.Tensor) -> torch.Tensor:
        """people ``[B, 2]`` (int), situations ``[B, d]`` -> logits ``[B]`` (> 0: report the first)."""
        _check_people(people, self.n_names)
        _check_inputs(people[:, 0], situations, self.n_names, self.d_situation)
        names = self.features[people].flatten(1)  # [B, 2 d_name]
        if not self.read_names:
            names = torch.zeros_like(names)
        return self.mlp(torch.cat([names, situations], dim=1)).squeeze(1)

    @torch.no_grad()
    def report(self, people: torch.Tensor, situations: torch.Tensor) -> torch.Tensor:
        """The name reported in each case: ``[B]`` int64 (``people[:, 0]`` or ``people[:, 1]``)."""
        first = self(people, situations) > 0
        return torch.where(first, people[:, 0], people[:, 1])


@torch.no_grad()
def renaming_average(
    model: torch.nn.Module, people: torch.Tensor, situations: torch.Tensor
) -> torch.Tensor:
    """The Reynolds average of a report model's logit over every renaming of the N names:

        mean over permutations pi of S_N of model((pi a, pi b), s).

    A renaming keeps the roles, so it acts on the logit (first or second person) trivially. S_N
    moves the ordered pair (a, b) of distinct names onto every ordered pair of distinct names, each
    (N - 2)! times, so the average over the N! renamings is the average over the N (N - 1) pairs:
    the same for every ``people``, i.e. a model that does not read the names.

    Args:
        model: a report model (``n_names`` attribute, called as ``model(people, situations)``).
        people: ``[B, 2]`` int name indices. situations: ``[B, d]``.
    Returns:
        ``[B]`` logits (computed pair by pair: cost ``B N (N-1)`` model evaluations).
    """
    n = check_int("n_names", model.n_names, minimum=2)
    _check_people(people, n)
    if (
        not isinstance(situations, torch.Tensor)
        or situations.dim() != 2
        or situations.shape[0] != people.shape[0]
    ):
        raise ValueError("situations must be a tensor [B, d] with one row per case")
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = a != b
    pairs = torch.stack([a[keep], b[keep]], dim=1).to(situations.device)  # [N(N-1), 2]
    B, P = situations.shape[0], pairs.shape[0]
    logits = model(pairs.repeat(B, 1), situations.repeat_interleave(P, dim=0))
    return logits.reshape(B, P).mean(dim=1)


@torch.no_grad()
def report_equivariance(
    model: torch.nn.Module,
    people: torch.Tensor,
    situations: torch.Tensor,
    renaming: torch.Tensor,
) -> dict:
    """Check the report square for one renaming ``pi`` on a batch of cases.

    Args:
        model: a report model with a ``report(people, situations)`` method.
        people: ``[B, 2]`` int. situations: ``[B, d]``.
        renaming: ``[N]`` int64, a permutation of the names (name a becomes ``renaming[a]``).
    Returns:
        a dict: ``violations``, the fraction of cases in which ``report(pi a, pi b, s)`` is not
        ``pi(report(a, b, s))``; ``changed``, the fraction of cases whose reported name the
        renaming changes (what sets equivariance apart from invariance: the right answer moves
        with the names).
    """
    n = model.n_names
    if (
        not isinstance(renaming, torch.Tensor)
        or renaming.dim() != 1
        or sorted(renaming.tolist()) != list(range(n))
    ):
        raise ValueError(
            f"renaming must be a permutation of 0..{n - 1} as a 1-D tensor"
        )
    renaming = renaming.to(people.device)
    before = model.report(people, situations)
    after = model.report(renaming[people], situations)
    return {
        "violations": float((after != renaming[before]).float().mean()),
        "changed": float((renaming[before] != before).float().mean()),
    }
