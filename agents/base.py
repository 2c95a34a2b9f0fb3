"""The interface every agent offers the benchmark runner: learn on an env, then generate on a split through it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from textenvs.evaluation import EpisodeRecord, generate_split
from textenvs.vector import TextGenerationVectorEnv

LearningCallback = Callable[[dict[str, float]], None]
"""Receives one learning-curve point per update, e.g. ``{"env_steps": 4096, "reward": 0.41, "kl": 0.01}``."""


class Agent(ABC):
    """A policy over token actions that may learn.

    Subclasses are built from ``(env_id, env_kwargs, seed, **config)`` by :func:`agents.registry.make_agent`.

    :param env_id: registered textenvs id the agent trains on.
    :param env_kwargs: keyword arguments for ``gymnasium.make`` / ``make_vec`` (tokenizer, dataset, scorer, ...).
    :param seed: seeds the agent's randomness and its training env.
    """

    name: str = "agent"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.seed = seed

    def learn(self, total_env_steps: int, callback: LearningCallback | None = None) -> list[dict[str, float]]:
        """Train for about ``total_env_steps`` environment steps (tokens); returns the learning curve.
        Non-learning agents return an empty curve."""
        return []

    @abstractmethod
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """One token id per sub-env for a batched observation (deterministic evaluation policy)."""

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        """Run one episode per example of ``env``'s split; agents with faster decoding (KV cache) override this.
        ``env`` is made with ``autoreset_mode=AutoresetMode.DISABLED`` (as the bench runner and leaderboard
        verification make it; the PPO agent's rollouts require it)."""
        return generate_split(env, self.act, indices, progress)

    def config(self) -> dict[str, Any]:
        """JSON-serializable configuration recorded with results."""
        return {"name": self.name}

    def save_policy(self, directory: Path) -> Path | None:
        """Write the policy :meth:`generate` decodes with as a ``save_pretrained`` directory (safetensors weights,
        config, tokenizer), from which the leaderboard regenerates the predictions; returns ``directory``. Agents
        without such a policy (random tokens, SB3's own networks) write nothing and return None."""
        return None
