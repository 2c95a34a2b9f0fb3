"""Group-relative advantages and the clipped policy losses of the GRPO family, as pure functions over tensors.

Scores are ``(N,)`` with the ``G = num_generations`` episodes of each prompt adjacent; token tensors are ``(N, T)``
with ``mask`` = 1 on generated tokens (EOS included) and 0 on the padding after an episode's end.

Three losses: :func:`clipped_token_loss` (GRPO, Dr. GRPO, DAPO, BNPO: one clipped ratio per token, or GSPO's per
episode, reduced by :func:`aggregate_loss`), :func:`cispo_token_loss` (CISPO: capped, detached importance weights)
and :func:`sequence_clipped_loss` (RLOO as TRL's ``RLOOTrainer``: one ratio per episode, the ratio of its sequence
probabilities, and the mean over episodes).
"""

from __future__ import annotations

import torch

from agents.lm.losses import clipped_surrogate, leave_one_out_baseline
from agents.lm.stats import masked_mean

SCALE_EPSILON = 1e-4
"""Added to the std before dividing by it (TRL's value): a group of equal scores gets advantage 0, not NaN."""


def group_advantages(scores: torch.Tensor, num_generations: int, estimator: str = "grpo",
                     scale_rewards: str = "group") -> torch.Tensor:
    """One advantage per episode, shared by all its tokens.

    ``"grpo"``: score minus the mean score of its group. ``"rloo"``: score minus the mean of the group's *other*
    scores (leave-one-out; an unbiased baseline, equal to ``G / (G - 1)`` times the GRPO advantage). Then divided by
    the (unbiased) std of the group's scores (``"group"``), of all scores (``"batch"``), or left unscaled (``"none"``).
    """
    groups = scores.view(-1, num_generations)
    if estimator == "grpo":
        baseline = groups.mean(dim=1, keepdim=True)
    elif estimator == "rloo":
        baseline = leave_one_out_baseline(groups)
    else:
        raise ValueError(f"advantage estimator must be 'grpo' or 'rloo', got {estimator!r}.")
    advantages = groups - baseline
    if scale_rewards == "group":
        advantages = advantages / (groups.std(dim=1, keepdim=True) + SCALE_EPSILON)
    elif scale_rewards == "batch":
        advantages = advantages / (scores.std() + SCALE_EPSILON)
    elif scale_rewards != "none":
        raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale_rewards!r}.")
    return advantages.reshape(-1)


def informative_groups(scores: torch.Tensor, num_generations: int) -> torch.Tensor:
    """``(N,)`` bool: True for the episodes of groups whose scores are not all equal (DAPO's dynamic sampling keeps
    only these: a group of equal scores has advantage 0 everywhere and only dilutes the batch)."""
    groups = scores.view(-1, num_generations)
    varied = (groups != groups[:, :1]).any(dim=1)
    return varied.repeat_interleave(num_generations)


