"""Trainer correctness, issue 22: each test here failed on the code before its fix.

- the KL to the reference is taken over the env's legal vocabulary, not the policy's top-k / top-p truncation (GRPO
  with ``beta > 0``; PPO's is in ``test_ppo_rollout.py``);
- top-k with top-p samples the set Hugging Face's logits processors (and vLLM) sample: top-p of the top-k
  renormalized distribution;
- a rollout stores its truncated sets as token ids, not as dense ``(B, T, V)`` masks;
- a checkpoint resumes whatever device ``torch.load`` would have mapped it to (RNG states stay CPU tensors);
- a checkpoint stored in bf16 trains (float32 master weights) and decodes (float32 head over bf16 weights).
"""

from __future__ import annotations

import pytest
import torch
from tests.helpers import saved_model_and_data, toy_dataset, word_tokenizer

from agents.grpo import GRPOConfig, GRPOTrainer
from agents.models import build_causal_lm, load_pretrained
from agents.ppo import PPOConfig, PPOTrainer
from agents.ppo.rollout import collect_rollout
from textenvs.decoding import (DecodingPolicy, next_token_hidden, next_token_logits, observation_tensors,
                               sampling_mask, support_indices, support_mask, token_logits, top_p_mask)

ENV = "textenvs/Translation-v0"
TINY = dict(n_layer=1, n_embd=32, n_head=2)


def env_kwargs(tokenizer, **overrides):
    return {"tokenizer": tokenizer, "dataset": toy_dataset(), "scorer": "chrf", "max_prompt_length": 10,
            "max_new_tokens": 6, **overrides}


def grpo_trainer(**config) -> GRPOTrainer:
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    settings = dict(env=ENV, model="in-memory", iterations=1, num_envs=8, num_generations=4, learning_rate=1e-3,
                    progress=False, env_kwargs=env_kwargs(tokenizer))
    return GRPOTrainer(GRPOConfig(**{**settings, **config}), model=build_causal_lm(tokenizer, "tiny", **TINY))


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_k": 2, "top_p": 0.9}, {"top_p": 0.5}])
def test_grpo_reference_logprobs_are_over_the_env_legal_vocabulary(truncation):
    """GRPO with beta > 0 scored its reference through the policy's top-k / top-p mask: with top_k=1 both logprobs
    were 0 and the k3 penalty 0, whatever the reference thought of the token."""
    run = grpo_trainer(beta=0.1, temperature=0.8, **truncation)
    rollout = collect_rollout(run.env, run.lm, [0, 1, 2, 3, 0, 1, 2, 3], generator=run.sampler, temperature=0.8,
                              **truncation)
    old_logprobs, ref_logprobs, _ = run.score_tokens(rollout)
    mask = rollout.generated_mask.bool()
    vocab = run.task.vocab_size
    with torch.no_grad():
        logits = token_logits(run.lm, rollout.prompt_ids, rollout.prompt_mask, rollout.generated_ids,
                              rollout.generated_mask)[..., :vocab] / 0.8
    full = torch.log_softmax(logits, -1).gather(-1, rollout.generated_ids.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ref_logprobs[mask], full[mask], atol=1e-5, rtol=1e-5)
    # The policy's own logprobs stay those of the truncated distribution it sampled from.
    torch.testing.assert_close(old_logprobs[mask], rollout.sample_logprobs[mask], atol=1e-5, rtol=1e-5)
    assert bool((old_logprobs[mask] > ref_logprobs[mask] + 1e-4).any())
    metrics = run.train()[0]
    assert metrics["kl"] > 0


@pytest.mark.parametrize("top_k,top_p", [(5, 0.6), (10, 0.3), (3, 0.99), (40, 0.8), (0, 0.7), (7, 1.0)])
def test_top_k_then_top_p_matches_transformers_logits_processors(top_k, top_p):
    """HF (and vLLM) take the nucleus of the top-k renormalized distribution; we took it over the full distribution
    and then capped it at k, a smaller set whenever the top-k hold less than top_p of the mass."""
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    generator = torch.Generator().manual_seed(top_k)
    logits = torch.randn(256, 60, generator=generator, dtype=torch.float64) * 2.0
    processed = logits.clone()
    if top_k:
        processed = TopKLogitsWarper(top_k)(None, processed)
    if top_p < 1.0:
        processed = TopPLogitsWarper(top_p)(None, processed)
    expected = torch.isfinite(processed)
    assert torch.equal(top_p_mask(logits, top_p, top_k), expected)


