"""PPO behind the benchmark runner's :class:`~agents.base.Agent` interface (registered as ``"ppo"``)."""

from __future__ import annotations

from agents.lm.agent import LMAgent
from agents.ppo.config import PPOConfig
from agents.ppo.trainer import PPOTrainer


class PPOAgent(LMAgent):
    """A language-model policy fine-tuned with PPO (:class:`~agents.lm.agent.LMAgent`'s parameters; ``config``: any
    other :class:`PPOConfig` field)."""

    name, config_class, trainer_class = "ppo", PPOConfig, PPOTrainer

    @property
    def ppo_config(self) -> PPOConfig:
        """The run's settings (:attr:`run_config`, under the name benchmarks read)."""
        return self.run_config
