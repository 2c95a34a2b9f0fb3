"""Masked statistics and the clipped PPO losses over token positions (``mask`` = 1 on generated tokens, EOS
included; 0 on the padding after an episode ended)."""

from __future__ import annotations

from typing import Callable

import torch

AllReduce = Callable[[torch.Tensor], torch.Tensor]
"""Sums a tensor over the training processes (:meth:`agents.distributed.Distributed.sum`): the statistics given one
are over every process's entries (the global batch), not this process's."""


def no_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """This process's entries only (one process)."""
    return tensor


def masked_mean(values: torch.Tensor, mask: torch.Tensor, count: torch.Tensor | None = None,
                all_reduce: AllReduce = no_all_reduce) -> torch.Tensor:
    """Mean over the masked entries; with ``count``, the masked sum divided by it instead (a micro-batch's or a
    process's share of the token mean over a larger batch of ``count`` tokens)."""
    if count is not None:
        return (values * mask).sum() / count
    totals = all_reduce(torch.stack([(values * mask).sum(), mask.sum().to(values.dtype)]))
    return totals[0] / totals[1].clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, all_reduce: AllReduce = no_all_reduce) -> torch.Tensor:
    """Unbiased variance over the masked entries."""
    count = all_reduce(mask.sum())
    centered = (values - masked_mean(values, mask, all_reduce=all_reduce)) * mask
    return all_reduce((centered ** 2).sum()) / (count - 1).clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, all_reduce: AllReduce = no_all_reduce) -> torch.Tensor:
    """Zero mean and unit variance over the masked entries; masked-out entries become 0."""
    mean, var = masked_mean(values, mask, all_reduce=all_reduce), masked_var(values, mask, all_reduce)
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_coef: float, token_count: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate objective ``-min(r A, clip(r, 1-ε, 1+ε) A)``, averaged over valid tokens.

    :param token_count: divide the masked sums by this instead of the mask's count (gradient accumulation and
        several processes: the global minibatch's token count, so the micro-batches' losses add up to the minibatch's
        token mean).
    :returns: the loss and diagnostics, averaged the same way: ``approx_kl`` (CleanRL's k3 estimate of
        KL(old || new), ``(r - 1) - log r``), ``clipfrac`` (share of tokens with ``|r - 1| > clip_coef``, CleanRL's)
        and ``ratio`` (the per-token probability ratios).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    loss = masked_mean(torch.max(unclipped, clipped), mask, token_count)
    with torch.no_grad():
        stats = {"approx_kl": masked_mean((ratio - 1) - log_ratio, mask, token_count),
                 "clipfrac": masked_mean(((ratio - 1).abs() > clip_coef).float(), mask, token_count),
                 "ratio": ratio.detach()}
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


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                       all_reduce: AllReduce = no_all_reduce) -> float:
    """1 - Var(targets - predictions) / Var(targets) over valid tokens (1 = perfect, 0 = no better than a constant)."""
    target_var = masked_var(targets, mask, all_reduce)
    if target_var == 0:
        return float("nan")
    return float(1 - masked_var(targets - predictions, mask, all_reduce) / target_var)
