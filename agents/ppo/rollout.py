"""Moved to :mod:`agents.lm.rollout` (the language-model core PPO and the GRPO family share); importable from here."""

from agents.lm.rollout import (ENV_STEPPINGS, EnvStepping, Rollout, collect_rollout, concatenate_rollouts,
                               pad_rollout, select_episodes, stack_supports)

__all__ = ["ENV_STEPPINGS", "EnvStepping", "Rollout", "collect_rollout", "concatenate_rollouts", "pad_rollout",
           "select_episodes", "stack_supports"]
