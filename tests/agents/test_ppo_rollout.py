"""Rollouts and logprob gathering on tiny causal and seq2seq models: cached decoding agrees with a full teacher-forced
forward, EOS and padding are handled, and the PPO invariants hold at initialization."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import CountingChrF, rollout_env_kwargs, teacher_forced_logprobs, tiny_model, word_tokenizer

from agents.ppo import PPOConfig, PPOTrainer
from agents.ppo.agent import PPOAgent
from agents.ppo.buffer import RolloutBuffer
from agents.ppo.rollout import collect_rollout
from textenvs.decoding import CachedDecoder, causal_position_ids, sampling_mask, token_logits

ENV = "textenvs/Translation-v0"
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
env_kwargs = rollout_env_kwargs


def trainer(kind: str, **config) -> PPOTrainer:
    tokenizer = word_tokenizer()
    settings = {"num_envs": 8, "num_minibatches": 2, "progress": False, "iterations": 1, "learning_rate": 1e-3,
                **config}
    kwargs = env_kwargs(tokenizer, **settings.pop("env_kwargs", {}))
    return PPOTrainer(PPOConfig(env=ENV, env_kwargs=kwargs, model="in-memory", **settings),
                      model=tiny_model(kind, tokenizer))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_cached_decoding_equals_full_forward(kind, device):
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).to(device).eval()
    env = gym.make_vec(ENV, num_envs=5, vectorization_mode="vector_entry_point",
                       **env_kwargs(tokenizer, observation_mode=kind))
    rollout = collect_rollout(env, model, [0, 1, 2, 3, 4], generator=torch.Generator(device).manual_seed(0))
    assert rollout.generated_ids.device.type == device
    # On CUDA, TF32/cuBLAS kernels differ between a one-token step and a full sequence.
    tolerance = 1e-5 if device == "cpu" else 1e-3
    assert torch.allclose(teacher_forced_logprobs(model, rollout, len(tokenizer)), rollout.sample_logprobs,
                          atol=tolerance)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_cached_decoder_steps_match_recomputed_logits(kind):
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).eval()
    env = gym.make_vec(ENV, num_envs=3, vectorization_mode="vector_entry_point",
                       **env_kwargs(tokenizer, observation_mode=kind))
    observation, _ = env.reset(options={"example_index": np.array([0, 2, 3])})
    prompt_ids = torch.as_tensor(observation["prompt_ids"])
    prompt_mask = torch.as_tensor(observation["prompt_mask"]).long()
    decoder = CachedDecoder(model, prompt_ids, prompt_mask)
    tokens = torch.tensor([[5, 6, 7], [8, 9, 10], [11, 12, 13]])
    with torch.no_grad():
        for step in range(3):
            decoder.advance(tokens[:, step])
        generated = tokens
        if kind == "causal":
            ids = torch.cat([prompt_ids, generated], 1)
            attention = torch.cat([prompt_mask, torch.ones_like(generated)], 1)
            expected = model(input_ids=ids, attention_mask=attention,
                             position_ids=causal_position_ids(attention)).logits[:, -1]
        else:
            start = torch.full_like(generated[:, :1], model.config.decoder_start_token_id)
            expected = model(input_ids=prompt_ids, attention_mask=prompt_mask,
                             decoder_input_ids=torch.cat([start, generated], 1)).logits[:, -1]
    assert torch.allclose(decoder.logits, expected, atol=1e-5)


def test_rollout_handles_eos_and_padding():
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    eos = tokenizer.eos_token_id
    with torch.no_grad():  # make EOS likely so that some episodes terminate early and others run on
        model.lm_head.weight[eos] += 0.5 * model.transformer.wte.weight.mean(0) / 1e-2
    env = gym.make_vec(ENV, num_envs=8, vectorization_mode="vector_entry_point", **env_kwargs(tokenizer))
    rollout = collect_rollout(env, model, list(range(5)) + [0, 1, 2], generator=torch.Generator().manual_seed(1))
    mask = rollout.generated_mask
    lengths = mask.sum(1)
    assert (mask == (torch.arange(mask.shape[1]) < lengths[:, None]).long()).all()  # ones, then zeros
    assert mask.shape[1] == int(lengths.max())
    for row, record in enumerate(rollout.records):
        last = int(lengths[row]) - 1
        assert record.length == lengths[row]
        assert bool(rollout.ended_with_eos[row]) == (int(rollout.generated_ids[row, last]) == eos)
        assert (rollout.generated_ids[row, last + 1:] == tokenizer.pad_token_id).all()
        assert float(rollout.env_rewards[row, last]) == pytest.approx(record.reward)
        assert float(rollout.env_rewards[row].abs().sum()) == pytest.approx(abs(record.reward))
    assert rollout.ended_with_eos.any() and not rollout.ended_with_eos.all()
    assert (rollout.sample_logprobs * (1 - mask) == 0).all()


@pytest.mark.parametrize("reward_mode", ["terminal", "incremental"])
def test_rollout_scores_each_episode_once_and_never_a_leftover(reward_mode):
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    with torch.no_grad():  # make EOS likely so that episodes end at different steps
        model.lm_head.weight[tokenizer.eos_token_id] += 0.5 * model.transformer.wte.weight.mean(0) / 1e-2
    scorer = CountingChrF()
    env = gym.make_vec(ENV, num_envs=8, vectorization_mode="vector_entry_point",
                       **env_kwargs(tokenizer, scorer=scorer, reward_mode=reward_mode))
    rollout = collect_rollout(env, model, list(range(5)) + [0, 1, 2], generator=torch.Generator().manual_seed(1))
    lengths = rollout.generated_mask.sum(1)
    assert len(set(lengths.tolist())) > 1
    # Terminal rewards: one score per episode. Incremental: one per generated token, nothing after an episode's end.
    assert len(scorer.scored) == (8 if reward_mode == "terminal" else int(lengths.sum()))
    finals = [record.prediction for record in rollout.records]
    assert sorted(finals) == sorted(scorer.scored) if reward_mode == "terminal" else set(finals) <= set(scorer.scored)
    scores = torch.tensor([record.metrics["chrf"] for record in rollout.records])
    assert torch.allclose(rollout.env_rewards.sum(1), scores.to(rollout.env_rewards.dtype), atol=1e-6)


@pytest.mark.parametrize("kind,reward_mode,nlpo", [("causal", "terminal", False), ("causal", "incremental", False),
                                                     ("seq2seq", "terminal", False), ("causal", "terminal", True)])
def test_deferred_env_steps_give_the_interleaved_rollout(kind, reward_mode, nlpo):
    # The env stepped after the decoding loop (the CPU default) or with every token: the same tokens, logprobs,
    # rewards, records and masks, the same steps decoded (the generator ends in the same state), the same scores.
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).eval()
    with torch.no_grad():  # make EOS likely so that episodes end at different steps
        boost = 0.2 if kind == "seq2seq" else 0.5
        model.lm_head.weight[tokenizer.eos_token_id] += boost * model.get_input_embeddings().weight.mean(0) / 1e-2
    reference = tiny_model(kind, tokenizer).eval() if nlpo else None
    results = {}
    for stepping in ("interleaved", "deferred", "auto"):
        scorer = CountingChrF()
        env = gym.make_vec(ENV, num_envs=8, vectorization_mode="vector_entry_point",
                           **env_kwargs(tokenizer, scorer=scorer, reward_mode=reward_mode))
        generator = torch.Generator().manual_seed(3)
        rollout = collect_rollout(env, model, list(range(5)) + [0, 1, 2], generator=generator, env_stepping=stepping,
                                  reference=reference, nlpo_top_p=0.8 if nlpo else 1.0)
        results[stepping] = (rollout, scorer.scored, torch.rand(1, generator=generator))
    rollout, scored, after = results["interleaved"]
    lengths = rollout.generated_mask.sum(1)
    assert len(set(lengths.tolist())) > 1 and rollout.ended_with_eos.any()
    for stepping in ("deferred", "auto"):
        other, other_scored, other_after = results[stepping]
        for key, value in vars(rollout).items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, getattr(other, key)), key
            elif key == "records":
                assert value == other.records
        assert other_scored == scored and torch.equal(other_after, after)


def test_deferred_env_steps_refused_where_decoding_reads_the_env_and_checked_against_its_ends():
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    masked = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point",
                          **env_kwargs(tokenizer, action_mask=list(range(4, 20))))
    with pytest.raises(ValueError, match="env_stepping='deferred' needs an env without action mask"):
        collect_rollout(masked, model, [0, 1], env_stepping="deferred")
    with pytest.raises(ValueError, match="env_stepping must be one of"):
        collect_rollout(masked, model, [0, 1], env_stepping="later")
    env = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", **env_kwargs(tokenizer))
    # An env whose episodes end before EOS or the budget the rollout sees breaks the rule deferring relies on:
    # refused after the fact, not silently decoded past.
    episodes = env.unwrapped._episodes
    episodes.task = copy.copy(episodes.task)
    episodes.task.max_new_tokens = 2
    assert env.unwrapped.task.max_new_tokens > 2
    with pytest.raises(RuntimeError, match="did not end at EOS or the token budget"):
        collect_rollout(env, model, [0, 1], env_stepping="deferred")


def test_rollout_refuses_an_env_that_autoresets():
    tokenizer = word_tokenizer()
    env = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point",
                       **env_kwargs(tokenizer, autoreset_mode="NextStep"))
    with pytest.raises(ValueError, match="autoreset_mode=gymnasium.vector.AutoresetMode.DISABLED"):
        collect_rollout(env, tiny_model("causal", tokenizer), [0, 1])


@pytest.mark.parametrize("kind,config", [
    ("causal", {}),
    ("seq2seq", {}),
    ("causal", {"value_model": "separate", "kl_estimator": "k3"}),
    ("seq2seq", {"env_kwargs": {"action_mask": list(range(4, 20))}}),
    ("causal", {"lora_r": 4, "adaptive_kl_target": 1.0}),
])
def test_init_invariants_kl_zero_and_first_ratio_one(kind, config):
    """Smoke test (it checks no formula): untruncated sampling from the reference itself has KL 0 and ratio 1."""
    run = trainer(kind, **config)
    metrics = run.train()[0]
    assert metrics["objective/kl"] == 0.0
    assert metrics["policy/first_ratio_deviation"] <= 1e-5
    assert metrics["losses/approx_kl"] >= 0


TRUNCATIONS = [
    ("causal", {"top_k": 1}),
    ("causal", {"top_k": 3, "temperature": 0.7}),
    ("seq2seq", {"top_p": 0.6}),
    ("causal", {"action_mask": "nlpo", "nlpo_top_p": 0.5}),
    ("causal", {"top_k": 4, "top_p": 0.8, "action_mask": "nlpo", "nlpo_top_p": 0.7}),
    ("seq2seq", {"top_k": 2, "env_kwargs": {"action_mask": list(range(4, 20))}}),
]


@pytest.mark.parametrize("kind,config", TRUNCATIONS)
def test_kl_to_the_reference_is_over_the_env_legal_vocabulary_not_the_sampling_truncation(kind, config):
    """Issue 22, defect 1: the reference's logprobs are its own distribution over the env's legal actions, not
    renormalized over the policy's top-k / top-p / NLPO set. At initialization (policy = reference) the k1 KL of a
    token sampled from the truncated set S is then exactly -log pi_ref(S) > 0, the policy's support loss; it was 0."""
    run = trainer(kind, **config)
    rollout = collect_rollout(run.env, run.policy.lm, list(range(5)) + [0, 1, 2], generator=run.sampler,
                              temperature=run.config.temperature, top_k=run.config.top_k, top_p=run.config.top_p,
                              reference=run.reference,
                              nlpo_top_p=run.config.nlpo_top_p if run.config.action_mask == "nlpo" else 1.0)
    assert rollout.sampling_support is not None
    logprobs, ref_logprobs, _, _ = run.score_tokens(rollout)
    mask = rollout.generated_mask.bool()
    vocab = run.task.vocab_size
    # The reference's distribution, computed here from the model alone: temperature, then the env's mask only.
    inputs = (rollout.prompt_ids, rollout.prompt_mask, rollout.generated_ids, rollout.generated_mask)
    with torch.no_grad():
        ref_logits = token_logits(run.reference, *inputs)[..., :vocab].float() / run.config.temperature
    if rollout.action_masks is not None:
        ref_logits = ref_logits.masked_fill(~rollout.action_masks, torch.finfo(torch.float32).min)
    expected_ref = torch.log_softmax(ref_logits, -1).gather(-1, rollout.generated_ids.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ref_logprobs[mask], expected_ref[mask], atol=1e-5, rtol=1e-5)
    # k1 at initialization: log pi_trunc(a) - log pi_ref(a) = -log pi_ref(S), the same for every token of a step.
    support = sampling_mask(rollout.action_masks, rollout.sampling_support, vocab)
    support_mass = torch.logsumexp(torch.log_softmax(ref_logits, -1).masked_fill(~support, -torch.inf), -1)
    torch.testing.assert_close((logprobs - ref_logprobs)[mask], -support_mass[mask], atol=1e-4, rtol=1e-4)
    assert float((logprobs - ref_logprobs)[mask].mean()) > 1e-3
    metrics = run.train()[0]
    assert metrics["objective/kl"] > 0.0
    assert metrics["policy/first_ratio_deviation"] <= 1e-5


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_top_p_sampled_distribution_is_the_optimized_one(truncation):
    """With top-k = 1 (or a vanishing nucleus) the sampled token is certain: the stored logprobs, the update's
    logprobs and the entropy must all say so (they once came from the untruncated distribution)."""
    run = trainer("causal", **truncation)
    rollout = collect_rollout(run.env, run.policy.lm, list(range(5)) + [0, 1, 2], generator=run.sampler,
                              **truncation)
    mask = rollout.generated_mask.bool()
    support = sampling_mask(rollout.action_masks, rollout.sampling_support, run.task.vocab_size)
    assert rollout.action_masks is None and (support[mask].sum(-1) == 1).all()
    assert (rollout.sample_logprobs[mask] == 0).all()
    logprobs, _, _, entropy = run.score_tokens(rollout)
    assert (logprobs[mask] == 0).all() and (entropy[mask] == 0).all()


