"""Moved to :mod:`agents.lm.kl` (the language-model core PPO and the GRPO family share); importable from here."""

from agents.lm.kl import AdaptiveKLController, FixedKLController, kl_estimate, make_kl_controller

__all__ = ["AdaptiveKLController", "FixedKLController", "kl_estimate", "make_kl_controller"]
