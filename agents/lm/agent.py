"""A language-model RL trainer behind the benchmark runner's :class:`~agents.base.Agent` interface: what
:class:`~agents.ppo.agent.PPOAgent` and the GRPO family's agents share (building the trainer, learning, acting,
greedy evaluation, the reported config); each declares its config and trainer classes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
from torch import nn

from agents.base import Agent, LearningCallback
from agents.lm.config import RunConfig
from agents.lm.trainer import LMTrainer
from textenvs.decoding import DecodingPolicy, next_token_logits
from textenvs.evaluation import EpisodeRecord, generate_split
from textenvs.vector import TextGenerationVectorEnv


class LMAgent(Agent):
    """A language-model policy fine-tuned by ``trainer_class`` on the env's reward.

    :param env_id: registered textenvs id the agent trains on.
    :param env_kwargs: keyword arguments of the training env (dataset, scorer, tokenizer, ...).
    :param seed: seeds training.
    :param model: a local model directory, ``"default"`` (the task's shipped warm start) or an in-memory model.
    :param config: any other field of ``config_class`` (``num_envs``, ``learning_rate``, ``iterations``, ``out``, ...).
        Without an explicit ``iterations``, :meth:`learn`'s env-step budget alone ends training (the config's
        default of 100 iterations would otherwise end a long bench run early, silently).
    """

    config_class: ClassVar[type[RunConfig]]
    trainer_class: ClassVar[type[LMTrainer]]
    defaults: ClassVar[dict[str, Any]] = {}
    """the config settings that define this agent (overridable by ``config``)"""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 model: str | nn.Module = "default", **config: Any) -> None:
        super().__init__(env_id, env_kwargs, seed)
        self.iterations_set = "iterations" in config or "iterations" in self.defaults
        in_memory = isinstance(model, nn.Module)
        self.run_config = self.config_class(env=env_id, env_kwargs=self.env_kwargs, seed=seed,
                                            model="in-memory" if in_memory else str(model),
                                            **{**self.defaults, **config})
        self.trainer = self.trainer_class(self.run_config, model=model if in_memory else None)

    @property
    def model(self) -> nn.Module:
        """The policy's language model."""
        return self.trainer.policy_lm

    def learn(self, total_env_steps: int, callback: LearningCallback | None = None) -> list[dict[str, float]]:
        """Training iterations until ``total_env_steps`` generated tokens; when ``iterations`` was set explicitly,
        until that many iterations if they come first (with a warning that the budget was not spent)."""
        curve: list[dict[str, float]] = []
        if not self.iterations_set:
            # Every iteration generates at least one token, so this cap never ends training before the budget does.
            self.run_config.iterations = max(self.run_config.iterations, int(total_env_steps))

        def record(point: dict[str, float]) -> None:
            curve.append(point)
            if callback is not None:
                callback(point)
        self.trainer.train(max_env_steps=total_env_steps, callback=record)
        if self.trainer.env_steps < total_env_steps:
            warnings.warn(f"{self.name} stopped at iterations={self.run_config.iterations} after "
                          f"{self.trainer.env_steps} of its {total_env_steps} env steps; drop `iterations` from the "
                          "agent config to let the env-step budget end training.", stacklevel=2)
        return curve

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Greedy next token from an uncached forward over the observation (stateless; :meth:`generate` is faster)."""
        logits = next_token_logits(self.model, observation)[:, :self.trainer.task.vocab_size]
        return logits.argmax(dim=-1).cpu().numpy()

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        """Greedy KV-cached decoding through ``env`` (:class:`textenvs.decoding.DecodingPolicy`, float32): the very
        code the leaderboard's verified runs regenerate predictions with."""
        if env.unwrapped.task.vocab_size != self.trainer.task.vocab_size:
            raise ValueError(f"The env's tokenizer has {env.unwrapped.task.vocab_size} tokens but the policy was "
                             f"trained with {self.trainer.task.vocab_size}; make the env with the policy's tokenizer "
                             "(tokenizer=agent.trainer.tokenizer).")
        return generate_split(env, DecodingPolicy(self.model, vocab_size=self.trainer.task.vocab_size), indices,
                              progress)

    def save_policy(self, directory: Path) -> Path:
        """The trained policy as a plain Hugging Face checkpoint with its tokenizer (LoRA merged; the trainer's
        :meth:`~agents.lm.trainer.LMTrainer.export_model`): what :meth:`generate` decodes with."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return self.trainer.export_model(directory)

    def config(self) -> dict[str, Any]:
        settings = {key: value for key, value in self.run_config.to_dict().items() if key != "env_kwargs"}
        return {"name": self.name, **{k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
                                      for k, v in settings.items()}}
