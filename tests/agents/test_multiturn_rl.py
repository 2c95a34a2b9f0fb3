"""RL on the multi-turn dialogue env: rollouts feed the user's turns into the KV cache, and PPO / GRPO train on the
agent's tokens only (user tokens are context: attended to, never in a loss)."""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import chatty_model, rollout_env_kwargs, teacher_forced_logprobs, tiny_model, word_tokenizer

import textenvs  # noqa: F401  (registers the envs)
from agents.grpo import GRPOConfig, GRPOTrainer
from agents.grpo.trainer import GRPOBatch
from agents.ppo import PPOConfig, PPOTrainer
from agents.ppo.buffer import RolloutBuffer, agent_gae, compute_gae
from agents.ppo.kl import kl_estimate
from agents.ppo.rollout import collect_rollout
from agents.sft import make_batch
from agents.sft.conversations import GENERIC_TURN, BookingDemonstrator, simulate_conversations
from textenvs.data.tokenizer import load_builtin_tokenizer
from textenvs.decoding import CachedDecoder, DecodingPolicy, causal_position_ids, next_token_logits

ENV = "textenvs/MultiTurnDialogue-v0"
ENV_KWARGS = {"max_new_tokens": 48, "max_turn_tokens": 12, "autoreset_mode": "Disabled"}


def multiturn_env(num_envs: int):
    return gym.make_vec(ENV, num_envs=num_envs, vectorization_mode="vector_entry_point", **ENV_KWARGS)


def test_cached_decoder_extend_equals_a_full_forward():
    """Rows receive 2, 0 and 3 tokens in one padded block, then one more token each: the cached logits are those of
    one uncached forward over each row's unpadded sequence."""
    tokenizer = load_builtin_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    prompt_ids = torch.tensor([[0, 0, 11, 12], [13, 14, 15, 16], [0, 17, 18, 19]])
    prompt_mask = (torch.arange(4) >= torch.tensor([[2], [0], [1]])).long()
    block = torch.tensor([[30, 31, 0], [0, 0, 0], [32, 33, 34]])
    block_mask = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    with torch.no_grad():
        decoder = CachedDecoder(model, prompt_ids, prompt_mask)
        decoder.advance(torch.tensor([40, 41, 42]))
        before = decoder.logits.clone()
        decoder.extend(block, block_mask)
        assert torch.equal(decoder.logits[1], before[1])  # a row without new tokens keeps its logits
        decoder.advance(torch.tensor([43, 44, 45]))
        for row in range(3):
            ids = torch.cat([prompt_ids[row][prompt_mask[row] == 1], torch.tensor([40 + row]),
                             block[row][block_mask[row] == 1], torch.tensor([43 + row])])[None]
            attention = torch.ones_like(ids)
            expected = model(input_ids=ids, attention_mask=attention,
                             position_ids=causal_position_ids(attention)).logits[0, -1]
            assert torch.allclose(decoder.logits[row], expected, atol=1e-5)
    with pytest.raises(ValueError, match="causal"):
        CachedDecoder(tiny_model("seq2seq", tokenizer), prompt_ids, prompt_mask).extend(block, block_mask)
    with pytest.raises(ValueError, match="'eager' decoding backend only"):
        CachedDecoder(model, prompt_ids, prompt_mask, backend="static", max_new_tokens=4).extend(block, block_mask)


def test_rollout_is_the_conversation_and_matches_a_teacher_forced_forward():
    tokenizer = load_builtin_tokenizer()
    model = chatty_model(tokenizer)
    env = multiturn_env(6)
    rollout = collect_rollout(env, model, [0, 1, 2, 3, 4, 5], generator=torch.Generator().manual_seed(0))
    agent, attended = rollout.agent_mask.bool(), rollout.generated_mask.bool()
    user = attended & ~agent
    assert user.sum(dim=1).gt(0).sum() >= 3  # several conversations had user turns in the middle
    assert not (agent & ~attended).any()
    # The generated sequence is the env's conversation: its runs of user tokens are the user's replies, in order.
    base = env.unwrapped
    for row, record in enumerate(rollout.records):
        replies = [m["content"] for m in base.messages(row)[1:] if m["role"] == "user"]
        runs, run = [], []
        for token, is_user in zip(rollout.generated_ids[row].tolist(), user[row].tolist()):
            if is_user:
                run.append(token)
            elif run:
                runs, run = runs + [run], []
        assert runs + ([run] if run else []) == [base._episodes.format.user_turn_ids(text) for text in replies]
        # The terminal reward sits on the last agent token.
        last_agent = int(torch.nonzero(agent[row]).max())
        assert float(rollout.env_rewards[row, last_agent]) == pytest.approx(record.reward)
    assert float(rollout.env_rewards[~agent].abs().sum()) == 0.0
    # Cached decoding with the appended user tokens gives the logits of one full forward over the conversation.
    full = teacher_forced_logprobs(model, rollout, len(tokenizer)) * rollout.agent_mask
    assert torch.allclose(full, rollout.sample_logprobs, atol=1e-5)
    assert float(rollout.sample_logprobs[user].abs().sum()) == 0.0


