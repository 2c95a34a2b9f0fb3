"""GRPO, Dr. GRPO, DAPO-style and RLOO fine-tuning of a language-model policy, readable top to bottom. No critic:
the baseline of an episode is the other episodes sampled for the same prompt.

One iteration, in the order it runs (the loop is :class:`~agents.lm.trainer.LMTrainer`'s; the steps are here):

1. rollout: ``num_envs / num_generations`` random training prompts, each sampled ``num_generations`` times in
   adjacent slots, decoded with the KV cache through the native vector env (:mod:`agents.lm.rollout`);
2. advantages: each episode's score minus its group's baseline (mean, or leave-one-out mean), optionally divided by
   the group's std; with dynamic sampling the groups of equal scores are masked out;
3. teacher-forced logprobs of the sampled tokens under the sampling policy (the ratio's denominator) and, when
   ``beta > 0``, under the frozen reference;
4. ``num_iterations`` passes of reshuffled minibatches: clipped surrogate (asymmetric bounds), k3 KL penalty,
   aggregated over tokens as ``loss_type`` says (``"cispo"``: capped, detached weights instead of the clip;
   ``importance_sampling_level="sequence"``: GSPO's ratio per episode; ``"rloo"``: one clipped ratio per episode, its
   KL penalty on the reward, as TRL's ``RLOOTrainer``);
5. the iteration's metrics; then (the loop's) logging and checkpoints.

Under ``accelerate launch`` / ``torchrun`` each process runs its share of the batch; group baselines, the loss
normalizers and the metrics are global (:mod:`agents.distributed`), so the parameters do not depend on the number of
processes (except with ``loss_type="bnpo"``, a token mean per micro-batch by definition).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.distributed import stratified_minibatches
from agents.grpo.config import GRPOConfig
from agents.grpo.losses import (aggregate_loss, cispo_token_loss, clipped_token_loss, group_advantages,
                                importance_log_ratio, importance_sampling_weights, informative_groups,
                                sequence_clipped_loss)
from agents.lm.batch import TokenBatch
from agents.lm.kl import kl_estimate
from agents.lm.policy import (TokenLogits, apply_lora, autocast, enable_gradient_checkpointing, entropy_from_logits,
                              entropy_from_logprobs, frozen_copy, gather_logprobs)
from agents.lm.rollout import Rollout, concatenate_rollouts
from agents.lm.stats import masked_mean
from agents.lm.trainer import LMTrainer, ScoredRollout, export_policy

PLOT_PANELS = (("reward", "mean episode reward"), ("completions/mean_length", "episode length (tokens)"),
               ("entropy", "entropy (per token)"))


def informative_count(rounds: list[ScoredRollout], num_generations: int) -> int:
    """Groups whose scores differ, over the global batches of ``rounds``."""
    return sum(int(informative_groups(scores, num_generations).sum()) // num_generations for _, scores in rounds)


@dataclass(kw_only=True)
class GRPOBatch(TokenBatch):
    """One rollout batch as the GRPO family trains on it: the episodes' tokens (:class:`~agents.lm.batch.TokenBatch`)
    and, ``(N, T)`` or ``(N,)``:

    :ivar mask: float loss mask: the agent's tokens of the episodes that are trained on (dynamic sampling's dropped
        groups are 0 everywhere).
    :ivar kept: ``(N,)`` 1 for the episodes that count, 0 for those dynamic sampling dropped.
    :ivar advantages: ``(N,)`` one per episode.
    :ivar sample_logprobs: the rollout's logprobs of its tokens (the cached decoding's).
    :ivar agent_mask: float, the agent's tokens of every episode (the entropy's mask).
    :ivar old_logprobs: the sampling policy's logprobs, teacher-forced: the ratio's denominator. None with one
        optimizer step per rollout (:attr:`GRPOTrainer.single_step`): the update's own forward, detached, is then.
    :ivar ref_logprobs: the frozen reference's logprobs, or None (``beta`` = 0: no reference).
    """

    mask: torch.Tensor
    kept: torch.Tensor
    advantages: torch.Tensor
    sample_logprobs: torch.Tensor
    agent_mask: torch.Tensor
    old_logprobs: torch.Tensor | None
    ref_logprobs: torch.Tensor | None


class GRPOTrainer(LMTrainer):
    """Owns the env, the policy, the optional frozen reference, the optimizer and the run directory.

    :param config: every setting (see :class:`GRPOConfig`).
    :param model: an in-memory Hugging Face LM to fine-tune instead of loading ``config.model``.
    """

    env_steps_metric, reward_metric, kl_metric = "env_steps", "reward", "kl"
    progress_metrics = (("reward", "reward", ".3f"), ("entropy", "entropy", ".2f"))
    plot_panels = PLOT_PANELS

    def __init__(self, config: GRPOConfig, model: nn.Module | None = None) -> None:
        self.config = config
        lm = self._start(model)

        # The KL reference (the initial policy) costs a model copy and a forward per batch: only when beta > 0.
        self.reference = self.dist.prepare(TokenLogits(frozen_copy(lm))) if config.beta > 0 else None
        self.lm = apply_lora(lm, config.lora_r, config.lora_alpha) if config.lora_r > 0 else lm
        self.lm.eval()  # dropout is off anyway; rollout and update run the very same computation
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(self.lm)
        # Gradient passes go through self.model (the LM's token logits as a forward, wrapped by DDP or sharded by
        # FSDP2); decoding and scoring use self.lm, the same parameters.
        self.model = self.dist.prepare(TokenLogits(self.lm))
        self.optimizer = self._optimizer([p for p in self.lm.parameters() if p.requires_grad])
        self._start_run_state()

    @property
    def policy_lm(self) -> nn.Module:
        return self.lm

    def rollout_modules(self) -> tuple[nn.Module | None, ...]:
        return self.model, self.reference

    @property
    def progress_label(self) -> str:
        return self.config.advantage_estimator.upper()

    # ---------------------------------------------------------------- one iteration
    def collect_rollouts(self) -> list[ScoredRollout]:
        """1. Rollout: each drawn prompt num_generations times, in adjacent slots; this process runs its rows of the
        batch. With dynamic sampling, further batches of fresh prompts until enough groups carry a signal."""
        config = self.config
        rounds = [self.sample_round(0)]
        while config.dynamic_sampling and len(rounds) < config.max_sampling_rounds \
                and informative_count(rounds, config.num_generations) < config.num_envs // config.num_generations:
            rounds.append(self.sample_round(len(rounds)))
        return rounds

    def train_on(self, rounds: list[ScoredRollout]) -> dict[str, float]:
        config = self.config
        rollout, scores = rounds[0] if len(rounds) == 1 else self.informative_batch(rounds)
        # The loss mask: the agent's tokens (a multi-turn env's user turns are attended to, never trained on).
        mask = rollout.agent_mask.float()

        # 2. Advantages from the group's scores (every process's: a group may run on two); with dynamic sampling
        #    only the groups that carry a signal are trained on.
        advantages = group_advantages(scores, config.num_generations, config.advantage_estimator,
                                      config.scale_rewards)[self.rows]
        informative = informative_groups(scores, config.num_generations)
        keep = (informative if config.dynamic_sampling else torch.ones_like(informative))[self.rows]

        # 3. Logprobs under the sampling policy (and the reference), teacher-forced exactly as the update does.
        #    With one optimizer step per rollout the update's own forward, detached, gives the policy's (TRL's
        #    shortcut, ratio 1 by construction): only the reference, if any, is scored here.
        trained = int(self.dist.sum(keep.sum()))
        reuse = self.single_step and trained > 0
        old_logprobs, ref_logprobs, entropy = self.score_tokens(rollout, policy=not reuse)

        # 4. Updates: the dropped episodes' tokens are masked out of every loss and count.
        batch = GRPOBatch(**vars(rollout.tokens()), mask=mask * keep.unsqueeze(1), kept=keep.float(),
                          advantages=advantages, sample_logprobs=rollout.sample_logprobs, agent_mask=mask,
                          old_logprobs=old_logprobs, ref_logprobs=ref_logprobs)
        update_stats = self.update(batch) if trained else {}
        entropy_mean = update_stats.pop("entropy") if reuse else \
            float(masked_mean(entropy, mask, all_reduce=self.dist.sum))

        # 5. Metrics (TRL's names) over the global batch of the first round (the policy's samples on fresh prompts,
        #    before any selection).
        sampled, sampled_scores = rounds[0]
        lengths, clipped = self.dist.gather(torch.stack([sampled.agent_mask.sum(dim=1).float(),
                                                         (~sampled.ended_with_eos).float()], dim=1)).T
        group_std = sampled_scores.view(-1, config.num_generations).std(dim=1)
        return {
            "reward": float(sampled_scores.mean()),
            "reward_std": float(group_std.mean()),
            "frac_reward_zero_std": float((~informative_groups(sampled_scores, config.num_generations))
                                          .float().mean()),
            **({"sampling_rounds": len(rounds)} if config.dynamic_sampling else {}),
            "completions/mean_length": float(lengths.mean()),
            "completions/clipped_ratio": float(clipped.mean()),
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "entropy": entropy_mean,
            "num_episodes_trained": trained,
            **update_stats,
        }

    # ---------------------------------------------------------------- steps of an iteration
    def sample_round(self, sampling_round: int) -> ScoredRollout:
        """One rollout batch on fresh random training prompts (``num_envs / num_generations`` of them, each sampled
        ``num_generations`` times; this process's rows) and the global batch's scores ``(num_envs,)``."""
        return self.sample_rollout(self.config.num_generations, sampling_round)

    def informative_batch(self, rounds: list[ScoredRollout]) -> ScoredRollout:
        """DAPO's refilled batch from several rounds: the first ``num_envs / num_generations`` groups whose scores
        differ, in the order they were sampled, completed (if the rounds ran out first) by signal-free groups, which
        ``keep`` then masks out. Returns this process's rows of it and the global batch's scores. Every process
        picks from the global batch, so the batch, hence the run, is the same on any number of processes."""
        config = self.config
        size = config.num_generations
        scores = torch.cat([round_scores for _, round_scores in rounds])
        signal = informative_groups(scores, size).view(-1, size)[:, 0]
        groups = torch.cat([signal.nonzero(), (~signal).nonzero()]).flatten()[:config.num_envs // size]
        rows = (groups.unsqueeze(1) * size + torch.arange(size, device=groups.device)).flatten()
        pad_id, left_padded_prompt = self.task.pad_token_id, self.task.observation_mode == "causal"
        combined = concatenate_rollouts([self.dist.gather_rollout(rollout, pad_id, left_padded_prompt)
                                         for rollout, _ in rounds], pad_id, left_padded_prompt)
        return ScoredRollout(combined.select(rows[self.rows].to(combined.generated_ids.device)), scores[rows])

    def action_logits(self, model: nn.Module, batch: TokenBatch, truncated: bool = True) -> torch.Tensor:
        """Float32 logits ``(N, T, V)`` that predicted each generated token of ``batch``, teacher-forced through
        ``model`` (a :class:`~agents.lm.policy.TokenLogits`, possibly wrapped): the trunk under autocast, the head in
        float32 (:func:`textenvs.decoding.token_logits`), over the distribution sampled (``truncated``) or the env's
        legal actions (the reference's; :meth:`~agents.lm.trainer.LMTrainer.sampled_logits`)."""
        with autocast(self.device, self.config.mixed_precision):
            raw_logits = model(batch.prompt_ids, batch.prompt_mask, batch.generated_ids, batch.generated_mask)
        return self.sampled_logits(raw_logits, batch, truncated)

    @property
    def single_step(self) -> bool:
        """One optimizer step per rollout (one pass, one minibatch): the update's first forward is then the sampling
        policy's, and the scoring pass of the policy is not needed."""
        return self.config.num_iterations == 1 and self.config.num_minibatches == 1

    @torch.no_grad()
    def score_tokens(self, rollout: Rollout, policy: bool = True
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Logprobs of the rollout's tokens under the policy (None with ``policy=False``) and the reference (None
        without one), and the policy's entropies (None with ``policy=False``), ``(N, T)``, in chunks of a
        micro-batch."""
        config = self.config
        size = len(rollout)
        chunk_size = size // (config.num_minibatches * config.gradient_accumulation_steps)
        parts: list[tuple[torch.Tensor, ...]] = []
        if not policy and self.reference is None:
            return None, None, None
        for start in range(0, size, chunk_size):
            chunk = rollout.tokens().rows(slice(start, start + chunk_size))
            tokens = chunk.generated_ids
            empty = torch.zeros_like(tokens, dtype=torch.float32)
            ref = gather_logprobs(self.action_logits(self.reference, chunk, truncated=False), tokens) \
                if self.reference is not None else empty
            if policy:
                logits = self.action_logits(self.model, chunk)
                parts.append((gather_logprobs(logits, tokens), ref, entropy_from_logits(logits)))
            else:
                parts.append((empty, ref, empty))
        mask = rollout.agent_mask.float()
        logprobs, ref_logprobs, entropy = (torch.cat(part) * mask for part in zip(*parts))
        return (logprobs if policy else None, ref_logprobs if self.reference is not None else None,
                entropy if policy else None)

    def update(self, batch: GRPOBatch) -> dict[str, float]:
        """``num_iterations`` passes over the batch in reshuffled minibatches, one optimizer step each
        (:meth:`~agents.lm.trainer.LMTrainer.gradient_step`). Losses and diagnostics are each process's and
        micro-batch's shares of the global minibatch's: token means are divided by the global minibatch's token count,
        episode means by its count of kept episodes, as PPO's. A minibatch that dynamic sampling left without
        episodes takes no step.

        Without ``batch.old_logprobs`` (one optimizer step per rollout: :attr:`single_step`) the ratio's denominator
        is the update's own logprobs, detached (ratio 1, the same gradient as with a scoring pass):
        ``first_ratio_deviation`` then compares the update's logprobs with the rollout's (cached decoding vs teacher
        forcing), and the stats include the policy's mean ``entropy`` over ``agent_mask`` (from the same forward).

        With ``loss_type="rloo"`` and ``beta > 0`` the KL is not a loss term but TRL's RLOO reward penalty, applied
        to the advantages before the first pass (:meth:`penalize_rewards_with_kl`)."""
        config = self.config
        totals: dict[str, list[float]] = {}
        self.first_ratio_deviation: float | None = None
        reward_kl = None
        if config.loss_type == "rloo" and config.beta > 0:
            batch, reward_kl = self.penalize_rewards_with_kl(batch)
        self.entropy_totals = torch.zeros(2, device=self.device)
        # dapo / cispo normalize every step by the batch's mean tokens per step (TRL 1.16), not the step's own count.
        step_tokens = (self.dist.sum(batch.mask.sum()) / config.num_minibatches).clamp(min=1)
        # Gradient checkpointing acts in train mode only (dropout is off: the computation is eval mode's).
        self.model.train(config.gradient_checkpointing)
        for _ in range(config.num_iterations):
            for indices in stratified_minibatches(config.num_envs, config.num_minibatches, self.rng, self.rows):
                minibatch = batch.select(torch.as_tensor(indices, device=batch.generated_ids.device))
                tokens, episodes = self.dist.sum(torch.stack([minibatch.mask.sum(), minibatch.kept.sum()]))
                if episodes == 0:
                    continue
                stats = self.gradient_step(minibatch, lambda micro: self.micro_batch_loss(
                    micro, tokens.clamp(min=1), episodes, step_tokens), "grad_norm")
                for key, value in stats.items():
                    totals.setdefault(key, []).append(value)
        self.model.eval()
        stats = {key: float(np.mean(values)) for key, values in totals.items()}
        # Max |ratio - 1| on the first micro-batch: not ~0 would mean rollout and update compute different policies.
        stats["first_ratio_deviation"] = self.first_ratio_deviation
        if batch.old_logprobs is None:
            entropy_sum, entropy_count = self.dist.sum(self.entropy_totals)
            stats["entropy"] = float(entropy_sum / entropy_count.clamp(min=1))
        if reward_kl is not None:
            stats["kl"] = reward_kl
        return stats

    def micro_batch_loss(self, micro: GRPOBatch, tokens: torch.Tensor, episodes: torch.Tensor,
                         step_tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A micro-batch's share of its minibatch's loss and diagnostics (:meth:`policy_loss`, ``loss`` last), from
        one forward of the policy; with one step per rollout that forward, detached, is also the ratio's denominator
        and gives the entropy."""
        logits = self.action_logits(self.model, micro)
        all_logprobs = torch.log_softmax(logits, dim=-1)  # once, for the tokens and the entropy
        token_logprobs = all_logprobs.gather(-1, micro.generated_ids.unsqueeze(-1)).squeeze(-1)
        rollout_logprobs = micro.old_logprobs
        if micro.old_logprobs is None:
            rollout_logprobs = micro.sample_logprobs
            micro = replace(micro, old_logprobs=token_logprobs.detach() * micro.agent_mask)
            with torch.no_grad():
                self.entropy_totals += torch.stack([(entropy_from_logprobs(all_logprobs) * micro.agent_mask).sum(),
                                                    micro.agent_mask.sum()])
        # Off the loss mask (padding, a multi-turn env's user turns) the rollout's logprobs stand in: no gradient
        # there, and no exp() overflow in the ratio or the k3 KL of a very unlikely token.
        logprobs = torch.where(micro.mask.bool(), token_logprobs, micro.old_logprobs)
        loss, stats = self.policy_loss(micro, logprobs, tokens, episodes, step_tokens)
        if self.first_ratio_deviation is None:
            self.first_ratio_deviation = self.ratio_deviation(logprobs, rollout_logprobs, micro.mask)
        stats["loss"] = loss.detach()
        return loss, stats

    def policy_loss(self, micro: GRPOBatch, logprobs: torch.Tensor, tokens: torch.Tensor,
                    episodes: torch.Tensor, step_tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A micro-batch's share of its minibatch's loss and diagnostics (the minibatch holds ``tokens`` valid tokens
        and ``episodes`` kept episodes over all processes; ``step_tokens`` is the rollout batch's valid tokens per
        optimizer step of a pass, the dapo / cispo normalizer): RLOO's sequence-level surrogate for
        ``loss_type="rloo"``; otherwise the per-token loss (CISPO's, or the clipped surrogate; token or sequence
        ratios as ``importance_sampling_level`` says), reweighted for a rollout/trainer mismatch when
        ``importance_sampling_correction`` says so, plus ``beta`` times the k3 KL to the reference, aggregated as
        ``loss_type`` says."""
        config = self.config
        mask, old_logprobs, advantages = micro.mask, micro.old_logprobs, micro.advantages
        if config.loss_type == "rloo":
            return sequence_clipped_loss(logprobs, old_logprobs, advantages, mask, micro.kept, config.epsilon,
                                         config.clip_high, episodes)
        if config.loss_type == "cispo":
            per_token_loss, stats = cispo_token_loss(logprobs, old_logprobs, advantages, mask, config.clip_high,
                                                     tokens, config.importance_sampling_level)
        else:
            per_token_loss, stats = clipped_token_loss(logprobs, old_logprobs, advantages, mask, config.epsilon,
                                                       config.clip_high, tokens, config.importance_sampling_level)
        if config.importance_sampling_correction != "none":
            # Rollout/trainer mismatch (another decoding engine or precision): TRL's truncated / masked IS weights.
            weights = importance_sampling_weights(old_logprobs, micro.sample_logprobs, mask,
                                                  config.importance_sampling_correction,
                                                  config.importance_sampling_max, config.importance_sampling_min)
            per_token_loss = per_token_loss * weights
            stats["importance_sampling/ratio_mean"] = masked_mean(weights.expand_as(mask), mask, tokens)
        if config.beta > 0:
            kl = kl_estimate(logprobs, micro.ref_logprobs, "k3")
            if config.use_bias_correction_kl:
                # The k3 term weighted by the importance ratio, gradient through it (DeepSeek-V3.2, TRL's default).
                kl = kl * torch.exp(importance_log_ratio(logprobs, old_logprobs, mask,
                                                         config.importance_sampling_level))
            per_token_loss = per_token_loss + config.beta * kl
            stats["kl"] = masked_mean(kl.detach(), mask, tokens)
        loss = aggregate_loss(per_token_loss, mask, config.loss_type, self.task.max_new_tokens, step_tokens,
                              episodes, micro.kept)
        return loss, stats

    @torch.no_grad()
    def penalize_rewards_with_kl(self, batch: GRPOBatch) -> tuple[GRPOBatch, float]:
        """TRL's RLOO KL penalty: each episode's reward minus ``beta`` times its summed k1, ``Σ_t (log π_old -
        log π_ref)`` under the sampling policy (the rollout's logprobs when the update reuses its own forward), before
        the baseline. The baseline is linear in the rewards and ``scale_rewards`` is "none" (the config insists), so
        the new advantages are the given ones minus ``beta`` times the baseline-subtracted episode KLs.

        :returns: ``batch`` with those advantages, and the mean k1 per kept token (the ``kl`` metric, TRL's)."""
        config = self.config
        sampled = batch.sample_logprobs if batch.old_logprobs is None else batch.old_logprobs
        token_kl = kl_estimate(sampled, batch.ref_logprobs, "k1") * batch.mask
        # Every process's episode KLs, in rank order: a group's episodes may run on two processes.
        episode_kl = self.dist.gather(token_kl.sum(dim=1))
        kl_advantages = group_advantages(episode_kl, config.num_generations, config.advantage_estimator, "none")
        own_rows = kl_advantages.view(self.dist.world_size, -1)[self.dist.rank]
        kl_sum, kl_tokens = self.dist.sum(torch.stack([token_kl.sum(), batch.mask.sum()]))
        return replace(batch, advantages=batch.advantages - config.beta * own_rows), \
            float(kl_sum / kl_tokens.clamp(min=1))

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        """Weights, optimizer and its step count, random states, iteration and metrics (the reference is the initial
        model, rebuilt on resume). Written atomically; older checkpoints beyond ``keep_checkpoints`` go.

        Called on every process (the full states are gathered from all); the main process writes. Every piece of
        state is the same on all processes, so the checkpoint resumes on any number of them."""
        policy, optimizer = self.dist.state_dict(self.lm, self.optimizer)
        return self._write_checkpoint({"policy": policy, "optimizer": optimizer})

    def export_model(self, directory: Path) -> Path:
        """The policy as a plain Hugging Face checkpoint (LoRA merged) with the env's tokenizer beside it."""
        return export_policy(self.lm, self.tokenizer, self.config, directory, "grpo_config.json", self.dist)

    def load_checkpoint(self, path: Path) -> None:
        state = self._read_checkpoint(path)
        self.dist.load_state_dict(self.lm, state["policy"], self.optimizer, state["optimizer"])
        self._restore_run_state(state)
