"""Non-learning baselines: the warm-start (reference) model decoded greedily or by sampling, and uniform random tokens.

They implement the same :class:`~agents.base.Agent` interface as our PPO and the SB3 agents (``learn`` returns an empty
curve), so the benchmark runner evaluates and records them the same way. This module also loads the warm-start model
shared by every model-based baseline and the SB3 transformer policies (:func:`load_reference_model`). Decoding goes
through :mod:`textenvs.decoding`: ``act`` computes uncached next-token logits, ``generate`` decodes with the KV cache.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from agents.base import Agent
from agents.models import (build_causal_lm, env_kwargs_for_model, load_pretrained, observation_mode, resolve_device,
                           resolve_model_source)
from textenvs.core import load_tokenizer
from textenvs.decoding import DecodingPolicy, check_truncation, choose_tokens, next_token_logits
from textenvs.evaluation import EpisodeRecord, generate_split
from textenvs.vector import TextGenerationVectorEnv


def load_reference_model(source: str, tokenizer: Any, model_size: str = "tiny",
                         model_overrides: dict[str, Any] | None = None, seed: int = 0) -> tuple[nn.Module, str]:
    """The warm-start (reference) model: what the greedy/sampled baselines decode and the SB3 transformer policies
    start from.

    :param source: ``"scratch"`` or a checkpoint directory (see :func:`resolve_model_source`).
    :param tokenizer: the env's tokenizer; the model must predict ``len(tokenizer)`` tokens.
    :param model_size: size name of :data:`agents.models.CAUSAL_SIZES` for a model built from scratch.
    :param model_overrides: ``GPT2Config`` fields for a model built from scratch, e.g. ``{"n_layer": 1}``.
    :param seed: seeds the initialization of a model built from scratch (the global torch RNG is left untouched).
    :returns: the model (eval mode, on CPU) and a description of its origin (recorded in agent configs).
    """
    if source == "scratch":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            lm = build_causal_lm(tokenizer, model_size, **(model_overrides or {}))
        source = f"scratch:{model_size}"
    else:
        lm = load_pretrained(source)
    predicted = lm.get_output_embeddings().weight.shape[0]
    if predicted != len(tokenizer):
        raise ValueError(f"Model {source} predicts {predicted} tokens but the env's tokenizer has {len(tokenizer)}. "
                         "Pass the checkpoint's tokenizer in env_kwargs, model='scratch', or a checkpoint trained "
                         "with this tokenizer.")
    return lm.eval(), source


class ReferenceModelAgent(Agent):
    """Decodes the warm-start (reference) model without learning; base of :class:`GreedyAgent` and
    :class:`SampledAgent`.

    :param model: ``"default"`` (shipped warm start), ``"scratch"`` or a checkpoint directory
        (see :func:`resolve_model_source`).
    :param model_size: size of a model built from scratch.
    :param model_overrides: ``GPT2Config`` fields of a model built from scratch.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0, model: str = "default",
                 model_size: str = "tiny", model_overrides: dict[str, Any] | None = None,
                 device: str = "auto") -> None:
        super().__init__(env_id, env_kwargs, seed)
        source = resolve_model_source(env_id, model, self.env_kwargs)
        self.env_kwargs = env_kwargs_for_model(source, self.env_kwargs)
        tokenizer = load_tokenizer(self.env_kwargs.get("tokenizer"))
        lm, self.model_source = load_reference_model(source, tokenizer, model_size, model_overrides, seed)
        self.device = resolve_device(device)
        self.model = lm.to(self.device)
        self.vocab_size = len(tokenizer)
        wanted_mode = self.env_kwargs.get("observation_mode", "causal")
        if observation_mode(lm) != wanted_mode:
            raise ValueError(f"Model {self.model_source} is a {observation_mode(lm)} LM but the env uses "
                             f"observation_mode={wanted_mode!r}; pass env_kwargs observation_mode="
                             f"{observation_mode(lm)!r}.")
        self._settings = {"model": model, "model_size": model_size, "model_overrides": dict(model_overrides or {}),
                          "device": device}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self._settings, "model_source": self.model_source,
                "parameters": sum(p.numel() for p in self.model.parameters())}


class GreedyAgent(ReferenceModelAgent):
    """The reference model's most likely token at every step (``generate`` decodes with a KV cache)."""

    name = "greedy"

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return next_token_logits(self.model, observation)[:, :self.vocab_size].argmax(dim=-1).cpu().numpy()

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        return generate_split(env, DecodingPolicy(self.model, vocab_size=self.vocab_size), indices, progress)


class SampledAgent(ReferenceModelAgent):
    """The reference model sampled with temperature / top-k / top-p (``generate`` decodes with the KV cache, and
    samples as our PPO's rollouts do: :func:`textenvs.decoding.choose_tokens`); seeded by the agent's seed.

    :param temperature: logits are divided by it before sampling.
    :param top_p: sample from the smallest set of tokens whose probability reaches it (1.0: off).
    :param top_k: sample among the k most likely tokens (0: off).
    """

    name = "sampled"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, **model_config: Any) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        check_truncation(top_k, top_p)
        super().__init__(env_id, env_kwargs, seed, **model_config)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return choose_tokens(next_token_logits(self.model, observation), self.vocab_size, False, self.temperature,
                             self.top_k, self.top_p, self.generator).cpu().numpy()

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        policy = DecodingPolicy(self.model, greedy=False, temperature=self.temperature, top_k=self.top_k,
                                top_p=self.top_p, vocab_size=self.vocab_size, generator=self.generator)
        return generate_split(env, policy, indices, progress)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


class RandomAgent(Agent):
    """Uniformly random tokens over the whole action space (EOS included), from a generator seeded by ``seed``."""

    name = "random"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__(env_id, env_kwargs, seed)
        self.vocab_size = len(load_tokenizer(self.env_kwargs.get("tokenizer")))
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return self.rng.integers(self.vocab_size, size=len(observation["prompt_ids"]), dtype=np.int64)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size}
