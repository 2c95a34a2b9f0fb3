"""textenvs.decoding, the one decoding path: float32 heads reproduce the models' own logits, the uncached next-token
logits agree with the KV-cached decoder, transformers' EncoderDecoderModel decodes like its own forward, our PPO's
NLPO masks are the env-side TopPMask's, and no other module runs a KV-cached loop."""

from __future__ import annotations

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tests.helpers import (rollout_env_kwargs, seq2seq_decoding_errors, tiny_encoder_decoder, tiny_model,
                           word_tokenizer)

from agents.ppo.rollout import collect_rollout
from textenvs.decoding import (CachedDecoder, encode_prompt, head_logits, next_token_logits, sampling_mask,
                               token_hidden_states)
from textenvs.masks import TopPMask

ENV = "textenvs/Translation-v0"
ROOT = Path(__file__).resolve().parents[2]


def make_env(tokenizer, kind: str, num_envs: int = 4, **overrides):
    return gym.make_vec(ENV, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **rollout_env_kwargs(tokenizer, observation_mode=kind, **overrides))


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_head_on_hidden_states_reproduces_the_model_logits(kind):
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).eval()
    prompt_ids = torch.randint(4, len(tokenizer), (3, 5))
    prompt_mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    if kind == "seq2seq":
        prompt_mask = prompt_mask.flip(1)
    generated_ids = torch.randint(4, len(tokenizer), (3, 4))
    generated_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    with torch.no_grad():
        logits = head_logits(model, token_hidden_states(model, prompt_ids, prompt_mask, generated_ids,
                                                        generated_mask))
        if kind == "seq2seq":
            start = torch.full((3, 1), model.config.decoder_start_token_id)
            expected = model(input_ids=prompt_ids, attention_mask=prompt_mask,
                             decoder_input_ids=torch.cat([start, generated_ids], 1),
                             decoder_attention_mask=torch.cat([torch.ones_like(start), generated_mask], 1)).logits
        else:
            attention = torch.cat([prompt_mask, generated_mask], 1)
            expected = model(input_ids=torch.cat([prompt_ids, generated_ids], 1), attention_mask=attention,
                             position_ids=(attention.cumsum(1) - 1).clamp(min=0)).logits[:, 4:]
    assert logits.dtype == torch.float32 and logits.shape == (3, 5, len(tokenizer))
    real = torch.cat([torch.ones(3, 1, dtype=torch.long), generated_mask], 1).bool()
    assert torch.allclose(logits[real], expected[real], atol=1e-5)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_uncached_next_token_logits_match_the_cached_decoder(kind):
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).eval()
    env = make_env(tokenizer, kind, num_envs=3)
    observation, _ = env.reset(options={"example_index": np.array([0, 2, 4])})
    decoder = CachedDecoder(model, torch.as_tensor(observation["prompt_ids"]),
                            torch.as_tensor(observation["prompt_mask"]))
    with torch.inference_mode():
        for _ in range(3):
            assert torch.allclose(next_token_logits(model, observation), decoder.logits, atol=1e-5)
            actions = decoder.logits[:, 4:len(tokenizer)].argmax(-1) + 4  # no EOS: all three episodes go on
            decoder.advance(actions)
            observation, *_ = env.step(actions.numpy())


@pytest.mark.parametrize("decoder,width", [("gpt2", 48), ("bert", 32), ("bert", 48)])
def test_encoder_decoder_models_decode_like_their_own_forward(decoder, width):
    """Issue 24, item 1: a transformers EncoderDecoderModel decodes (its get_decoder() is the decoder with its LM
    head). The cached steps and the teacher-forced logits equal the model's own forward with a decoder wider than the
    encoder (the encoder's output goes through enc_to_dec_proj) and with a BERT decoder (its LM head transforms the
    state before the output embeddings)."""
    model = tiny_encoder_decoder(60, decoder, width)
    assert hasattr(model, "enc_to_dec_proj") == (width != 32)
    prompt_ids = torch.tensor([[5, 7, 9, 2], [5, 8, 2, 0], [11, 3, 0, 0]])
    cached, forced = seq2seq_decoding_errors(model, prompt_ids, (prompt_ids != 0).long())
    assert max(cached) < 1e-4 and forced < 1e-4, (cached, forced)


def test_an_encoder_runs_once_per_distinct_prompt_with_the_same_states_and_gradients():
    """A GRPO group repeats its prompt: the encoder reads each distinct prompt once (it dominates a step's cost for
    long sources), and the states and the encoder's gradients are those of encoding every row."""
    model = tiny_encoder_decoder(60, "gpt2", 48)
    prompt_ids = torch.tensor([[5, 7, 9, 2], [11, 3, 0, 0], [5, 7, 9, 2], [11, 3, 0, 0], [5, 7, 9, 2]])
    prompt_mask = (prompt_ids != 0).long()
    rows = []
    hook = model.get_encoder().register_forward_hook(lambda _module, args, kwargs, _output: rows.append(
        len(kwargs["input_ids"])), with_kwargs=True)
    gradients = []
    for share in (True, False):
        model.zero_grad()
        encoded = encode_prompt(model, prompt_ids, prompt_mask, share_prompts=share)
        (encoded * torch.linspace(-1, 1, encoded.numel()).view_as(encoded)).sum().backward()
        gradients.append((encoded.detach(), model.get_encoder().embeddings.word_embeddings.weight.grad.clone()))
    hook.remove()
    assert rows == [2, 5]
    assert torch.allclose(gradients[0][0], gradients[1][0], atol=1e-6)
    assert torch.allclose(gradients[0][1], gradients[1][1], atol=1e-5) and gradients[0][1].abs().sum() > 0