def test_truncated_sets_are_stored_as_token_ids_not_dense_vocabulary_masks():
    """A rollout with top-k keeps (B, T, k) ids: k / V of the dense bool masks it stored before (~5 GB at 64 x 512
    tokens and a 152k vocabulary), and the dense mask a micro-batch needs is rebuilt exactly."""
    run = grpo_trainer(top_k=3)
    rollout = collect_rollout(run.env, run.lm, [0, 1, 2, 3, 0, 1, 2, 3], generator=run.sampler, top_k=3)
    assert rollout.action_masks is None  # the env masks nothing
    support = rollout.sampling_support
    assert support is not None and support.dtype == torch.int32 and support.shape[-1] == 3
    dense = sampling_mask(rollout.action_masks, support, run.task.vocab_size)
    assert dense.shape == (*rollout.generated_ids.shape, run.task.vocab_size)
    assert (dense[rollout.generated_mask.bool()].sum(-1) == 3).all()
    # Every sampled token lies in its step's set.
    assert bool(dense.gather(-1, rollout.generated_ids.unsqueeze(-1))[rollout.generated_mask.bool()].all())
    # Sets of different sizes (top-p) round-trip through the padded ids.
    legal = torch.rand(6, 50, generator=torch.Generator().manual_seed(1)) < 0.2
    legal[:, 7] = True
    assert torch.equal(support_mask(support_indices(legal), 50), legal)


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_resume_keeps_random_states_on_the_cpu_whatever_the_device(tmp_path, algorithm):
    """Resume read the checkpoint with map_location=the trainer's device: on CUDA the saved CPU RNG states moved to
    the GPU and torch.set_rng_state refused them. The meta device stands in for CUDA here (a trainer whose device is
    not the CPU): the checkpoint must load and restore the same state."""
    tokenizer = word_tokenizer()
    settings = dict(env=ENV, model="in-memory", iterations=1, num_envs=8, learning_rate=1e-3, progress=False,
                    tensorboard=False, env_kwargs=env_kwargs(tokenizer), out=str(tmp_path / "run"))
    if algorithm == "ppo":
        make = lambda: PPOTrainer(PPOConfig(num_minibatches=2, **settings),  # noqa: E731
                                  model=build_causal_lm(tokenizer, "tiny", **TINY))
    else:
        make = lambda: GRPOTrainer(GRPOConfig(num_generations=4, **settings),  # noqa: E731
                                   model=build_causal_lm(tokenizer, "tiny", **TINY))
    torch.manual_seed(0)
    trained = make()
    trained.train()
    checkpoint = sorted((tmp_path / "run" / "checkpoints").glob("iteration_*.pt"))[-1]
    torch.manual_seed(1)
    fresh = make()
    fresh.device = torch.device("meta")
    fresh.load_checkpoint(checkpoint)
    assert fresh.iteration == trained.iteration == 1
    assert torch.equal(fresh.sampler.get_state(), trained.sampler.get_state())
    assert torch.equal(torch.get_rng_state(), trained_rng_state(checkpoint))
    for (name, mine), (_, theirs) in zip(fresh.optimizer.state_dict()["state"].items(),
                                         trained.optimizer.state_dict()["state"].items()):
        assert torch.equal(mine["exp_avg"], theirs["exp_avg"]), name
    model = fresh.policy if algorithm == "ppo" else fresh.lm
    reference = trained.policy if algorithm == "ppo" else trained.lm
    for (name, mine), (_, theirs) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert mine.device.type == "cpu" and torch.equal(mine, theirs), name


def trained_rng_state(checkpoint) -> torch.Tensor:
    return torch.load(checkpoint, weights_only=False)["rng"]["torch"]


@pytest.fixture
def bf16_checkpoint(tmp_path):
    """A tiny causal LM saved in bf16, as most modern checkpoints are (transformers 5 loads it in bf16)."""
    model_dir, data = saved_model_and_data(tmp_path)
    model = load_pretrained(model_dir).to(torch.bfloat16)
    model.save_pretrained(model_dir)
    assert load_pretrained(model_dir).dtype == torch.bfloat16
    return model_dir, data


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_a_checkpoint_stored_in_bf16_trains_with_float32_master_weights(bf16_checkpoint, algorithm):
    """A bf16 checkpoint crashed ("expected m1 and m2 to have the same dtype": the float32 hidden state met the bf16
    head), and where it ran AdamW would have updated bf16 weights."""
    model_dir, data = bf16_checkpoint
    settings = dict(env=ENV, model=str(model_dir), iterations=2, num_envs=8, learning_rate=1e-3, progress=False,
                    env_kwargs={"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10,
                                "max_new_tokens": 6})
    if algorithm == "ppo":
        run = PPOTrainer(PPOConfig(num_minibatches=2, **settings))
        lm = run.policy.lm
    else:
        run = GRPOTrainer(GRPOConfig(num_generations=4, beta=0.1, **settings))
        lm = run.lm
    assert {parameter.dtype for parameter in lm.parameters()} == {torch.float32}
    before = {name: parameter.detach().clone() for name, parameter in lm.named_parameters()}
    history = run.train()
    assert len(history) == 2
    assert any(not torch.equal(before[name], parameter) for name, parameter in lm.named_parameters())