def test_greedy_decoding_policy_feeds_user_turns():
    """DecodingPolicy on the multi-turn env chooses, at every step, the argmax of an uncached forward over the
    observation (which holds the user's turns)."""
    tokenizer = load_builtin_tokenizer()
    model = chatty_model(tokenizer)
    env = multiturn_env(4).unwrapped
    policy = DecodingPolicy(model, vocab_size=len(tokenizer))
    observation, _ = env.reset(options={"example_index": np.arange(4)})
    done = np.zeros(4, dtype=bool)
    user_turns = 0
    while not done.all():
        actions = policy(observation)
        expected = next_token_logits(model, observation)[:, :len(tokenizer)].argmax(dim=-1).numpy()
        assert (actions[~done] == expected[~done]).all()
        observation, _, terminated, _, info = env.step(actions)
        user_turns += sum(reply is not None for reply in info.get("user_reply", [None] * 4))
        done |= terminated
    assert user_turns >= 2


def test_gae_over_agent_tokens_only():
    """γ and λ discount per agent action: user tokens between agent turns neither discount nor bootstrap."""
    agent = torch.tensor([[1, 1, 0, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0, 0]])
    rewards = torch.tensor([[0.0, 0.5, 9.0, 9.0, 0.0, 1.0, 9.0], [0.0, 0.0, 1.0, 0, 0, 0, 0]])
    values = torch.tensor([[0.1, 0.2, 7.0, 7.0, 0.3, 0.4, 7.0], [0.1, 0.2, 0.3, 0, 0, 0, 0]])
    advantages, returns = agent_gae(rewards, values, agent, 0.9, 0.8)
    compact_adv, compact_ret = compute_gae(torch.tensor([[0.0, 0.5, 0.0, 1.0]]), torch.tensor([[0.1, 0.2, 0.3, 0.4]]),
                                           torch.ones(1, 4), 0.9, 0.8)
    assert torch.allclose(advantages[0, [0, 1, 4, 5]], compact_adv[0])
    assert torch.allclose(returns[0, [0, 1, 4, 5]], compact_ret[0])
    assert float(advantages[agent == 0].abs().sum() + returns[agent == 0].abs().sum()) == 0.0
    # Agent tokens that are a prefix of each row (single-turn envs): exactly compute_gae.
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(5, 9, generator=generator), torch.randn(5, 9, generator=generator)
    prefix = (torch.arange(9) < torch.tensor([[9], [3], [1], [6], [0]])).float()
    for ours, theirs in zip(agent_gae(rewards, values, prefix, 0.99, 0.95),
                            compute_gae(rewards, values, prefix, 0.99, 0.95)):
        assert torch.equal(ours, theirs)


def test_single_turn_rollout_loss_mask_is_the_generated_mask():
    tokenizer = word_tokenizer()
    env = gym.make_vec("textenvs/Translation-v0", num_envs=4, vectorization_mode="vector_entry_point",
                       **rollout_env_kwargs(tokenizer))
    rollout = collect_rollout(env, tiny_model("causal", tokenizer), [0, 1, 2, 3],
                              generator=torch.Generator().manual_seed(0))
    assert torch.equal(rollout.agent_mask, rollout.generated_mask)


class UserPositionNoise:
    """Adds large noise to a model's outputs at the positions that predict user tokens (and, for PPO, to the values
    there), finding each row's agent mask by its token ids."""

    def __init__(self, rollout, at_user: bool = True) -> None:
        self.masks = {tuple(ids.tolist()): (attended.bool() & (~agent.bool() if at_user else agent.bool()))
                      for ids, attended, agent in zip(rollout.generated_ids, rollout.generated_mask,
                                                      rollout.agent_mask)}
        self.generator = torch.Generator().manual_seed(1)

    def positions(self, generated_ids: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.masks[tuple(ids.tolist())] for ids in generated_ids])

    def __call__(self, tensor: torch.Tensor, generated_ids: torch.Tensor) -> torch.Tensor:
        where = self.positions(generated_ids)
        noise = 50 * torch.randn(tensor.shape, generator=self.generator)
        where = where.view(*where.shape, *([1] * (tensor.dim() - 2)))
        return tensor + noise * where


