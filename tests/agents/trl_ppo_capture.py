"""Run TRL 1.12's ``PPOTrainer.train()`` for one rollout on tiny models and save what its loss lines saw.

Run by ``tests/agents/test_trl_crosscheck.py`` in a child process whose ``PYTHONPATH`` starts with a TRL 1.12.0 install
(TRL 1.12 is the last release with PPO, and it cannot share a process with the TRL 1.16 the GRPO checks import):

    PYTHONPATH=/path/to/trl_1_12 python tests/agents/trl_ppo_capture.py OUT.pt [--kl-estimator k1|k3]

TRL writes its PPO loss inline in ``train()``, so nothing here re-implements it: the trainer's own
``accelerator.backward`` is wrapped to read ``train()``'s local variables at each micro-batch (the rollout's
logprobs, values, rewards, advantages and returns, the micro-batch's new logprobs, values and losses) and the
gradients of its policy and value losses with respect to the new logprobs and values, then the real backward runs.
``trainer.log`` is wrapped to keep the logged statistics (``loss/policy_avg``, ``val/clipfrac_avg``, ...).
Everything else is TRL's code, unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROLLOUT_KEYS = ("queries", "responses", "logprobs", "ref_logprobs", "values", "scores", "kl", "rewards",
                "advantages", "returns", "padding_mask", "padding_mask_p1", "sequence_lengths")
"""``train()`` locals that hold the whole rollout (fixed once the rollout is scored)."""

BATCH = 8
RESPONSE_LENGTH = 5


def suppress_tokens(model: torch.nn.Module, token_ids: list[int]) -> None:
    """Make ``token_ids`` unreachable when sampling, so every response runs to ``RESPONSE_LENGTH`` tokens: TRL 1.12
    puts an early-stopped response's score one position after its EOS (``padding_mask_p1``), a convention these
    checks keep out of the comparison of the formulas."""
    def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output[..., token_ids] = -1e4
        return output

    model.get_output_embeddings().register_forward_hook(hook)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--kl-estimator", default="k1", choices=("k1", "k3"))
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    import trl
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the checkout root holds tests/
    from tests.helpers import word_tokenizer

    if trl.__version__ != "1.12.0":
        sys.exit(f"expected TRL 1.12.0 first on the path, found {trl.__version__} at {trl.__file__}")
    tokenizer = word_tokenizer()
    tokenizer.padding_side = "left"
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=2, n_head=2, num_labels=1,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    policy = GPT2LMHeadModel(config)
    # A reference other than the initial policy, so that the KL penalty is not 0 in the rollout's rewards.
    ref_policy = GPT2LMHeadModel(config)
    for model in (policy, ref_policy):
        suppress_tokens(model, [tokenizer.eos_token_id, tokenizer.pad_token_id])
    value_model, reward_model = GPT2ForSequenceClassification(config), GPT2ForSequenceClassification(config)
    # A random reward head gives scores of ~1e-2; a larger one makes the advantages, clipping and value loss bite.
    with torch.no_grad():
        reward_model.score.weight.mul_(50.0)
    # Two batches of prompts, one used: were the rollout the dataloader's last batch, accelerate would sync (and TRL
    # step the optimizer) after every micro-batch instead of every gradient_accumulation_steps of them.
    prompts = [tokenizer.encode(text) for text in ("ein hund sieht eine katze", "die katze schläft",
                                                   "ein mann liest ein buch", "eine frau trinkt kaffee")] * 4
    width = max(map(len, prompts))
    padded = [[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts]
    dataset = datasets.Dataset.from_dict({"input_ids": padded})

    captured: dict[str, Any] = {"micro_batches": [], "logs": []}

    with tempfile.TemporaryDirectory() as output_dir:
        ppo_args = PPOConfig(
            output_dir=output_dir, per_device_train_batch_size=BATCH // 2, gradient_accumulation_steps=2,
            num_mini_batches=1,
            num_ppo_epochs=2, response_length=RESPONSE_LENGTH, total_episodes=BATCH,
            local_rollout_forward_batch_size=BATCH, temperature=1.0, kl_coef=0.2, kl_estimator=args.kl_estimator,
            cliprange=0.2, cliprange_value=0.2, vf_coef=0.1, gamma=1.0, lam=0.95, whiten_rewards=False,
            stop_token=None, missing_eos_penalty=None, learning_rate=3e-2, report_to="none", save_strategy="no",
            num_sample_generations=0, logging_steps=1, seed=0, use_cpu=True, dataloader_drop_last=True,
            gradient_checkpointing=False)
        trainer = PPOTrainer(args=ppo_args, processing_class=tokenizer, model=policy, ref_model=ref_policy,
                             reward_model=reward_model, value_model=value_model, train_dataset=dataset)

        backward = trainer.accelerator.backward

        def recording_backward(loss: torch.Tensor, **kwargs: Any) -> None:
            # The caller is PPOTrainer.train(): its frame holds the loss lines' inputs and outputs.
            local = sys._getframe(1).f_locals
            if "rollout" not in captured:
                captured["rollout"] = {key: local[key].detach().clone() for key in ROLLOUT_KEYS}
            policy_grad, = torch.autograd.grad(local["pg_loss"], local["new_logprobs"], retain_graph=True)
            value_grad, = torch.autograd.grad(local["vf_loss"], local["vpred"], retain_graph=True)
            captured["micro_batches"].append({
                "indices": torch.as_tensor(local["micro_batch_inds"]).clone(),
                "new_logprobs": local["new_logprobs"].detach().clone(), "vpred": local["vpred"].detach().clone(),
                "pg_loss": local["pg_loss"].detach().clone(), "vf_loss": local["vf_loss"].detach().clone(),
                "vf_clipfrac": local["vf_clipfrac"].detach().clone(), "loss": local["loss"].detach().clone(),
                "policy_grad": policy_grad, "value_grad": value_grad,
                "optimizer_step": trainer.accelerator.sync_gradients})
            backward(loss, **kwargs)

        trainer.accelerator.backward = recording_backward
        log = trainer.log

        def recording_log(logs: dict[str, float], *log_args: Any, **log_kwargs: Any) -> None:
            captured["logs"].append(dict(logs))
            log(logs, *log_args, **log_kwargs)

        trainer.log = recording_log
        # TRL draws each epoch's minibatch order from NumPy's global generator.
        np.random.seed(0)
        trainer.train()
    captured["config"] = {key: getattr(ppo_args, key) for key in (
        "kl_coef", "kl_estimator", "cliprange", "cliprange_value", "vf_coef", "gamma", "lam", "num_ppo_epochs",
        "num_mini_batches", "gradient_accumulation_steps", "per_device_train_batch_size")}
    captured["trl_version"] = trl.__version__
    torch.save(captured, args.out)


if __name__ == "__main__":
    main()