def test_a_bert_decoders_head_runs_in_float32_over_bf16_weights():
    """A composite LM head kept in bf16 (a frozen reference) gives float32 logits from its weights cast up."""
    model = tiny_encoder_decoder(60, "bert", 32)
    hidden = torch.randn(2, 3, 32)
    expected = copy.deepcopy(model.decoder.cls).to(torch.bfloat16).float()(hidden)
    model.decoder.cls.to(torch.bfloat16)
    with torch.no_grad():
        logits = head_logits(model, hidden)
    assert logits.dtype == torch.float32 and torch.allclose(logits, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_ppo_nlpo_masks_are_the_env_top_p_masks(kind):
    """One NLPO mask definition: the reference model's nucleus under its own distribution, whatever the temperature
    the policy samples at (our PPO once scaled the reference's logits by it, SB3's TopPMask did not)."""
    tokenizer = word_tokenizer()
    model = tiny_model(kind, tokenizer).eval()
    with torch.no_grad():  # logits spread so that the nucleus at temperature 1 differs from the one at 0.5
        model.get_output_embeddings().weight.mul_(2.0 if kind == "causal" else 0.2)
    env = make_env(tokenizer, kind, num_envs=5)
    rollout = collect_rollout(env, model, [0, 1, 2, 3, 4], temperature=0.5, reference=model, nlpo_top_p=0.6,
                              generator=torch.Generator().manual_seed(0))
    provider = TopPMask(model, top_p=0.6)
    sampled = sampling_mask(rollout.action_masks, rollout.sampling_support, len(tokenizer))
    compared = 0
    for t in range(rollout.generated_ids.shape[1]):
        running = rollout.generated_mask[:, t].bool().numpy()
        generated = rollout.generated_ids[:, :t].numpy()
        expected = provider(rollout.prompt_ids.numpy(), rollout.prompt_mask.numpy(), generated,
                            np.ones_like(generated))
        expected[:, tokenizer.eos_token_id] = True  # the env always allows EOS
        np.testing.assert_array_equal(sampled[running, t].numpy(), expected[running])
        compared += int(running.sum())
    assert compared > 5
    assert not sampled[rollout.generated_mask.bool()].all(-1).any(), "the masks should restrict"


def test_one_kv_cached_decoding_loop():
    """Only textenvs/decoding.py runs a model with a KV cache."""
    sources = [path for package in ("textenvs", "agents", "leaderboard") for path in (ROOT / package).rglob("*.py")]
    cached = sorted(str(path.relative_to(ROOT)) for path in sources if "use_cache=True" in path.read_text())
    assert cached == ["textenvs/decoding.py"]


def test_rows_sharing_a_prompt_run_it_once_with_the_same_hidden_states_and_gradients():
    # A GRPO batch: 3 prompts (left-padded, different lengths) x 4 samples. Sharing the prompt's forward gives the
    # plain forward's hidden states and, through the copied keys and values, its gradients.
    import copy

    from agents.models import build_causal_lm
    from textenvs.decoding import shared_prompts

    torch.manual_seed(0)
    model = build_causal_lm(word_tokenizer(), "tiny", n_layer=2, n_embd=32, n_head=2)
    prompt_mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 1, 1]]).repeat_interleave(4, dim=0)
    prompt_ids = torch.randint(3, 20, (3, 5)).repeat_interleave(4, dim=0) * prompt_mask
    generated_ids = torch.randint(3, 20, (12, 6))
    generated_mask = torch.ones_like(generated_ids)
    generated_mask[5, 3:] = 0
    unique_ids, unique_mask, inverse = shared_prompts(prompt_ids, prompt_mask)
    assert len(unique_ids) == 3 and torch.equal(unique_ids[inverse], prompt_ids)
    assert torch.equal(unique_mask[inverse], prompt_mask)
    assert shared_prompts(prompt_ids[::4], prompt_mask[::4]) is None
    results = []
    for share in (True, False):
        copy_ = copy.deepcopy(model)
        hidden = token_hidden_states(copy_, prompt_ids, prompt_mask, generated_ids, generated_mask, share)
        (head_logits(copy_, hidden).logsumexp(-1)[:, :-1] * generated_mask).sum().backward()
        results.append((hidden.detach(), [p.grad for p in copy_.parameters()]))
    (shared, shared_grads), (plain, plain_grads) = results
    assert torch.allclose(shared, plain, atol=1e-5)
    for a, b in zip(shared_grads, plain_grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    # Before the first generated token (a stateless agent's first step): the prompts' last hidden states.
    first = [token_hidden_states(model, prompt_ids, prompt_mask, generated_ids[:, :0], generated_mask[:, :0], share)
             for share in (True, False)]
    assert first[0].shape == (12, 1, 32) and torch.allclose(first[0], first[1], atol=1e-5)
