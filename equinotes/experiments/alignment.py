"""Experiment plumbing for chapter 7 (alignment from equivariance), above ``equinotes.alignment``.

Each function runs one of the chapter's experiments for one world and seed, or sweeps it; the
notebook calls them in a line and keeps the models and the RLHF step on the page.

* ``pretrained_pair``: a plain and a renaming-equivariant model pretrained on the same biased corpus,
  from seeded initial weights;
* ``renaming_error``: the largest change of any reply's log-probability under random renamings;
* ``bias_gap``: how much less likely the principled reply is for the corpus' biased names;
* ``feedback_until``: online toy RLHF (sample, label by the oracle, one REINFORCE + KL step) until
  every (name, act) gets the principled reply with probability >= target; counts the labels;
* ``one_thumbs_down``: a single thumbs-down and how far it reaches, name by name;
* ``data_rate_sweep``: ``feedback_until`` for both models over numbers of names and seeds;
* ``html_table`` (from ``equinotes.tables``): a small HTML table for results that would be wider
  than the page as text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .. import alignment as al
from ..tables import html_table  # noqa: F401 (the notebook calls experiment.html_table)
from ..utils import check_int, derive_seed, generator, progress

__all__ = [
    "MODELS",
    "pretrained_pair",
    "renaming_error",
    "bias_gap",
    "FeedbackRun",
    "feedback_until",
    "one_thumbs_down",
    "data_rate_sweep",
]

#: The two models of the chapter, by the names the page uses.
MODELS = {"plain": al.PlainLM, "equivariant": al.RenamingEquivariantLM}


def pretrained_pair(
    world: al.World,
    seed: int,
    corpus_names=None,
    sentences_per_name: int = 200,
    steps: int = 200,
    d: int = 16,
) -> dict:
    """Both models pretrained on one corpus drawn from ``seed``.

    Streams of ``seed``: 0 the corpus, 1 the initial weights (the same draw for both models), 2 the
    minibatches. ``corpus_names``: the names that appear in the corpus (default all).

    Returns:
        ``{"plain": PlainLM, "equivariant": RenamingEquivariantLM, "untrained": {...}}`` where
        ``untrained`` holds copies of both models before pretraining.
    """
    seed = check_int("seed", seed, minimum=0)
    per_name = check_int("sentences_per_name", sentences_per_name, minimum=1)
    n_corpus = world.n_names if corpus_names is None else len(list(corpus_names))
    prompts, replies = al.make_corpus(
        world, per_name * n_corpus, generator(seed, 0), names=corpus_names
    )
    out = {"untrained": {}}
    for name, cls in MODELS.items():
        torch.manual_seed(derive_seed(seed, 1))
        model = cls(world.n_names, d=d)
        out["untrained"][name] = copy.deepcopy(model)
        al.pretrain(model, prompts, replies, steps=steps, generator=generator(seed, 2))
        out[name] = model
    return out


@torch.no_grad()
def renaming_error(
    model: al.ToyLM,
    world: al.World,
    names,
    n_renamings: int = 20,
    gen: torch.Generator | None = None,
) -> float:
    """The largest ``|log p(perm.reply | perm.prompt) - log p(reply | prompt)|`` over every prompt
    about ``names``, every reply and ``n_renamings`` random renamings of ``names`` among themselves
    (the other names stay put)."""
    names = torch.as_tensor(list(names), dtype=torch.int64)
    if names.numel() < 2:
        raise ValueError("renaming needs at least 2 names")
    prompts = al.all_prompts(world, names.tolist())
    table = model.reply_log_probs(prompts)  # [B, 3, n]
    worst = 0.0
    for _ in range(check_int("n_renamings", n_renamings, minimum=1)):
        perm = torch.arange(world.n_names)
        perm[names] = names[torch.randperm(len(names), generator=gen)]
        moved = model.reply_log_probs(al.rename(prompts, perm))
        # reply name i of the original is name perm[i] after renaming
        worst = max(worst, (moved[:, :, perm] - table).abs().max().item())
    return worst


@torch.no_grad()
def bias_gap(model: al.ToyLM, world: al.World, names=None) -> float:
    """How much less likely the principled reply is where the corpus is biased: the mean, over the
    biased cells (harsh names on good acts, soft names on bad acts), of the neutral names' mean
    p(principled reply) on the same act minus the cell's own."""
    names = list(range(world.n_names)) if names is None else list(names)
    p = al.principled_probability(model, world, al.all_prompts(world, names))
    p = p.reshape(len(names), len(al.ACTS))
    bad = torch.tensor([al.PRINCIPLE[a] == "report" for a in al.ACTS])
    groups = [world.bias_group(i) for i in names]
    neutral = torch.tensor([g == "neutral" for g in groups])
    biased = torch.stack(
        [
            (~bad if g == "harsh" else bad) & (g != "neutral") & (i != world.judge)
            for g, i in zip(groups, names)
        ]
    )  # [names, acts]
    if not neutral.any() or not biased.any():
        raise ValueError("bias_gap needs neutral and biased names (at least 3 names)")
    reference = p[neutral].mean(dim=0, keepdim=True).expand_as(p)
    return (reference - p)[biased].mean().item()


