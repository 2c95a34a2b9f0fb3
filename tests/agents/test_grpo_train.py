"""End-to-end GRPO family: each member learns a trivially learnable reward, the first ratio is 1, the reference
exists only with beta > 0, dynamic sampling skips signal-free batches, the agents resolve in the registry, and
``textenvs train grpo`` writes its run and resumes exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import saved_model_and_data, toy_dataset, word_tokenizer

from agents.grpo import GRPOConfig, GRPOTrainer, group_advantages
from agents.grpo.agent import DrGRPOAgent, GRPOAgent, RLOOAgent
from agents.grpo.trainer import GRPOBatch
from agents.models import build_causal_lm
from agents.ppo.policy import gather_logprobs
from agents.registry import agent_class, make_agent

TINY = dict(n_layer=1, n_embd=32, n_head=2)
ENV = "textenvs/Translation-v0"


def cat_share(predictions, references):
    """Reward: the share of generated words that are "cat" (a random policy gets about 1/V)."""
    return [sum(word == "cat" for word in p.split()) / len(p.split()) if p.split() else 0.0 for p in predictions]


def constant(predictions, references):
    return [1.0 for _ in predictions]


def env_kwargs(tokenizer, scorer=cat_share):
    return {"tokenizer": tokenizer, "dataset": toy_dataset(), "scorer": scorer, "max_prompt_length": 10,
            "max_new_tokens": 6}


def trainer(scorer=cat_share, **config) -> GRPOTrainer:
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, "tiny", **TINY)
    settings = dict(env=ENV, model="in-memory", iterations=20, num_envs=16, num_generations=4, num_minibatches=2,
                    learning_rate=3e-3, progress=False, env_kwargs=env_kwargs(tokenizer, scorer))
    return GRPOTrainer(GRPOConfig(**{**settings, **config}), model=model)


@pytest.mark.parametrize("settings", [
    {},                                                                   # GRPO
    {"loss_type": "dr_grpo", "scale_rewards": "none"},                    # Dr. GRPO
    {"advantage_estimator": "rloo", "scale_rewards": "none", "loss_type": "rloo", "beta": 0.05},  # RLOO (TRL's)
    {"loss_type": "dapo", "epsilon_high": 0.28, "dynamic_sampling": True, "num_iterations": 2},  # DAPO's choices
    {"importance_sampling_level": "sequence", "num_iterations": 2},       # GSPO
    {"loss_type": "cispo", "epsilon_high": 5.0, "num_iterations": 2},     # CISPO
])
def test_grpo_family_raises_a_trivially_learnable_reward(settings):
    """Smoke test: each GRPO-family setting learns a trivial reward ("last 5 > first 5 + 0.3") and logs its
    statistics. Not a check of the loss formulas: tests/agents/test_trl_crosscheck.py compares them with TRL's."""
    history = trainer(**settings).train()  # well under a second each on one CPU thread
    rewards = [m["reward"] for m in history]
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3, rewards
    clip_ratios = {"cispo_clip_ratio"} if settings.get("loss_type") == "cispo" else \
        {"clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"}
    assert {"reward", "reward_std", "frac_reward_zero_std", "entropy", "completions/mean_length",
            "completions/clipped_ratio", "approx_kl", "clipfrac", "loss", "grad_norm", *clip_ratios} <= set(history[-1])


def test_ratio_is_one_at_initialization_and_reference_only_with_beta():
    without = trainer(iterations=1, num_iterations=2)
    assert without.reference is None
    history = without.train()
    assert history[0]["first_ratio_deviation"] < 1e-5
    assert "kl" not in history[0]

    with_kl = trainer(iterations=1, beta=0.1)
    assert with_kl.reference is not None and not any(p.requires_grad for p in with_kl.reference.parameters())
    history = with_kl.train()
    assert history[0]["first_ratio_deviation"] < 1e-5
    assert 0 <= history[0]["kl"] < 1e-2  # policy and reference start equal; one step of updates apart at most


