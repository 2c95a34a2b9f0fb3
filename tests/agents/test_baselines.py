"""Non-learning baselines: greedy / sampled reference model and uniform random tokens, through the Agent interface."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import textenvs  # noqa: F401  (registers the envs)
from agents.baselines import GreedyAgent, load_reference_model
from agents.registry import make_agent
from textenvs.core import load_tokenizer
from textenvs.evaluation import generate_split

ENV_ID = "textenvs/Translation-v0"
ENV_KWARGS = {"max_new_tokens": 8}
TINY = {"model": "scratch", "model_overrides": {"n_layer": 1, "n_embd": 32, "n_head": 2}}


def eval_env(num_envs: int = 3):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", split="test",
                        autoreset_mode=AutoresetMode.DISABLED, **ENV_KWARGS)


@pytest.mark.parametrize("name, config", [("greedy", TINY), ("sampled", {**TINY, "temperature": 0.7, "top_p": 0.9}),
                                          ("random", {})])
def test_baseline_produces_records(name, config):
    agent = make_agent(name, ENV_ID, ENV_KWARGS, seed=0, **config)
    assert agent.learn(100) == []
    records = agent.generate(eval_env(), indices=range(7))  # 7 = two full batches of 3 and a short one
    assert [r.example_index for r in records] == list(range(7))
    assert all(isinstance(r.prediction, str) and 1 <= r.length <= 8 and 0 <= r.reward <= 1 for r in records)
    assert all("chrf" in r.metrics for r in records)
    config = agent.config()
    assert config["name"] == name
    json.dumps(config)


def test_greedy_kv_cached_generation_equals_its_step_by_step_policy():
    agent = GreedyAgent(ENV_ID, ENV_KWARGS, seed=3, **TINY)
    cached = agent.generate(eval_env(), indices=range(6))
    uncached = generate_split(eval_env(), agent.act, indices=range(6))
    assert [r.prediction for r in cached] == [r.prediction for r in uncached]


def test_sampled_and_random_are_seeded():
    def predictions(name, seed, config):
        return [r.prediction for r in make_agent(name, ENV_ID, ENV_KWARGS, seed=seed, **config).generate(
            eval_env(), indices=range(4))]

    sampled = {**TINY, "top_k": 50}
    assert predictions("sampled", 0, sampled) == predictions("sampled", 0, sampled)
    assert predictions("sampled", 0, sampled) != predictions("sampled", 1, sampled)
    assert predictions("random", 0, {}) == predictions("random", 0, {})
    actions = make_agent("random", ENV_ID, ENV_KWARGS, seed=0).act(eval_env(5).reset(seed=0)[0])
    assert actions.shape == (5,) and actions.dtype == np.int64


def test_reference_model_must_match_the_tokenizer():
    tokenizer = load_tokenizer(None)
    model, source = load_reference_model("scratch", tokenizer, model_overrides=TINY["model_overrides"])
    assert source == "scratch:tiny" and model.get_output_embeddings().weight.shape[0] == len(tokenizer)
    vocab = len(tokenizer)
    tokenizer.add_tokens(["<extra-token>"])
    with pytest.raises(ValueError, match=f"predicts {vocab} tokens but the env's tokenizer has {vocab + 1}"):
        load_reference_model(_save(model), tokenizer)


def _save(model):
    import tempfile

    path = tempfile.mkdtemp(prefix="textenvs-baseline-model-")
    model.save_pretrained(path)
    return path
