"""The clipped PPO losses over token positions (``mask`` = 1 on the agent's tokens, EOS included; 0 on padding and
user turns). The masked statistics they average with live in :mod:`agents.lm.stats` (importable from here too)."""

from __future__ import annotations

import torch

from agents.lm.losses import clipped_surrogate
from agents.lm.stats import AllReduce, explained_variance, masked_mean, masked_var, masked_whiten, no_all_reduce

__all__ = ["AllReduce", "explained_variance", "masked_mean", "masked_var", "masked_whiten", "no_all_reduce",
           "policy_loss", "value_loss"]


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_coef: float, token_count: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate objective ``-min(r A, clip(r, 1-ε, 1+ε) A)``, averaged over valid tokens.

    :param token_count: divide the masked sums by this instead of the mask's count (gradient accumulation and
        several processes: the global minibatch's token count, so the micro-batches' losses add up to the minibatch's
        token mean).
    :returns: the loss and diagnostics, averaged the same way: ``approx_kl`` (CleanRL's k3 estimate of
        KL(old || new), ``(r - 1) - log r``), ``clipfrac`` (share of tokens with ``|r - 1| > clip_coef``, CleanRL's)
        and ``ratio`` (the mean probability ratio; the GRPO family's ``ratio`` too).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    loss = masked_mean(clipped_surrogate(ratio, advantages, clip_coef, clip_coef), mask, token_count)
    with torch.no_grad():
        stats = {"approx_kl": masked_mean((ratio - 1) - log_ratio, mask, token_count),
                 "clipfrac": masked_mean(((ratio - 1).abs() > clip_coef).float(), mask, token_count),
                 "ratio": masked_mean(ratio, mask, token_count)}
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_value: float, token_count: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss ``0.5 max((V - R)^2, (V_old + clip(V - V_old, ±ε) - R)^2)``, averaged over valid tokens
    (or divided by ``token_count``, as in :func:`policy_loss`)."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip_value, clip_value)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(unclipped_error, clipped_error), mask, token_count)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean((clipped_error > unclipped_error).float(), mask, token_count)}
    return loss, stats