def test_top_k_is_part_of_the_legal_actions_the_update_optimizes():
    # With top_k=2 the rollout samples from two tokens: the scored distribution is that one (entropy <= log 2, ratio
    # 1 at the first step), not the full vocabulary's.
    history = trainer(iterations=1, top_k=2, temperature=1.5).train()
    assert history[0]["first_ratio_deviation"] < 1e-5
    assert 0 < history[0]["entropy"] <= np.log(2) + 1e-6
    with pytest.raises(ValueError, match="top_k"):
        GRPOConfig(top_k=-1)
    with pytest.raises(ValueError, match="top_p"):
        GRPOConfig(top_p=0.0)


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_gradient_accumulation_gives_the_minibatch_update(loss_type):
    # Same rollout (same seed), two passes of one optimizer step each, on the whole minibatch or on four accumulated
    # micro-batches (the second pass has ratios away from 1, so clipfrac and approx_kl are token means that count).
    whole, split = (trainer(iterations=1, num_minibatches=1, num_iterations=2, loss_type=loss_type,
                            gradient_accumulation_steps=steps)
                    for steps in (1, 4))
    first, second = whole.train()[0], split.train()[0]
    for key in ("loss", "clipfrac", "approx_kl", "grad_norm"):
        assert second[key] == pytest.approx(first[key], rel=1e-4, abs=1e-6), key
    for (name, a), b in zip(whole.lm.named_parameters(), split.lm.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_linear_learning_rate_anneals_over_the_run():
    history = trainer(iterations=2, num_minibatches=1, lr_schedule="linear").train()
    assert [m["learning_rate"] for m in history] == pytest.approx([3e-3, 1.5e-3])
    constant_history = trainer(iterations=2, num_minibatches=1).train()
    assert [m["learning_rate"] for m in constant_history] == pytest.approx([3e-3, 3e-3])


def test_dynamic_sampling_skips_groups_without_signal():
    run = trainer(scorer=constant, iterations=2, dynamic_sampling=True)
    before = {name: p.detach().clone() for name, p in run.lm.named_parameters()}
    assert not run.env.unwrapped.closed
    history = run.train()
    assert run.env.unwrapped.closed, "training closes its env (the scorer's workers stop)"
    assert [m["frac_reward_zero_std"] for m in history] == [1.0, 1.0]
    assert [m["num_episodes_trained"] for m in history] == [0, 0]
    for name, parameter in run.lm.named_parameters():
        assert torch.equal(parameter, before[name]), name


def test_agents_resolve_in_the_registry_with_their_defining_settings():
    assert agent_class("grpo") is GRPOAgent and agent_class("dr-grpo") is DrGRPOAgent
    assert agent_class("rloo") is RLOOAgent
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    agent = make_agent("dr-grpo", ENV, env_kwargs(tokenizer), seed=0, model=build_causal_lm(tokenizer, "tiny", **TINY),
                       num_envs=4, num_generations=2, progress=False)
    assert agent.config()["loss_type"] == "dr_grpo" and agent.config()["scale_rewards"] == "none"
    assert agent.learn(total_env_steps=10)
    env = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", split="test",
                       autoreset_mode="Disabled", **env_kwargs(tokenizer))
    records = agent.generate(env, [0, 1, 2])
    assert [r.example_index for r in records] == [0, 1, 2]
    rloo = make_agent("rloo", ENV, env_kwargs(tokenizer), seed=0, model=build_causal_lm(tokenizer, "tiny", **TINY),
                      num_envs=4, num_generations=2, progress=False)
    assert rloo.config()["advantage_estimator"] == "rloo" and rloo.config()["scale_rewards"] == "none"
    assert rloo.config()["loss_type"] == "rloo"


def hand_made_batch(run: GRPOTrainer, lengths: list[int], scores: list[float]) -> GRPOBatch:
    """One group of episodes with the given lengths (random tokens, fixed prompts) and the old logprobs of the
    trainer's policy, ready for :meth:`GRPOTrainer.update`."""
    generator = torch.Generator().manual_seed(0)
    size, steps = len(lengths), max(lengths)
    mask = (torch.arange(steps) < torch.tensor(lengths).unsqueeze(1)).float()
    batch = GRPOBatch(prompt_ids=torch.randint(4, run.task.vocab_size, (size, 5), generator=generator),
                      prompt_mask=torch.ones(size, 5, dtype=torch.long),
                      generated_ids=torch.randint(4, run.task.vocab_size, (size, steps), generator=generator),
                      generated_mask=mask.long(), action_masks=None, sampling_support=None, mask=mask,
                      kept=torch.ones(size), advantages=group_advantages(torch.tensor(scores), size, "rloo", "none"),
                      sample_logprobs=torch.zeros(size, steps), agent_mask=mask, old_logprobs=None, ref_logprobs=None)
    with torch.no_grad():
        old_logprobs = gather_logprobs(run.action_logits(run.model, batch), batch.generated_ids) * mask
    return replace(batch, old_logprobs=old_logprobs)


