"""Supervised warm start: teacher-forced next-token training of a policy on an env's train split.

The inputs come from the env's own :class:`~textenvs.core.GenerationTask`, so the model learns on exactly the layout
that the env shows PPO and evaluation:

- causal LM: ``[left-padded prompt ending with the separator | reference tokens, EOS, right padding]``; the loss
  covers the reference tokens and the EOS only (never the prompt or the padding);
- seq2seq LM: encoder input = the env's prompt ids; decoder input = start token + reference; labels = reference + EOS.

EOS is a learned target (pad is a different token), so the warm-started policy knows when to stop. A reference
longer than ``max_new_tokens`` is cut to that many tokens without EOS, as the env truncates the episode there.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
import transformers
from gymnasium.vector import AutoresetMode
from transformers import PreTrainedModel

import textenvs
from agents.base import LearningCallback
from agents.models import float32_master_weights, load_pretrained, observation_mode, resolve_device
from textenvs.core import GenerationTask, load_tokenizer
from textenvs.decoding import DecodingPolicy, causal_position_ids
from textenvs.evaluation import generate_split, summarize
from textenvs.registration import env_class

IGNORE_INDEX = -100
"""Label of positions that carry no loss (prompt and padding)."""


@dataclass
class SFTConfig:
    """Supervised warm-start settings; recorded in ``training_config.json`` with the checkpoint."""

    learning_rate: float = 1e-3
    """Peak AdamW learning rate."""
    batch_size: int = 32
    """(prompt, reference) pairs per optimizer step."""
    max_steps: int | None = None
    """Optimizer steps; when set it replaces ``epochs``."""
    epochs: float = 1.0
    """Passes over the training pairs (used when ``max_steps`` is None)."""
    warmup_steps: int = 100
    """Linear learning-rate warmup from 0; then cosine decay to 0 at the last step. A warmup not shorter than the
    run is cut to a tenth of the run's steps, with a warning (else the rate would never reach its peak)."""
    weight_decay: float = 0.01
    """AdamW weight decay on weight matrices (biases and norm gains are not decayed)."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this value."""
    label_smoothing: float = 0.0
    """Label smoothing of the training cross-entropy (``F.cross_entropy``'s); the validation loss is never smoothed."""
    seed: int = 0
    """Seeds the order of the training pairs (seed the model's initialization before building it)."""
    device: str = "auto"
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ..."""
    bf16: bool = True
    """bf16 autocast on CUDA (CPU always runs float32)."""
    max_train_examples: int | None = None
    """Train on the first N examples of the train split only (quick runs); None = all."""
    all_references: bool = True
    """Each reference of an example is a training pair; False = only the first reference."""
    eval_every: int = 500
    """Validate every N steps and after the last; 0 = only after the last."""
    eval_split: str | None = "validation"
    """Split for the validation loss and the greedy validation score; None = no validation."""
    eval_examples: int = 200
    """Validate on the first N examples of ``eval_split`` (a fixed subset)."""
    eval_batch_size: int = 64
    """Parallel episodes of the greedy validation decoding, and pairs per validation-loss batch."""
    log_every: int = 10
    """Report training loss, learning rate, gradient norm and throughput every N steps."""
    output_dir: str | None = None
    """Save the model, tokenizer, ``training_config.json`` and ``log.jsonl`` here; None = save nothing."""


@dataclass
class SupervisedPairs:
    """Teacher-forcing data in the env's layout, one row per (prompt, reference) pair."""

    prompt_ids: np.ndarray
    """``(M, P)`` the env's encoded prompts (left-padded for causal, right-padded for seq2seq)."""
    prompt_mask: np.ndarray
    """``(M, P)`` 1 on real prompt tokens."""
    target_ids: np.ndarray
    """``(M, N)`` reference tokens then EOS, right-padded with the pad id."""
    target_mask: np.ndarray
    """``(M, N)`` 1 on the reference and EOS tokens (the attention mask of the target)."""
    loss_mask: np.ndarray | None = None
    """``(M, N)`` 1 on the target tokens the loss trains on, e.g. a multi-turn conversation's agent tokens (its
    user turns are attended to, never learned); None: every target token."""

    def __len__(self) -> int:
        return len(self.prompt_ids)


