"""Policies for the text-generation envs: small transformers built from a config (nothing is downloaded), local
checkpoints and the shipped warm-start checkpoints, the resolution of an agent's ``model`` argument and of its
device. Every agent uses these (one way to find a model, one way to pick a device).

Decoding (the observation layout every model sees, KV-cached and uncached next-token logits, the batched decoding
policy) lives in :mod:`textenvs.decoding`. Pad is distinct from EOS, and EOS is an ordinary action the policy
learns to emit.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, GPT2Config, GPT2LMHeadModel,
                          PreTrainedModel, T5Config, T5ForConditionalGeneration)

ModelKind = Literal["auto", "causal", "seq2seq"]

CAUSAL_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 512},        # ≈1M parameters
    "small": {"n_embd": 256, "n_layer": 6, "n_head": 8, "n_positions": 512},       # ≈6M
    "gpt2-small": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},  # GPT-2's 124M config
}
"""GPT-2 shapes by size name (parameter counts with the 2k-token built-in vocabulary; embeddings are tied)."""

SEQ2SEQ_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 128, "d_ff": 512, "d_kv": 32, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2},
    "small": {"d_model": 256, "d_ff": 1024, "d_kv": 32, "num_heads": 8, "num_layers": 4, "num_decoder_layers": 4},
    "t5-small": {"d_model": 512, "d_ff": 2048, "d_kv": 64, "num_heads": 8, "num_layers": 6, "num_decoder_layers": 6},
}
"""T5 shapes by size name (``t5-small`` is the 60M T5 config)."""

CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"
"""Shipped warm-start checkpoints, one directory per built-in task (``scripts/train_warm_starts.py``)."""

TASK_NAMES: tuple[str, ...] = ("translation", "summarization", "dialogue", "translation-v1", "summarization-v1",
                               "dialogue-v1", "multiturn_dialogue", "multiturn_dialogue-v1", "translation-v2",
                               "summarization-v2", "dialogue-v2")

LEVELED_TASK_NAMES: tuple[str, ...] = ("translation-v2", "summarization-v2", "dialogue-v2")
"""Tasks with one warm start per difficulty level (``dataset_options={"level": ...}``), in
``agents/checkpoints/<task>-<level>/``."""


def build_causal_lm(tokenizer: Any, size: str = "tiny", **overrides: Any) -> GPT2LMHeadModel:
    """A randomly initialized GPT-2 sized for ``tokenizer``.

    :param tokenizer: the env's tokenizer; the vocabulary is ``len(tokenizer)`` and pad/EOS/BOS ids come from it.
    :param size: a key of :data:`CAUSAL_SIZES`.
    :param overrides: any ``GPT2Config`` field, e.g. ``n_layer=2`` or ``resid_pdrop=0.1``.
    :returns: the model with dropout off (policies are sampled and scored without dropout, an RLHF-PPO detail).
    """
    shape = _size(CAUSAL_SIZES, size, "causal")
    eos = int(tokenizer.eos_token_id)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    config = GPT2Config(
        vocab_size=len(tokenizer), **shape, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        pad_token_id=int(tokenizer.pad_token_id), eos_token_id=eos, bos_token_id=int(bos),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return GPT2LMHeadModel(config)


def build_seq2seq_lm(tokenizer: Any, size: str = "tiny", **overrides: Any) -> T5ForConditionalGeneration:
    """A randomly initialized T5 encoder-decoder sized for ``tokenizer``.

    :param tokenizer: the env's tokenizer; the vocabulary is ``len(tokenizer)``, pad/EOS ids come from it and the
        decoder starts from the pad token (the T5 convention).
    :param size: a key of :data:`SEQ2SEQ_SIZES`.
    :param overrides: any ``T5Config`` field, e.g. ``num_layers=1``.
    :returns: the model with dropout off.
    """
    shape = _size(SEQ2SEQ_SIZES, size, "seq2seq")
    pad = int(tokenizer.pad_token_id)
    config = T5Config(
        vocab_size=len(tokenizer), **shape, dropout_rate=0.0, feed_forward_proj="relu",
        pad_token_id=pad, eos_token_id=int(tokenizer.eos_token_id), decoder_start_token_id=pad,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return T5ForConditionalGeneration(config)


def load_pretrained(path_or_model: str | Path | PreTrainedModel, kind: ModelKind = "auto") -> PreTrainedModel:
    """A model object passed through, or a local Hugging Face checkpoint loaded as a causal or seq2seq LM.

    :param path_or_model: a ``PreTrainedModel`` or a directory written by ``save_pretrained``.
    :param kind: ``"auto"`` (seq2seq when the config is encoder-decoder), ``"causal"`` or ``"seq2seq"``.
    """
    if kind not in ("auto", "causal", "seq2seq"):
        raise ValueError(f"kind must be 'auto', 'causal' or 'seq2seq', got {kind!r}.")
    if isinstance(path_or_model, PreTrainedModel):
        model = path_or_model
    else:
        path = Path(path_or_model).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face checkpoint directory (no config.json); "
                                    "pass a directory written by save_pretrained, or a model object.")
        if kind == "auto":
            kind = "seq2seq" if AutoConfig.from_pretrained(path).is_encoder_decoder else "causal"
        model_class = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
        model = model_class.from_pretrained(path)
    if kind != "auto" and model.config.is_encoder_decoder != (kind == "seq2seq"):
        raise ValueError(f"Expected a {kind} model, got {type(model).__name__} "
                         f"(is_encoder_decoder={model.config.is_encoder_decoder}).")
    return model


def float32_master_weights(model: nn.Module) -> nn.Module:
    """Cast ``model``'s floating-point parameters and buffers to float32, in place, when any are stored in another
    precision (most modern checkpoints are bf16, and transformers 5 loads weights in their stored dtype): a trained
    model keeps float32 master weights, so AdamW's small updates are not rounded away, and the compute precision is
    the trainer's autocast setting (``mixed_precision``), not the checkpoint's. Frozen models (a reward or user model)
    may stay in their stored precision: :func:`textenvs.decoding.head_logits` reads them in float32. Returns
    ``model``."""
    if any(tensor.is_floating_point() and tensor.dtype != torch.float32
           for tensor in (*model.parameters(), *model.buffers())):
        model.to(torch.float32)
    return model


def observation_mode(model: PreTrainedModel) -> Literal["causal", "seq2seq"]:
    """The env ``observation_mode`` that matches ``model``'s architecture."""
    return "seq2seq" if model.config.is_encoder_decoder else "causal"


