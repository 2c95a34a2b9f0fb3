"""A GRPO run with DAPO's dynamic-sampling refill on a scorer that only some prompts can score, for the distributed
test: run as a script (``python tests/agents/refill_run.py MODEL_DIR DATA OUT``, under ``accelerate launch`` or alone), it
writes the final parameters and the metrics to ``OUT``."""

from __future__ import annotations

import sys

import torch

from agents.grpo import GRPOConfig, GRPOTrainer


def first_example_length(predictions, references):
    """Informative only on the first toy example (its samples' lengths differ); every other prompt scores 0."""
    return [float(len(p.split())) if r[0] == "a dog sees a cat" else 0.0 for p, r in zip(predictions, references)]


def main(model_dir: str, data: str, out: str) -> None:
    config = GRPOConfig(env="textenvs/Translation-v0", model=model_dir, iterations=2, num_envs=8, num_generations=4,
                        num_minibatches=2, learning_rate=3e-3, beta=0.05, top_k=5, dynamic_sampling=True,
                        max_sampling_rounds=6, device="cpu", progress=False, seed=4,
                        env_kwargs={"dataset": data, "scorer": first_example_length, "max_prompt_length": 10,
                                    "max_new_tokens": 6})
    trainer = GRPOTrainer(config)
    history = trainer.train()
    state, _ = trainer.dist.state_dict(trainer.lm)
    if trainer.dist.is_main:
        torch.save({"policy": state, "history": history}, out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
