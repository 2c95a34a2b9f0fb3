"""The GRPO family behind the benchmark runner's :class:`~agents.base.Agent` interface: ``"grpo"``, ``"dr-grpo"``
and ``"rloo"`` are :class:`GRPOAgent` with the settings that define each."""

from __future__ import annotations

from typing import Any

from torch import nn

from agents.base import Agent
from agents.grpo.config import GRPOConfig
from agents.grpo.trainer import GRPOTrainer
from agents.ppo.agent import PPOAgent


class GRPOAgent(PPOAgent):
    """A language-model policy fine-tuned with GRPO (group-mean baseline, std-scaled advantages).

    Evaluation (greedy KV-cached decoding, :meth:`act`, :meth:`learn`) is :class:`~agents.ppo.agent.PPOAgent`'s; only
    the trainer differs.

    :param env_id: registered textenvs id the agent trains on.
    :param env_kwargs: keyword arguments of the training env (dataset, scorer, tokenizer, ...).
    :param seed: seeds training.
    :param model: a local model directory, ``"default"`` (the task's shipped warm start) or an in-memory model.
    :param config: any other :class:`GRPOConfig` field (``num_generations``, ``loss_type``, ``beta``, ...).
    """

    name = "grpo"
    defaults: dict[str, Any] = {}
    """the GRPOConfig settings that define this member of the family (overridable by ``config``)"""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 model: str | nn.Module = "default", **config: Any) -> None:
        Agent.__init__(self, env_id, env_kwargs, seed)  # not PPOAgent's: it would build a PPO trainer
        in_memory = isinstance(model, nn.Module)
        self.grpo_config = GRPOConfig(env=env_id, env_kwargs=self.env_kwargs, seed=seed,
                                      model="in-memory" if in_memory else str(model), **{**self.defaults, **config})
        self.trainer = GRPOTrainer(self.grpo_config, model=model if in_memory else None)

    @property
    def model(self) -> nn.Module:
        """The policy's language model."""
        return self.trainer.lm

    def config(self) -> dict[str, Any]:
        settings = {key: value for key, value in self.grpo_config.to_dict().items() if key != "env_kwargs"}
        return {"name": self.name, **{k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
                                      for k, v in settings.items()}}


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