def encode_pairs(task: GenerationTask, indices: Sequence[int] | None = None,
                 all_references: bool = True) -> SupervisedPairs:
    """Encode examples of ``task``'s split as teacher-forcing pairs, prompts through ``task.encode_prompt``.

    :param task: the env's task (tokenizer, split, lengths and observation layout).
    :param indices: example indices (default: the whole split).
    :param all_references: one pair per reference (else only the first reference).
    """
    indices = range(len(task.dataset)) if indices is None else indices
    rows, references = [], []
    for index in indices:
        example = task.dataset[index]
        for reference in example.references if all_references else example.references[:1]:
            rows.append(index)
            references.append(reference)
    prompts = [task.encode_prompt(index) for index in rows]
    prompt_ids = np.stack([ids for ids, _ in prompts])
    prompt_mask = np.stack([mask for _, mask in prompts])
    target_ids = np.full((len(rows), task.max_new_tokens), task.pad_token_id, dtype=np.int64)
    target_mask = np.zeros((len(rows), task.max_new_tokens), dtype=np.int8)
    for row, token_ids in enumerate(task.tokenizer(references, add_special_tokens=False)["input_ids"]):
        # EOS is the last target; a reference longer than the budget is cut like a truncated episode.
        token_ids = (list(token_ids) + [task.eos_token_id])[:task.max_new_tokens]
        target_ids[row, :len(token_ids)] = token_ids
        target_mask[row, :len(token_ids)] = 1
    return SupervisedPairs(prompt_ids, prompt_mask, target_ids, target_mask)


def make_batch(pairs: SupervisedPairs, rows: np.ndarray, model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """Model inputs and ``labels`` for ``rows`` of ``pairs`` on ``model``'s device.

    Columns that are padding in every row are dropped (the prompt's leading ones for causal models, the trailing
    ones otherwise); position ids count real tokens only, so this changes nothing but the cost.
    Causal ``labels`` are aligned with ``input_ids`` (the logits at position t predict the label at t + 1).
    """
    device = model.device
    prompt_ids, prompt_mask = torch.from_numpy(pairs.prompt_ids[rows]), torch.from_numpy(pairs.prompt_mask[rows]).long()
    target_ids, target_mask = torch.from_numpy(pairs.target_ids[rows]), torch.from_numpy(pairs.target_mask[rows]).long()
    loss_mask = target_mask if pairs.loss_mask is None else torch.from_numpy(pairs.loss_mask[rows]).long()
    target_length = int(target_mask.sum(1).max())
    target_ids, target_mask = target_ids[:, :target_length], target_mask[:, :target_length]
    labels = target_ids.masked_fill(loss_mask[:, :target_length] == 0, IGNORE_INDEX)
    if model.config.is_encoder_decoder:
        prompt_length = int(prompt_mask.sum(1).max())
        start = torch.full_like(target_ids[:, :1], model.config.decoder_start_token_id)
        batch = {"input_ids": prompt_ids[:, :prompt_length], "attention_mask": prompt_mask[:, :prompt_length],
                 "decoder_input_ids": torch.cat([start, target_ids[:, :-1]], dim=1), "labels": labels}
    else:
        first = prompt_ids.shape[1] - int(prompt_mask.sum(1).max())
        attention_mask = torch.cat([prompt_mask[:, first:], target_mask], dim=1)
        batch = {"input_ids": torch.cat([prompt_ids[:, first:], target_ids], dim=1), "attention_mask": attention_mask,
                 "position_ids": causal_position_ids(attention_mask),
                 "labels": torch.cat([torch.full_like(prompt_ids[:, first:], IGNORE_INDEX), labels], dim=1)}
    return {key: value.to(device) for key, value in batch.items()}


def token_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor],
               label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy (smoothed by ``label_smoothing``) over the labelled tokens of ``batch``, and
    their number."""
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    labels = batch["labels"]
    if model.config.is_encoder_decoder:
        logits = model(**inputs, use_cache=False).logits
    else:
        # Only the last target_length + 1 positions predict a label: skip the LM head on the rest of the prompt.
        keep = labels.shape[1] - int((labels != IGNORE_INDEX).any(0).nonzero().min()) + 1
        logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits[:, :-1]
        labels = labels[:, -logits.shape[1]:]
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum",
                           label_smoothing=label_smoothing)
    return loss, int((labels != IGNORE_INDEX).sum())


@torch.no_grad()
def evaluate(model: PreTrainedModel, env: Any, pairs: SupervisedPairs, indices: Sequence[int],
             batch_size: int, autocast: Any) -> dict[str, float]:
    """Teacher-forced validation loss on ``pairs`` and the means of the env's metrics under greedy decoding of
    examples ``indices`` (keys ``eval/loss``, ``eval/reward``, ``eval/length``, ``eval/<metric>``)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with autocast():
        for start in range(0, len(pairs), batch_size):
            loss, tokens = token_loss(model, make_batch(pairs, np.arange(start, min(start + batch_size, len(pairs))),
                                                        model))
            total, count = total + loss.item(), count + tokens
        records = generate_split(env, DecodingPolicy(model, vocab_size=env.task.vocab_size), indices)
    model.train(was_training)
    return {"eval/loss": total / max(count, 1), **{f"eval/{key}": value for key, value in summarize(records).items()}}


