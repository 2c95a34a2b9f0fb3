"""Verified runs: regenerate a submission's predictions from its policy checkpoint and re-score them.

The checkpoint is a directory written by ``save_pretrained`` for a Hugging Face model (causal LM or
encoder-decoder) and its tokenizer. The server builds the env on the canonical test split with that tokenizer,
decodes greedily through :func:`textenvs.generate_split` (the evaluation loop every agent uses), scores the
regenerated texts exactly as submissions are scored, and marks the entry verified when every metric is within
``tolerance`` of the submitted predictions' scores. Only safetensors weights are loaded: a checkpoint cannot run
code on the server.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from leaderboard.schema import DEFAULT_TOLERANCE, LeaderboardError, Verification
from leaderboard.service import Leaderboard
from textenvs.evaluation import generate_split


class GreedyPolicy:
    """Batched greedy decoding over the env's observation: the argmax token after prompt + generated prefix.

    No KV cache: each step re-reads the whole prefix, which is simple and exact (verification is not on a hot path).

    :param model: a ``transformers`` causal LM or encoder-decoder model in eval mode.
    :param vocab_size: the env's action space size; logits of any extra (padding) embedding rows are ignored.
    """

    def __init__(self, model: Any, vocab_size: int) -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.encoder_decoder = bool(model.config.is_encoder_decoder)
        self.device = next(model.parameters()).device

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensor = {key: torch.as_tensor(value, device=self.device) for key, value in observation.items()}
        prompt_ids, prompt_mask = tensor["prompt_ids"], tensor["prompt_mask"].long()
        lengths = tensor["generated_mask"].long().sum(dim=1)
        width = int(lengths.max())
        generated_ids = tensor["generated_ids"][:, :width]
        rows = torch.arange(len(lengths), device=self.device)
        with torch.inference_mode():
            if self.encoder_decoder:
                start = torch.full((len(lengths), 1), self.model.config.decoder_start_token_id, device=self.device)
                logits = self.model(input_ids=prompt_ids, attention_mask=prompt_mask,
                                    decoder_input_ids=torch.cat([start, generated_ids], dim=1)).logits
                last = logits[rows, lengths]
            else:
                # Prompt (left-padded) + generated tokens (right-padded), each row shifted right by its unused
                # generated slots: the whole prefix is left-padded, so every row's next token is read at the last
                # position and only that position's logits are computed.
                input_ids = torch.cat([prompt_ids, generated_ids], dim=1)
                mask = torch.cat([prompt_mask, (torch.arange(width, device=self.device) < lengths[:, None]).long()],
                                 dim=1)
                total = input_ids.shape[1]
                source = (torch.arange(total, device=self.device)[None, :] - (width - lengths)[:, None]) % total
                input_ids, mask = input_ids.gather(1, source), mask.gather(1, source)
                position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
                last = self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                                  logits_to_keep=1).logits[:, -1]
        return last[:, :self.vocab_size].argmax(dim=-1).cpu().numpy()


def checkpoint_sha256(directory: Path) -> str:
    """SHA-256 over every file of the checkpoint directory (relative paths and contents, in path order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_checkpoint(directory: Path, device: str = "cpu") -> tuple[Any, Any]:
    """Model (eval mode, on ``device``) and tokenizer saved with ``save_pretrained`` in ``directory``."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    if not directory.is_dir():
        raise LeaderboardError(404, f"Checkpoint directory {directory} does not exist.")
    if not any(directory.glob("*.safetensors")):
        raise LeaderboardError(422, f"Checkpoint {directory} has no *.safetensors weights; only safetensors are "
                                    "loaded (save with model.save_pretrained(dir), the default format).")
    config = AutoConfig.from_pretrained(directory)
    model_class = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = model_class.from_pretrained(directory, use_safetensors=True).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return model, tokenizer


def verify_submission(leaderboard: Leaderboard, submission_id: str, checkpoint: str | Path, *,
                      tolerance: float = DEFAULT_TOLERANCE, batch_size: int = 32, device: str = "cpu",
                      progress: Callable[[int], None] | None = None) -> Verification:
    """Regenerate ``submission_id``'s predictions from ``checkpoint`` and record whether they reproduce its scores.

    :param leaderboard: the leaderboard holding the submission (its benchmarks define the canonical split).
    :param submission_id: id of the stored submission.
    :param checkpoint: ``save_pretrained`` directory of the policy model and tokenizer.
    :param tolerance: largest accepted absolute difference of any metric.
    :param batch_size: sub-envs decoded together.
    :param device: torch device for the model.
    :param progress: called with the number of examples done after each batch.
    :returns: the stored :class:`~leaderboard.schema.Verification`.
    """
    row = leaderboard.store.get(submission_id, with_predictions=True)
    if row is None:
        raise LeaderboardError(404, f"No submission with id {submission_id!r}.")
    benchmark = leaderboard.benchmark_of(row)
    directory = Path(checkpoint).expanduser().resolve()
    model, tokenizer = load_checkpoint(directory, device)
    env = gym.make_vec(row.env_id, num_envs=min(batch_size, len(benchmark.dataset)),
                       vectorization_mode="vector_entry_point", tokenizer=tokenizer, split="test",
                       observation_mode="seq2seq" if model.config.is_encoder_decoder else "causal",
                       **benchmark.env_kwargs)
    try:
        records = generate_split(env, GreedyPolicy(model, env.unwrapped.task.vocab_size), progress=progress)
    finally:
        env.close()
    if [record.example_id for record in records] != [example.id for example in benchmark.dataset]:
        raise RuntimeError("The regenerated episodes do not follow the canonical split's order.")
    predictions = [record.prediction for record in records]
    metrics = benchmark.score(predictions)
    scored = row.metrics
    if set(metrics) != set(scored):
        raise LeaderboardError(409, f"The scorer of {row.env_id} now returns {sorted(metrics)}, but submission "
                                    f"{row.id} was scored with {sorted(scored)}; it cannot be compared.")
    difference = max(abs(metrics[key] - value) for key, value in scored.items())
    submitted = json.loads(row.predictions_json)
    identical = float(np.mean([record.prediction == submitted[record.example_id] for record in records]))
    verification = Verification(verified=difference <= tolerance, checkpoint=str(directory),
                                checkpoint_sha256=checkpoint_sha256(directory), tolerance=tolerance, metrics=metrics,
                                max_abs_difference=difference, identical_predictions=identical,
                                verified_at=datetime.now(timezone.utc))
    leaderboard.store.set_verification(row.id, verification.verified, verification.model_dump(mode="json"))
    return verification
