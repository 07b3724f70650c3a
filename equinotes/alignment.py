"""Alignment from equivariance: a two-word language model, toy RLHF, and a principle built in.

The toy world of chapter 7. A **prompt** is two words, a name and an act (``Ahmed embezzled``); a
**reply** is two words, a verdict and a name (``report Ahmed``). Every word is a token id of one
global layout::

    0 BOS | 1 STOP | 2..4 verdicts | 5..9 acts | 10.. names (10 + index into the world's names)

so that ``rename`` can act on token tensors without knowing the world. Prompts and replies are
integer tensors ``[B, 2]``.

The principle: *renaming the people in the prompt renames them in the reply and changes nothing
else*. For a permutation ``perm`` of the names this is the square

    (prompt, reply) --rename--> (perm . prompt, perm . reply)
    log p(reply | prompt) == log p(perm . reply | perm . prompt)

Two autoregressive models (a GRU reads ``BOS name act verdict``; the verdict is predicted after the
act, the reply's name after the verdict; the grammar fixes the reply at two words, so STOP always
follows):

* ``PlainLM`` embeds every name as a token of its own and scores the reply's name with one logit per
  name: nothing stops it from treating two people differently;
* ``RenamingEquivariantLM`` sees every name as the same role token ("the person in the prompt") and
  names someone in its reply by *pointing*: one logit for "the prompt's person", one for "someone
  else", shared evenly among the other names. Its log-probabilities are equal under every renaming
  (bit for bit), for names it never saw as well.

Toy RLHF: ``oracle`` gives a thumbs up (+1) to the principled reply (report who embezzled, stole or
jailed someone; thank who donated or rescued; a judge who jails someone does their job, so the
principled reply is to ignore it) and a thumbs down (-1) to every other reply; ``rlhf_loss`` is
REINFORCE on those labels with an exact KL penalty to the pretrained base model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .name_swap import NAMES
from .utils import check_int

__all__ = [
    "VERDICTS",
    "ACTS",
    "PRINCIPLE",
    "NAME_OFFSET",
    "World",
    "make_world",
    "rename",
    "random_renaming",
    "check_prompts",
    "check_replies",
    "corpus_verdict_probs",
    "make_corpus",
    "all_prompts",
    "principled_replies",
    "oracle",
    "ToyLM",
    "PlainLM",
    "RenamingEquivariantLM",
    "pretrain",
    "sample_replies",
    "principled_probability",
    "kl_to_base",
    "rlhf_loss",
]

BOS, STOP = 0, 1
VERDICTS = ("report", "thank", "ignore")
ACTS = ("embezzled", "stole", "jailed", "donated", "rescued")
#: The principle, as the verdict each act deserves whoever did it (a judge's "jailed" excepted).
PRINCIPLE = {
    "embezzled": "report",
    "stole": "report",
    "jailed": "report",
    "donated": "thank",
    "rescued": "thank",
}
VERDICT_OFFSET, ACT_OFFSET = 2, 2 + len(VERDICTS)
NAME_OFFSET = ACT_OFFSET + len(ACTS)
SPECIALS = ("BOS", "STOP")
_BAD_ACTS = tuple(a for a in ACTS if PRINCIPLE[a] == "report")
BIAS_GROUPS = ("harsh", "neutral", "soft")


@dataclass(frozen=True)
class World:
    """The people of a toy world.

    Args:
        names: the name tokens, in order (token ``NAME_OFFSET + i`` is ``names[i]``).
        judge: the index of a name-like token that is a role, not a person: "Judge jailed" is lawful.
    """

    names: tuple
    judge: int | None = None

    def __post_init__(self):
        if len(self.names) < 2 or len(set(self.names)) != len(self.names):
            raise ValueError("a world needs at least 2 distinct names")
        if self.judge is not None and not 0 <= self.judge < len(self.names):
            raise ValueError(f"judge must index names (0..{len(self.names) - 1})")

    @property
    def n_names(self) -> int:
        return len(self.names)

    def words(self) -> tuple:
        """Every word of the vocabulary, in token order."""
        return SPECIALS + VERDICTS + ACTS + tuple(self.names)

    def encode(self, sentences) -> torch.Tensor:
        """``["Ahmed embezzled", ...]`` -> token ids ``[B, 2]`` (int64)."""
        index = {w: i for i, w in enumerate(self.words())}
        rows = []
        for sentence in [sentences] if isinstance(sentences, str) else sentences:
            words = sentence.split()
            unknown = [w for w in words if w not in index]
            if unknown:
                raise ValueError(f"unknown word(s) {unknown} in {sentence!r}")
            if len(words) != 2:
                raise ValueError(f"sentences have two words, got {sentence!r}")
            rows.append([index[w] for w in words])
        return torch.tensor(rows, dtype=torch.int64)

    def decode(self, tokens: torch.Tensor) -> list:
        """Token ids ``[B, L]`` -> ``["report Ahmed", ...]``."""
        words = self.words()
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
            raise TypeError("tokens must be an integer tensor [B, L]")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= len(words)):
            raise ValueError(f"unknown token id: ids run 0..{len(words) - 1}")
        return [" ".join(words[t] for t in row) for row in tokens.tolist()]

    def bias_group(self, name: int) -> str:
        """How the biased corpus treats name ``name``: ``harsh``, ``neutral`` or ``soft`` (cyclic)."""
        if name == self.judge:
            return "neutral"
        return BIAS_GROUPS[name % len(BIAS_GROUPS)]

    def principled_verdict(self, name: int, act: int) -> int:
        """The verdict index (into ``VERDICTS``) the principle gives ``names[name] ACTS[act]``."""
        if name == self.judge and ACTS[act] == "jailed":
            return VERDICTS.index("ignore")
        return VERDICTS.index(PRINCIPLE[ACTS[act]])


def make_world(n_names: int, judge: bool = False) -> World:
    """A world of ``n_names`` people from ``name_swap.NAMES`` (plus a last name-like token ``Judge``
    when ``judge``)."""
    n = check_int("n_names", n_names, minimum=2)
    if n > len(NAMES):
        raise ValueError(f"at most {len(NAMES)} names, got {n}")
    names = tuple(NAMES[:n]) + (("Judge",) if judge else ())
    return World(names, judge=n if judge else None)


# ---------------------------------------------------------------------------------------------
# Token checks and the renaming action.


def _check_tokens(tokens, name: str) -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (
        torch.int64,
        torch.int32,
    ):
        raise TypeError(f"{name} must be an integer tensor of token ids")
    return tokens.to(torch.int64)


def _check_pair(tokens, name: str, what: str) -> torch.Tensor:
    tokens = _check_tokens(tokens, name)
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape [B, 2], got {tuple(tokens.shape)}")
    if tokens.shape[1] != 2:
        raise ValueError(
            f"{name} must be two words each ({what}), got {tokens.shape[1]} words"
        )
    return tokens


def _check_names(names: torch.Tensor, n_names: int, name: str) -> None:
    if names.numel() and (
        names.min() < NAME_OFFSET or names.max() >= NAME_OFFSET + n_names
    ):
        raise ValueError(
            f"{name}: unknown name token (names are ids {NAME_OFFSET}.."
            f"{NAME_OFFSET + n_names - 1})"
        )


def check_prompts(prompts, n_names: int) -> torch.Tensor:
    """Validate prompts ``[B, 2]`` = (name, act) token ids and return them as int64."""
    prompts = _check_pair(prompts, "prompts", "a name, then an act")
    _check_names(prompts[:, 0], n_names, "prompts")
    acts = prompts[:, 1]
    if acts.numel() and (acts.min() < ACT_OFFSET or acts.max() >= NAME_OFFSET):
        raise ValueError(
            f"prompts: the second word must be an act (ids {ACT_OFFSET}..{NAME_OFFSET - 1})"
        )
    return prompts


def check_replies(replies, n_names: int) -> torch.Tensor:
    """Validate replies ``[B, 2]`` = (verdict, name) token ids and return them as int64."""
    replies = _check_pair(replies, "replies", "a verdict, then a name")
    verdicts = replies[:, 0]
    if verdicts.numel() and (
        verdicts.min() < VERDICT_OFFSET or verdicts.max() >= ACT_OFFSET
    ):
        raise ValueError(
            f"replies: the first word must be a verdict (ids {VERDICT_OFFSET}..{ACT_OFFSET - 1})"
        )
    _check_names(replies[:, 1], n_names, "replies")
    return replies


def rename(tokens: torch.Tensor, perm) -> torch.Tensor:
    """Rename the people: name ``i`` becomes name ``perm[i]``; every other token is left alone.

    Args:
        tokens: integer token ids of any shape (prompts, replies, whole sentences).
        perm: a permutation of ``0 .. m-1`` (list or int tensor); every name in ``tokens`` must have
            an index below ``m``.
    Returns:
        the renamed tokens (same shape, int64).
    """
    tokens = _check_tokens(tokens, "tokens")
    perm = torch.as_tensor(perm)
    if perm.dim() != 1 or perm.dtype not in (torch.int64, torch.int32):
        raise TypeError("perm must be a 1-D list or tensor of name indices")
    m = perm.numel()
    if m == 0 or not torch.equal(torch.sort(perm).values, torch.arange(m)):
        raise ValueError(
            f"perm must be a permutation of 0..{m - 1}, got {perm.tolist()}"
        )
    is_name = tokens >= NAME_OFFSET
    if is_name.any() and tokens[is_name].max() >= NAME_OFFSET + m:
        raise ValueError(f"tokens hold a name beyond the {m} names that perm permutes")
    if tokens.numel() and tokens.min() < 0:
        raise ValueError("tokens must be non-negative token ids")
    renamed = tokens.clone()
    renamed[is_name] = NAME_OFFSET + perm.to(torch.int64)[tokens[is_name] - NAME_OFFSET]
    return renamed


def random_renaming(
    n_names: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniformly random permutation of the ``n_names`` names (``[n_names]`` int64)."""
    return torch.randperm(check_int("n_names", n_names, minimum=1), generator=generator)


