"""PPO building blocks checked against hand-computed values: GAE, clipped losses, KL estimators and controllers,
logprob gathering and masking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.ppo.buffer import RolloutBuffer, RunningMoments, compute_gae
from agents.ppo.config import PPOConfig, field_docs
from agents.ppo.kl import AdaptiveKLController, FixedKLController, kl_estimate
from agents.ppo.losses import explained_variance, masked_mean, masked_whiten, policy_loss, value_loss
from agents.ppo.policy import entropy_from_logits, gather_logprobs
from textenvs.decoding import policy_logits, sample_tokens, truncation_mask


def test_gae_terminal_reward_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    advantages, returns = compute_gae(rewards, values, torch.ones(1, 3), gamma=1.0, gae_lambda=0.9)
    # δ2 = 1 - .7 = .3; δ1 = .7 - .6 = .1; δ0 = .6 - .5 = .1; A1 = .1 + .9 * .3; A0 = .1 + .9 * A1
    assert torch.allclose(advantages, torch.tensor([[0.433, 0.37, 0.3]]), atol=1e-6)
    assert torch.allclose(returns, torch.tensor([[0.933, 0.97, 1.0]]), atol=1e-6)


def test_gae_ignores_padding_after_the_episode_and_discounts():
    rewards = torch.tensor([[0.0, 2.0, 5.0]])     # the 5 sits on padding and must not leak back
    values = torch.tensor([[1.0, 1.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    advantages, returns = compute_gae(rewards, values, mask, gamma=0.5, gae_lambda=1.0)
    # A1 = 2 + .5 * 0 - 1 = 1; A0 = (0 + .5 * 1 - 1) + .5 * 1 = 0
    assert torch.allclose(advantages, torch.tensor([[0.0, 1.0, 0.0]]))
    assert torch.allclose(returns, torch.tensor([[1.0, 2.0, 0.0]]))


def test_buffer_whitens_advantages_over_valid_tokens_and_reshuffles():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    buffer = RolloutBuffer(prompt_ids=torch.zeros(2, 2, dtype=torch.long),
                           prompt_mask=torch.ones(2, 2, dtype=torch.long), generated_ids=torch.zeros(2, 3, dtype=torch.long), generated_mask=mask, action_masks=None,
                           sampling_support=None, logprobs=torch.zeros(2, 3), ref_logprobs=torch.zeros(2, 3),
                           values=torch.zeros(2, 3), rewards=torch.tensor([[0.0, 1.0, 7.0], [0.0, 0.0, 2.0]]),
                           agent_mask=mask)
    buffer.compute_advantages(gamma=1.0, gae_lambda=1.0, whiten=True)
    assert float(buffer.advantages[0, 2]) == 0.0
    assert abs(float(masked_mean(buffer.advantages, mask))) < 1e-6
    rng = np.random.default_rng(0)
    orders = [[int(mb.generated_mask[0, 2]) for mb in buffer.minibatches(2, rng)] for _ in range(6)]
    assert len({tuple(o) for o in orders}) == 2  # both orders occur: minibatches are reshuffled each epoch


def test_clipped_policy_loss_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.25, 0.9]]))       # ratios 1.5, 0.5, (1.8 on padding)
    advantages = torch.tensor([[1.0, -1.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, stats = policy_loss(new, old, advantages, mask, clip_coef=0.2)
    # token 0: max(-1.5, -1.2) = -1.2; token 1: max(0.5, 0.8) = 0.8
    assert math.isclose(float(loss), (-1.2 + 0.8) / 2, abs_tol=1e-6)
    assert float(stats["clipfrac"]) == 1.0
    expected_kl = ((1.5 - 1) - math.log(1.5) + (0.5 - 1) - math.log(0.5)) / 2
    assert math.isclose(float(stats["approx_kl"]), expected_kl, rel_tol=1e-5)


def test_clipfrac_and_approx_kl_are_cleanrls():
    """clipfrac counts tokens with |r - 1| > clip_coef whether or not the clip binds the objective (here r = 1.5 with
    a negative advantage: the unclipped term is the larger one); approx_kl is mean((r - 1) - log r)."""
    old = torch.log(torch.tensor([[0.4, 0.5]]))
    new = torch.log(torch.tensor([[0.6, 0.5]]))                # ratios 1.5 and 1.0
    _, stats = policy_loss(new, old, torch.tensor([[-1.0, 1.0]]), torch.ones(1, 2), clip_coef=0.2)
    assert float(stats["clipfrac"]) == 0.5
    assert math.isclose(float(stats["approx_kl"]), (0.5 - math.log(1.5)) / 2, rel_tol=1e-5)


def test_token_count_splits_a_token_mean_over_micro_batches():
    values, mask = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]), torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    whole = masked_mean(values, mask)
    parts = masked_mean(values[:1], mask[:1], mask.sum()) + masked_mean(values[1:], mask[1:], mask.sum())
    assert float(whole) == float(parts) == 2.5


def test_policy_loss_is_plain_surrogate_inside_the_clip_range():
    old = torch.zeros(1, 2)
    new = torch.tensor([[0.1, -0.1]], requires_grad=True)
    advantages = torch.tensor([[2.0, 1.0]])
    loss, stats = policy_loss(new, old, advantages, torch.ones(1, 2), clip_coef=0.2)
    assert math.isclose(loss.item(), -(2 * math.exp(0.1) + math.exp(-0.1)) / 2, rel_tol=1e-6)
    assert float(stats["clipfrac"]) == 0.0
    loss.backward()
    assert new.grad is not None and (new.grad != 0).all()


def test_clipped_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.0, 3.0]])
    old_values = torch.tensor([[0.5, 0.5, 0.0]])
    returns = torch.tensor([[2.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, stats = value_loss(values, old_values, returns, mask, clip_value=0.2)
    # token 0: max((1-2)^2, (0.7-2)^2) = 1.69; token 1: max(0, 0.3^2) = 0.09
    assert math.isclose(float(loss), 0.5 * (1.69 + 0.09) / 2, rel_tol=1e-6)
    assert float(stats["value_clipfrac"]) == 1.0


def test_kl_estimators_by_hand():
    logp, logq = torch.log(torch.tensor([0.5, 0.2])), torch.log(torch.tensor([0.25, 0.2]))
    assert torch.allclose(kl_estimate(logp, logq, "k1"), torch.tensor([math.log(2), 0.0]))
    # k3 with r = q / p = 0.5: (r - 1) - log r
    assert torch.allclose(kl_estimate(logp, logq, "k3"), torch.tensor([-0.5 + math.log(2), 0.0]))
    # Smoke check only (k3 >= 0 for any log-probabilities): the values above are the check of the formula.
    assert (kl_estimate(logq, logp, "k3") >= 0).all()
    with pytest.raises(ValueError, match="k1"):
        kl_estimate(logp, logq, "k2")


def test_kl_controllers():
    fixed = FixedKLController(0.1)
    fixed.update(5.0, 100)
    assert fixed.value == 0.1
    adaptive = AdaptiveKLController(0.1, target=1.0, horizon=100)
    adaptive.update(current_kl=2.0, num_episodes=10)          # error clipped to +0.2
    assert math.isclose(adaptive.value, 0.1 * (1 + 0.2 * 10 / 100))
    adaptive.update(current_kl=0.9, num_episodes=10)          # error -0.1
    assert math.isclose(adaptive.value, 0.1 * 1.02 * (1 - 0.1 * 10 / 100))
    restored = AdaptiveKLController(0.5, 1.0, 100)
    restored.load_state_dict(adaptive.state_dict())
    assert restored.value == adaptive.value


def test_masked_statistics():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert float(masked_mean(values, mask)) == 2.0
    whitened = masked_whiten(values, mask)
    assert float(whitened[0, 2]) == 0.0 and math.isclose(float(whitened[0, 0]), -1 / math.sqrt(2), rel_tol=1e-4)
    assert explained_variance(values, values, mask) == 1.0


def test_running_moments_match_numpy():
    moments, data = RunningMoments(), np.random.default_rng(0).normal(3, 2, size=300)
    for chunk in np.split(data, 6):
        moments.update(chunk)
    assert math.isclose(moments.mean, data.mean(), rel_tol=1e-3) and math.isclose(moments.std, data.std(), rel_tol=1e-2)


def test_logprobs_slice_vocab_divide_by_temperature_and_mask():
    raw = torch.tensor([[2.0, 1.0, 0.0, 50.0]])         # column 3 lies beyond the env's vocabulary (V = 3)
    logits = policy_logits(raw, vocab_size=3, temperature=2.0)
    expected = torch.log_softmax(torch.tensor([[1.0, 0.5, 0.0]]), dim=-1)
    assert torch.allclose(gather_logprobs(logits, torch.tensor([1])), expected[:, 1])
    legal = torch.tensor([[True, False, True]])
    masked = policy_logits(raw, 3, 1.0, legal)
    probs = masked.softmax(-1)
    assert float(probs[0, 1]) == 0.0
    assert torch.allclose(gather_logprobs(masked, torch.tensor([0])), torch.log(torch.tensor([math.e ** 2 / (math.e ** 2 + 1)])))
    entropy = entropy_from_logits(masked)
    assert torch.isfinite(entropy).all()
    p = math.e ** 2 / (math.e ** 2 + 1)
    assert math.isclose(float(entropy), -(p * math.log(p) + (1 - p) * math.log(1 - p)), rel_tol=1e-5)


def test_sampling_respects_top_k_top_p_and_masks():
    generator = torch.Generator().manual_seed(0)
    logits = torch.tensor([[3.0, 2.9, 0.0, -1.0]]).repeat(200, 1)

    def truncated(top_k, top_p):
        return sample_tokens(policy_logits(logits, 4, 1.0, truncation_mask(logits, top_k, top_p)), generator)
    assert set(truncated(top_k=1, top_p=1.0).tolist()) == {0}
    assert set(truncated(top_k=2, top_p=1.0).tolist()) == {0, 1}
    assert set(truncated(top_k=0, top_p=0.5).tolist()) == {0}
    assert truncation_mask(logits, 0, 1.0) is None
    masked = policy_logits(logits, 4, 1.0, torch.tensor([[False, True, True, True]]).repeat(200, 1))
    assert 0 not in set(sample_tokens(masked, generator).tolist())


def test_config_validates_and_documents_every_field():
    docs = field_docs(PPOConfig)
    assert set(docs) == set(PPOConfig.__dataclass_fields__)
    assert "kl_coef" in PPOConfig().describe()
    with pytest.raises(ValueError, match="kl_estimator"):
        PPOConfig(kl_estimator="k7")
    with pytest.raises(ValueError, match="divisible"):
        PPOConfig(num_envs=10, num_minibatches=4)
    with pytest.raises(ValueError, match="multiple of samples_per_prompt"):
        PPOConfig(num_envs=16, samples_per_prompt=3)
    with pytest.raises(ValueError, match="samples_per_prompt >= 2"):
        PPOConfig(reward_normalization="group")


def test_fused_activations_replace_python_gelu_with_the_same_function():
    # GPT-2's gelu_new, six Python-level ops, becomes PyTorch's fused tanh GELU: the same logits and gradients up to
    # float rounding; the trainers apply it unless fused_activations=False.
    from transformers.activations import GELUTanh, NewGELUActivation

    from agents.models import build_causal_lm
    from textenvs.decoding import fuse_activations
    from textenvs.data.tokenizer import load_builtin_tokenizer

    torch.manual_seed(0)
    model = build_causal_lm(load_builtin_tokenizer(), "tiny")
    fused = __import__("copy").deepcopy(model)
    assert fuse_activations(fused) == model.config.n_layer
    assert not any(isinstance(m, NewGELUActivation) for m in fused.modules())
    assert sum(isinstance(m, GELUTanh) for m in fused.modules()) == model.config.n_layer
    ids = torch.randint(0, 100, (3, 12))
    expected, got = model(ids).logits, fused(ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
    expected.logsumexp(-1).sum().backward()
    got.logsumexp(-1).sum().backward()
    for (name, a), b in zip(model.named_parameters(), fused.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-4), name
    assert fuse_activations(fused) == 0  # idempotent
    assert PPOConfig().fused_activations


def test_trim_prompt_drops_the_minibatchs_padding_columns_and_keeps_the_logits():
    # A minibatch whose prompts are all shorter than the rollout's longest runs on fewer columns, same logits.
    from agents.models import build_causal_lm
    from agents.lm.batch import TokenBatch
    from textenvs.data.tokenizer import load_builtin_tokenizer
    from textenvs.decoding import token_logits

    torch.manual_seed(0)
    model = build_causal_lm(load_builtin_tokenizer(), "tiny").eval()
    prompt_mask = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]])
    batch = TokenBatch(prompt_ids=torch.randint(5, 100, (2, 5)) * prompt_mask, prompt_mask=prompt_mask,
                       generated_ids=torch.randint(5, 100, (2, 4)),
                       generated_mask=torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]), action_masks=None,
                       sampling_support=None)
    trimmed = batch.trim_prompt()
    assert trimmed.prompt_ids.shape == (2, 3) and torch.equal(trimmed.prompt_mask, prompt_mask[:, 2:])
    assert trimmed.generated_ids is batch.generated_ids
    full, short = (token_logits(model, b.prompt_ids, b.prompt_mask, b.generated_ids, b.generated_mask)
                   for b in (batch, trimmed))
    assert torch.allclose(full, short, atol=1e-5)