def ppo_update(noise_at: str | None) -> tuple[dict[str, float], list[torch.Tensor]]:
    """One PPO iteration's update on a multi-turn rollout, optionally with noise in the policy's logits and values
    at user (or agent) positions during the update."""
    tokenizer = load_builtin_tokenizer()
    config = PPOConfig(env=ENV, env_kwargs=dict(ENV_KWARGS), model="in-memory", num_envs=6, num_minibatches=2,
                       update_epochs=2, progress=False, iterations=1, learning_rate=1e-3, kl_coef=0.1)
    trainer = PPOTrainer(config, model=chatty_model(tokenizer))
    rollout = collect_rollout(trainer.env, trainer.policy.lm, [0, 1, 2, 3, 4, 5], generator=trainer.sampler)
    logprobs, ref_logprobs, values, _ = trainer.score_tokens(rollout)
    mask = rollout.agent_mask.float()
    kl = kl_estimate(logprobs, ref_logprobs, config.kl_estimator) * mask
    rewards = trainer.normalize_rewards(rollout, rollout.env_rewards.sum(1)) - trainer.kl_controller.value * kl
    buffer = RolloutBuffer(prompt_ids=rollout.prompt_ids, prompt_mask=rollout.prompt_mask,
                           generated_ids=rollout.generated_ids, generated_mask=rollout.generated_mask,
                           action_masks=rollout.action_masks, sampling_support=rollout.sampling_support,
                           logprobs=logprobs, ref_logprobs=ref_logprobs, values=values, rewards=rewards,
                           agent_mask=mask)
    buffer.compute_advantages(config.gamma, config.gae_lambda, whiten=True)
    if noise_at is not None:
        noise = UserPositionNoise(rollout, at_user=noise_at == "user")
        forward = trainer.policy.forward

        def noisy_forward(prompt_ids, prompt_mask, generated_ids, generated_mask):
            logits, values = forward(prompt_ids, prompt_mask, generated_ids, generated_mask)
            return noise(logits, generated_ids), noise(values, generated_ids)

        trainer.policy.forward = noisy_forward
    stats = trainer.update(buffer)
    trainer.env.close()
    return stats, [p.detach().clone() for p in trainer.policy.parameters()]


def test_ppo_user_tokens_get_no_gradient():
    clean_stats, clean_params = ppo_update(None)
    user_stats, user_params = ppo_update("user")
    agent_stats, _ = ppo_update("agent")
    for key in ("losses/policy", "losses/value", "losses/entropy", "losses/grad_norm", "losses/approx_kl"):
        assert user_stats[key] == pytest.approx(clean_stats[key], rel=1e-5, abs=1e-7), key
    for clean, noisy in zip(clean_params, user_params):
        assert torch.allclose(clean, noisy, atol=1e-6)
    assert agent_stats["losses/entropy"] != pytest.approx(clean_stats["losses/entropy"], rel=1e-3)  # not vacuous


