"""PPO behind the benchmark runner's :class:`~agents.base.Agent` interface (registered as ``"ppo"``)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from agents.base import Agent, LearningCallback
from agents.models import causal_position_ids
from agents.ppo.config import PPOConfig
from agents.ppo.policy import autocast, model_device
from agents.ppo.rollout import collect_rollout
from agents.ppo.trainer import PPOTrainer
from textenvs.evaluation import EpisodeRecord
from textenvs.vector import TextGenerationVectorEnv


class PPOAgent(Agent):
    """A language-model policy fine-tuned with PPO.

    :param env_id: registered textenvs id the agent trains on.
    :param env_kwargs: keyword arguments of the training env (dataset, scorer, tokenizer, ...).
    :param seed: seeds training.
    :param model: a local model directory, ``"default"`` (the task's shipped warm start) or an in-memory model.
    :param config: any other :class:`PPOConfig` field (``num_envs``, ``learning_rate``, ``iterations``, ``out``, ...).
    """

    name = "ppo"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 model: str | nn.Module = "default", **config: Any) -> None:
        super().__init__(env_id, env_kwargs, seed)
        in_memory = isinstance(model, nn.Module)
        self.ppo_config = PPOConfig(env=env_id, env_kwargs=self.env_kwargs, seed=seed,
                                    model="in-memory" if in_memory else str(model), **config)
        self.trainer = PPOTrainer(self.ppo_config, model=model if in_memory else None)

    @property
    def model(self) -> nn.Module:
        """The policy's language model."""
        return self.trainer.policy.lm

    def learn(self, total_env_steps: int, callback: LearningCallback | None = None) -> list[dict[str, float]]:
        """PPO iterations until ``total_env_steps`` generated tokens (or ``config.iterations``, whichever first)."""
        curve: list[dict[str, float]] = []

        def record(point: dict[str, float]) -> None:
            curve.append(point)
            if callback is not None:
                callback(point)
        self.trainer.train(max_env_steps=total_env_steps, callback=record)
        return curve

    @torch.no_grad()
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Greedy next token from a full forward over the observation (stateless; :meth:`generate` is faster)."""
        lm, device = self.model, model_device(self.model)
        tensor = lambda key: torch.as_tensor(np.asarray(observation[key]), device=device).long()  # noqa: E731
        prompt_ids, prompt_mask = tensor("prompt_ids"), tensor("prompt_mask")
        generated_ids, generated_mask = tensor("generated_ids"), tensor("generated_mask")
        lengths = generated_mask.sum(dim=1)
        rows = torch.arange(len(lengths), device=device)
        if lm.config.is_encoder_decoder:
            start = torch.full_like(generated_ids[:, :1], lm.config.decoder_start_token_id)
            logits = lm(input_ids=prompt_ids, attention_mask=prompt_mask,
                        decoder_input_ids=torch.cat([start, generated_ids], dim=1),
                        decoder_attention_mask=torch.cat([torch.ones_like(start), generated_mask], dim=1)).logits
            next_logits = logits[rows, lengths]
        else:
            attention = torch.cat([prompt_mask, generated_mask], dim=1)
            logits = lm(input_ids=torch.cat([prompt_ids, generated_ids], dim=1), attention_mask=attention,
                        position_ids=causal_position_ids(attention)).logits
            next_logits = logits[rows, prompt_ids.shape[1] - 1 + lengths]
        return next_logits[:, :self.trainer.task.vocab_size].argmax(dim=-1).cpu().numpy()

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        """Greedy KV-cached decoding through ``env``, ``env.num_envs`` examples at a time."""
        env = env.unwrapped
        if env.task.vocab_size != self.trainer.task.vocab_size:
            raise ValueError(f"The env's tokenizer has {env.task.vocab_size} tokens but the policy was trained with "
                             f"{self.trainer.task.vocab_size}; make the env with the policy's tokenizer "
                             "(tokenizer=agent.trainer.tokenizer).")
        indices = list(range(len(env.task.dataset)) if indices is None else indices)
        records: list[EpisodeRecord] = []
        for start in range(0, len(indices), env.num_envs):
            chunk = indices[start:start + env.num_envs]
            padded = chunk + [chunk[-1]] * (env.num_envs - len(chunk))
            with autocast(model_device(self.model)):
                rollout = collect_rollout(env, self.model, padded, greedy=True)
            records.extend(rollout.records[:len(chunk)])
            if progress is not None:
                progress(len(records))
        return records

    def config(self) -> dict[str, Any]:
        settings = {key: value for key, value in self.ppo_config.to_dict().items() if key != "env_kwargs"}
        return {"name": self.name, **{k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
                                      for k, v in settings.items()}}