def test_a_frozen_bf16_model_decodes_with_a_float32_head(bf16_checkpoint):
    """Evaluation, reference, reward and user models may stay bf16: their head runs in float32 over bf16 weights
    (the same logits as the float32 model's up to the bf16 rounding of the weights)."""
    import gymnasium as gym

    model_dir, data = bf16_checkpoint
    model = load_pretrained(model_dir).eval()
    assert model.dtype == torch.bfloat16
    env = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", tokenizer=str(model_dir),
                       dataset=str(data), max_prompt_length=10, max_new_tokens=6)
    observation, _ = env.reset(seed=0)
    vocab = env.unwrapped.task.vocab_size
    with torch.no_grad():
        logits = next_token_logits(model, observation)
    assert logits.dtype == torch.float32 and bool(torch.isfinite(logits).all())
    # The head's product is the float32 one over the bf16 weights (cast, not rounded down to bf16).
    with torch.no_grad():
        hidden = next_token_hidden(model, *observation_tensors(observation, torch.device("cpu")))
    torch.testing.assert_close(logits, hidden.float() @ model.get_output_embeddings().weight.float().T)
    actions = DecodingPolicy(model, vocab_size=vocab)(observation)
    assert actions.shape == (2,) and ((0 <= actions) & (actions < vocab)).all()


def test_ppo_config_checks_sampling_fields_as_grpo_config_does():
    """PPOConfig accepted top_k < 0, which GRPOConfig rejects: one check for both."""
    for config_class in (PPOConfig, GRPOConfig):
        with pytest.raises(ValueError, match="top_k must be >= 0, got -1"):
            config_class(top_k=-1)
        with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\], got 1.5"):
            config_class(top_p=1.5)


def first_example_length(predictions, references):
    """Informative only on the first toy example (its samples' lengths differ); every other prompt scores 0."""
    return [float(len(p.split())) if r[0] == "a dog sees a cat" else 0.0 for p, r in zip(predictions, references)]


def test_dynamic_sampling_refills_the_batch_with_informative_groups():
    """DAPO over-samples until the batch holds the requested number of groups whose scores differ; the option only
    filtered, so the batch (and the step size) shrank with the share of signal-free groups."""
    tokenizer = word_tokenizer()
    settings = dict(env=ENV, model="in-memory", iterations=1, num_envs=8, num_generations=4, learning_rate=1e-3,
                    progress=False, dynamic_sampling=True, max_sampling_rounds=12,
                    env_kwargs=env_kwargs(tokenizer, scorer=first_example_length))
    torch.manual_seed(0)
    run = GRPOTrainer(GRPOConfig(**settings), model=build_causal_lm(tokenizer, "tiny", **TINY))
    rounds = [run.sample_round(r) for r in range(8)]
    rollout, scores = run.informative_batch(rounds)
    assert len(rollout.records) == 8 and scores.shape == (8,)
    references = [record.references[0] for record in rollout.records]
    assert references == ["a dog sees a cat"] * 8, "the first two informative groups, in sampling order"
    assert torch.equal(scores, torch.tensor([record.reward for record in rollout.records], dtype=scores.dtype))
    # Each picked episode is the sampled one, whatever padding the concatenation added.
    first, row = next((source, start) for source, source_scores in rounds for start in (0, 4)
                      if len(set(source_scores[start:start + 4].tolist())) > 1)
    length = first.generated_ids.shape[1]
    assert torch.equal(rollout.generated_ids[0, :length], first.generated_ids[row])
    assert torch.equal(rollout.sample_logprobs[0, :length], first.sample_logprobs[row])
    assert not rollout.generated_mask[0, length:].any()
    # Teacher forcing the padded batch gives the logprobs the decoder sampled with.
    logprobs, _, _ = run.score_tokens(rollout)
    mask = rollout.generated_mask.bool()
    torch.testing.assert_close(logprobs[mask], rollout.sample_logprobs[mask], atol=1e-5, rtol=1e-5)

    metrics = run.train()[0]
    assert 1 <= metrics["sampling_rounds"] <= 12
    assert metrics["num_episodes_trained"] == 8
    # Every round's tokens are env steps (more than one batch's worth when it refilled).
    assert metrics["env_steps"] > 0


