"""Issue 24, item 1: PPO and GRPO train a transformers EncoderDecoderModel (a BERT encoder with a GPT-2 or BERT
decoder, as scripts/train_real_warm_start.py builds from MiniLM) on a seq2seq env through textenvs.decoding."""

from __future__ import annotations

import math

import pytest
import torch
from tests.helpers import rollout_env_kwargs, tiny_encoder_decoder, word_tokenizer

from agents.grpo import GRPOConfig, GRPOTrainer
from agents.ppo import PPOConfig, PPOTrainer

ENV = "textenvs/Translation-v0"


def encoder_decoder(tokenizer, decoder: str):
    """A decoder wider than the encoder (48 against 32), so the encoder's output goes through enc_to_dec_proj."""
    pad = tokenizer.pad_token_id
    return tiny_encoder_decoder(len(tokenizer), decoder, 48, start_token_id=pad, pad_token_id=pad)


@pytest.mark.parametrize("algorithm,decoder", [("ppo", "gpt2"), ("grpo", "bert")])
def test_agents_train_an_encoder_decoder_model_on_a_seq2seq_env(algorithm, decoder):
    tokenizer = word_tokenizer()
    model = encoder_decoder(tokenizer, decoder)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    settings = dict(env=ENV, model="in-memory", iterations=2, num_envs=8, num_minibatches=2, learning_rate=1e-3,
                    progress=False, env_kwargs=rollout_env_kwargs(tokenizer, observation_mode="seq2seq"))
    if algorithm == "ppo":
        run = PPOTrainer(PPOConfig(**settings), model=model)
        loss, ratio = "losses/policy", "policy/first_ratio_deviation"
    else:
        settings["env_kwargs"].pop("autoreset_mode")
        run = GRPOTrainer(GRPOConfig(num_generations=4, **settings), model=model)
        loss, ratio = "loss", "first_ratio_deviation"
    metrics = run.train()
    assert len(metrics) == 2 and all(math.isfinite(row[loss]) for row in metrics)
    # The rollout's cached-decoding logprobs are the update's teacher-forced ones: the first ratio is 1.
    assert metrics[0][ratio] <= 1e-5
    trained = dict(model.named_parameters())
    for name in ("enc_to_dec_proj.weight", next(name for name in before if name.startswith("decoder.")
                                                    and "crossattention" in name)):
        assert not torch.equal(before[name], trained[name]), f"{name} was not trained"
