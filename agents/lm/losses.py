"""The two pieces of policy-gradient arithmetic PPO and the GRPO family share, written once: the leave-one-out
(RLOO) baseline of a group of samples of one prompt, and the clipped surrogate of a probability ratio."""

from __future__ import annotations

import torch


def leave_one_out_baseline(groups: torch.Tensor) -> torch.Tensor:
    """``(P, G)`` scores of ``G`` samples of each of ``P`` prompts → each score's baseline, the mean score of the
    prompt's *other* ``G - 1`` samples (RLOO, Ahmadian et al., 2024): the prompt's difficulty cancels and only the
    differences between its samples remain, and the baseline does not depend on the sample it is subtracted from."""
    return (groups.sum(dim=1, keepdim=True) - groups) / (groups.shape[1] - 1)


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_low: float,
                      clip_high: float) -> torch.Tensor:
    """PPO's clipped surrogate loss, elementwise: ``-min(r A, clip(r, 1 - ε_low, 1 + ε_high) A)`` (Schulman et al.,
    2017; DAPO's clip-higher when ``clip_high > clip_low``). Not reduced: PPO averages it over tokens, the GRPO
    family as its ``loss_type`` says, RLOO over episodes."""
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    return -torch.min(unclipped, clipped)
