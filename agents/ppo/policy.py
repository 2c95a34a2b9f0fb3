"""Moved to :mod:`agents.lm.policy` (the language-model core PPO and the GRPO family share); importable from here."""

from agents.lm.policy import (MIXED_PRECISION, ActorCritic, TokenLogits, apply_lora, autocast, disable_dropout,
                              enable_gradient_checkpointing, entropy_from_logits, entropy_from_logprobs, frozen_copy,
                              gather_logprobs)

__all__ = ["MIXED_PRECISION", "ActorCritic", "TokenLogits", "apply_lora", "autocast", "disable_dropout",
           "enable_gradient_checkpointing", "entropy_from_logits", "entropy_from_logprobs", "frozen_copy",
           "gather_logprobs"]
