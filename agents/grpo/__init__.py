"""Critic-free policy optimization for textenvs: GRPO, Dr. GRPO, RLOO and DAPO's choices, on the shared core
:mod:`agents.lm` (rollouts, policy, the loop).

>>> from agents.grpo import GRPOConfig, GRPOTrainer
>>> trainer = GRPOTrainer(GRPOConfig(env="textenvs/Dialogue-v0", model="default", out="runs/grpo", iterations=20))
>>> history = trainer.train()          # list of per-iteration metrics; model exported to runs/grpo/model

Modules in reading order: ``config`` (every setting), ``losses`` (advantages, clipped loss, aggregation),
``trainer`` (one iteration's steps, :class:`~agents.grpo.trainer.GRPOBatch`), ``agent``, ``cli``.
"""

from agents.grpo.config import GRPOConfig
from agents.grpo.losses import (aggregate_loss, cispo_token_loss, clipped_token_loss, group_advantages,
                                importance_log_ratio, informative_groups, sequence_clipped_loss)
from agents.grpo.trainer import GRPOTrainer

__all__ = ["GRPOConfig", "GRPOTrainer", "aggregate_loss", "cispo_token_loss", "clipped_token_loss",
           "group_advantages", "importance_log_ratio", "informative_groups", "sequence_clipped_loss"]
