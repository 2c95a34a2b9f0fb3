"""Transformer PPO for textenvs: a Hugging Face causal or seq2seq LM fine-tuned on an env's scorer reward.

>>> from agents.ppo import PPOConfig, PPOTrainer
>>> trainer = PPOTrainer(PPOConfig(env="textenvs/Translation-v0", model="default", out="runs/ppo", iterations=20))
>>> history = trainer.train()          # list of per-iteration metrics; model exported to runs/ppo/model

Only what is PPO's lives here, in reading order: ``config`` (its settings), ``buffer`` (GAE), ``losses`` (clipped
policy and value losses), ``trainer`` (one iteration's steps), ``agent``, ``cli``. The loop, rollouts, policy, KL and
masked statistics are the shared core's, :mod:`agents.lm` (``agents.ppo.policy`` / ``rollout`` / ``kl`` re-export
them). Run logs and plots: :mod:`agents.run_logger`.
"""

from agents.lm.kl import AdaptiveKLController, FixedKLController, kl_estimate
from agents.lm.policy import ActorCritic
from agents.lm.rollout import Rollout, collect_rollout
from agents.ppo.buffer import RolloutBuffer, agent_gae, compute_gae
from agents.ppo.config import PPOConfig
from agents.ppo.losses import policy_loss, value_loss
from agents.ppo.trainer import PPOTrainer

__all__ = [
    "ActorCritic", "AdaptiveKLController", "FixedKLController", "PPOConfig", "PPOTrainer", "Rollout",
    "RolloutBuffer", "agent_gae", "collect_rollout", "compute_gae", "kl_estimate", "policy_loss", "value_loss",
]