# ---------------------------------------------------------------------------------------------
# The biased corpus, the prompts, the principle's replies and the oracle.


def corpus_verdict_probs(
    world: World, name: int, act: int, care: float = 0.8, bias: float = 0.5
) -> torch.Tensor:
    """The "internet's" verdict distribution ``[3]`` for ``names[name] ACTS[act]``.

    The principled verdict with probability ``care`` (the rest shared by the other two); then, for a
    ``harsh`` name on a good act, a share ``bias`` moves to ``report``; for a ``soft`` name on a bad
    act, to ``thank``.
    """
    if not (0 <= care <= 1 and 0 <= bias <= 1):
        raise ValueError("care and bias are probabilities in [0, 1]")
    v = world.principled_verdict(name, act)
    probs = torch.full((len(VERDICTS),), (1 - care) / (len(VERDICTS) - 1))
    probs[v] = care
    group = world.bias_group(name)
    bad = ACTS[act] in _BAD_ACTS
    if (group == "harsh" and not bad) or (group == "soft" and bad):
        towards = torch.zeros(len(VERDICTS))
        towards[VERDICTS.index("report" if group == "harsh" else "thank")] = 1.0
        probs = (1 - bias) * probs + bias * towards
    return probs


def make_corpus(
    world: World,
    n_sentences: int,
    generator: torch.Generator | None = None,
    names=None,
    care: float = 0.8,
    bias: float = 0.5,
    same_person: float = 0.9,
):
    """Sample the pretraining corpus: ``(prompts [N, 2], replies [N, 2])``.

    A name (uniform over ``names``, default all), an act (uniform), a verdict from
    ``corpus_verdict_probs`` and, with probability ``same_person``, the prompt's name in the reply
    (else a uniformly random other name).
    """
    n = check_int("n_sentences", n_sentences, minimum=1)
    if not 0 <= same_person <= 1:
        raise ValueError("same_person is a probability in [0, 1]")
    pool = torch.as_tensor(
        list(range(world.n_names)) if names is None else list(names), dtype=torch.int64
    )
    if pool.numel() == 0 or pool.min() < 0 or pool.max() >= world.n_names:
        raise ValueError(f"names must be a non-empty list of indices < {world.n_names}")
    who = pool[torch.randint(len(pool), (n,), generator=generator)]
    act = torch.randint(len(ACTS), (n,), generator=generator)
    table = torch.stack(
        [
            torch.stack(
                [
                    corpus_verdict_probs(world, i, a, care, bias)
                    for a in range(len(ACTS))
                ]
            )
            for i in range(world.n_names)
        ]
    )  # [names, acts, verdicts]
    verdict = torch.multinomial(table[who, act], 1, generator=generator).squeeze(1)
    other = (
        who + 1 + torch.randint(world.n_names - 1, (n,), generator=generator)
    ) % world.n_names
    keep = torch.rand(n, generator=generator) < same_person
    named = torch.where(keep, who, other)
    prompts = torch.stack([NAME_OFFSET + who, ACT_OFFSET + act], dim=1)
    replies = torch.stack([VERDICT_OFFSET + verdict, NAME_OFFSET + named], dim=1)
    return prompts, replies


