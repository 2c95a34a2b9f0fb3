"""The decoding backends of textenvs.decoding.CachedDecoder (static KV cache, torch.compile) decode the tokens of the
eager path: the same greedy tokens as the eager loop and ``model.generate``, the same samples for the same seed
through a PPO rollout, and the fused sampler's logprobs are ``log_softmax``'s.

The compiled backend's test compiles a one-layer model (about 10-40 s on a 2-core CPU, more than this suite's budget
per test), so it runs only with ``TEXTENVS_COMPILE_TESTS=1``; the static backend, whose step it compiles, is tested
always."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import rollout_env_kwargs, tiny_model, word_tokenizer

from agents.ppo.rollout import collect_rollout
from textenvs.decoding import CachedDecoder, sample_tokens_with_logprobs

BACKENDS = ["static", pytest.param("compiled", marks=pytest.mark.skipif(
    not os.environ.get("TEXTENVS_COMPILE_TESTS"), reason="compiles a model (10-40 s on CPU); "
    "set TEXTENVS_COMPILE_TESTS=1"))]


def prompts(tokenizer, num_envs: int):
    env = gym.make_vec("textenvs/Translation-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                       **rollout_env_kwargs(tokenizer, max_new_tokens=8))
    observation, _ = env.reset(options={"example_index": np.arange(num_envs)})
    return env, torch.as_tensor(observation["prompt_ids"]), torch.as_tensor(observation["prompt_mask"])


def greedy(model, prompt_ids, prompt_mask, new_tokens: int, backend: str, share_prompts: bool = False
           ) -> torch.Tensor:
    decoder = CachedDecoder(model, prompt_ids, prompt_mask, backend=backend, max_new_tokens=new_tokens,
                            share_prompts=share_prompts)
    tokens = [decoder.logits.argmax(-1)]
    for _ in range(new_tokens - 1):
        tokens.append(decoder.advance(tokens[-1]).argmax(-1))
    return torch.stack(tokens, dim=1)


@pytest.mark.parametrize("backend", BACKENDS)
@torch.inference_mode()
def test_greedy_tokens_equal_the_eager_loop_and_generate(backend):
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    _, prompt_ids, prompt_mask = prompts(tokenizer, 4)
    assert not prompt_mask.all(), "left padding should be exercised"
    eager = greedy(model, prompt_ids, prompt_mask, 8, "eager")
    generated = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, max_new_tokens=8, min_new_tokens=8,
                               do_sample=False, pad_token_id=tokenizer.pad_token_id)[:, prompt_ids.shape[1]:]
    torch.testing.assert_close(eager, generated, rtol=0, atol=0)
    torch.testing.assert_close(greedy(model, prompt_ids, prompt_mask, 8, backend), eager, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rollout_samples_the_same_tokens_for_the_same_seed(backend):
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    env, _, _ = prompts(tokenizer, 5)
    rollouts = [collect_rollout(env, model, range(5), temperature=1.3, top_p=0.95, decoding_backend=name,
                                generator=torch.Generator().manual_seed(7)) for name in ("eager", backend)]
    torch.testing.assert_close(rollouts[1].generated_ids, rollouts[0].generated_ids, rtol=0, atol=0)
    torch.testing.assert_close(rollouts[1].sample_logprobs, rollouts[0].sample_logprobs, rtol=0, atol=1e-5)
    assert [r.prediction for r in rollouts[1].records] == [r.prediction for r in rollouts[0].records]


def test_static_backend_errors_name_the_argument():
    tokenizer = word_tokenizer()
    _, prompt_ids, prompt_mask = prompts(tokenizer, 2)
    causal = tiny_model("causal", tokenizer).eval()
    with pytest.raises(ValueError, match="'fast'"):
        CachedDecoder(causal, prompt_ids, prompt_mask, backend="fast")
    with pytest.raises(ValueError, match="max_new_tokens"):
        CachedDecoder(causal, prompt_ids, prompt_mask, backend="static")
    with pytest.raises(ValueError, match="encoder-decoder"):
        CachedDecoder(tiny_model("seq2seq", tokenizer).eval(), prompt_ids, prompt_mask, backend="static",
                      max_new_tokens=4)
    decoder = CachedDecoder(causal, prompt_ids, prompt_mask, backend="static", max_new_tokens=1)
    decoder.advance(decoder.logits.argmax(-1))
    with pytest.raises(ValueError, match="max_new_tokens"):
        decoder.advance(decoder.logits.argmax(-1))


def test_fused_sampler_logprobs_are_log_softmax_and_masked_tokens_never_drawn():
    logits = torch.randn(64, 50) * 3
    logits[:, :10] = torch.finfo(torch.float32).min
    tokens, logprobs = sample_tokens_with_logprobs(logits, torch.Generator().manual_seed(0))
    assert (tokens >= 10).all()
    expected = torch.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1)
    torch.testing.assert_close(logprobs, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["eager", *BACKENDS])
@torch.inference_mode()
def test_rows_repeating_a_prompt_decode_as_the_prompt_alone(backend):
    # A GRPO batch repeats each prompt (adjacent or not): the decoder encodes each distinct prompt once and copies its
    # keys and values; every row then decodes exactly as its prompt decoded on its own.
    tokenizer = word_tokenizer()
    model = tiny_model("causal", tokenizer).eval()
    _, prompt_ids, prompt_mask = prompts(tokenizer, 3)
    order = torch.tensor([0, 0, 1, 2, 1, 2, 2, 0])
    alone = greedy(model, prompt_ids, prompt_mask, 8, "eager")
    repeated = CachedDecoder(model, prompt_ids[order], prompt_mask[order], backend=backend, max_new_tokens=8,
                             share_prompts=True)
    single = CachedDecoder(model, prompt_ids, prompt_mask)
    torch.testing.assert_close(repeated.logits, single.logits[order], rtol=0, atol=1e-5)
    torch.testing.assert_close(greedy(model, prompt_ids[order], prompt_mask[order], 8, backend, True),
                               alone[order], rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@torch.inference_mode()
def test_interleaved_decoders_of_two_models_each_decode_their_own_tokens(backend):
    # A policy and a reference (NLPO) step by turns through the same compiled step with equal shapes; after its first
    # step a compiled decoder evaluates only the guards that tell graphs apart: each still runs its own model.
    tokenizer = word_tokenizer()
    models = [tiny_model("causal", tokenizer, seed=seed).eval() for seed in (0, 1)]
    _, prompt_ids, prompt_mask = prompts(tokenizer, 4)
    decoders = {name: [CachedDecoder(model, prompt_ids, prompt_mask, backend=name, max_new_tokens=8)
                       for model in models] for name in ("eager", backend)}
    tokens = torch.tensor([3, 4, 5, 6])
    for step in range(8):
        logits = {name: [decoder.advance(tokens + step) for decoder in pair] for name, pair in decoders.items()}
        for got, expected in zip(logits[backend], logits["eager"]):
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
        assert not torch.allclose(logits["eager"][0], logits["eager"][1], atol=1e-3)