def test_heads_run_in_float32_under_autocast():
    """The trunk may run in bf16; the LM head and the value head must not (their outputs are not bf16-rounded)."""
    run = trainer("causal")
    rollout = collect_rollout(run.env, run.policy.lm, list(range(5)) + [0, 1, 2], generator=run.sampler)
    with torch.no_grad():
        run.policy.value_head.weight.normal_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, values = run.policy(rollout.prompt_ids, rollout.prompt_mask, rollout.generated_ids,
                                        rollout.generated_mask)
    assert logits.dtype == values.dtype == torch.float32
    assert (logits != logits.bfloat16().float()).any() and (values != values.bfloat16().float()).any()


def test_learning_rate_anneals_over_the_budget_that_ends_the_run():
    run = trainer("causal", iterations=1000, learning_rate=1e-3, num_minibatches=1, update_epochs=1)
    budget = 60
    history = run.train(max_env_steps=budget)
    assert 1 < len(history) < 1000 and run.env_steps >= budget
    spent_before = [0] + [m["charts/env_steps"] for m in history[:-1]]
    for metrics, spent in zip(history, spent_before):
        assert metrics["charts/learning_rate"] == pytest.approx(1e-3 * (1 - spent / budget))


def test_gradient_accumulation_gives_the_minibatch_token_mean_update():
    """G micro-batches of episodes of different lengths: the same gradient and parameters as one pass."""
    runs = [trainer("causal", num_minibatches=1, update_epochs=1, gradient_accumulation_steps=steps)
            for steps in (1, 4)]
    rollout = collect_rollout(runs[0].env, runs[0].policy.lm, list(range(5)) + [0, 1, 2], generator=runs[0].sampler)
    logprobs, ref_logprobs, values, _ = runs[0].score_tokens(rollout)
    lengths = torch.tensor([1, 6, 2, 6, 3, 1, 6, 4])[:, None]
    mask = (torch.arange(rollout.generated_ids.shape[1]) < lengths).float()
    stats = []
    for run in runs:
        buffer = RolloutBuffer(prompt_ids=rollout.prompt_ids, prompt_mask=rollout.prompt_mask,
                               generated_ids=rollout.generated_ids, generated_mask=mask, action_masks=None,
                               sampling_support=None, logprobs=logprobs * mask, ref_logprobs=ref_logprobs * mask,
                               values=values * mask,
                               rewards=torch.linspace(-1, 1, mask.numel()).view_as(mask) * mask, agent_mask=mask)
        buffer.compute_advantages(1.0, 0.95, whiten=True)
        stats.append(run.update(buffer))
    assert stats[0]["losses/grad_norm"] == pytest.approx(stats[1]["losses/grad_norm"], rel=1e-5)
    assert stats[0]["losses/policy"] == pytest.approx(stats[1]["losses/policy"], rel=1e-5, abs=1e-7)
    for one, accumulated in zip(runs[0].policy.parameters(), runs[1].policy.parameters()):
        assert torch.allclose(one, accumulated, atol=1e-6)


