"""Policies built from config, checkpoint loading, the shipped warm starts and the KV-cached greedy policy
(:class:`textenvs.decoding.DecodingPolicy`)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import textenvs
from agents.models import (TASK_NAMES, build_causal_lm, build_seq2seq_lm, default_checkpoint, load_pretrained,
                           observation_mode)
from tests.helpers import toy_kwargs, word_tokenizer
from textenvs.data.tokenizer import load_builtin_tokenizer
from textenvs.decoding import DecodingPolicy, causal_position_ids


def test_causal_lm_from_tokenizer():
    tokenizer = load_builtin_tokenizer()
    model = build_causal_lm(tokenizer, "tiny")
    config = model.config
    assert config.vocab_size == len(tokenizer)
    assert (config.pad_token_id, config.eos_token_id, config.bos_token_id) == \
        (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id)
    assert config.pad_token_id != config.eos_token_id
    assert config.resid_pdrop == config.embd_pdrop == config.attn_pdrop == 0.0
    assert 0.8e6 < model.num_parameters() < 1.5e6
    assert observation_mode(model) == "causal"
    assert build_causal_lm(tokenizer, "tiny", n_layer=1, resid_pdrop=0.1).config.resid_pdrop == 0.1


def test_larger_sizes():
    tokenizer = load_builtin_tokenizer()
    with torch.device("meta"):  # shapes only: no memory, no initialization time
        small = build_causal_lm(tokenizer, "small")
        gpt2 = build_causal_lm(tokenizer, "gpt2-small")
    assert 5e6 < small.num_parameters() < 10e6
    # GPT-2 small has 124.4M parameters with its own 50257-token vocabulary.
    assert abs(gpt2.num_parameters() + (50257 - len(tokenizer)) * 768 - 124.44e6) < 0.01e6


def test_seq2seq_lm_from_tokenizer():
    tokenizer = load_builtin_tokenizer()
    model = build_seq2seq_lm(tokenizer, "tiny")
    assert model.config.is_encoder_decoder and observation_mode(model) == "seq2seq"
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.decoder_start_token_id == tokenizer.pad_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.dropout_rate == 0.0


def test_unknown_size_lists_sizes():
    with pytest.raises(ValueError, match="tiny, small, gpt2-small"):
        build_causal_lm(word_tokenizer(), "huge")
    with pytest.raises(ValueError, match="t5-small"):
        build_seq2seq_lm(word_tokenizer(), "huge")


@pytest.mark.parametrize("build", [build_causal_lm, build_seq2seq_lm])
def test_load_pretrained_round_trip(tmp_path, build):
    torch.manual_seed(0)
    tokenizer = word_tokenizer()
    model = build(tokenizer, "tiny").eval()
    assert load_pretrained(model) is model
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert type(loaded) is type(model)
    ids = torch.tensor([[5, 6, 7, 1]])
    inputs = {"input_ids": ids, "decoder_input_ids": ids} if model.config.is_encoder_decoder else {"input_ids": ids}
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits)
    wrong = "causal" if model.config.is_encoder_decoder else "seq2seq"
    with pytest.raises(ValueError, match=f"Expected a {wrong} model"):
        load_pretrained(model, kind=wrong)


def test_load_pretrained_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_pretrained(tmp_path / "nothing")


def test_causal_position_ids_skip_left_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]])
    assert causal_position_ids(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [0, 0, 1, 1, 2]]


def _uncached_argmax(model, observation):
    """Reference decoding step: re-run the whole sequence and take the argmax after each row's last token."""
    prompt_ids, prompt_mask = torch.as_tensor(observation["prompt_ids"]), torch.as_tensor(observation["prompt_mask"])
    generated_ids = torch.as_tensor(observation["generated_ids"])
    generated_mask = torch.as_tensor(observation["generated_mask"]).long()
    lengths = generated_mask.sum(1)
    rows = torch.arange(len(prompt_ids))
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            start = torch.full_like(generated_ids[:, :1], model.config.decoder_start_token_id)
            logits = model(input_ids=prompt_ids, attention_mask=prompt_mask.long(),
                           decoder_input_ids=torch.cat([start, generated_ids], 1)).logits
            return logits[rows, lengths].argmax(-1).numpy()
        mask = torch.cat([prompt_mask.long(), generated_mask], 1)
        logits = model(input_ids=torch.cat([prompt_ids, generated_ids], 1), attention_mask=mask,
                       position_ids=causal_position_ids(mask)).logits
        return logits[rows, prompt_ids.shape[1] + lengths - 1].argmax(-1).numpy()