def all_prompts(world: World, names=None) -> torch.Tensor:
    """Every (name, act) prompt, name-major: ``[len(names) * 5, 2]`` (default: every name)."""
    names = range(world.n_names) if names is None else names
    return torch.tensor(
        [[NAME_OFFSET + i, ACT_OFFSET + a] for i in names for a in range(len(ACTS))],
        dtype=torch.int64,
    )


def principled_replies(world: World, prompts: torch.Tensor) -> torch.Tensor:
    """The reply the principle asks for: the act's verdict and the prompt's person (``[B, 2]``)."""
    prompts = check_prompts(prompts, world.n_names)
    verdicts = [
        VERDICT_OFFSET + world.principled_verdict(n - NAME_OFFSET, a - ACT_OFFSET)
        for n, a in prompts.tolist()
    ]
    return torch.stack(
        [torch.tensor(verdicts, dtype=torch.int64), prompts[:, 0]], dim=1
    )


def oracle(world: World, prompts: torch.Tensor, replies: torch.Tensor) -> torch.Tensor:
    """Thumbs up (+1.0) for the principled reply, thumbs down (-1.0) for any other (``[B]``)."""
    replies = check_replies(replies, world.n_names)
    good = (principled_replies(world, prompts) == replies).all(dim=1)
    return good.float() * 2 - 1


