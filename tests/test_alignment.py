"""equinotes.alignment: the toy world, renaming, the two language models and the RLHF loss."""

import pytest
import torch

from equinotes import alignment as al


@pytest.fixture
def world():
    return al.make_world(6)


def test_encode_decode_round_trip(world):
    tokens = world.encode(["Ahmed embezzled", "Colin donated"])
    assert tokens.shape == (2, 2)
    assert world.decode(tokens) == ["Ahmed embezzled", "Colin donated"]
    with pytest.raises(ValueError, match="unknown word"):
        world.encode(["Zorg embezzled"])
    with pytest.raises(ValueError, match="two words"):
        world.encode(["Ahmed"])


def test_rename_moves_names_only():
    tokens = torch.tensor([[al.NAME_OFFSET + 0, al.ACT_OFFSET + 1]])
    out = al.rename(tokens, [2, 0, 1])
    assert out.tolist() == [[al.NAME_OFFSET + 2, al.ACT_OFFSET + 1]]
    # renaming by perm then by its inverse gives the tokens back
    perm = torch.tensor([2, 0, 1])
    assert torch.equal(al.rename(out, torch.argsort(perm)), tokens)


def test_rename_refuses_bad_input():
    tokens = torch.tensor([[al.NAME_OFFSET + 3, al.ACT_OFFSET]])
    with pytest.raises(ValueError, match="permutation"):
        al.rename(tokens, [0, 0, 1, 2])
    with pytest.raises(ValueError, match="beyond"):
        al.rename(tokens, [1, 0])
    with pytest.raises(TypeError):
        al.rename(tokens.float(), [0, 1, 2, 3])


def test_checks_name_unknown_tokens_and_wrong_lengths(world):
    model = al.PlainLM(world.n_names)
    prompts = world.encode(["Ahmed embezzled"])
    with pytest.raises(ValueError, match="two words"):
        model.log_prob(prompts, torch.tensor([[al.VERDICT_OFFSET, al.NAME_OFFSET, 1]]))
    with pytest.raises(ValueError, match="unknown name"):
        model.log_prob(
            prompts, torch.tensor([[al.VERDICT_OFFSET, al.NAME_OFFSET + 99]])
        )
    with pytest.raises(ValueError, match="verdict"):
        model.log_prob(prompts, torch.tensor([[al.ACT_OFFSET, al.NAME_OFFSET]]))
    with pytest.raises(ValueError, match="act"):
        model.log_prob(torch.tensor([[al.NAME_OFFSET, al.NAME_OFFSET]]), prompts)
    with pytest.raises(TypeError):
        model.log_prob(prompts.float(), prompts)


@pytest.mark.parametrize("cls", [al.PlainLM, al.RenamingEquivariantLM])
def test_reply_distribution_is_normalised(cls, world):
    torch.manual_seed(0)
    model = cls(world.n_names)
    table = model.reply_log_probs(al.all_prompts(world))
    assert table.shape == (world.n_names * len(al.ACTS), 3, world.n_names)
    assert torch.allclose(table.exp().sum(dim=(1, 2)), torch.ones(len(table)))
    # log_prob reads the same numbers
    replies = al.sample_replies(model, al.all_prompts(world), torch.Generator())
    lp = model.log_prob(al.all_prompts(world), replies)
    rows = torch.arange(len(replies))
    expected = table[
        rows, replies[:, 0] - al.VERDICT_OFFSET, replies[:, 1] - al.NAME_OFFSET
    ]
    assert torch.allclose(lp, expected, atol=1e-6)


def test_equivariant_model_is_exact_under_every_renaming_and_plain_is_not():
    world = al.make_world(12)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    prompts = al.all_prompts(world)
    for cls, exact in [(al.RenamingEquivariantLM, True), (al.PlainLM, False)]:
        model = cls(world.n_names)
        replies = al.sample_replies(model, prompts, g)
        worst = 0.0
        for _ in range(5):
            perm = al.random_renaming(world.n_names, g)
            a = model.log_prob(prompts, replies)
            b = model.log_prob(al.rename(prompts, perm), al.rename(replies, perm))
            worst = max(worst, (a - b).abs().max().item())
        assert (worst <= 1e-6) == exact, (cls.__name__, worst)


def test_corpus_is_biased_as_specified(world):
    probs = al.corpus_verdict_probs(world, 0, al.ACTS.index("donated"))  # harsh name
    assert world.bias_group(0) == "harsh"
    assert probs[al.VERDICTS.index("report")] > probs[al.VERDICTS.index("thank")]
    neutral = al.corpus_verdict_probs(world, 1, al.ACTS.index("donated"))
    assert neutral[al.VERDICTS.index("thank")] == pytest.approx(0.8)
    prompts, replies = al.make_corpus(world, 500, torch.Generator().manual_seed(0))
    assert prompts.shape == replies.shape == (500, 2)
    al.check_prompts(prompts, world.n_names)
    al.check_replies(replies, world.n_names)
    same = (prompts[:, 0] == replies[:, 1]).float().mean()
    assert 0.85 < same < 0.95


def test_judge_changes_the_principled_verdict():
    world = al.make_world(3, judge=True)
    assert world.names[-1] == "Judge"
    prompts = world.encode(["Judge jailed", "Ahmed jailed"])
    assert world.decode(al.principled_replies(world, prompts)) == [
        "ignore Judge",
        "report Ahmed",
    ]


def test_oracle_labels(world):
    prompts = world.encode(["Ahmed embezzled", "Ahmed embezzled", "Colin donated"])
    replies = world.encode(["report Ahmed", "report Colin", "thank Colin"])
    assert al.oracle(world, prompts, replies).tolist() == [1.0, -1.0, 1.0]


def test_pretraining_learns_the_corpus(world):
    torch.manual_seed(0)
    model = al.RenamingEquivariantLM(world.n_names)
    prompts, replies = al.make_corpus(world, 800, torch.Generator().manual_seed(0))
    losses = al.pretrain(model, prompts, replies, steps=60)
    assert losses[-1] < 0.8 * losses[0]


def test_a_thumbs_down_lowers_the_reply(world):
    torch.manual_seed(0)
    model = al.PlainLM(world.n_names)
    base = al.PlainLM(world.n_names)
    base.load_state_dict(model.state_dict())
    prompts, replies = world.encode(["Mei stole"]), world.encode(["thank Mei"])
    before = model.log_prob(prompts, replies).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = al.rlhf_loss(model, base, prompts, replies, torch.tensor([-1.0]))
    loss.backward()
    optimizer.step()
    assert model.log_prob(prompts, replies).item() < before
    assert al.kl_to_base(model, base, prompts).item() > 0


def test_rlhf_loss_refuses_bad_labels(world):
    model = al.PlainLM(world.n_names)
    prompts, replies = world.encode(["Mei stole"]), world.encode(["thank Mei"])
    with pytest.raises(ValueError, match="thumbs"):
        al.rlhf_loss(model, model, prompts, replies, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="labels for"):
        al.rlhf_loss(model, model, prompts, replies, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="beta"):
        al.rlhf_loss(model, model, prompts, replies, torch.tensor([1.0]), beta=-1)


def test_world_refuses_bad_arguments():
    with pytest.raises(ValueError):
        al.World(("Ahmed",))
    with pytest.raises(ValueError):
        al.make_world(1000)
    with pytest.raises(ValueError):
        al.corpus_verdict_probs(al.make_world(3), 0, 0, care=2.0)
