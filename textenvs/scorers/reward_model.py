"""Learned reward: any Hugging Face sequence-classification model loaded from a local directory."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.semantic_similarity import default_device, local_model_dir


@functools.lru_cache(maxsize=None)
def load_reward_model(path: str, device: str, fused_activations: bool = False) -> tuple[Any, Any]:
    """The process-wide ``(tokenizer, model)`` for ``(path, device, fused_activations)``: each model is loaded once
    (with ``fused_activations``, its Python tanh GELU runs as PyTorch's fused kernel:
    :func:`textenvs.decoding.fuse_activations`).

    Tokenizers without a pad token (GPT-2) pad with their EOS token (the usual convention), and the model is told
    so, since sequence-classification heads on causal models read the last non-pad position. A tokenizer that
    also appends EOS to every text would make such a head read the token before it: give it a pad token.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = local_model_dir(path, "Reward model")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device).eval()
    if fused_activations:
        from textenvs.decoding import fuse_activations

        fuse_activations(model)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"Reward model tokenizer at {path!r} has neither a pad nor an EOS token to pad with.")
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


class RewardModelScorer(Scorer):
    """Scores each prediction (optionally paired with its prompt) with a sequence-classification model.

    The reward is the raw logit when the model has one output (a regression/preference reward model), else the
    softmax probability of ``label``. Empty or whitespace predictions score 0 (no text, no reward). References
    are not used.

    :param model_path: local directory written by ``save_pretrained`` (model and tokenizer).
    :param label: class index or name (``config.label2id``) whose probability is the reward; default the last
        class (e.g. ``POSITIVE`` of a binary sentiment model). Ignored for single-output models.
    :param use_prompt: encode ``(prompt, prediction)`` as a text pair instead of the prediction alone.
    :param batch_size: texts per forward pass.
    :param max_length: truncate inputs to this many tokens (and to the model's own limit).
    :param device: torch device (default: cuda when available, else cpu).
    :param fused_activations: run the model's Python-composed tanh GELU (GPT-2's ``gelu_new``) as PyTorch's fused
        kernel of the same formula (:func:`textenvs.decoding.fuse_activations`): rewards equal up to float rounding
        (~1e-7), the forward ~1.5x faster on a CPU for a small GPT-2. Off by default, so rewards stay bit-identical.
    """

    name = "reward_model"
    primary = "reward_model"
    requires_references = False

    def __init__(self, model_path: str, label: int | str | None = None, use_prompt: bool = False,
                 batch_size: int = 32, max_length: int = 512, device: str | None = None,
                 fused_activations: bool = False) -> None:
        self.model_path = str(model_path)
        self.device = device or default_device()
        self.fused_activations = fused_activations
        self.tokenizer, self.model = load_reward_model(self.model_path, self.device, fused_activations)
        self.use_prompt, self.batch_size = use_prompt, batch_size
        self.max_length = min(max_length, self.tokenizer.model_max_length)
        self.num_labels = self.model.config.num_labels
        self.label = self._label_index(label)

    def _label_index(self, label: int | str | None) -> int:
        if self.num_labels == 1 or label is None:
            return self.num_labels - 1
        if isinstance(label, str):
            label2id = self.model.config.label2id
            if label not in label2id:
                raise ValueError(f"label {label!r} is not one of the model's labels {sorted(label2id)}.")
            return int(label2id[label])
        if not 0 <= label < self.num_labels:
            raise ValueError(f"label {label} is out of range for a model with {self.num_labels} labels "
                             f"(0..{self.num_labels - 1}).")
        return int(label)

    def compute(self, predictions, references, prompts, metadata):
        import torch

        if self.use_prompt and prompts is None:
            raise ValueError("RewardModelScorer(use_prompt=True) needs prompts, got None.")
        scored = [i for i, prediction in enumerate(predictions) if prediction.strip()]
        rewards = np.zeros(len(predictions))
        with torch.inference_mode():
            for start in range(0, len(scored), self.batch_size):
                chunk = scored[start:start + self.batch_size]
                texts = [predictions[i] for i in chunk]
                pair = ([prompts[i] for i in chunk], texts) if self.use_prompt else (texts,)
                inputs = self.tokenizer(*pair, padding=True, truncation=True, max_length=self.max_length,
                                        return_tensors="pt").to(self.device)
                logits = self.model(**inputs).logits.float()
                values = logits[:, 0] if self.num_labels == 1 else logits.softmax(dim=-1)[:, self.label]
                rewards[chunk] = values.cpu().numpy()
        return {"reward_model": rewards}

    def config(self):
        return {"name": self.name, "primary": self.primary, "model_path": self.model_path, "label": self.label,
                "use_prompt": self.use_prompt, **({"fused_activations": True} if self.fused_activations else {})}