@dataclass
class FeedbackRun:
    """One online RLHF run: ``labels`` used (``None`` if the budget ran out first), the final
    model, and the lowest principled-reply probability over every (name, act) after each step."""

    labels: int | None
    model: al.ToyLM
    worst: list = field(default_factory=list)


def feedback_until(
    model: al.ToyLM,
    world: al.World,
    gen: torch.Generator,
    target: float = 0.9,
    budget: int = 4000,
    batch: int = 4,
    lr: float = 1e-2,
    beta: float = 0.05,
) -> FeedbackRun:
    """Toy RLHF on a copy of ``model`` until every (name, act) gets the principled reply with
    probability >= ``target``, or ``budget`` labels are spent.

    Each step draws ``batch`` prompts uniformly from every (name, act), samples one reply each from
    the current model, asks ``oracle`` for a thumbs up or down, and takes one Adam step on
    ``rlhf_loss`` (KL to ``model``, the frozen base).
    """
    if not 0 < target < 1:
        raise ValueError(f"target must lie in (0, 1), got {target}")
    budget = check_int("budget", budget, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    base, policy = copy.deepcopy(model), copy.deepcopy(model)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    prompts = al.all_prompts(world)
    used, worst = 0, []
    while True:
        worst.append(al.principled_probability(policy, world, prompts).min().item())
        if worst[-1] >= target:
            return FeedbackRun(used, policy, worst)
        if used + batch > budget:
            return FeedbackRun(None, policy, worst)
        asked = prompts[torch.randint(len(prompts), (batch,), generator=gen)]
        replies = al.sample_replies(policy, asked, gen)
        loss = al.rlhf_loss(
            policy, base, asked, replies, al.oracle(world, asked, replies), beta
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        used += batch


def one_thumbs_down(
    model: al.ToyLM,
    world: al.World,
    prompt: str,
    reply: str,
    steps: int = 5,
    lr: float = 1e-2,
    beta: float = 0.05,
) -> dict:
    """Fine-tune a copy of ``model`` on one thumbs-down (``steps`` Adam steps of ``rlhf_loss`` on the
    single label), then compare every name's probabilities with the model's before.

    Args:
        prompt, reply: words, e.g. ``"Mei embezzled"`` and ``"thank Mei"`` (the reply names the
            prompt's person).
    Returns:
        ``{"named": index of the person, "down_voted": [n] change of p(the same reply, renamed) for
        each name, "principled": [n] change of p(principled reply)}`` (lists of floats), and
        ``"model"``: the fine-tuned copy.
    """
    prompts, replies = world.encode([prompt]), world.encode([reply])
    al.check_prompts(prompts, world.n_names)
    al.check_replies(replies, world.n_names)
    if replies[0, 1] != prompts[0, 0]:
        raise ValueError("the reply must name the prompt's person")
    base, tuned = copy.deepcopy(model), copy.deepcopy(model)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=lr)
    for _ in range(check_int("steps", steps, minimum=1)):
        loss = al.rlhf_loss(tuned, base, prompts, replies, torch.tensor([-1.0]), beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    everyone = al.NAME_OFFSET + torch.arange(world.n_names)
    asked = torch.stack([everyone, prompts[:, 1].expand(world.n_names)], dim=1)
    answered = torch.stack([replies[:, 0].expand(world.n_names), everyone], dim=1)
    with torch.no_grad():
        down = (
            tuned.log_prob(asked, answered).exp() - base.log_prob(asked, answered).exp()
        )
    principled = al.principled_probability(
        tuned, world, asked
    ) - al.principled_probability(base, world, asked)
    return {
        "named": int(prompts[0, 0]) - al.NAME_OFFSET,
        "down_voted": down.tolist(),
        "principled": principled.tolist(),
        "model": tuned,
    }


def data_rate_sweep(
    ns,
    seeds,
    target: float = 0.9,
    budget_per_name: int = 200,
    show_progress: bool = True,
    **feedback,
) -> list:
    """Labels needed by each model, for each number of names ``n`` and seed.

    For each (n, seed): ``pretrained_pair(make_world(n), seed)``, then ``feedback_until`` for each
    model with its own label stream (stream 3 + index of the model) and a budget of
    ``budget_per_name * n`` labels.

    Returns:
        one dict per (n, seed): ``{"n", "seed", "plain", "equivariant"}`` (labels, ``None`` when the
        budget ran out), ``"ratio"`` (plain / equivariant, ``None`` if either is missing) and
        ``"base_worst"`` (each base model's lowest principled-reply probability).
    """
    ns, seeds = [check_int("n", n, minimum=2) for n in ns], list(seeds)
    rows = []
    runs = [(n, s) for n in ns for s in seeds]
    for n, seed in progress(runs, desc="data rate", disable=not show_progress):
        world = al.make_world(n)
        pair = pretrained_pair(world, seed)
        row = {"n": n, "seed": seed, "base_worst": {}}
        for k, name in enumerate(MODELS):
            run = feedback_until(
                pair[name],
                world,
                generator(seed, 3 + k),
                target=target,
                budget=budget_per_name * n,
                **feedback,
            )
            row[name], row["base_worst"][name] = run.labels, run.worst[0]
        plain, equi = row["plain"], row["equivariant"]
        row["ratio"] = plain / equi if plain and equi else None
        rows.append(row)
    return rows
