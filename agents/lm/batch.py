"""Typed batches of episodes (SB3's ``RolloutBufferSamples`` idea): every tensor of a batch is a named field, so a
minibatch is read as ``batch.advantages``, never looked up by a string key, and none can be swapped by position.

:class:`TokenBatch` holds what every forward pass over episodes needs; :class:`~agents.lm.rollout.Rollout` (what
decoding returns), PPO's :class:`~agents.ppo.buffer.RolloutBuffer` and the GRPO family's
:class:`~agents.grpo.trainer.GRPOBatch` extend it with their own per-token or per-episode tensors, and all of them
are cut into minibatches and micro-batches the same way (:meth:`TokenBatch.select`, :meth:`TokenBatch.rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypeVar

import torch

from textenvs.decoding import sampling_mask, trim_padding_columns

Batch = TypeVar("Batch", bound="TokenBatch")


@dataclass(kw_only=True)
class TokenBatch:
    """Episodes as padded token tensors, ``(N, T)`` over generated tokens unless noted. Keyword arguments only.

    :ivar prompt_ids: ``(N, P)`` prompt tokens in the env's layout (left-padded causal, right-padded encoder input).
    :ivar prompt_mask: ``(N, P)``.
    :ivar generated_ids: the episode's tokens, the pad id after its end.
    :ivar generated_mask: 1 on every generated token (EOS included), 0 after the end: the attention mask.
    :ivar action_masks: ``(N, T, V)`` bool, the env's legal actions at each step, or None (the env masks nothing):
        the vocabulary a reference model's distribution (the KL) is taken over.
    :ivar sampling_support: ``(N, T, K)`` ids of the truncated set each token was sampled from (top-k / top-p /
        NLPO; :func:`textenvs.decoding.support_indices`), or None when sampling was not truncated.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    generated_ids: torch.Tensor
    generated_mask: torch.Tensor
    action_masks: torch.Tensor | None
    sampling_support: torch.Tensor | None

    def __len__(self) -> int:
        return self.generated_ids.shape[0]

    def tokens(self) -> TokenBatch:
        """Only the fields of :class:`TokenBatch` (what a forward pass reads), as one."""
        return TokenBatch(**{f.name: getattr(self, f.name) for f in fields(TokenBatch)})

    def select(self: Batch, indices: torch.Tensor) -> Batch:
        """The episodes ``indices`` (a minibatch), every tensor field indexed along its first dimension."""
        return replace(self, **{f.name: getattr(self, f.name)[indices] for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    def rows(self: Batch, rows: slice) -> Batch:
        """The consecutive episodes ``rows`` (a micro-batch or a scoring chunk), as views."""
        return self.select(rows)  # type: ignore[arg-type]  (a slice indexes like the tensor of its rows)

    def trim_prompt(self: Batch) -> Batch:
        """This batch with the prompt columns that are padding in all of its rows dropped (a minibatch's prompts are
        often shorter than the rollout's longest): the same forward under the attention mask and the position ids
        (:func:`textenvs.decoding.trim_padding_columns`), on fewer tokens."""
        prompt_ids, prompt_mask = trim_padding_columns(self.prompt_ids, self.prompt_mask)
        return replace(self, prompt_ids=prompt_ids, prompt_mask=prompt_mask)

    def legal_actions(self, vocab_size: int, truncated: bool = True) -> torch.Tensor | None:
        """``(N, T, V)`` bool mask of the actions each token's distribution is over, or None (all): with
        ``truncated``, the set it was sampled from (the policy's distribution); otherwise the env's legal actions
        only (the reference's, so the KL sees the policy's truncation)."""
        support = self.sampling_support if truncated else None
        return sampling_mask(self.action_masks, support, vocab_size)