def test_rloo_agent_steps_along_the_sequence_reinforce_gradient():
    # The "rloo" agent's update on one group of episodes of 6, 2 and 4 tokens, with plain SGD at lr 1 and no clip
    # of the gradient norm: the step is minus the gradient of -Σ_i A_i log π(y_i) / N (log π(y_i) the episode's
    # summed token logprobs), not of GRPO's per-episode token mean.
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    agent = make_agent("rloo", ENV, env_kwargs(tokenizer), seed=0, model=build_causal_lm(tokenizer, "tiny", **TINY),
                       num_envs=3, num_generations=3, num_minibatches=1, learning_rate=1.0, max_grad_norm=1e9,
                       progress=False)
    run = agent.trainer
    run.optimizer = torch.optim.SGD(run.lm.parameters(), lr=1.0)
    batch = hand_made_batch(run, [6, 2, 4], [1.0, 0.0, 4.0])
    parameters = [p for p in run.lm.parameters() if p.requires_grad]
    logprobs = gather_logprobs(run.action_logits(run.model, batch), batch.generated_ids)
    closed_form = -(batch.advantages * (logprobs * batch.mask).sum(dim=1)).sum() / 3
    gradients = torch.autograd.grad(closed_form, parameters, allow_unused=True)
    before = [p.detach().clone() for p in parameters]
    run.update(batch)
    for old, new, gradient in zip(before, parameters, gradients):
        expected = torch.zeros_like(old) if gradient is None else gradient
        assert torch.allclose(old - new.detach(), expected, atol=1e-6, rtol=1e-4)


def test_rloo_kl_is_a_penalty_on_the_episode_reward_before_the_baseline():
    # TRL's RLOO: reward - beta * Σ_t (log π_old - log π_ref), then the leave-one-out baseline of those rewards.
    run = trainer(iterations=1, num_envs=4, num_generations=2, num_minibatches=1, loss_type="rloo",
                  advantage_estimator="rloo", scale_rewards="none", beta=0.5)
    scores = torch.tensor([1.0, 0.0, 2.0, 2.0])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    old = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, -0.5, -0.5], [-3.0, 0.0, 0.0], [-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, 0.0], [-0.5, -1.5, -0.5], [-2.0, 0.0, 0.0], [-1.0, -2.0, 0.0]])
    # Summed k1 per episode: -0.5, 1.0, -1.0, 1.0; penalised rewards: 1.25, -0.5, 2.5, 1.5.
    tokens = torch.zeros(4, 3, dtype=torch.long)
    batch = GRPOBatch(prompt_ids=tokens, prompt_mask=tokens, generated_ids=tokens, generated_mask=tokens,
                      action_masks=None, sampling_support=None, mask=mask, kept=torch.ones(4),
                      advantages=group_advantages(scores, 2, "rloo", "none"), sample_logprobs=torch.zeros(4, 3),
                      agent_mask=mask, old_logprobs=old, ref_logprobs=ref)
    penalised, kl = run.penalize_rewards_with_kl(batch)
    assert torch.allclose(penalised.advantages, torch.tensor([1.75, -1.75, 1.0, -1.0]))
    assert kl == pytest.approx(0.5 / 8)
    # With the update's own forward reused (no old_logprobs), the rollout's logprobs are the sampling policy's.
    reused, _ = run.penalize_rewards_with_kl(replace(batch, sample_logprobs=old, old_logprobs=None))
    assert torch.allclose(reused.advantages, penalised.advantages)
    # No std scaling of the penalised rewards is offered.
    with pytest.raises(ValueError, match="scale_rewards='none'"):
        GRPOConfig(loss_type="rloo", beta=0.05)
    # RLOO's ratio is the sequence probabilities'; GSPO's geometric mean is another one.
    with pytest.raises(ValueError, match="importance_sampling_level"):
        GRPOConfig(loss_type="rloo", importance_sampling_level="sequence")


def cli_arguments(out, model_dir, data, *extra):
    kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}
    return ["grpo", "--env", ENV, "--model", str(model_dir), "--env-kwargs", json.dumps(kwargs), "--out", str(out),
            "--num-envs", "8", "--num-generations", "4", "--num-minibatches", "2", "--num-iterations", "2",
            "--learning-rate", "1e-3", "--checkpoint-every", "1", "--no-progress", "--seed", "3", *extra]