def test_dynamic_sampling_stops_after_max_sampling_rounds_and_trains_on_nothing_without_signal():
    tokenizer = word_tokenizer()
    settings = dict(env=ENV, model="in-memory", iterations=1, num_envs=8, num_generations=4, learning_rate=1e-3,
                    progress=False, dynamic_sampling=True, max_sampling_rounds=3,
                    env_kwargs=env_kwargs(tokenizer, scorer=lambda predictions, references: [1.0] * len(predictions)))
    torch.manual_seed(0)
    run = GRPOTrainer(GRPOConfig(**settings), model=build_causal_lm(tokenizer, "tiny", **TINY))
    single = GRPOTrainer(GRPOConfig(**{**settings, "max_sampling_rounds": 1}),
                         model=build_causal_lm(tokenizer, "tiny", **TINY))
    metrics, single_metrics = run.train()[0], single.train()[0]
    assert metrics["sampling_rounds"] == 3 and single_metrics["sampling_rounds"] == 1
    assert metrics["num_episodes_trained"] == single_metrics["num_episodes_trained"] == 0
    assert metrics["env_steps"] > single_metrics["env_steps"]
    with pytest.raises(ValueError, match="max_sampling_rounds must be >= 1"):
        GRPOConfig(max_sampling_rounds=0)


@pytest.mark.parametrize("mode,minibatches", [("token_truncate", 1), ("sequence_mask", 2)])
def test_importance_sampling_correction_reweights_by_the_rollouts_own_logprobs(mode, minibatches):
    """The rollout/trainer correction reads the rollout's logprobs (cached decoding) against the trainer's
    (teacher forcing): on one device and precision they agree, so every weight is ~1 and nothing is masked."""
    run = grpo_trainer(importance_sampling_correction=mode, num_minibatches=minibatches, iterations=2)
    history = run.train()
    for metrics in history:
        assert metrics["importance_sampling/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="importance_sampling_correction must be one of"):
        GRPOConfig(importance_sampling_correction="token")
    with pytest.raises(ValueError, match="takes neither importance_sampling_correction nor use_bias_correction_kl"):
        GRPOConfig(loss_type="rloo", advantage_estimator="rloo", scale_rewards="none", use_bias_correction_kl=True)


def test_importance_sampling_weights_truncate_and_mask_per_token_and_per_sequence():
    from agents.grpo.losses import importance_sampling_weights

    trainer = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    sampler = torch.log(torch.tensor([[0.25, 2.0, 1.0], [1.0, 1.0, 0.1]]))  # ratios 4, 0.5, 1 | 1, 1, 10 (masked)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    torch.testing.assert_close(importance_sampling_weights(trainer, sampler, mask, "token_truncate", 3.0, 0.6),
                               torch.tensor([[3.0, 0.6, 1.0], [1.0, 1.0, 1.0]]))
    torch.testing.assert_close(importance_sampling_weights(trainer, sampler, mask, "token_mask", 3.0, 0.6),
                               torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    # Sequence ratios: 4 * 0.5 * 1 = 2 and 1 * 1 (the third token is off the mask).
    torch.testing.assert_close(importance_sampling_weights(trainer, sampler, mask, "sequence_truncate", 1.5),
                               torch.tensor([[1.5], [1.0]]))
    torch.testing.assert_close(importance_sampling_weights(trainer, sampler, mask, "sequence_mask", 1.5),
                               torch.tensor([[0.0], [1.0]]))


def test_progress_bar_counts_toward_whichever_limit_ends_the_run(capsys):
    """Issue 28: with an env-step budget the bar counted iterations and stopped at "4/100"."""
    from agents.ppo.trainer import RunProgress

    run = grpo_trainer(iterations=100, progress=True)
    history = run.train(max_env_steps=60)
    assert len(history) < 100
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in bar and f"iteration={len(history)}/100" in bar and f"env_steps={run.env_steps}/60" in bar
    progress = RunProgress("PPO", 10, None, enabled=False)
    assert progress.percent(4, 10_000) == 40
    budgeted = RunProgress("PPO", 100, 1000, enabled=False)
    assert (budgeted.percent(4, 500), budgeted.percent(60, 500), budgeted.percent(5, 1200)) == (50, 60, 100)