def grpo_update(noise_at: str | None, loss_type: str) -> tuple[dict[str, float], list[torch.Tensor]]:
    tokenizer = load_builtin_tokenizer()
    config = GRPOConfig(env=ENV, env_kwargs=dict(ENV_KWARGS), model="in-memory", num_envs=6, num_generations=3,
                        num_minibatches=2, progress=False, iterations=1, learning_rate=1e-3, beta=0.1,
                        loss_type=loss_type)
    trainer = GRPOTrainer(config, model=chatty_model(tokenizer))
    rollout = collect_rollout(trainer.env, trainer.lm, [0, 0, 0, 1, 1, 1], generator=trainer.sampler)
    old_logprobs, ref_logprobs, _ = trainer.score_tokens(rollout)
    scores = torch.arange(6, dtype=torch.float32)  # any advantages: the point is which tokens they reach
    batch = GRPOBatch(**vars(rollout.tokens()), mask=rollout.agent_mask.float(), kept=torch.ones(6),
                      advantages=scores - scores.mean(), sample_logprobs=rollout.sample_logprobs,
                      agent_mask=rollout.agent_mask.float(), old_logprobs=old_logprobs, ref_logprobs=ref_logprobs)
    if noise_at is not None:
        noise = UserPositionNoise(rollout, at_user=noise_at == "user")
        action_logits = trainer.action_logits
        trainer.action_logits = lambda lm, micro: noise(action_logits(lm, micro), micro.generated_ids)
    stats = trainer.update(batch)
    trainer.env.close()
    return stats, [p.detach().clone() for p in trainer.lm.parameters()]


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_grpo_user_tokens_get_no_gradient(loss_type):
    clean_stats, clean_params = grpo_update(None, loss_type)
    user_stats, user_params = grpo_update("user", loss_type)
    agent_stats, _ = grpo_update("agent", loss_type)
    for key in ("loss", "kl", "grad_norm", "approx_kl"):
        assert user_stats[key] == pytest.approx(clean_stats[key], rel=1e-5, abs=1e-7), key
    for clean, noisy in zip(clean_params, user_params):
        assert torch.allclose(clean, noisy, atol=1e-6)
    assert agent_stats["kl"] != pytest.approx(clean_stats["kl"], rel=1e-3)


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_one_training_iteration_on_the_multiturn_env(algorithm):
    tokenizer = load_builtin_tokenizer()
    common = {"env": ENV, "env_kwargs": dict(ENV_KWARGS), "model": "in-memory", "num_envs": 4, "num_minibatches": 2,
              "progress": False, "iterations": 1}
    trainer = PPOTrainer(PPOConfig(**common), model=chatty_model(tokenizer)) if algorithm == "ppo" \
        else GRPOTrainer(GRPOConfig(**common, num_generations=2), model=chatty_model(tokenizer))
    metrics = trainer.train()[-1]
    losses = [value for key, value in metrics.items() if "loss" in key and "explained_variance" not in key]
    assert losses and np.isfinite(losses).all()
    ratio = metrics["policy/first_ratio_deviation" if algorithm == "ppo" else "first_ratio_deviation"]
    assert ratio < 1e-4  # rollout (with the user turns in the cache) and update compute the same policy


def test_simulated_conversations_train_on_agent_tokens_only():
    tokenizer = load_builtin_tokenizer()
    kwargs = {"tokenizer": tokenizer, "split": "train"}
    perfect, metrics = simulate_conversations(ENV, kwargs, BookingDemonstrator(0.0, 0.0), range(8))
    assert metrics["goal_completion"] == 1.0
    flawed, flawed_metrics = simulate_conversations(ENV, kwargs, BookingDemonstrator(0.3, 0.4), range(40))
    assert 0.0 < flawed_metrics["goal_completion"] < 1.0
    decoded = [tokenizer.decode(ids[mask == 1]) for ids, mask in zip(flawed.target_ids, flawed.loss_mask)]
    assert any(GENERIC_TURN in text for text in decoded)
    # Labels: the agent's tokens only; the user's turns are attended to (attention mask) but carry no loss.
    batch = make_batch(perfect, np.arange(8), tiny_model("causal", tokenizer))
    labelled = (batch["labels"] != -100).sum(dim=1)
    assert labelled.tolist() == perfect.loss_mask.sum(axis=1).tolist()
    attended = batch["attention_mask"].sum(dim=1).numpy()
    assert (attended == perfect.prompt_mask.sum(axis=1) + perfect.target_mask.sum(axis=1)).all()
    assert (attended > labelled.numpy() + perfect.prompt_mask.sum(axis=1)).sum() >= 4  # user turns in most rows
    with pytest.raises(ValueError, match="generic_rate"):
        BookingDemonstrator(1.5, 0.4)


def test_demonstrator_states_only_what_the_user_told():
    """The demonstrator asks for every slot the user has not given before it confirms, so a model fit to its
    conversations can learn each value it writes from the conversation; partial confirmations never meet a goal."""
    tokenizer = load_builtin_tokenizer()
    env = gym.make(ENV, tokenizer=tokenizer, split="train").unwrapped
    goals = [index for index in range(40)
             if len(env.task.dataset[index].metadata["opening"]) < len(env.task.dataset[index].metadata["goal"])]
    assert goals
    for index in goals:
        env.reset(options={"example_index": index})
        example = env.task.dataset[index]
        first = BookingDemonstrator(0.0, 1.0)(example, env.messages(), random.Random(0))
        assert "booked" not in first and first.endswith("?")
    kwargs = {"tokenizer": tokenizer, "split": "train"}
    _, always_partial = simulate_conversations(ENV, kwargs, BookingDemonstrator(0.0, 1.0), range(20))
    assert always_partial["goal_completion"] == 0.0 and always_partial["slot_accuracy"] > 0.5