@pytest.mark.parametrize("mode", ["causal", "seq2seq"])
def test_greedy_policy_matches_uncached_decoding(mode):
    torch.manual_seed(0)
    env = gym.make_vec("textenvs/Translation-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       **toy_kwargs(observation_mode=mode))
    tokenizer = env.unwrapped.task.tokenizer
    model = (build_causal_lm(tokenizer, "tiny", n_layer=2) if mode == "causal"
             else build_seq2seq_lm(tokenizer, "tiny", num_layers=1, num_decoder_layers=1)).eval()
    with torch.no_grad():  # make EOS likely so that episodes end at different steps
        model.get_output_embeddings().weight[tokenizer.eos_token_id] *= 3
    policy, steps, compared = DecodingPolicy(model), [0], []

    def checked_policy(observation):
        if not observation["generated_mask"].any():
            steps[0] = 0
        actions = policy(observation)
        expected = _uncached_argmax(model, observation)
        # Only sub-envs still in the episode the chunk started with (generate_split ignores the others).
        current = observation["generated_mask"].sum(1) == steps[0]
        np.testing.assert_array_equal(actions[current], expected[current])
        steps[0] += 1
        compared.append(int(current.sum()))
        return actions

    records = textenvs.generate_split(env, checked_policy)
    assert sum(compared) > len(records)
    assert records == textenvs.generate_split(env, DecodingPolicy(model))


def test_default_checkpoint_unknown_task():
    with pytest.raises(ValueError, match="translation, summarization, dialogue"):
        default_checkpoint("poetry")


SCORE_RANGES = {"translation": (0.45, 1.0), "summarization": (0.5, 1.0), "dialogue": (0.6, 1.0),
                "translation-v1": (0.3, 0.75), "summarization-v1": (0.45, 0.8), "dialogue-v1": (0.4, 0.8),
                "multiturn_dialogue": (0.25, 0.5), "multiturn_dialogue-v1": (0.5, 0.9),
                "translation-v2": (0.3, 0.85), "summarization-v2": (0.3, 0.85), "dialogue-v2": (0.3, 0.85)}
"""Greedy test score of each shipped warm start on the first 50 test examples (random policies score near 0;
see agents/checkpoints/README.md for the full-split scores). The v1 warm starts must also stay clearly below
their task's ceiling of 1.0: their demonstrations' flaws win greedy decoding, which is what RL is there to fix.
The multi-turn warm start states most slot values right (0.364 here: slot accuracy 0.73) but completes almost no
booking under greedy decoding for the same reason (its demonstrations' partial confirmation wins the argmax); a goal
score of 0.5 or more needs completed bookings. The multi-turn v1 warm start, here with the env's default user (0.741
on the whole test split; 0.584 in the benchmark setting it was trained for), completes the goals where none of its
demonstrations' context-triggered errors fires. The v2 names load the default level's (medium) warm start, scored by
the gold reward: well above every adversarial output (tests/envs/test_synthetic_v2.py) and well below the ceiling."""


@pytest.mark.parametrize("task", TASK_NAMES)
def test_default_checkpoints_are_competent(task):
    path = default_checkpoint(task)
    model = load_pretrained(path).eval()
    tokenizer = textenvs.load_tokenizer(str(path))
    assert tokenizer.get_vocab() == load_builtin_tokenizer().get_vocab()
    env_id = next(env_id for env_id in textenvs.ENV_IDS if textenvs.env_class(env_id).task_spec.name == task)
    env = gym.make_vec(env_id, num_envs=50, vectorization_mode="vector_entry_point", tokenizer=tokenizer,
                       split="test")
    summary = textenvs.summarize(textenvs.generate_split(env, DecodingPolicy(model), indices=range(50)))
    low, high = SCORE_RANGES[task]
    assert low < summary["reward"] < high, summary
