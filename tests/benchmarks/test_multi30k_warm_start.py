"""benchmarks/learning/multi30k_warm_start.py's options: the defaults are the 1,600-step recipe's, the larger
recipe's shape, dropout, vocabulary and schedule reach the model and the SFT config (no training here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agents.models import build_causal_lm
from agents.sft import SFTConfig
from tests.helpers import word_tokenizer

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "learning" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script("multi30k_warm_start")


@pytest.fixture(scope="module")
def ppo_script():
    return load_script("ppo_vs_warm_start")


LARGER = ["--name", "m30-large", "--steps", "4000", "--n-embd", "256", "--n-layer", "4", "--n-head", "4",
          "--vocab-size", "8000", "--dropout", "0.1", "--label-smoothing", "0.1", "--lr", "1.5e-3", "--warmup", "200",
          "--curve-every", "500"]


def test_the_defaults_are_the_1600_step_recipe(script, ppo_script):
    args = script.build_parser().parse_args(["--steps", "1600"])
    assert script.model_overrides(args) == {}
    assert script.sft_settings(args) == {"max_steps": 1600, "learning_rate": 3e-3, "warmup_steps": 100,
                                         "eval_every": 0, "eval_examples": 50, "log_every": 100}
    args.name = "multi30k-sft1600"
    options = script.ppo_options(ppo_script, args, {"dataset": "d"})
    assert (options.name, options.train_tokenizer, options.tokenizer_texts, options.model_size) == (
        "multi30k-sft1600", 3000, 29000, "tiny")
    assert (options.eval_split, options.eval_examples, options.eval_scorer) == ("test", 1000, "bleu")
    assert script.system_label(args) == "GPT-2 4x128 + 3k BPE, 1,600 SFT steps (multi30k_warm_start.py)"


def test_the_larger_recipe_reaches_the_model_and_the_sft_config(script, ppo_script):
    args = script.build_parser().parse_args(LARGER)
    overrides = script.model_overrides(args)
    assert overrides == {"n_layer": 4, "n_embd": 256, "n_head": 4,
                         "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1}
    config = build_causal_lm(word_tokenizer(), "tiny", **overrides).config
    assert (config.n_layer, config.n_embd, config.n_head, config.resid_pdrop, config.attn_pdrop) == (4, 256, 4, 0.1, 0.1)
    options = script.ppo_options(ppo_script, args, {"dataset": "d"})
    assert options.train_tokenizer == 8000 and options.name == "m30-large"
    sft = SFTConfig(**options.sft)  # every key is an SFTConfig field
    assert (sft.max_steps, sft.learning_rate, sft.warmup_steps, sft.eval_every, sft.label_smoothing) == (
        4000, 1.5e-3, 200, 500, 0.1)
    assert json.loads(json.dumps(options.sft)) == options.sft
    assert script.system_label(args) == ("GPT-2 4x256 + 8k BPE, 4,000 SFT steps, dropout 0.1, label smoothing 0.1 "
                                         "(multi30k_warm_start.py)")
