"""An LM agent's env-step budget (what ``textenvs bench`` gives it) ends training, not RunConfig's default
iteration cap; an explicit ``iterations`` that ends it first says so."""

from __future__ import annotations

import pytest
from tests.helpers import rollout_env_kwargs, tiny_model, word_tokenizer

from agents.grpo.agent import GRPOAgent

ENV = "textenvs/Translation-v0"


def short_episode_agent(**config):
    """A GRPO agent whose iterations generate at most 4 tokens (2 episodes of at most 2), so that a budget of a
    few hundred env steps needs more than RunConfig's default 100 iterations."""
    tokenizer = word_tokenizer()
    return GRPOAgent(ENV, rollout_env_kwargs(tokenizer, max_new_tokens=2), seed=0,
                     model=tiny_model("causal", tokenizer), num_envs=2, num_generations=2, progress=False,
                     tensorboard=False, **config)


def test_the_env_step_budget_ends_training_without_an_explicit_iteration_count():
    agent = short_episode_agent()
    default_cap = agent.run_config.iterations
    curve = agent.learn(total_env_steps=4 * default_cap + 20)
    assert agent.trainer.env_steps >= 4 * default_cap + 20
    assert len(curve) > default_cap


def test_an_explicit_iteration_count_that_ends_training_first_warns():
    agent = short_episode_agent(iterations=3)
    with pytest.warns(UserWarning, match="stopped at iterations=3"):
        curve = agent.learn(total_env_steps=10_000)
    assert len(curve) == 3 and agent.trainer.env_steps < 10_000
