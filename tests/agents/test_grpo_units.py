"""The GRPO family's advantages, clipped loss and loss aggregations against values computed by hand, and its
settings' validation."""

from __future__ import annotations

import math

import pytest
import torch

from agents.grpo import (GRPOConfig, aggregate_loss, cispo_token_loss, clipped_token_loss, group_advantages,
                         informative_groups, sequence_clipped_loss)
from agents.ppo.config import field_docs

# One group of four episodes: mean 2, deviations (-2, -1, 0, 3), unbiased std sqrt(14 / 3).
SCORES = torch.tensor([0.0, 1.0, 2.0, 5.0])


def test_grpo_advantages_are_the_group_z_scores():
    expected = torch.tensor([-2.0, -1.0, 0.0, 3.0]) / (math.sqrt(14 / 3) + 1e-4)
    assert torch.allclose(group_advantages(SCORES, 4, "grpo", "group"), expected, atol=1e-6)


def test_dr_grpo_advantages_subtract_the_group_mean_only():
    assert torch.allclose(group_advantages(SCORES, 4, "grpo", "none"), torch.tensor([-2.0, -1.0, 0.0, 3.0]))


def test_rloo_advantages_subtract_the_mean_of_the_other_episodes():
    # Baselines: (1 + 2 + 5) / 3, (0 + 2 + 5) / 3, (0 + 1 + 5) / 3, (0 + 1 + 2) / 3.
    expected = torch.tensor([0 - 8 / 3, 1 - 7 / 3, 2 - 6 / 3, 5 - 3 / 3])
    assert torch.allclose(group_advantages(SCORES, 4, "rloo", "none"), expected, atol=1e-6)


def test_batch_scaling_divides_by_the_std_of_all_scores_and_groups_stay_separate():
    scores = torch.tensor([0.0, 2.0, 1.0, 1.0])  # groups (0, 2) and (1, 1); all scores: mean 1, variance 2 / 3
    expected = torch.tensor([-1.0, 1.0, 0.0, 0.0]) / (math.sqrt(2 / 3) + 1e-4)
    assert torch.allclose(group_advantages(scores, 2, "grpo", "batch"), expected, atol=1e-6)
    # A group of equal scores has advantage exactly 0 under group scaling (no division by zero).
    assert group_advantages(scores, 2, "grpo", "group")[2:].tolist() == [0.0, 0.0]


def test_dynamic_sampling_drops_exactly_the_groups_of_equal_scores():
    scores = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 1.0])
    assert informative_groups(scores, 3).tolist() == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3


