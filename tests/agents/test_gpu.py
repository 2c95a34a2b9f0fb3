"""GPU correctness: bf16 rollouts and the PPO invariants on CUDA (the cached-decoding check runs on CUDA in
test_ppo_rollout.py).

Skipped where CUDA is absent (CI has no GPU); run on a GPU machine with ``pytest tests/agents/test_gpu.py``.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import rollout_env_kwargs, tiny_model, toy_dataset, word_tokenizer

from agents.models import build_causal_lm
from agents.ppo import PPOConfig, PPOTrainer
from agents.ppo.policy import autocast
from agents.ppo.rollout import collect_rollout

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ENV = "textenvs/Translation-v0"
env_kwargs = rollout_env_kwargs


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_bf16_rollout_is_well_formed(kind):
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).cuda().eval()
    env = gym.make_vec(ENV, num_envs=8, vectorization_mode="vector_entry_point", **env_kwargs(
        tokenizer, observation_mode="seq2seq" if kind == "seq2seq" else "causal")).unwrapped
    with autocast(torch.device("cuda")):
        rollout = collect_rollout(env, model, list(range(5)) + [0, 1, 2],
                                  generator=torch.Generator("cuda").manual_seed(1))
    mask = rollout.generated_mask
    assert torch.isfinite(rollout.sample_logprobs).all() and (rollout.sample_logprobs <= 0).all()
    for row, record in enumerate(rollout.records):
        last = int(mask[row].sum()) - 1
        assert float(rollout.env_rewards[row, last]) == pytest.approx(record.reward)
        assert (rollout.generated_ids[row, last + 1:] == tokenizer.pad_token_id).all()


@pytest.mark.parametrize("kind,config", [("causal", {}), ("seq2seq", {}),
                                         ("causal", {"value_model": "separate", "lora_r": 4})])
def test_ppo_on_cuda_bf16_init_invariants(kind, config):
    """Smoke test on CUDA with bf16: finite statistics and a first ratio of 1 (``objective/kl == 0`` at the first
    iteration holds for any KL formula; tests/agents/test_trl_crosscheck.py checks the formulas)."""
    tokenizer = word_tokenizer()
    run = PPOTrainer(PPOConfig(env=ENV, env_kwargs=env_kwargs(tokenizer), model="in-memory", device="cuda",
                               num_envs=8, num_minibatches=2, iterations=1, progress=False, **config),
                     model=tiny_model(kind, tokenizer))
    assert next(run.policy.parameters()).is_cuda
    metrics = run.train()[0]
    assert metrics["objective/kl"] == 0.0
    # bf16 autocast runs the trunk only; both heads run in float32, so the first ratio is 1 up to float32-level
    # differences between the scoring pass and the update's differently composed minibatch.
    assert metrics["policy/first_ratio_deviation"] <= 1e-3
    assert all(np.isfinite(value) for value in metrics.values() if isinstance(value, float))


def cat_share(predictions, references):
    return [sum(word == "cat" for word in p.split()) / len(p.split()) if p.split() else 0.0 for p in predictions]


def test_ppo_on_cuda_bf16_raises_a_trivially_learnable_reward():
    """Smoke test: PPO on CUDA in bf16 learns a trivial reward; not a check of the loss formulas."""
    tokenizer = word_tokenizer()
    config = PPOConfig(env=ENV, model="in-memory", device="cuda", iterations=25, num_envs=16, num_minibatches=2,
                       learning_rate=3e-3, kl_coef=0.01, progress=False,
                       env_kwargs={"tokenizer": tokenizer, "dataset": toy_dataset(), "scorer": cat_share,
                                   "max_prompt_length": 10, "max_new_tokens": 6})
    torch.manual_seed(0)
    history = PPOTrainer(config, model=build_causal_lm(tokenizer, "tiny", n_layer=1, n_embd=32, n_head=2)).train()
    rewards = [m["charts/reward"] for m in history]
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3, rewards


def test_ppo_predictions_on_cuda_regenerate_identically_through_verify(tmp_path):
    """The PPO agent's predictions (float32 DecodingPolicy on CUDA) are what the leaderboard's verification
    regenerates on the same device type: once they came from the bf16 rollout loop, verification from float32."""
    from agents.ppo.agent import PPOAgent
    from leaderboard.scoring import Benchmarks
    from leaderboard.service import Leaderboard
    from leaderboard.store import Store
    from leaderboard.verify import verify_submission
    from textenvs import load_env_dataset
    from textenvs.data.tokenizer import load_builtin_tokenizer

    split = load_env_dataset(ENV, "test").select(range(16))
    tokenizer = load_builtin_tokenizer()
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, "tiny", n_layer=1, n_embd=32, n_head=2, initializer_range=0.5)
    agent = PPOAgent(ENV, {"dataset": split, "tokenizer": tokenizer}, seed=0, model=model, device="cuda",
                     num_envs=4, num_minibatches=1, update_epochs=1, iterations=1, progress=False, tensorboard=False,
                     out=str(tmp_path / "run"))
    agent.learn(total_env_steps=10_000)
    env = gym.make_vec(ENV, num_envs=16, vectorization_mode="vector_entry_point", tokenizer=tokenizer, split="test",
                       dataset=split)
    predictions = [{"id": r.example_id, "prediction": r.prediction} for r in agent.generate(env)]
    leaderboard = Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db"), Benchmarks({ENV: {"dataset": split}}))
    body = {"env_id": ENV, "metadata": {"agent": "ppo", "checkpoint": "run/model"}, "predictions": predictions}
    receipt = leaderboard.submit(json.dumps(body).encode(), submitter="tester")
    result = verify_submission(leaderboard, receipt.id, tmp_path / "run" / "model", batch_size=5, device="cuda")
    assert result.identical_predictions == 1.0 and result.verified