def test_target_kl_stops_the_update_epochs_early():
    assert trainer("causal", update_epochs=3, learning_rate=3e-2).train()[0]["losses/update_epochs"] == 3
    stopped = trainer("causal", update_epochs=3, learning_rate=3e-2, target_kl=1e-9).train()[0]
    assert stopped["losses/update_epochs"] == 1 and stopped["losses/approx_kl"] > 1e-9


def test_masked_ppo_never_samples_illegal_tokens():
    allowed = [1] + list(range(4, 12))  # EOS (id 1) is always legal
    run = trainer("causal", env_kwargs={"action_mask": allowed})
    tokens = collect_rollout(run.env, run.policy.lm, [0, 1, 2, 3, 4, 0, 1, 2], generator=run.sampler)
    valid = tokens.generated_ids[tokens.generated_mask.bool()]
    assert set(valid.tolist()) <= set(allowed)
    assert tokens.action_masks is not None and tokens.action_masks.shape[-1] == len(word_tokenizer())


def test_lora_trains_only_adapters_and_value_head():
    run = trainer("causal", lora_r=4)
    trainable = {name for name, p in run.policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or name.startswith("value_head") for name in trainable)


def test_missing_eos_penalty_and_batch_normalization():
    run = trainer("causal", missing_eos_penalty=0.5, reward_normalization="batch")
    rollout = collect_rollout(run.env, run.policy.lm, list(range(5)) + [0, 1, 2], generator=run.sampler)
    rewards = run.normalize_rewards(rollout, rollout.env_rewards.sum(1))
    scores = rollout.env_rewards.sum(1)
    last = rollout.generated_mask.sum(1) - 1
    rows = torch.arange(len(last))
    expected = (scores - scores.mean()) / (scores.std() + 1e-8) - 0.5 * (~rollout.ended_with_eos).float()
    assert torch.allclose(rewards[rows, last], expected, atol=1e-5)


