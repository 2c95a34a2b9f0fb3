"""``textenvs train grpo``: every :class:`GRPOConfig` field is a flag (``num_generations`` → ``--num-generations``),
its docstring the help text. Dr. GRPO, RLOO, GSPO and CISPO are settings of the same command:

    textenvs train grpo --env textenvs/Dialogue-v0 --model default --out runs/grpo-dialogue --iterations 50
    textenvs train grpo --loss-type dr_grpo --scale-rewards none --out runs/dr-grpo ...      # Dr. GRPO
    textenvs train grpo --loss-type rloo --advantage-estimator rloo --scale-rewards none ...  # RLOO
    textenvs train grpo --loss-type dapo --epsilon-high 0.28 --dynamic-sampling ...         # DAPO's choices
    textenvs train grpo --importance-sampling-level sequence ...                             # GSPO
    textenvs train grpo --loss-type cispo --epsilon-high 5 ...                               # CISPO
    textenvs train grpo --out runs/grpo-dialogue --resume      # continue from the latest checkpoint

``--env`` and ``--out`` are required (``--no-save`` instead of ``--out`` trains without writing anything);
``--scorer NAME`` is short for ``--env-kwargs '{"scorer": "NAME"}'``; a misspelled env id, env argument or scorer
name, or a ``--model`` that is not a checkpoint directory, ends in one line naming it (as ``textenvs train ppo``).

A resumed run keeps the settings saved in ``<out>/config.json``; every flag given explicitly overrides its saved
value, except the settings that shape the checkpoint (``env``, ``env_kwargs``, ``model``, ``lora_r``,
``lora_alpha``), which a resume refuses to change (as ``textenvs train ppo``).
"""

from __future__ import annotations

from agents.grpo.config import GRPOConfig
from agents.ppo.cli import build_parser, parse_config, train_and_report


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(GRPOConfig, prog="textenvs train grpo", description=__doc__)
    config = parse_config(parser, argv, GRPOConfig)
    if config is None:
        return 2
    from agents.grpo.trainer import GRPOTrainer

    return train_and_report(GRPOTrainer(config), config, lambda last: (
        f"iteration {last['iteration']}: reward {last['reward']:.4f}  reward_std {last['reward_std']:.4f}  "
        f"entropy {last['entropy']:.3f}"))