def importance_log_ratio(logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor,
                         level: str = "token") -> torch.Tensor:
    """``(N, T)`` log importance ratios, TRL's ``importance_sampling_level``: ``"token"``, each token's
    ``log π - log π_old``; ``"sequence"`` (GSPO, Zheng et al., 2025), the episode's masked mean of them on every one
    of its tokens, so the ratio is the geometric mean of its tokens' ratios (gradients reach every token)."""
    log_ratio = logprobs - old_logprobs
    if level == "token":
        return log_ratio
    if level == "sequence":
        mean = (log_ratio * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        return mean.expand_as(log_ratio)
    raise ValueError(f"importance_sampling_level must be 'token' or 'sequence', got {level!r}.")


def importance_sampling_weights(trainer_logprobs: torch.Tensor, sample_logprobs: torch.Tensor, mask: torch.Tensor,
                                mode: str, clip_max: float, clip_min: float | None = None) -> torch.Tensor:
    """Truncated (or masked) importance weights ``π_trainer / π_sampler`` of tokens decoded by another engine or
    precision than the trainer's (TRL's ``vllm_importance_sampling_mode``), no gradient: ``(N, T)`` per token
    (``"token_*"``) or ``(N, 1)`` per episode, the ratio of the episode's sequence probabilities (``"sequence_*"``);
    ``"*_truncate"`` clamps them to ``[clip_min, clip_max]``, ``"*_mask"`` zeroes those outside it. Off ``mask`` the
    log-ratio counts as 0. The loss of each token is multiplied by its weight."""
    with torch.no_grad():
        log_ratio = (trainer_logprobs - sample_logprobs) * mask
        if mode.startswith("sequence"):
            log_ratio = log_ratio.sum(dim=1, keepdim=True)
        ratio = torch.exp(log_ratio)
        if mode.endswith("truncate"):
            return torch.clamp(ratio, min=clip_min, max=clip_max)
        if mode.endswith("mask"):
            low = clip_min if clip_min is not None else -float("inf")
            return ratio.masked_fill((ratio < low) | (ratio > clip_max), 0.0)
    raise ValueError(f"importance sampling mode must be token_/sequence_ + truncate/mask, got {mode!r}.")


def clipped_token_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                       mask: torch.Tensor, epsilon: float, epsilon_high: float,
                       token_count: torch.Tensor | None = None, importance_sampling_level: str = "token"
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token clipped surrogate ``-min(r A, clip(r, 1 - ε, 1 + ε_high) A)`` with ``r = π / π_old`` ``(N, T)``
    (with ``importance_sampling_level="sequence"``, GSPO: ``r`` is the episode's, see :func:`importance_log_ratio`).

    :param advantages: ``(N,)``, one per episode.
    :param token_count: divide the diagnostics' masked sums by this instead of the mask's count (gradient
        accumulation: the minibatch's token count, so the micro-batches' diagnostics add up to the minibatch's).
    :returns: the per-token loss (not yet aggregated; see :func:`aggregate_loss`) and diagnostics, masked means over
        tokens (at the sequence level each token carries its episode's ratio, so these weigh episodes by length;
        TRL's logged means weigh them equally): ``clip_ratio/low_mean`` (r < 1 - ε where A < 0: the lower clip is
        active), ``clip_ratio/high_mean`` (r > 1 + ε_high where A > 0), ``clip_ratio/region_mean`` (either),
        ``clipfrac`` (CleanRL: r outside the clip range, whatever A's sign), ``approx_kl`` (k3 of KL(old || new))
        and ``ratio``.
    """
    log_ratio = importance_log_ratio(logprobs, old_logprobs, mask, importance_sampling_level)
    ratio = torch.exp(log_ratio)
    advantages = advantages.unsqueeze(1)
    per_token_loss = clipped_surrogate(ratio, advantages, epsilon, epsilon_high)
    with torch.no_grad():
        low = (ratio < 1.0 - epsilon) & (advantages < 0)
        high = (ratio > 1.0 + epsilon_high) & (advantages > 0)
        outside = (ratio < 1.0 - epsilon) | (ratio > 1.0 + epsilon_high)
        stats = {"clip_ratio/low_mean": masked_mean(low.float(), mask, token_count),
                 "clip_ratio/high_mean": masked_mean(high.float(), mask, token_count),
                 "clip_ratio/region_mean": masked_mean((low | high).float(), mask, token_count),
                 "clipfrac": masked_mean(outside.float(), mask, token_count),
                 "approx_kl": masked_mean((ratio - 1) - log_ratio, mask, token_count),
                 "ratio": masked_mean(ratio, mask, token_count)}
    return per_token_loss, stats


def cispo_token_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                     mask: torch.Tensor, epsilon_max: float, token_count: torch.Tensor | None = None,
                     importance_sampling_level: str = "token") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CISPO's per-token loss (MiniMax-M1, 2025; TRL's ``loss_type="cispo"``): ``-sg(min(r, ε_max)) A log π``. The
    importance weight is capped and detached instead of the surrogate being clipped, so every token keeps a gradient
    ``-min(r, ε_max) A ∇ log π``, the capped ones included. ``ε_max`` is TRL's ``epsilon_high`` taken as the cap
    itself, not ``1 + epsilon_high`` (ScaleRL recommends 5.0).

    :returns: the per-token loss (aggregated as ``"dapo"``, see :func:`aggregate_loss`) and diagnostics, masked means
        over tokens as in :func:`clipped_token_loss`: ``cispo_clip_ratio`` (TRL's: r > ε_max where A > 0),
        ``clipfrac`` (r > ε_max), ``approx_kl`` and ``ratio``.
    """
    log_ratio = importance_log_ratio(logprobs, old_logprobs, mask, importance_sampling_level)
    ratio = torch.exp(log_ratio)
    advantages = advantages.unsqueeze(1)
    weight = torch.clamp(ratio, max=epsilon_max).detach()
    per_token_loss = -weight * advantages * logprobs
    with torch.no_grad():
        capped = ratio > epsilon_max
        stats = {"cispo_clip_ratio": masked_mean((capped & (advantages > 0)).float(), mask, token_count),
                 "clipfrac": masked_mean(capped.float(), mask, token_count),
                 "approx_kl": masked_mean((ratio - 1) - log_ratio, mask, token_count),
                 "ratio": masked_mean(ratio, mask, token_count)}
    return per_token_loss, stats


def aggregate_loss(per_token_loss: torch.Tensor, mask: torch.Tensor, loss_type: str, max_new_tokens: int,
                   minibatch_tokens: float | torch.Tensor, minibatch_episodes: int | torch.Tensor | None = None,
                   kept: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce a micro-batch's per-token loss to its share of the minibatch's loss (TRL's ``loss_type``): the
    micro-batches' shares add up to the loss of the whole minibatch, so gradient accumulation changes nothing.

    ``"grpo"``: each episode's token mean, then the mean over the minibatch's episodes (short episodes weigh more
    per token). ``"bnpo"``: the token mean over the micro-batch, weighted by its share of the minibatch's kept
    episodes. ``"dr_grpo"``: the token sum over ``episodes * max_new_tokens``, a constant, so no length bias.
    ``"dapo"`` and ``"cispo"``: the token sum over ``minibatch_tokens``, so every token weighs the same; the trainer
    passes TRL 1.16's normalizer, the rollout batch's valid tokens over its optimizer steps per pass (the mean
    tokens of a step, the same for every step of a batch, as TRL's ``num_items_in_batch`` rescaled to one step).

    :param minibatch_episodes: episodes that count in the whole minibatch (None: this micro-batch is the minibatch
        and its ``kept`` episodes are they).
    :param kept: ``(N,)``, 1 for this micro-batch's episodes that count (those dynamic sampling kept; their sum over
        the minibatch's micro-batches is ``minibatch_episodes``). None: the episodes with a valid token in ``mask``.
    """
    masked = per_token_loss * mask
    if kept is None:
        kept = (mask.sum(dim=1) > 0).float()
    micro_episodes = kept.sum()
    episodes = micro_episodes.clamp(min=1) if minibatch_episodes is None else minibatch_episodes
    if loss_type == "grpo":
        return (masked.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum() / episodes
    if loss_type == "bnpo":
        # The share counts kept episodes only: with dropped rows counted, the same kept tokens would weigh up to
        # twice as much in a micro-batch that also holds dropped ones.
        return masked_mean(per_token_loss, mask) * (micro_episodes / episodes)
    if loss_type == "dr_grpo":
        return masked.sum() / (episodes * max_new_tokens)
    if loss_type in ("dapo", "cispo"):
        return masked_mean(per_token_loss, mask, torch.as_tensor(minibatch_tokens).clamp(min=1))
    raise ValueError(f"loss_type must be one of 'grpo', 'dr_grpo', 'dapo', 'bnpo', 'cispo', got {loss_type!r}.")


def sequence_clipped_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                          mask: torch.Tensor, kept: torch.Tensor, epsilon: float, epsilon_high: float,
                          minibatch_episodes: float | torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """RLOO's clipped surrogate on whole episodes (Ahmadian et al., 2024, as TRL 1.16's ``RLOOTrainer`` computes it):
    per episode ``-min(ρ A, clip(ρ, 1 - ε, 1 + ε_high) A)`` with ``ρ = exp(Σ_t mask (log π - log π_old))``, the
    ratio of the episode's sequence probabilities, then the mean over the minibatch's kept episodes.

    At ``ρ = 1`` (the first step on a rollout) the gradient is ``Σ_i A_i ∇ log π(y_i) / N``: the REINFORCE
    gradient of the sequence log-probability, each episode weighing ``A_i / N`` whatever its length (GRPO's token
    mean per episode weighs each token ``A_i / (N |y_i|)`` instead). Like TRL, the ratio is not bounded before the
    clip: a sequence's log-ratio sums its tokens'.

    :param advantages: ``(N,)``, one per episode.
    :param kept: ``(N,)``, 1 for the episodes that count (dynamic sampling's kept), 0 for the others.
    :param minibatch_episodes: kept episodes in the whole minibatch, the mean's divisor (gradient accumulation: each
        micro-batch returns its share). None: this micro-batch's.
    :returns: the micro-batch's share of the minibatch loss and diagnostics, means over kept episodes of the
        sequence ratio: ``clip_ratio/low_mean``, ``clip_ratio/high_mean``, ``clip_ratio/region_mean`` (TRL's),
        ``clipfrac``, ``approx_kl`` (k3 of the sequence ratio) and ``ratio``.
    """
    episodes = kept.sum().clamp(min=1) if minibatch_episodes is None else minibatch_episodes
    log_ratio = ((logprobs - old_logprobs) * mask).sum(dim=1)
    ratio = torch.exp(log_ratio)
    per_episode_loss = clipped_surrogate(ratio, advantages, epsilon, epsilon_high)
    loss = (per_episode_loss * kept).sum() / episodes
    with torch.no_grad():
        low = (ratio < 1.0 - epsilon) & (advantages < 0)
        high = (ratio > 1.0 + epsilon_high) & (advantages > 0)
        outside = (ratio < 1.0 - epsilon) | (ratio > 1.0 + epsilon_high)
        stats = {"clip_ratio/low_mean": low.float(), "clip_ratio/high_mean": high.float(),
                 "clip_ratio/region_mean": (low | high).float(), "clipfrac": outside.float(),
                 "approx_kl": (ratio - 1) - log_ratio, "ratio": ratio}
        stats = {key: (value * kept).sum() / episodes for key, value in stats.items()}
    return loss, stats
