"""Policies for the text-generation envs: small transformers built from a config (nothing is downloaded), local
checkpoints, the shipped warm-start checkpoints, and a KV-cached greedy policy that steps the env.

The layout conventions every agent shares (so supervised warm start, PPO and evaluation see identical inputs):

- causal LM: the env's left-padded prompt (ending with the separator) followed by the generated tokens; position
  ids count real tokens only (:func:`causal_position_ids`), as ``generate()`` does with left padding;
- seq2seq LM: the env's right-padded prompt is the encoder input; the decoder starts from
  ``config.decoder_start_token_id`` and reads the generated tokens;
- pad is distinct from EOS, and EOS is an ordinary action the policy learns to emit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
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

TASK_NAMES: tuple[str, ...] = ("translation", "summarization", "dialogue")


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


def observation_mode(model: PreTrainedModel) -> Literal["causal", "seq2seq"]:
    """The env ``observation_mode`` that matches ``model``'s architecture."""
    return "seq2seq" if model.config.is_encoder_decoder else "causal"


def default_checkpoint(task_name: str) -> Path:
    """Directory of the shipped warm-start checkpoint of a built-in task (load it with :func:`load_pretrained`;
    the tokenizer saved beside it is the built-in one).

    :param task_name: ``"translation"``, ``"summarization"`` or ``"dialogue"``.
    """
    if task_name not in TASK_NAMES:
        raise ValueError(f"No default checkpoint for task {task_name!r}; available: {', '.join(TASK_NAMES)}.")
    path = CHECKPOINTS_DIR / task_name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"The warm-start checkpoint {path} is missing; regenerate it with "
                                "`python scripts/train_warm_starts.py`.")
    return path


def causal_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only attended tokens, so a left-padded prompt starts at position 0 whatever its
    padding (padding positions get 0; they are masked anyway)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)


class GreedyPolicy:
    """Deterministic batched policy: the argmax token of a causal or seq2seq LM, decoded with a KV cache.

    Call it with the vector env's observations (``generate_split(env, GreedyPolicy(model))``). When every sub-env
    has just been reset (no generated token anywhere) it encodes the new prompts; otherwise it feeds back the tokens
    it returned last. So episodes that start together, as in :func:`textenvs.generate_split`, are decoded exactly;
    a sub-env auto-reset while others still run keeps decoding its previous sequence (``generate_split`` ignores
    those episodes).

    :param model: the policy; put it on its device first. It is run in inference mode.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.is_seq2seq = bool(model.config.is_encoder_decoder)
        self._cache: Any = None
        self._attention_mask: torch.Tensor | None = None
        self._encoder_outputs: Any = None
        self._last_actions: torch.Tensor | None = None

    @torch.inference_mode()
    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self._last_actions is None or not np.asarray(observation["generated_mask"]).any():
            logits = self._start(observation)
        else:
            logits = self._advance(self._last_actions)
        self._last_actions = logits.argmax(-1)
        return self._last_actions.cpu().numpy()

    def _start(self, observation: dict[str, np.ndarray]) -> torch.Tensor:
        device = self.model.device
        prompt_ids = torch.as_tensor(observation["prompt_ids"], device=device)
        prompt_mask = torch.as_tensor(observation["prompt_mask"], device=device).long()
        # Columns that are padding in every row change nothing; dropping them shortens the cached sequence.
        attended = prompt_mask.any(0).nonzero()
        prompt_ids = prompt_ids[:, int(attended.min()):int(attended.max()) + 1]
        prompt_mask = prompt_mask[:, int(attended.min()):int(attended.max()) + 1]
        if self.is_seq2seq:
            self._encoder_outputs = self.model.get_encoder()(input_ids=prompt_ids, attention_mask=prompt_mask)
            self._attention_mask = prompt_mask
            start = torch.full((len(prompt_ids), 1), self.model.config.decoder_start_token_id, device=device)
            output = self.model(encoder_outputs=self._encoder_outputs, attention_mask=prompt_mask,
                                decoder_input_ids=start, use_cache=True)
        else:
            self._attention_mask = prompt_mask
            output = self.model(input_ids=prompt_ids, attention_mask=prompt_mask,
                                position_ids=causal_position_ids(prompt_mask), use_cache=True)
        self._cache = output.past_key_values
        return output.logits[:, -1]

    def _advance(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.is_seq2seq:
            output = self.model(encoder_outputs=self._encoder_outputs, attention_mask=self._attention_mask,
                                decoder_input_ids=tokens[:, None], past_key_values=self._cache, use_cache=True)
        else:
            self._attention_mask = torch.cat([self._attention_mask, torch.ones_like(tokens)[:, None]], dim=1)
            positions = causal_position_ids(self._attention_mask)[:, -1:]
            output = self.model(input_ids=tokens[:, None], attention_mask=self._attention_mask, position_ids=positions,
                                past_key_values=self._cache, use_cache=True)
        self._cache = output.past_key_values
        return output.logits[:, -1]


def _size(table: dict[str, dict[str, int]], size: str, kind: str) -> dict[str, int]:
    if size not in table:
        raise ValueError(f"Unknown {kind} model size {size!r}; available: {', '.join(table)}.")
    return dict(table[size])
