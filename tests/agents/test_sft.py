"""Supervised warm start: the env's layout, the loss, a short run that learns, and the saved checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import textenvs
from agents.models import build_causal_lm, build_seq2seq_lm, load_pretrained
from agents.sft import SFTConfig, encode_pairs, make_batch, token_loss, train_sft
from agents.sft.cli import main as sft_main
from agents.sft.trainer import IGNORE_INDEX
from tests.helpers import TOY_PAIRS, toy_kwargs, word_tokenizer
from textenvs import GenerationTask
from textenvs.tasks.translation import TRANSLATION

ENV_ID = "textenvs/Translation-v0"


def _task(mode: str, **overrides) -> GenerationTask:
    return GenerationTask(TRANSLATION, split="train", **toy_kwargs(observation_mode=mode, **overrides))


def test_causal_layout_is_the_env_prompt_then_reference_and_eos():
    task = _task("causal")
    tokenizer = task.tokenizer
    pairs = encode_pairs(task)
    assert len(pairs) == len(TOY_PAIRS)
    reference = tokenizer.encode(TOY_PAIRS[1][1], add_special_tokens=False)  # "the cat sleeps"
    assert pairs.target_ids[1].tolist() == reference + [tokenizer.eos_token_id] + [tokenizer.pad_token_id] * 2
    assert pairs.target_mask[1].tolist() == [1, 1, 1, 1, 0, 0]

    model = build_causal_lm(tokenizer, "tiny", n_layer=1)
    batch = make_batch(pairs, np.array([1, 3]), model)  # "die katze schläft" (4 prompt tokens), and 6
    prompt_ids, prompt_mask = task.encode_prompt(3)
    prompt_length = int(prompt_mask.sum())  # the longest prompt of the batch: the all-padding columns are dropped
    assert batch["input_ids"][1, :prompt_length].tolist() == prompt_ids[-prompt_length:].tolist()
    assert batch["input_ids"][1, prompt_length - 1] == tokenizer.sep_token_id
    labels, mask = batch["labels"], batch["attention_mask"]
    # Row 0: 2 pad columns, the 4-token prompt, "the cat sleeps", EOS, 2 pads.
    assert mask[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert labels[0].tolist() == [IGNORE_INDEX] * 6 + reference + [tokenizer.eos_token_id] + [IGNORE_INDEX] * 2
    assert batch["position_ids"][0, 2:10].tolist() == list(range(8))


def test_seq2seq_layout_is_the_env_prompt_and_shifted_reference():
    task = _task("seq2seq")
    tokenizer = task.tokenizer
    pairs = encode_pairs(task)
    model = build_seq2seq_lm(tokenizer, "tiny", num_layers=1, num_decoder_layers=1)
    batch = make_batch(pairs, np.array([1]), model)
    prompt_ids, prompt_mask = task.encode_prompt(1)
    assert batch["input_ids"][0].tolist() == prompt_ids[:int(prompt_mask.sum())].tolist()
    reference = tokenizer.encode(TOY_PAIRS[1][1], add_special_tokens=False)
    assert batch["decoder_input_ids"][0].tolist() == [model.config.decoder_start_token_id] + reference
    assert batch["labels"][0].tolist() == reference + [tokenizer.eos_token_id]


def test_reference_longer_than_budget_is_cut_without_eos():
    task = _task("causal", max_new_tokens=3)
    pairs = encode_pairs(task)
    reference = task.tokenizer.encode(TOY_PAIRS[3][1], add_special_tokens=False)  # six words
    assert pairs.target_ids[3].tolist() == reference[:3]
    assert task.eos_token_id not in pairs.target_ids[3]


@pytest.mark.parametrize("mode", ["causal", "seq2seq"])
def test_token_loss_matches_the_models_own_loss(mode):
    torch.manual_seed(0)
    task = _task(mode)
    model = (build_causal_lm(task.tokenizer, "tiny", n_layer=1) if mode == "causal"
             else build_seq2seq_lm(task.tokenizer, "tiny", num_layers=1, num_decoder_layers=1))
    batch = make_batch(encode_pairs(task), np.arange(len(TOY_PAIRS)), model)
    total, count = token_loss(model, batch)
    budget = task.max_new_tokens
    assert count == sum(min(len(task.tokenizer.encode(t, add_special_tokens=False)) + 1, budget) for _, t in TOY_PAIRS)
    hf_inputs = {key: value for key, value in batch.items() if key != "decoder_input_ids"}  # HF shifts the labels
    torch.testing.assert_close(total / count, model(**hf_inputs).loss)


def test_label_smoothing_mixes_the_uniform_target_into_the_training_loss():
    torch.manual_seed(0)
    task = _task("causal")
    model = build_causal_lm(task.tokenizer, "tiny", n_layer=1)
    batch = make_batch(encode_pairs(task), np.arange(len(TOY_PAIRS)), model)
    plain, count = token_loss(model, batch)
    smoothed, smoothed_count = token_loss(model, batch, label_smoothing=0.1)
    # By hand: (1 - eps) * NLL + eps * mean over the vocabulary of -log p, on the labelled positions.
    logits = model(**{key: value for key, value in batch.items() if key != "labels"}).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    log_probs = torch.log_softmax(logits.float(), -1)[labels != IGNORE_INDEX]
    uniform = -log_probs.mean(-1).sum()
    assert smoothed_count == count
    torch.testing.assert_close(smoothed, 0.9 * plain + 0.1 * uniform)
    assert smoothed.item() != pytest.approx(plain.item())


@pytest.mark.parametrize("mode", ["causal", "seq2seq"])
def test_short_run_learns_the_toy_pairs_and_saves(tmp_path, mode):
    torch.manual_seed(0)
    tokenizer = word_tokenizer()
    model = (build_causal_lm(tokenizer, "tiny", n_layer=2) if mode == "causal"
             else build_seq2seq_lm(tokenizer, "tiny", num_layers=1, num_decoder_layers=1))
    records = []
    config = SFTConfig(learning_rate=3e-3, batch_size=5, max_steps=60, warmup_steps=5, eval_every=30,
                       eval_examples=5, log_every=10, output_dir=str(tmp_path))
    env_kwargs = toy_kwargs()
    del env_kwargs["tokenizer"]
    trained = train_sft(model, tokenizer, ENV_ID, env_kwargs, config, callback=records.append)

    train_losses = [r["train/loss"] for r in records if "train/loss" in r]
    evals = [r for r in records if "eval/loss" in r]
    assert records[0] == {"step": 0, "total_steps": 60, "train_pairs": 5, "batch_size": 5}
    assert train_losses[-1] < 0.2 * train_losses[0]
    assert [r["step"] for r in evals] == [30, 60]
    assert evals[-1]["eval/chrf"] > 0.9  # the validation split here is the toy train data: memorized

    for name in ("config.json", "model.safetensors", "tokenizer.json", "training_config.json", "log.jsonl"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "training_config.json").read_text())
    assert saved["env_id"] == ENV_ID and saved["sft"]["max_steps"] == 60
    assert saved["task"]["observation_mode"] == mode and {"step": 60, **saved["final_eval"]} == evals[-1]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == len(records)
    loaded = load_pretrained(tmp_path).eval()
    trained.eval()
    batch = make_batch(encode_pairs(_task(mode)), np.arange(5), trained)
    with torch.no_grad():
        torch.testing.assert_close(token_loss(loaded, batch)[0], token_loss(trained, batch)[0])
    assert textenvs.load_tokenizer(str(tmp_path)).get_vocab() == tokenizer.get_vocab()


def test_a_warmup_longer_than_the_run_is_cut_to_a_tenth_with_a_warning():
    torch.manual_seed(0)
    tokenizer = word_tokenizer()
    model = build_causal_lm(tokenizer, "tiny", n_layer=1)
    records = []
    config = SFTConfig(learning_rate=1e-3, batch_size=5, max_steps=20, eval_split=None, log_every=1)  # warmup 100
    with pytest.warns(UserWarning, match=r"warmup_steps=100 is not shorter than the run \(20 steps\), so the "
                                         r"learning rate would never reach 0\.001; warming up for 2 steps"):
        train_sft(model, tokenizer, ENV_ID, {k: v for k, v in toy_kwargs().items() if k != "tokenizer"}, config,
                  callback=records.append)
    rates = [r["train/learning_rate"] for r in records if "train/learning_rate" in r]
    assert max(rates) == pytest.approx(1e-3, rel=0.05), "the peak rate is reached after the cut warmup"


def test_model_smaller_than_tokenizer_is_refused():
    tokenizer = word_tokenizer()
    model = build_causal_lm(tokenizer, "tiny", n_layer=1, vocab_size=5)
    model.resize_token_embeddings(5)
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        train_sft(model, tokenizer, ENV_ID, toy_kwargs(), SFTConfig(max_steps=1, eval_split=None))


def test_observation_mode_must_match_the_model():
    tokenizer = word_tokenizer()
    model = build_causal_lm(tokenizer, "tiny", n_layer=1)
    with pytest.raises(ValueError, match="causal LM"):
        train_sft(model, tokenizer, ENV_ID, toy_kwargs(observation_mode="seq2seq"), SFTConfig(max_steps=1))


def test_cli_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "run"
    code = sft_main(["--env", ENV_ID, "--size", "tiny", "--out", str(out), "--steps", "3", "--batch-size", "4",
                     "--max-train-examples", "16", "--eval-examples", "4", "--warmup-steps", "1"])
    assert code == 0
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "training_config.json").read_text())["final_eval"]["eval/length"] > 0
    assert "saved to" in capsys.readouterr().out


def test_train_commands_silence_hugging_faces_own_progress_bars(tmp_path, capsys, monkeypatch):
    from transformers.utils import logging as hf_logging

    from agents.cli import main as train_main

    import os

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    hf_logging.enable_progress_bar()  # as a fresh process would have it
    try:
        assert train_main(["sft", "--env", ENV_ID, "--model", "agents/checkpoints/translation", "--out",
                           str(tmp_path / "run"), "--steps", "1", "--batch-size", "4", "--max-train-examples", "8",
                           "--eval-split", "none", "--warmup-steps", "0", "--device", "cpu"]) == 0
        err = capsys.readouterr().err
        assert "Loading weights" not in err and "Writing model shards" not in err and "sft" in err
        assert not hf_logging.is_progress_bar_enabled() and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    finally:
        hf_logging.enable_progress_bar()
        os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # set by the command; monkeypatch restores the rest