# Two episodes, three steps; the first ended after two tokens. Ratios chosen so that each branch shows:
# episode 0 (A = +1): r = 1 (unclipped), 1.5 (above 1 + 0.28: clipped high); episode 1 (A = -2): r = 0.5 (below
# 1 - 0.2: clipped low), 1.1 and 1 (unclipped).
RATIOS = torch.tensor([[1.0, 1.5, 1.0], [0.5, 1.1, 1.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
ADVANTAGES = torch.tensor([1.0, -2.0])
# Per token -min(r A, clip(r, 0.8, 1.28) A): episode 0: -1, -1.28; episode 1: -min(-1, -1.6) = 1.6, 2.2, 2.
TOKEN_LOSS = torch.tensor([[-1.0, -1.28, 0.0], [1.6, 2.2, 2.0]])


def hand_batch_loss():
    per_token, stats = clipped_token_loss(RATIOS.log(), torch.zeros(2, 3), ADVANTAGES, MASK, 0.2, 0.28)
    return per_token, stats


def test_clipped_token_loss_and_clip_ratios_by_hand():
    per_token, stats = hand_batch_loss()
    assert torch.allclose(per_token * MASK, TOKEN_LOSS, atol=1e-6)
    # Of the 5 valid tokens: one clipped low (A < 0), one clipped high (A > 0).
    assert stats["clip_ratio/low_mean"] == pytest.approx(0.2)
    assert stats["clip_ratio/high_mean"] == pytest.approx(0.2)
    assert stats["clip_ratio/region_mean"] == pytest.approx(0.4)
    assert stats["clipfrac"] == pytest.approx(0.4)


@pytest.mark.parametrize("loss_type, expected", [
    ("grpo", ((-1 - 1.28) / 2 + (1.6 + 2.2 + 2.0) / 3) / 2),  # token mean per episode, then episode mean
    ("bnpo", (-1 - 1.28 + 1.6 + 2.2 + 2.0) / 5),                # token mean over the micro-batch
    ("dr_grpo", (-1 - 1.28 + 1.6 + 2.2 + 2.0) / (2 * 4)),       # token sum / (episodes * max_new_tokens = 4)
    ("dapo", (-1 - 1.28 + 1.6 + 2.2 + 2.0) / 10),               # token sum / tokens of the whole minibatch (10)
])
def test_each_loss_type_aggregates_as_computed_by_hand(loss_type, expected):
    per_token, _ = hand_batch_loss()
    assert float(aggregate_loss(per_token, MASK, loss_type, max_new_tokens=4, minibatch_tokens=10)) == \
        pytest.approx(expected, abs=1e-6)


def test_dapo_over_micro_batches_sums_to_the_token_mean_of_the_minibatch():
    per_token, _ = hand_batch_loss()
    whole = aggregate_loss(per_token, MASK, "bnpo", 4, 5)
    parts = sum(aggregate_loss(per_token[i:i + 1], MASK[i:i + 1], "dapo", 4, float(MASK.sum())) for i in range(2))
    assert float(parts) == pytest.approx(float(whole))


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_micro_batch_shares_add_up_to_the_minibatch_loss(loss_type):
    per_token, _ = hand_batch_loss()
    whole = aggregate_loss(per_token, MASK, loss_type, 4, float(MASK.sum()))
    parts = sum(aggregate_loss(per_token[i:i + 1], MASK[i:i + 1], loss_type, 4, float(MASK.sum()), 2)
                for i in range(2))
    assert float(parts) == pytest.approx(float(whole))


def test_bnpo_share_counts_only_the_episodes_dynamic_sampling_kept():
    # Two kept episodes of one token each (loss 1) and two dropped ones (mask 0), in two micro-batches. Whether the
    # dropped episodes sit beside the kept ones or together, the minibatch's loss is the kept tokens' mean: 1.
    per_token = torch.ones(4, 1)
    mask = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    for order in ([0, 1, 2, 3], [0, 2, 1, 3]):
        micro_batches = (order[:2], order[2:])
        loss = sum(aggregate_loss(per_token[rows], mask[rows], "bnpo", 4, 2.0, minibatch_episodes=2)
                   for rows in micro_batches)
        assert float(loss) == pytest.approx(1.0), order
        # The trainer says which episodes were kept; the same share.
        kept = mask.squeeze(1)
        loss = sum(aggregate_loss(per_token[rows], mask[rows], "bnpo", 4, 2.0, 2, kept[rows]) for rows in micro_batches)
        assert float(loss) == pytest.approx(1.0), order


# Three episodes of one group, lengths 3, 1 and 2 over a vocabulary of 5: RLOO weighs each episode A_i / N whatever
# its length, GRPO's token mean A_i / (N |y_i|).
RLOO_MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
RLOO_TOKENS = torch.tensor([[0, 3, 1], [4, 0, 0], [2, 2, 1]])
RLOO_SCORES = torch.tensor([1.0, 0.0, 4.0])


def rloo_logits() -> torch.Tensor:
    return torch.linspace(-2.0, 2.0, 45).reshape(3, 3, 5).sin().mul(3.0).requires_grad_()


def sequence_logprobs(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=-1).gather(-1, RLOO_TOKENS.unsqueeze(-1)).squeeze(-1)


def test_rloo_gradient_is_the_sequence_reinforce_gradient():
    advantages = group_advantages(RLOO_SCORES, 3, "rloo", "none")
    assert torch.allclose(advantages, torch.tensor([1 - 2.0, 0 - 2.5, 4 - 0.5]))
    logits = rloo_logits()
    logprobs = sequence_logprobs(logits)
    loss, stats = sequence_clipped_loss(logprobs, logprobs.detach(), advantages, RLOO_MASK, torch.ones(3), 0.2, 0.2)
    loss.backward()
    # Closed form: -Σ_i A_i ∇ log π(y_i) / N, log π(y_i) the sum of the episode's token logprobs.
    closed_form_logits = rloo_logits()
    sequence_logprob = (sequence_logprobs(closed_form_logits) * RLOO_MASK).sum(dim=1)
    (-(advantages * sequence_logprob).sum() / 3).backward()
    assert torch.allclose(logits.grad, closed_form_logits.grad, atol=1e-6)
    assert float(loss.detach()) == pytest.approx(float(-advantages.mean()), abs=1e-6)  # ratio 1: -Σ A_i / N
    assert stats["ratio"] == pytest.approx(1.0) and stats["clipfrac"] == 0.0
    # GRPO's per-episode token mean is another gradient on these unequal lengths.
    token_logits = rloo_logits()
    token_logprobs = sequence_logprobs(token_logits)
    per_token, _ = clipped_token_loss(token_logprobs, token_logprobs.detach(), advantages, RLOO_MASK, 0.2, 0.2)
    aggregate_loss(per_token, RLOO_MASK, "grpo", 3, float(RLOO_MASK.sum())).backward()
    assert not torch.allclose(token_logits.grad, closed_form_logits.grad, atol=1e-3)


def test_rloo_clips_the_ratio_of_the_whole_sequence():
    # Two tokens each at ratio e^0.1 ≈ 1.105 (inside [0.8, 1.2]): the episode's ratio e^0.2 ≈ 1.221 is outside, so
    # A = +1 is clipped (loss -1.2, no gradient). Episode 1: ratio e^-0.3 ≈ 0.741 with A = -2: clipped low, loss
    # -min(-1.482, -1.6) = 1.6. Episode 2: ratio e^0.05 with A = +1, inside: loss -e^0.05, gradient -e^0.05 per token.
    log_ratios = torch.tensor([[0.1, 0.1], [-0.1, -0.2], [0.05, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    advantages = torch.tensor([1.0, -2.0, 1.0])
    loss, stats = sequence_clipped_loss(log_ratios, torch.zeros(3, 2), advantages, mask, torch.ones(3), 0.2, 0.2)
    assert float(loss.detach()) == pytest.approx((-1.2 + 1.6 - math.exp(0.05)) / 3, abs=1e-6)
    loss.backward()
    expected = torch.tensor([[0.0, 0.0], [0.0, 0.0], [-math.exp(0.05) / 3, 0.0]])
    assert torch.allclose(log_ratios.grad, expected, atol=1e-6)
    assert stats["clip_ratio/high_mean"] == pytest.approx(1 / 3)
    assert stats["clip_ratio/low_mean"] == pytest.approx(1 / 3)
    assert stats["ratio"] == pytest.approx((math.exp(0.2) + math.exp(-0.3) + math.exp(0.05)) / 3, abs=1e-6)


def test_rloo_micro_batch_shares_add_up_and_dropped_episodes_weigh_nothing():
    logprobs = torch.tensor([[0.1, 0.1], [-0.1, -0.2], [0.05, 0.0], [0.3, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # episode 3 dropped: no valid token
    advantages, kept = torch.tensor([1.0, -2.0, 1.0, 5.0]), torch.tensor([1.0, 1.0, 1.0, 0.0])
    whole, _ = sequence_clipped_loss(logprobs, torch.zeros(4, 2), advantages, mask, kept, 0.2, 0.2)
    parts = sum(sequence_clipped_loss(logprobs[rows], torch.zeros(2, 2), advantages[rows], mask[rows], kept[rows],
                                      0.2, 0.2, minibatch_episodes=3)[0] for rows in (slice(0, 2), slice(2, 4)))
    assert float(parts) == pytest.approx(float(whole)) and float(whole) == pytest.approx(
        (-1.2 + 1.6 - math.exp(0.05)) / 3, abs=1e-6)


def test_gspo_ratio_is_the_geometric_mean_of_the_episode_token_ratios():
    # TRL's importance_sampling_level="sequence": episode 0's log-ratios 0.1 and 0.3 give exp(0.2) ≈ 1.221 on both
    # tokens, above 1.2 with A = +1: clipped, loss -1.2 per token, no gradient. Episode 1's -0.1, -0.2, 0 give
    # exp(-0.1) ≈ 0.905 on its three tokens, inside the clip with A = -2: loss 2 exp(-0.1) per token, and each token's
    # logprob gets a third of the gradient of every token's loss.
    log_ratios = torch.tensor([[0.1, 0.3, 0.7], [-0.1, -0.2, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    advantages = torch.tensor([1.0, -2.0])
    per_token, stats = clipped_token_loss(log_ratios, torch.zeros(2, 3), advantages, mask, 0.2, 0.2,
                                          importance_sampling_level="sequence")
    ratio = math.exp(-0.1)
    expected = torch.tensor([[-1.2, -1.2, 0.0], [2 * ratio] * 3])
    assert torch.allclose(per_token * mask, expected, atol=1e-6)
    (per_token * mask).sum().backward()
    assert torch.allclose(log_ratios.grad, torch.tensor([[0.0, 0.0, 0.0], [2 * ratio] * 3]), atol=1e-6)
    # "grpo" aggregation, GSPO's paper: the mean over episodes of their sequence losses.
    grpo = aggregate_loss(per_token.detach(), mask, "grpo", 3, 5.0)
    assert float(grpo) == pytest.approx((-1.2 + 2 * ratio) / 2, abs=1e-6)
    assert stats["clip_ratio/high_mean"] == pytest.approx(2 / 5)  # token means: episode 0's two tokens
    with pytest.raises(ValueError, match="importance_sampling_level"):
        clipped_token_loss(log_ratios, torch.zeros(2, 3), advantages, mask, 0.2, 0.2, importance_sampling_level="x")


def test_cispo_caps_and_detaches_the_importance_weight():
    # TRL's loss_type="cispo": per token -min(r, ε_max) A log π with the weight detached. Ratios 0.5, 3 and 6 with
    # ε_max = 5 and A = +1, -1: the gradient with respect to log π is -min(r, 5) A, the capped token (r = 6) keeps one.
    old = torch.tensor([[-1.0, -2.0, -0.5]])
    ratios = torch.tensor([[0.5, 3.0, 6.0]])
    for advantage in (1.0, -1.0):
        logprobs = (old + ratios.log()).requires_grad_()
        per_token, stats = cispo_token_loss(logprobs, old, torch.tensor([advantage]), torch.ones(1, 3), 5.0)
        weights = torch.tensor([[0.5, 3.0, 5.0]])
        assert torch.allclose(per_token, -weights * advantage * logprobs.detach(), atol=1e-6)
        loss = aggregate_loss(per_token, torch.ones(1, 3), "cispo", 3, 3.0)
        loss.backward()
        assert torch.allclose(logprobs.grad, -weights * advantage / 3, atol=1e-6)  # "dapo"'s token mean
        assert stats["clipfrac"] == pytest.approx(1 / 3)
        assert stats["cispo_clip_ratio"] == pytest.approx(1 / 3 if advantage > 0 else 0.0)
    # At the sequence level every token's weight is the episode's geometric mean ratio, 9^(1/3) ≈ 2.08, capped at
    # ε_max: 2, or not: 2.5.
    for epsilon_max, weight in ((2.0, 2.0), (2.5, 9 ** (1 / 3))):
        logprobs = (old + ratios.log()).requires_grad_()
        per_token, _ = cispo_token_loss(logprobs, old, torch.tensor([1.0]), torch.ones(1, 3), epsilon_max,
                                        importance_sampling_level="sequence")
        per_token.sum().backward()
        assert torch.allclose(logprobs.grad, torch.full((1, 3), -weight), atol=1e-6)


def ratio_gradient(ratio: float, advantage: float, epsilon_high: float) -> tuple[float, float]:
    """The loss of one token and its gradient with respect to the token's logprob."""
    logprob = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, _ = clipped_token_loss(logprob, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), 0.2,
                                 epsilon_high)
    loss.sum().backward()
    return float(loss.detach()), float(logprob.grad)


def test_clip_higher_lets_positive_advantages_grow_further():
    # r = 1.25, A = +1: inside [0.8, 1.28] (clip-higher) the gradient flows; beyond 1.2 (symmetric) it is clipped.
    loss, gradient = ratio_gradient(1.25, 1.0, epsilon_high=0.28)
    assert loss == pytest.approx(-1.25) and gradient == pytest.approx(-1.25)
    loss, gradient = ratio_gradient(1.25, 1.0, epsilon_high=0.2)
    assert loss == pytest.approx(-1.2) and gradient == 0.0


def test_lower_clip_applies_only_to_negative_advantages():
    loss, gradient = ratio_gradient(0.75, -1.0, epsilon_high=0.28)  # -min(-0.75, -0.8) = 0.8, clipped
    assert loss == pytest.approx(0.8) and gradient == 0.0
    loss, gradient = ratio_gradient(0.75, 1.0, epsilon_high=0.28)  # -min(0.75, 0.8) = -0.75, unclipped
    assert loss == pytest.approx(-0.75) and gradient == pytest.approx(-0.75)


def test_config_validates_and_accepts_trl_booleans_for_scale_rewards():
    assert GRPOConfig(scale_rewards=False).scale_rewards == "none"
    assert GRPOConfig(scale_rewards=True).scale_rewards == "group"
    assert GRPOConfig(epsilon=0.2).clip_high == 0.2 and GRPOConfig(epsilon_high=0.28).clip_high == 0.28
    with pytest.raises(ValueError, match="loss_type"):
        GRPOConfig(loss_type="ppo")
    # The experiment settings come from RunConfig, shared with PPOConfig: documented and checked all the same.
    assert set(field_docs(GRPOConfig)) == set(GRPOConfig.__dataclass_fields__)
    with pytest.raises(ValueError, match=r"GRPOConfig\.device must be one of"):
        GRPOConfig(device="tpu")
    with pytest.raises(ValueError, match="num_generations"):
        GRPOConfig(num_envs=10, num_generations=4)
    with pytest.raises(ValueError, match="num_generations"):
        GRPOConfig(num_envs=8, num_generations=1)
