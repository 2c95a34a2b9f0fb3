"""``textenvs train grpo``: every :class:`GRPOConfig` field is a flag (``num_generations`` → ``--num-generations``),
its docstring the help text. Dr. GRPO and RLOO are settings of the same command:

    textenvs train grpo --env textenvs/Dialogue-v0 --model default --out runs/grpo-dialogue --iterations 50
    textenvs train grpo --loss-type dr_grpo --scale-rewards none --out runs/dr-grpo ...      # Dr. GRPO
    textenvs train grpo --advantage-estimator rloo --scale-rewards none --out runs/rloo ...  # RLOO
    textenvs train grpo --loss-type dapo --epsilon-high 0.28 --dynamic-sampling ...         # DAPO's choices
    textenvs train grpo --out runs/grpo-dialogue --resume      # continue from the latest checkpoint

A resumed run keeps the settings saved in ``<out>/config.json``; every flag given explicitly overrides its saved
value, except the settings that shape the checkpoint (``env``, ``env_kwargs``, ``model``, ``lora_r``,
``lora_alpha``), which a resume refuses to change (as ``textenvs train ppo``).
"""

from __future__ import annotations

from pathlib import Path

from agents.grpo.config import GRPOConfig
from agents.ppo.cli import build_parser, parse_config


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(GRPOConfig, prog="textenvs train grpo", description=__doc__)
    config = parse_config(parser, argv, GRPOConfig)
    if config is None:
        return 2
    from agents.grpo.trainer import GRPOTrainer

    trainer = GRPOTrainer(config)
    if not trainer.dist.is_main:
        trainer.train()
        return 0
    print(config.describe())
    print(trainer.dist.describe(config.num_envs))
    history = trainer.train()
    if history:
        last = history[-1]
        print(f"iteration {last['iteration']}: reward {last['reward']:.4f}  reward_std {last['reward_std']:.4f}  "
              f"entropy {last['entropy']:.3f}")
    if config.out:
        print(f"model: {Path(config.out) / 'model'}   logs: {Path(config.out) / 'metrics.jsonl'}   "
              f"plot: {Path(config.out) / 'learning_curve.png'}")
    return 0
