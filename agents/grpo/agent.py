"""The GRPO family behind the benchmark runner's :class:`~agents.base.Agent` interface: ``"grpo"``, ``"dr-grpo"``
and ``"rloo"`` are :class:`GRPOAgent` with the settings that define each."""

from __future__ import annotations

from agents.grpo.config import GRPOConfig
from agents.grpo.trainer import GRPOTrainer
from agents.lm.agent import LMAgent


class GRPOAgent(LMAgent):
    """A language-model policy fine-tuned with GRPO (group-mean baseline, std-scaled advantages):
    :class:`~agents.lm.agent.LMAgent`'s parameters; ``config``: any other :class:`GRPOConfig` field
    (``num_generations``, ``loss_type``, ``beta``, ...). Evaluation (greedy KV-cached decoding) is the shared one."""

    name, config_class, trainer_class = "grpo", GRPOConfig, GRPOTrainer

    @property
    def grpo_config(self) -> GRPOConfig:
        """The run's settings (:attr:`run_config`)."""
        return self.run_config


class DrGRPOAgent(GRPOAgent):
    """Dr. GRPO (Liu et al., 2025): no std scaling of the advantages, constant length normalization."""

    name = "dr-grpo"
    defaults = {"loss_type": "dr_grpo", "scale_rewards": "none"}


class RLOOAgent(GRPOAgent):
    """RLOO (Ahmadian et al., 2024) as TRL 1.16's ``RLOOTrainer`` computes it.

    - Advantage: each episode's score minus the mean score of the group's other ``G - 1`` episodes (leave-one-out),
      not scaled (TRL's ``normalize_advantages=False``).
    - Loss (``loss_type="rloo"``): one ratio per episode, ``ρ_i = π(y_i) / π_old(y_i)``, the ratio of its sequence
      probabilities (its tokens' log-ratios summed), clipped PPO-style to ``[1 - epsilon, 1 + epsilon_high]``;
      ``-min(ρ_i A_i, clip(ρ_i) A_i)`` averaged over the ``N`` episodes of the minibatch. On the rollout's
      policy (``ρ = 1``) the gradient is ``Σ_i A_i ∇ log π(y_i) / N``: each episode weighs ``A_i / N`` whatever
      its length.
    - KL (``beta > 0``): ``beta`` times the episode's summed k1 ``Σ_t (log π_old - log π_ref)`` is subtracted from
      its score before the baseline, a reward penalty, not a loss term (TRL's default ``beta`` is 0.05; ours stays 0).
    """

    name = "rloo"
    defaults = {"advantage_estimator": "rloo", "scale_rewards": "none", "loss_type": "rloo"}