def test_cli_trains_writes_its_run_and_resumes_exactly(tmp_path, capsys):
    from agents.cli import main

    model_dir, data = saved_model_and_data(tmp_path)
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(cli_arguments(whole, model_dir, data, "--iterations", "3", "--loss-type", "dapo")) == 0
    assert main(cli_arguments(split, model_dir, data, "--iterations", "2", "--loss-type", "dapo")) == 0
    assert main(["grpo", "--out", str(split), "--resume", "--iterations", "3", "--no-progress"]) == 0
    summary = capsys.readouterr().out.splitlines()
    assert summary[-2].startswith("iteration 3: reward ") and " reward_std " in summary[-2]
    assert summary[-1].startswith(f"model: {split / 'model'}   logs: {split / 'metrics.jsonl'}")

    expected = torch.load(whole / "checkpoints/iteration_000003.pt", weights_only=False)
    resumed = torch.load(split / "checkpoints/iteration_000003.pt", weights_only=False)
    for name, tensor in expected["policy"].items():
        assert torch.equal(tensor, resumed["policy"][name]), name
    lines = [[{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
              for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (whole, split)]
    assert lines[0] == lines[1] and len(lines[0]) == 3
    assert json.loads((split / "config.json").read_text())["loss_type"] == "dapo"
    for path in ("learning_curve.png", "samples.jsonl", "model/config.json", "model/grpo_config.json",
                 "model/tokenizer_config.json"):
        assert (whole / path).is_file(), path

    # PPO's resume rules and one-line errors: a checkpoint-shaping setting cannot change, bad values are named.
    capsys.readouterr()
    assert main(["grpo", "--out", str(split), "--resume", "--lora-r", "4", "--no-progress"]) == 2
    assert "textenvs train grpo: --resume cannot change" in capsys.readouterr().err
    assert main(["grpo", "--env", ENV, "--no-save", "--top-k", "-1"]) == 2
    assert "textenvs train grpo: top_k must be >= 0, got -1." in capsys.readouterr().err
    # RLOO is --loss-type rloo on the command line, checked like the agent's settings.
    assert main(["grpo", "--env", ENV, "--no-save", "--loss-type", "rloo", "--beta", "0.1"]) == 2
    assert "loss_type='rloo' with beta > 0 needs scale_rewards='none'" in capsys.readouterr().err


@pytest.mark.parametrize("settings", [{}, {"beta": 0.1, "gradient_accumulation_steps": 2}, {"top_k": 3},
                                      {"loss_type": "rloo", "scale_rewards": "none", "beta": 0.1}])
def test_one_step_per_rollout_reuses_the_update_forward_with_the_scoring_pass_result(settings, monkeypatch):
    # num_iterations = num_minibatches = 1: the update's own detached logprobs replace the scoring pass (no forward of
    # the policy before the update). Same rollout (same seed): the same step, loss, entropy and parameters as with
    # the pass, and the first ratio, now against the rollout's logprobs, is still 1.
    settings = dict(iterations=2, num_minibatches=1, num_iterations=1, **settings)
    reusing = trainer(**settings)
    assert reusing.single_step
    scored_calls = []
    score_tokens = GRPOTrainer.score_tokens
    monkeypatch.setattr(GRPOTrainer, "score_tokens",
                        lambda self, rollout, policy=True: scored_calls.append(policy) or score_tokens(self, rollout,
                                                                                                       policy))
    reused = reusing.train()
    assert scored_calls == [False, False]
    monkeypatch.setattr(GRPOTrainer, "single_step", property(lambda self: False))
    scoring = trainer(**settings)
    scored = scoring.train()
    assert scored_calls[2:] == [True, True]
    for a, b in zip(reused, scored):
        assert a["first_ratio_deviation"] < 1e-5 and b["first_ratio_deviation"] < 1e-5
        for key in ("loss", "entropy", "grad_norm", "reward", "approx_kl", *(("kl",) if "beta" in settings else ())):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    # Equal up to float rounding: the two paths run the same math on differently shaped batches, and on AVX-512 CPUs
    # the kernels for those shapes round differently (max |difference| 1.5e-6 after two Adam steps on an AMD EPYC;
    # bit-identical under ATEN_CPU_CAPABILITY=avx2).
    for (name, a), b in zip(reusing.lm.named_parameters(), scoring.lm.parameters()):
        assert torch.allclose(a, b, atol=1e-5), (name, (a - b).abs().max().item())


def test_one_step_per_rollout_with_no_informative_group_still_logs_the_entropy():
    # Dynamic sampling drops every group of a constant reward: no update, and the entropy comes from the scoring pass.
    history = trainer(scorer=constant, iterations=1, num_minibatches=1, dynamic_sampling=True).train()
    assert history[0]["num_episodes_trained"] == 0 and history[0]["entropy"] > 0


def test_trainers_fuse_the_models_activations_unless_told_not_to():
    from transformers.activations import GELUTanh, NewGELUActivation

    assert any(isinstance(m, GELUTanh) for m in trainer(iterations=1).lm.modules())
    assert not any(isinstance(m, NewGELUActivation) for m in trainer(iterations=1).lm.modules())
    assert any(isinstance(m, NewGELUActivation) for m in trainer(iterations=1, fused_activations=False).lm.modules())
    # And AdamW runs fused (one kernel per step; the transformers Trainer's default).
    assert trainer(iterations=1).optimizer.defaults["fused"]
