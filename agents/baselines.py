"""Non-learning baselines: the warm-start (reference) model decoded greedily or by sampling, and uniform random tokens.

They implement the same :class:`~agents.base.Agent` interface as our PPO and the SB3 agents (``learn`` returns an empty
curve), so the benchmark runner evaluates and records them the same way. This module also resolves and loads the
warm-start model shared by every model-based baseline and the SB3 transformer policies (:func:`resolve_model_source`,
:func:`load_reference_model`) and computes a causal LM's next-token output for an observation without a cache
(:func:`last_token_hidden_state`, :func:`next_token_logits`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from agents.base import Agent
from agents.models import (GreedyPolicy, build_causal_lm, causal_position_ids, default_checkpoint, load_pretrained,
                           observation_mode)
from textenvs.core import load_tokenizer
from textenvs.evaluation import EpisodeRecord, generate_split
from textenvs.registration import env_class
from textenvs.vector import TextGenerationVectorEnv


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_model_source(env_id: str, model: str = "default") -> str:
    """Where the warm-start (reference) model comes from: a checkpoint directory, or ``"scratch"``.

    :param model: ``"default"``: the task's shipped warm-start checkpoint (:func:`agents.models.default_checkpoint`),
        or ``"scratch"`` with a warning when it has not been generated; ``"scratch"``: a randomly initialized GPT-2;
        otherwise a local Hugging Face checkpoint directory (causal or seq2seq).
    """
    if model != "default":
        return model
    try:
        return str(default_checkpoint(env_class(env_id).task_spec.name))
    except FileNotFoundError as missing:
        warnings.warn(f"{missing} Falling back to a randomly initialized GPT-2 (model='scratch').", stacklevel=2)
        return "scratch"


def env_kwargs_for_model(source: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` with the checkpoint's own tokenizer when it ships one and the caller named none (as our PPO
    does), so token ids mean the same to the env and the model."""
    if source != "scratch" and "tokenizer" not in env_kwargs and (Path(source) / "tokenizer_config.json").is_file():
        return {**env_kwargs, "tokenizer": source}
    return dict(env_kwargs)


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


def last_token_hidden_state(lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                            generated_ids: torch.Tensor, generated_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden state ``(B, H)`` of a causal LM at the last real token of each observation row (no KV cache).

    The prompt is left-padded and the generation right-padded, so the real tokens are contiguous and the last one
    sits at ``P - 1 + (number of generated tokens)``. Position ids count real tokens only, and columns that are
    padding in every row are dropped before the forward pass (they change nothing, and cost compute).
    """
    input_ids = torch.cat([prompt_ids, generated_ids], dim=1)
    attention = torch.cat([prompt_mask, generated_mask], dim=1).long()
    last = prompt_ids.shape[1] - 1 + generated_mask.long().sum(dim=1)
    real_columns = attention.any(dim=0).nonzero().flatten()
    first, end = int(real_columns[0]), int(real_columns[-1]) + 1
    input_ids, attention = input_ids[:, first:end], attention[:, first:end]
    hidden = lm.base_model(input_ids=input_ids, attention_mask=attention,
                           position_ids=causal_position_ids(attention)).last_hidden_state
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last - first]


@torch.inference_mode()
def next_token_logits(lm: nn.Module, observation: dict[str, np.ndarray]) -> torch.Tensor:
    """Float32 logits ``(B, V)`` of the next token for a batched env observation (causal or seq2seq LM)."""
    device = next(lm.parameters()).device
    tensors = {key: torch.as_tensor(np.asarray(value), device=device).long() for key, value in observation.items()}
    if lm.config.is_encoder_decoder:
        start = torch.full_like(tensors["generated_ids"][:, :1], lm.config.decoder_start_token_id)
        decoder_ids = torch.cat([start, tensors["generated_ids"]], dim=1)
        decoder_mask = torch.cat([torch.ones_like(start), tensors["generated_mask"]], dim=1)
        logits = lm(input_ids=tensors["prompt_ids"], attention_mask=tensors["prompt_mask"],
                    decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask).logits
        last = tensors["generated_mask"].sum(dim=1)
        return logits[torch.arange(len(last), device=device), last].float()
    hidden = last_token_hidden_state(lm, tensors["prompt_ids"], tensors["prompt_mask"], tensors["generated_ids"],
                                     tensors["generated_mask"])
    return lm.get_output_embeddings()(hidden).float()


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
        source = resolve_model_source(env_id, model)
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
        return generate_split(env, GreedyPolicy(self.model), indices, progress)


class SampledAgent(ReferenceModelAgent):
    """The reference model sampled with temperature / top-k / top-p (``generate`` decodes with a KV cache through
    our PPO's rollout loop, so the two sample identically); seeded by the agent's seed.

    :param temperature: logits are divided by it before sampling.
    :param top_p: sample from the smallest set of tokens whose probability reaches it (1.0: off).
    :param top_k: sample among the k most likely tokens (0: off).
    """

    name = "sampled"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, **model_config: Any) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}.")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}.")
        super().__init__(env_id, env_kwargs, seed, **model_config)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        from agents.ppo.rollout import sample_tokens

        logits = next_token_logits(self.model, observation)[:, :self.vocab_size] / self.temperature
        return sample_tokens(logits, self.top_k, self.top_p, self.generator).cpu().numpy()

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        from agents.ppo.rollout import collect_rollout

        env = env.unwrapped
        indices = list(range(len(env.task.dataset)) if indices is None else indices)
        records: list[EpisodeRecord] = []
        for start in range(0, len(indices), env.num_envs):
            chunk = indices[start:start + env.num_envs]
            padded = chunk + [chunk[-1]] * (env.num_envs - len(chunk))  # a short last chunk fills the batch
            rollout = collect_rollout(env, self.model, padded, temperature=self.temperature, top_k=self.top_k,
                                      top_p=self.top_p, generator=self.generator)
            records.extend(rollout.records[:len(chunk)])
            if progress is not None:
                progress(len(records))
        return records

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