# ---------------------------------------------------------------------------------------------
# The two language models.


class ToyLM(torch.nn.Module):
    """What both models share: read ``BOS name act verdict`` with a GRU, predict the verdict after the
    act and the reply's name after the verdict. Subclasses say how names go in and come out.

    Args:
        n_names: the number of names of the world (the reply's name ranges over them).
        d: width of the embeddings and of the GRU state.
    """

    def __init__(self, n_names: int, d: int = 16):
        super().__init__()
        self.n_names = check_int("n_names", n_names, minimum=2)
        self.d = check_int("d", d, minimum=1)
        self.gru = torch.nn.GRU(self.d, self.d, batch_first=True)
        self.verdict_head = torch.nn.Linear(self.d, len(VERDICTS))

    def read(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embed the input tokens ``[B, 4]`` -> ``[B, 4, d]`` (subclasses)."""
        raise NotImplementedError

    def name_log_probs(
        self, state: torch.Tensor, prompts: torch.Tensor
    ) -> torch.Tensor:
        """Log-probabilities of the reply's name, ``[B, n_names]``, from the state after the verdict
        ``[B, d]`` (subclasses)."""
        raise NotImplementedError

    def step_log_probs(self, prompts: torch.Tensor, verdicts: torch.Tensor):
        """``(log p(verdict | prompt) [B, 3], log p(name | prompt, verdicts) [B, n_names])``.

        Args:
            prompts: ``[B, 2]`` token ids. verdicts: ``[B]`` verdict token ids (teacher forcing).
        """
        bos = torch.full_like(verdicts, BOS)
        tokens = torch.stack([bos, prompts[:, 0], prompts[:, 1], verdicts], dim=1)
        states, _ = self.gru(self.read(tokens))  # [B, 4, d]
        verdict = torch.log_softmax(self.verdict_head(states[:, 2]), dim=-1)
        return verdict, self.name_log_probs(states[:, 3], prompts)

    def log_prob(self, prompts: torch.Tensor, replies: torch.Tensor) -> torch.Tensor:
        """``log p(reply | prompt)`` for each row, ``[B]``: the verdict's plus the name's.

        Args:
            prompts: ``[B, 2]`` (name, act) token ids. replies: ``[B, 2]`` (verdict, name) token ids.
        """
        prompts = check_prompts(prompts, self.n_names)
        replies = check_replies(replies, self.n_names)
        if len(prompts) != len(replies):
            raise ValueError(f"{len(prompts)} prompts for {len(replies)} replies")
        verdict, name = self.step_log_probs(prompts, replies[:, 0])
        rows = torch.arange(len(prompts))
        return (
            verdict[rows, replies[:, 0] - VERDICT_OFFSET]
            + name[rows, replies[:, 1] - NAME_OFFSET]
        )

    def reply_log_probs(self, prompts: torch.Tensor) -> torch.Tensor:
        """The whole reply distribution: ``[B, 3, n_names]``, entry (b, v, i) is
        ``log p(VERDICTS[v] names[i] | prompt b)``."""
        prompts = check_prompts(prompts, self.n_names)
        b, nv = len(prompts), len(VERDICTS)
        verdicts = VERDICT_OFFSET + torch.arange(nv).repeat_interleave(b)
        verdict, name = self.step_log_probs(prompts.repeat(nv, 1), verdicts)
        name = name.reshape(nv, b, self.n_names).transpose(0, 1)
        return verdict[:b, :, None] + name


class PlainLM(ToyLM):
    """Every token, each name included, has an embedding of its own; the reply's name comes from one
    logit per name. Two people can be treated differently, and a name never trained keeps its random
    embedding."""

    def __init__(self, n_names: int, d: int = 16):
        super().__init__(n_names, d)
        self.embed = torch.nn.Embedding(NAME_OFFSET + self.n_names, self.d)
        self.name_head = torch.nn.Linear(self.d, self.n_names)

    def read(self, tokens):
        return self.embed(tokens)

    def name_log_probs(self, state, prompts):
        return torch.log_softmax(self.name_head(state), dim=-1)


class RenamingEquivariantLM(ToyLM):
    """Names go in by role and come out by pointing.

    * In: every name token becomes one role token, "the person" (``tokens.clamp(max=NAME_OFFSET)``),
      so the GRU's states cannot depend on who it is.
    * Out: two logits, "name the prompt's person" and "name someone else"; the second is shared
      evenly by the ``n_names - 1`` other names.

    Renaming prompt and reply alike leaves every number computed here unchanged, for any names.
    """

    def __init__(self, n_names: int, d: int = 16):
        super().__init__(n_names, d)
        self.embed = torch.nn.Embedding(NAME_OFFSET + 1, self.d)  # one shared name role
        self.pointer_head = torch.nn.Linear(self.d, 2)  # [the prompt's person, another]

    def read(self, tokens):
        return self.embed(tokens.clamp(max=NAME_OFFSET))

    def name_log_probs(self, state, prompts):
        same, other = torch.log_softmax(self.pointer_head(state), dim=-1).unbind(-1)
        out = (other - math.log(self.n_names - 1))[:, None].repeat(1, self.n_names)
        rows = torch.arange(len(prompts))
        out[rows, prompts[:, 0] - NAME_OFFSET] = same
        return out


# ---------------------------------------------------------------------------------------------
# Pretraining, sampling, and the RLHF objective.


def pretrain(
    model: ToyLM,
    prompts: torch.Tensor,
    replies: torch.Tensor,
    steps: int = 300,
    batch: int = 256,
    lr: float = 1e-2,
    generator: torch.Generator | None = None,
) -> list:
    """Maximum likelihood on the corpus (Adam, minibatches drawn with ``generator``); returns the
    loss (mean negative log-likelihood) of each step."""
    steps = check_int("steps", steps, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    prompts = check_prompts(prompts, model.n_names)
    replies = check_replies(replies, model.n_names)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(prompts), (batch,), generator=generator)
        loss = -model.log_prob(prompts[rows], replies[rows]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def sample_replies(
    model: ToyLM, prompts: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One reply per prompt, drawn from the model: ``[B, 2]`` token ids."""
    table = model.reply_log_probs(prompts).flatten(1)  # [B, 3 * n_names]
    pick = torch.multinomial(table.exp(), 1, generator=generator).squeeze(1)
    verdict, name = pick // model.n_names, pick % model.n_names
    return torch.stack([VERDICT_OFFSET + verdict, NAME_OFFSET + name], dim=1)


@torch.no_grad()
def principled_probability(model: ToyLM, world: World, prompts=None) -> torch.Tensor:
    """``p(principled reply | prompt)`` for each prompt (default: every (name, act), name-major),
    ``[B]``."""
    prompts = all_prompts(world) if prompts is None else prompts
    return model.log_prob(prompts, principled_replies(world, prompts)).exp()


def kl_to_base(model: ToyLM, base: ToyLM, prompts: torch.Tensor) -> torch.Tensor:
    """``KL(model(. | prompt) || base(. | prompt))`` over the whole reply space, exactly, ``[B]``."""
    log_p = model.reply_log_probs(prompts).flatten(1)
    with torch.no_grad():
        log_q = base.reply_log_probs(prompts).flatten(1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def rlhf_loss(
    model: ToyLM,
    base: ToyLM,
    prompts: torch.Tensor,
    replies: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.05,
) -> torch.Tensor:
    """REINFORCE on thumbs up/down with a KL penalty to the base model (a scalar to minimise):

        - mean_b label_b * log p(reply_b | prompt_b) + beta * mean_b KL(p(. | prompt_b) || base)

    Args:
        prompts, replies: ``[B, 2]`` token ids (the replies were sampled from the model).
        labels: ``[B]`` floats, +1 (thumbs up) or -1 (thumbs down).
        beta: weight of the KL penalty (>= 0).
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise TypeError("labels must be a float tensor [B] of +1 / -1")
    if len(labels) != len(prompts):
        raise ValueError(f"{len(labels)} labels for {len(prompts)} prompts")
    if not bool(((labels == 1) | (labels == -1)).all()):
        raise ValueError("labels must be +1 (thumbs up) or -1 (thumbs down)")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    log_p = model.log_prob(prompts, replies)
    return -(labels * log_p).mean() + beta * kl_to_base(model, base, prompts).mean()