def train_sft(model: PreTrainedModel | str | os.PathLike, tokenizer: Any, env_id: str,
              env_kwargs: dict[str, Any] | None = None, config: SFTConfig | None = None,
              callback: LearningCallback | None = None,
              train_pairs: SupervisedPairs | None = None) -> PreTrainedModel:
    """Teacher-forced training of ``model`` on ``env_id``'s train split, in the env's layout.

    :param model: a causal or seq2seq Hugging Face LM, or a local checkpoint directory; the env's
        ``observation_mode`` follows its architecture.
    :param tokenizer: the env's tokenizer (object or path); None = ``env_kwargs["tokenizer"]``, else the built-in one.
    :param env_id: registered textenvs id, e.g. ``"textenvs/Translation-v0"``.
    :param env_kwargs: the env's keyword arguments (dataset, lengths, scorer, ...); ``split`` is chosen here.
    :param config: training settings (:class:`SFTConfig`).
    :param callback: receives every log record: first ``{"step": 0, "total_steps", "train_pairs", "batch_size"}``,
        then ``step`` with ``train/...`` or ``eval/...`` values.
    :param train_pairs: the training rows, instead of the train split's (prompt, reference) pairs; e.g. simulated
        multi-turn conversations (:func:`agents.sft.conversations.simulate_conversations`).
    :returns: the trained model (in train mode, on the training device).
    """
    config = config or SFTConfig()
    spec = env_class(env_id).task_spec
    model = float32_master_weights(load_pretrained(model))  # a bf16 checkpoint trains in float32 master weights
    kwargs = _task_kwargs(env_id, env_kwargs, tokenizer, observation_mode(model))
    task = GenerationTask(spec, split="train", **kwargs)
    _check_vocabulary(model, task.vocab_size)
    train_indices = range(min(len(task.dataset), config.max_train_examples or len(task.dataset)))
    train = encode_pairs(task, train_indices, config.all_references) if train_pairs is None else train_pairs
    batch_size = min(config.batch_size, len(train))
    steps_per_epoch = len(train) // batch_size
    total_steps = config.max_steps if config.max_steps is not None else max(1, round(config.epochs * steps_per_epoch))

    device = resolve_device(config.device)
    model.to(device).train()
    optimizer, scheduler = _optimizer_and_schedule(model, config, total_steps)
    run = _SFTRun(model, train, batch_size, total_steps, config, device, optimizer, scheduler)
    validation = _Validation.make(env_id, kwargs, config) if config.eval_split is not None else None
    with _RunLog(config.output_dir, callback) as log:
        log.emit({"step": 0, "total_steps": total_steps, "train_pairs": len(train), "batch_size": batch_size})
        last_eval = run.train(log, validation)
    if config.output_dir is not None:
        save_checkpoint(model, task.tokenizer, config.output_dir, {
            "algorithm": "sft", "env_id": env_id, "env_kwargs": _json_safe(env_kwargs or {}),
            "task": task.config(), "model": {"class": type(model).__name__, "parameters": model.num_parameters()},
            "sft": asdict(config), "train_pairs": len(train), "steps": total_steps, "final_eval": last_eval,
            "versions": {"textenvs": textenvs.__version__, "torch": torch.__version__,
                         "transformers": transformers.__version__},
        })
    return model