def test_group_normalization_subtracts_the_other_samples_mean_score(monkeypatch):
    import agents.lm.trainer as trainer_module

    run = trainer("causal", samples_per_prompt=4, reward_normalization="group", learning_rate=0.0)
    drawn = []

    def recording(env, lm, example_indices, **kwargs):
        drawn.append(list(example_indices))
        return collect_rollout(env, lm, example_indices, **kwargs)
    monkeypatch.setattr(trainer_module, "collect_rollout", recording)
    run.train()
    # 8 episodes: 2 prompts, each 4 times in adjacent slots.
    assert len(set(drawn[0][:4])) == 1 and len(set(drawn[0][4:])) == 1

    rollout = collect_rollout(run.env, run.policy.lm, [0] * 4 + [1] * 4, generator=run.sampler)
    rewards = run.normalize_rewards(rollout, rollout.env_rewards.sum(1))
    scores = rollout.env_rewards.sum(1).view(2, 4)
    others_mean = (scores.sum(1, keepdim=True) - scores) / 3
    last = rollout.generated_mask.sum(1) - 1
    assert torch.allclose(rewards[torch.arange(8), last], (scores - others_mean).reshape(-1), atol=1e-6)
    assert torch.allclose(rewards.sum(1).view(2, 4).sum(1), torch.zeros(2), atol=1e-5), "each group sums to 0"


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_agent_generate_matches_stepwise_act(kind):
    tokenizer = word_tokenizer()
    agent = PPOAgent(ENV, env_kwargs(tokenizer), seed=0, model=tiny_model(kind, tokenizer), num_envs=4,
                     num_minibatches=1, progress=False)
    env = gym.make_vec(ENV, num_envs=3, vectorization_mode="vector_entry_point",
                       **env_kwargs(tokenizer, split="test", observation_mode=kind))
    fast = agent.generate(env, [0, 1, 2, 3])
    from textenvs.evaluation import generate_split

    slow = generate_split(env, agent.act, [0, 1, 2, 3])
    assert [r.prediction for r in fast] == [r.prediction for r in slow]
    assert [r.example_index for r in fast] == [0, 1, 2, 3]


def test_training_closes_the_env_so_scorer_workers_stop():
    run = trainer("causal", env_kwargs={"scorer": "parallel",
                                        "scorer_kwargs": {"scorer": "chrf", "workers": 2, "min_batch": 1}})
    scorer = run.env.unwrapped.task.scorer
    workers = []
    run.train(callback=lambda point: workers.extend(scorer._pool._processes.values()))
    # ProcessPoolExecutor starts its workers on demand: under load one worker may have served every batch.
    assert 1 <= len(set(workers)) <= 2
    assert scorer._pool is None and not any(worker.is_alive() for worker in workers)
