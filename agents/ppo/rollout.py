"""Rollouts: B episodes decoded together through the env's native vector API with a KV-cached model loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from agents.ppo.policy import CachedDecoder, gather_logprobs, model_device, policy_logits
from textenvs.evaluation import EpisodeRecord
from textenvs.masks import top_p_mask
from textenvs.vector import TextGenerationVectorEnv


@dataclass
class Rollout:
    """B finished episodes; token tensors are cut to the longest episode ``T`` and the prompt's all-padding
    columns are dropped.

    :ivar generated_mask: 1 on each generated token (EOS included), 0 after the episode's end.
    :ivar action_masks: ``(B, T, V)`` legal actions at each step, None when nothing was masked.
    :ivar sample_logprobs: logprobs of the tokens under the sampling distribution, from the cached decoding loop.
    :ivar env_rewards: ``(B, T)`` the env's reward at each step (terminal mode: the score at the last step).
    :ivar terminated: ``(B,)`` whether the episode ended with EOS (else it was truncated).
    :ivar records: one :class:`~textenvs.evaluation.EpisodeRecord` per episode (prediction, metrics).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    generated_ids: torch.Tensor
    generated_mask: torch.Tensor
    action_masks: torch.Tensor | None
    sample_logprobs: torch.Tensor
    env_rewards: torch.Tensor
    terminated: torch.Tensor
    records: list[EpisodeRecord]


def sample_tokens(logits: torch.Tensor, top_k: int, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Sample one token per row from ``softmax(logits)`` restricted to the top-k / top-p set."""
    if top_k > 0:
        kth_largest = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth_largest, torch.finfo(logits.dtype).min)
    if top_p < 1.0:
        logits = logits.masked_fill(~top_p_mask(logits, top_p), torch.finfo(logits.dtype).min)
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def collect_rollout(env: TextGenerationVectorEnv, lm: nn.Module, example_indices: Sequence[int], *,
                    temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, greedy: bool = False,
                    generator: torch.Generator | None = None, reference: nn.Module | None = None,
                    nlpo_top_p: float = 1.0) -> Rollout:
    """Run one episode per sub-env on the given examples and return the finished batch.

    All episodes start together (``reset(options={"example_index": ...})``); each step feeds the chosen tokens to
    the env and to the model's KV cache. A sub-env whose episode ended is auto-reset by the env on the next step: its
    later actions only fill the slot (pad, or EOS where a mask forbids pad) and are ignored here. The loop stops when
    every episode has ended.

    :param env: native vector env with ``num_envs == len(example_indices)``.
    :param lm: the policy's language model (its logits are sliced to the env's vocabulary).
    :param greedy: argmax decoding (evaluation); otherwise sample with ``temperature`` / ``top_k`` / ``top_p``.
    :param reference: with ``nlpo_top_p < 1``, restrict each step to this model's top-p tokens (NLPO masking).
    """
    env = env.unwrapped
    task = env.task
    vocab = task.vocab_size
    if len(example_indices) != env.num_envs:
        raise ValueError(f"Got {len(example_indices)} example indices for {env.num_envs} sub-envs.")
    device = model_device(lm)
    observation, _ = env.reset(options={"example_index": np.asarray(example_indices, dtype=np.int64)})
    prompt_ids = torch.as_tensor(observation["prompt_ids"], device=device)
    prompt_mask = torch.as_tensor(observation["prompt_mask"], device=device).long()
    policy = CachedDecoder(lm, prompt_ids, prompt_mask)
    nucleus_source = CachedDecoder(reference, prompt_ids, prompt_mask) if reference is not None and nlpo_top_p < 1 \
        else None

    batch, max_steps = env.num_envs, task.max_new_tokens
    generated_ids = torch.full((batch, max_steps), task.pad_token_id, dtype=torch.long, device=device)
    generated_mask = torch.zeros((batch, max_steps), dtype=torch.long, device=device)
    sample_logprobs = torch.zeros((batch, max_steps), device=device)
    env_rewards = torch.zeros((batch, max_steps), device=device)
    terminated = torch.zeros(batch, dtype=torch.bool, device=device)
    step_masks: list[torch.Tensor] = []
    records: list[EpisodeRecord | None] = [None] * batch
    done = np.zeros(batch, dtype=bool)
    for t in range(max_steps):
        env_legal = torch.as_tensor(env.action_masks(), device=device) if task.action_mask is not None else None
        legal = env_legal
        if nucleus_source is not None:
            # NLPO: only the reference model's top-p tokens (and EOS, which the env always allows) are legal.
            nucleus = top_p_mask(policy_logits(nucleus_source.logits, vocab, temperature), nlpo_top_p)
            nucleus[:, task.eos_token_id] = True
            legal = nucleus if legal is None else legal & nucleus
        logits = policy_logits(policy.logits, vocab, temperature, legal)
        tokens = logits.argmax(dim=-1) if greedy else sample_tokens(logits, top_k, top_p, generator)
        if legal is not None:
            step_masks.append(legal)

        active = torch.as_tensor(~done, device=device)
        filler = torch.full_like(tokens, task.pad_token_id)
        if env_legal is not None:
            filler = torch.where(env_legal[:, task.pad_token_id], filler, task.eos_token_id)
        actions = torch.where(active, tokens, filler)
        observation, reward, step_terminated, step_truncated, info = env.step(actions.cpu().numpy())

        generated_ids[active, t] = tokens[active]
        generated_mask[active, t] = 1
        sample_logprobs[active, t] = gather_logprobs(logits, tokens)[active]
        env_rewards[:, t] = torch.as_tensor(reward, dtype=torch.float32, device=device) * active
        for slot in np.flatnonzero(~done & (step_terminated | step_truncated)):
            terminated[slot] = bool(step_terminated[slot])
            records[slot] = EpisodeRecord(
                example_id=str(info["example_id"][slot]), example_index=int(info["example_index"][slot]),
                prompt=str(info["prompt"][slot]), prediction=str(info["prediction"][slot]),
                references=list(info["references"][slot]), reward=float(reward[slot]), length=t + 1,
                metrics={key: float(values[slot]) for key, values in info["metrics"].items() if not key.startswith("_")})
            done[slot] = True
        if done.all():
            break
        policy.advance(actions)
        if nucleus_source is not None:
            nucleus_source.advance(actions)

    length = t + 1
    # Drop the prompt columns that are padding in every row (left for causal prompts, right for encoder inputs).
    real_columns = torch.nonzero(prompt_mask.any(dim=0)).squeeze(-1)
    prompt_window = slice(int(real_columns.min()), int(real_columns.max()) + 1)
    return Rollout(
        prompt_ids=prompt_ids[:, prompt_window], prompt_mask=prompt_mask[:, prompt_window],
        generated_ids=generated_ids[:, :length], generated_mask=generated_mask[:, :length],
        action_masks=torch.stack(step_masks, dim=1) if step_masks else None,
        sample_logprobs=sample_logprobs[:, :length], env_rewards=env_rewards[:, :length], terminated=terminated,
        records=records)
