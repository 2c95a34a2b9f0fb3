"""The GRPO family's advantages, clipped loss and loss aggregations against values computed by hand, and its
settings' validation."""

from __future__ import annotations

import math

import pytest
import torch

from agents.grpo import GRPOConfig, aggregate_loss, clipped_token_loss, group_advantages, informative_groups
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
