"""Masked statistics over token positions (``mask`` = 1 on the tokens that count, 0 on padding and, on a multi-turn
env, on the user's turns), optionally over every training process's entries (``all_reduce``)."""

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


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                       all_reduce: AllReduce = no_all_reduce) -> float:
    """1 - Var(targets - predictions) / Var(targets) over valid tokens (1 = perfect, 0 = no better than a constant)."""
    target_var = masked_var(targets, mask, all_reduce)
    if target_var == 0:
        return float("nan")
    return float(1 - masked_var(targets - predictions, mask, all_reduce) / target_var)