def _check_vocabulary(model: PreTrainedModel, vocab_size: int) -> None:
    """Refuse a model whose output layer predicts fewer tokens than the tokenizer has."""
    model_vocab = model.get_output_embeddings().weight.shape[0]
    if model_vocab < vocab_size:
        raise ValueError(f"The model predicts {model_vocab} tokens but the tokenizer has {vocab_size}; build the "
                         "model for this tokenizer or call model.resize_token_embeddings(len(tokenizer)).")


def _optimizer_and_schedule(model: PreTrainedModel, config: SFTConfig, total_steps: int
                            ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with weight decay on weight matrices only, and the warmup-then-cosine learning-rate schedule."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    warmup_steps = config.warmup_steps
    if warmup_steps >= total_steps:
        # The default warmup (100) is longer than a short run: the learning rate would never reach its peak.
        warmup_steps = total_steps // 10
        warnings.warn(f"warmup_steps={config.warmup_steps} is not shorter than the run ({total_steps} steps), so "
                      f"the learning rate would never reach {config.learning_rate}; warming up for {warmup_steps} "
                      "steps (a tenth of the run) instead. Set warmup_steps below the number of steps to choose.",
                      stacklevel=3)  # the caller of train_sft
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup_steps, total_steps))


@dataclass
class _Validation:
    """The validation split's batched env (greedy decoding), its first ``eval_examples`` indices and their pairs."""

    env: Any
    indices: list[int]
    pairs: SupervisedPairs

    @classmethod
    def make(cls, env_id: str, task_kwargs: dict[str, Any], config: SFTConfig) -> "_Validation":
        num_envs = max(1, min(config.eval_batch_size, config.eval_examples))
        env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                           autoreset_mode=AutoresetMode.DISABLED, **{**task_kwargs, "split": config.eval_split}
                           ).unwrapped
        indices = list(range(min(config.eval_examples, len(env.task.dataset))))
        return cls(env, indices, encode_pairs(env.task, indices, config.all_references))