def default_checkpoint(task_name: str, level: str | None = None) -> Path:
    """Directory of the shipped warm-start checkpoint of a built-in task (load it with :func:`load_pretrained`;
    the tokenizer saved beside it is the built-in one).

    :param task_name: a task's ``TaskSpec.name``: ``"translation"``, ``"summarization"``, ``"dialogue"`` (v0),
        ``"translation-v1"``, ``"summarization-v1"``, ``"dialogue-v1"``, ``"multiturn_dialogue"``,
        ``"multiturn_dialogue-v1"``, or a v2 task
        (``"translation-v2"``, ``"summarization-v2"``, ``"dialogue-v2"``), which has one warm start per level.
    :param level: the v2 difficulty level (``"easy"``, ``"medium"``, ``"hard"``); None = the level the env runs at
        by default (``medium``). Only v2 tasks take one.
    :raises ValueError: an unknown task or level, or a level for a task without levels.
    :raises FileNotFoundError: the checkpoint has not been generated.
    """
    from textenvs.data.generators.errors_v2 import DEFAULT_LEVEL, LEVELS

    if task_name not in TASK_NAMES:
        raise ValueError(f"No default checkpoint for task {task_name!r}; available: {', '.join(TASK_NAMES)}.")
    directory = task_name
    if task_name in LEVELED_TASK_NAMES:
        level = DEFAULT_LEVEL if level is None else level
        if level not in LEVELS:
            raise ValueError(f"Unknown level {level!r} of task {task_name!r}; levels: {', '.join(LEVELS)}.")
        directory = f"{task_name}-{level}"
    elif level is not None:
        raise ValueError(f"Task {task_name!r} has no difficulty levels (got level={level!r}); only "
                         f"{', '.join(LEVELED_TASK_NAMES)} do.")
    path = CHECKPOINTS_DIR / directory
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"The warm-start checkpoint {path} is missing; regenerate it with "
                                f"`python scripts/train_warm_starts.py --task {directory}`.")
    return path


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; otherwise the named device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    :raises RuntimeError: a CUDA device was named but CUDA is not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} was requested but torch.cuda.is_available() is False.")
    return device


def resolve_model_source(env_id: str, model: str = "default", env_kwargs: dict[str, Any] | None = None) -> str:
    """Where an agent's model comes from: a checkpoint directory, or ``"scratch"``.

    :param model: ``"default"``: the task's shipped warm-start checkpoint (:func:`default_checkpoint`), or
        ``"scratch"`` with a warning when it has not been generated; ``"scratch"``: a randomly initialized GPT-2;
        otherwise a local Hugging Face checkpoint directory (causal or seq2seq).
    :param env_kwargs: the env's keyword arguments: a v2 task's ``dataset_options["level"]`` picks that level's
        warm start (none: the env's default level).
    """
    from textenvs.registration import env_class

    if model != "default":
        return model
    task_name = env_class(env_id).task_spec.name
    level = None
    if task_name in LEVELED_TASK_NAMES:
        level = ((env_kwargs or {}).get("dataset_options") or {}).get("level")
    try:
        return str(default_checkpoint(task_name, level))
    except FileNotFoundError as missing:
        warnings.warn(f"{missing} Falling back to a randomly initialized GPT-2 (model='scratch').", stacklevel=2)
        return "scratch"


def env_kwargs_for_model(source: str | Path, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` with the checkpoint's own tokenizer when it ships one and the caller named none, so token ids
    mean the same to the env and the model."""
    source = str(source)
    if source and source != "scratch" and "tokenizer" not in env_kwargs \
            and (Path(source) / "tokenizer_config.json").is_file():
        return {**env_kwargs, "tokenizer": source}
    return dict(env_kwargs)


def _size(table: dict[str, dict[str, int]], size: str, kind: str) -> dict[str, int]:
    if size not in table:
        raise ValueError(f"Unknown {kind} model size {size!r}; available: {', '.join(table)}.")
    return dict(table[size])
