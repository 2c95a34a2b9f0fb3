"""SB3 baselines: real SB3 runs on a built-in env with tiny models and budgets (seconds each on one CPU thread)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.callbacks import BaseCallback

import textenvs  # noqa: F401  (registers the envs)
from agents.registry import make_agent
from agents.sb3.agents import SB3MaskablePPOAgent, SB3PPOAgent, make_training_env
from agents.sb3.config import mask_buffer_bytes
from agents.sb3.policies import TransformerActorCriticPolicy, check_token_observation_space

ENV_ID = "textenvs/Translation-v0"
ENV_KWARGS = {"max_new_tokens": 6}
TINY = {"model": "scratch", "model_overrides": {"n_layer": 1, "n_embd": 32, "n_head": 2}, "num_envs": 4, "n_steps": 16}
SB3_AGENTS = ["sb3-ppo", "sb3-a2c", "sb3-maskable-ppo", "sb3-ppo-mlp"]


def eval_env(num_envs: int = 4):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", split="test",
                        autoreset_mode=AutoresetMode.DISABLED, **ENV_KWARGS)


def full_sequence_probs(model, observation: dict[str, np.ndarray]) -> torch.Tensor:
    """The HF model's next-token distribution on the untrimmed prompt + generation (reference computation)."""
    ids = torch.cat([torch.as_tensor(observation["prompt_ids"]), torch.as_tensor(observation["generated_ids"])], 1)
    mask = torch.cat([torch.as_tensor(observation["prompt_mask"]), torch.as_tensor(observation["generated_mask"])],
                     1).long()
    last = observation["prompt_ids"].shape[1] - 1 + observation["generated_mask"].sum(1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits
    return logits[torch.arange(len(last)), torch.as_tensor(last)].softmax(-1)


@pytest.mark.parametrize("name", SB3_AGENTS)
def test_agent_learns_and_generates(name):
    points = []
    agent = make_agent(name, ENV_ID, ENV_KWARGS, seed=0, mask_top_k=8, **TINY)
    curve = agent.learn(256, callback=points.append)

    assert agent.algorithm.num_timesteps == 256
    assert curve and curve == points
    assert [p["env_steps"] for p in curve] == sorted(p["env_steps"] for p in curve)
    assert all(np.isfinite(p["reward"]) and 0 <= p["reward"] <= 1 for p in curve)  # chrF in [0, 1]
    assert all("value_loss" in p for p in curve)  # the update's SB3 statistics ride along

    records = agent.generate(eval_env(), indices=range(5))
    assert [r.example_index for r in records] == list(range(5))
    assert all(isinstance(r.prediction, str) and 1 <= r.length <= 6 and "chrf" in r.metrics for r in records)
    config = agent.config()
    assert config["name"] == name and config["n_steps"] == 16
    json.dumps(config)


@pytest.mark.parametrize("agent_class", [SB3PPOAgent, SB3MaskablePPOAgent])
def test_initial_policy_is_the_language_models_distribution(agent_class):
    agent = agent_class(ENV_ID, ENV_KWARGS, seed=1, **TINY)
    policy = agent.algorithm.policy
    assert policy.action_net is agent.model.get_output_embeddings()
    # Mid-episode observations: prompts of different lengths, three generated tokens each (legal, never EOS).
    vec_env = agent.vec_env
    eos = vec_env.envs[0].unwrapped.task.eos_token_id
    observation = vec_env.reset()
    rng = np.random.default_rng(0)
    for _ in range(3):
        legal = np.stack(vec_env.env_method("action_masks")) if agent.masked \
            else np.ones((vec_env.num_envs, agent.vocab_size), dtype=bool)
        legal[:, eos] = False
        observation, *_ = vec_env.step(np.array([rng.choice(np.flatnonzero(row)) for row in legal]))
    assert (observation["generated_mask"].sum(1) == 3).all()

    obs_tensor, _ = policy.obs_to_tensor(observation)
    with torch.no_grad():
        sb3_probs = policy.get_distribution(obs_tensor).distribution.probs
        values = policy.predict_values(obs_tensor)
    torch.testing.assert_close(sb3_probs, full_sequence_probs(agent.model, observation), atol=1e-6, rtol=1e-5)
    assert torch.all(values == 0)  # zero-initialized value head


def test_ortho_init_and_one_hot_pitfalls_are_refused():
    agent = SB3PPOAgent(ENV_ID, ENV_KWARGS, seed=0, **{**TINY, "num_envs": 1})
    with pytest.raises(ValueError, match="ortho_init"):
        TransformerActorCriticPolicy(agent.vec_env.observation_space, agent.vec_env.action_space, lambda _: 1e-5,
                                     ortho_init=True, features_extractor_kwargs={"model": agent.model})
    one_hot = spaces.Dict({"prompt_ids": spaces.MultiDiscrete([agent.vocab_size] * 4)})
    with pytest.raises(TypeError, match="one-hot"):
        check_token_observation_space(one_hot)


class MaskAuditor(BaseCallback):
    """At each rollout's end, re-derives every stored step's legal set from the stored observation with the
    reference model and checks it against the mask MaskablePPO stored and the action it took."""

    def __init__(self, provider, eos_token_id):
        super().__init__()
        self.provider, self.eos_token_id = provider, eos_token_id
        self.steps = self.legal_counts = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        observations = {key: value.reshape(-1, value.shape[-1]).astype(np.int64)
                        for key, value in buffer.observations.items()}
        expected = self.provider(observations["prompt_ids"], observations["prompt_mask"],
                                 observations["generated_ids"], observations["generated_mask"]).copy()
        expected[:, self.eos_token_id] = True
        stored = buffer.action_masks.reshape(len(expected), -1).astype(bool)
        actions = buffer.actions.reshape(-1).astype(np.int64)
        np.testing.assert_array_equal(stored, expected)
        assert stored[np.arange(len(actions)), actions].all(), "MaskablePPO took a masked action"
        self.steps += len(actions)
        self.legal_counts += int(stored.sum())


def test_maskable_ppo_never_takes_a_masked_action():
    agent = SB3MaskablePPOAgent(ENV_ID, ENV_KWARGS, seed=0, mask_top_k=3, **TINY)
    auditor = MaskAuditor(agent.action_mask, agent.vec_env.envs[0].unwrapped.task.eos_token_id)
    # The env also rejects a masked action itself (InvalidAction), so finishing the run is a second check.
    agent.algorithm.learn(192, callback=auditor)
    assert auditor.steps == 192
    assert auditor.legal_counts <= 192 * 4  # top-3 plus EOS: the masks really restrict the vocabulary
    observation, _ = eval_env().reset(seed=0)
    actions = agent.act(observation)
    assert agent._action_masks(observation)[np.arange(len(actions)), actions].all()


def test_mask_memory_budget_is_enforced():
    assert mask_buffer_bytes(n_steps=48, num_envs=16, batch_size=192, vocab_size=50257) == \
        (2 * 48 * 16 + 192) * 50257 * 4
    with pytest.raises(ValueError, match=r"MiB of action masks.*At most n_steps=\d+ fits"):
        SB3MaskablePPOAgent(ENV_ID, ENV_KWARGS, seed=0, mask_memory_budget_mb=0.5, **TINY)


def test_budget_end_is_terminal_for_sb3():
    # SB3 bootstraps γ·V(final observation) into the last reward of a truncated episode; the budget is a termination
    # in the env itself, so the critic's value of a state past the budget never enters the return.
    env = make_training_env(ENV_ID, ENV_KWARGS)
    env.reset(seed=0)
    for _ in range(6):
        _, _, terminated, truncated, info = env.step(5)  # never EOS: the episode ends at the budget
    assert terminated and not truncated and info["finish_reason"] == "length" and "episode" in info


def test_same_seed_same_learning_curve():
    def curve(seed):
        points = make_agent("sb3-a2c", ENV_ID, ENV_KWARGS, seed=seed, **TINY).learn(128)
        return [{key: value for key, value in point.items() if key != "wall_time"} for point in points]

    assert curve(0) == curve(0)
    assert curve(0) != curve(1)


def test_maskable_ppo_uses_the_envs_own_mask_when_given():
    allowed = [5, 6, 7, 8]
    agent = SB3MaskablePPOAgent(ENV_ID, {**ENV_KWARGS, "action_mask": allowed}, seed=0, **{**TINY, "n_steps": 8})
    assert agent.action_mask is None and agent.config()["action_mask"] == "env"
    agent.learn(32)
    taken = set(agent.algorithm.rollout_buffer.actions.reshape(-1).astype(int))
    eos = agent.vec_env.envs[0].unwrapped.task.eos_token_id
    assert taken <= {*allowed, eos}
    assert set(agent.act(eval_env().reset(seed=0)[0])) <= {*allowed, eos}
    with pytest.raises(ValueError, match="sb3-maskable-ppo"):
        SB3PPOAgent(ENV_ID, {**ENV_KWARGS, "action_mask": allowed}, seed=0, **TINY)


def test_untrained_sb3_policy_decodes_like_the_warm_start():
    from agents.models import default_checkpoint

    try:
        default_checkpoint("translation")
    except FileNotFoundError:
        pytest.skip("the shipped translation warm start has not been generated")
    greedy = make_agent("greedy", ENV_ID, ENV_KWARGS, seed=0)
    sb3 = make_agent("sb3-ppo", ENV_ID, ENV_KWARGS, seed=0, num_envs=1)
    assert sb3.model_source == greedy.model_source
    env = eval_env()
    assert [r.prediction for r in sb3.generate(env, range(8))] == [r.prediction for r in greedy.generate(env, range(8))]
    observation, _ = env.reset(seed=0)
    np.testing.assert_array_equal(sb3.act(observation), greedy.act(observation))