class _RunLog:
    """Writes each record to ``log.jsonl`` in ``output_dir`` (when given) and hands it to the callback."""

    def __init__(self, output_dir: str | None, callback: LearningCallback | None) -> None:
        self.callback, self.file = callback, None
        if output_dir is not None:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            self.file = open(Path(output_dir) / "log.jsonl", "w", encoding="utf-8")

    def emit(self, record: dict[str, float]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        if self.callback is not None:
            self.callback(record)

    def __enter__(self) -> "_RunLog":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class _SFTRun:
    """One supervised run's state: the model, its training pairs and schedule, the optimizer and the scheduler."""

    model: PreTrainedModel
    train_pairs: SupervisedPairs
    batch_size: int
    total_steps: int
    config: SFTConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR

    def autocast(self) -> Any:
        """bf16 autocast on CUDA when ``config.bf16``; a no-op context elsewhere."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.config.bf16 and self.device.type == "cuda")

    def train(self, log: _RunLog, validation: _Validation | None) -> dict[str, float]:
        """Run every optimizer step, logging every ``log_every`` steps and validating every ``eval_every`` and
        after the last; returns the last validation's values ({} without validation)."""
        config, pairs, batch_size = self.config, self.train_pairs, self.batch_size
        generator = torch.Generator().manual_seed(config.seed)
        order, cursor = torch.randperm(len(pairs), generator=generator).numpy(), 0
        window_loss, window_tokens, window_start, last_eval = 0.0, 0, time.perf_counter(), {}
        for step in range(1, self.total_steps + 1):
            if cursor + batch_size > len(pairs):  # a fresh shuffle each epoch; the incomplete last batch is skipped
                order, cursor = torch.randperm(len(pairs), generator=generator).numpy(), 0
            loss_sum, tokens, grad_norm = self.step(make_batch(pairs, order[cursor:cursor + batch_size], self.model))
            cursor += batch_size
            window_loss, window_tokens = window_loss + loss_sum, window_tokens + tokens
            if step % config.log_every == 0 or step == self.total_steps:
                elapsed = time.perf_counter() - window_start
                log.emit({"step": step, "epoch": step * batch_size / len(pairs),
                          "train/loss": window_loss / window_tokens,
                          "train/learning_rate": self.scheduler.get_last_lr()[0], "train/grad_norm": grad_norm,
                          "train/target_tokens_per_second": window_tokens / elapsed})
                window_loss, window_tokens, window_start = 0.0, 0, time.perf_counter()
            if validation is not None and ((config.eval_every and step % config.eval_every == 0)
                                           or step == self.total_steps):
                last_eval = evaluate(self.model, validation.env, validation.pairs, validation.indices,
                                     config.eval_batch_size, self.autocast)
                log.emit({"step": step, **last_eval})
                window_start = time.perf_counter()  # validation time is not training throughput
        return last_eval

    def step(self, batch: dict[str, torch.Tensor]) -> tuple[float, int, float]:
        """One optimizer step on the mean token loss of ``batch``: its summed loss, its labelled tokens and the
        gradient norm before clipping."""
        with self.autocast():
            loss_sum, tokens = token_loss(self.model, batch, self.config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        (loss_sum / tokens).backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return loss_sum.item(), tokens, float(grad_norm)


def save_checkpoint(model: PreTrainedModel, tokenizer: Any, output_dir: str | os.PathLike,
                    training_config: dict[str, Any]) -> Path:
    """Write ``model`` and ``tokenizer`` with ``save_pretrained`` (safetensors) and ``training_config.json``."""
    path = Path(output_dir)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "training_config.json").write_text(json.dumps(training_config, indent=2) + "\n", encoding="utf-8")
    return path


def _task_kwargs(env_id: str, env_kwargs: dict[str, Any] | None, tokenizer: Any, mode: str) -> dict[str, Any]:
    """The env's task arguments (registration defaults, then ``env_kwargs``) with the tokenizer resolved and the
    observation mode the model needs."""
    kwargs = {**gym.spec(env_id).kwargs, **(env_kwargs or {})}
    kwargs.pop("render_mode", None)
    kwargs.pop("split", None)
    requested = kwargs.get("observation_mode", mode)
    if requested != mode:
        raise ValueError(f"env_kwargs asks for observation_mode={requested!r} but the model is a {mode} LM.")
    kwargs["observation_mode"] = mode
    kwargs["tokenizer"] = load_tokenizer(tokenizer if tokenizer is not None else kwargs.get("tokenizer"))
    return kwargs


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def _json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot hold (tokenizers, datasets, scorer objects) replaced by a description."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return getattr(value, "name_or_path", None) or repr(value)[:200]
