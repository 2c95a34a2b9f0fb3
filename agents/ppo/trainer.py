"""PPO fine-tuning of a language-model policy on a textenvs environment, readable top to bottom.

One iteration, in the order it runs (the loop is :class:`~agents.lm.trainer.LMTrainer`'s; the steps are here):

1. rollout (:meth:`PPOTrainer.collect_rollouts`): B episodes on random training prompts, decoded with the KV cache
   through the native vector env;
2. teacher-forced logprobs of the sampled tokens under the policy and the frozen reference, and the values;
3. rewards: the env's score at its step, minus the per-token KL penalty;
4. advantages: GAE(γ, λ), whitened;
5. several epochs of reshuffled minibatches: clipped policy loss, clipped value loss, entropy bonus (stopping early
   when the approximate KL to the rollout policy exceeds ``target_kl``);
6. KL controller update and the iteration's metrics; then (the loop's) logging and checkpoints.

Under ``accelerate launch`` / ``torchrun`` each process runs its share of the batch and every statistic of the batch
is global (:mod:`agents.distributed`): the parameters do not depend on the number of processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.lm.kl import kl_estimate, make_kl_controller
from agents.lm.losses import leave_one_out_baseline
from agents.lm.policy import (ActorCritic, autocast, enable_gradient_checkpointing, entropy_from_logprobs,
                              frozen_copy, gather_logprobs)
from agents.lm.rollout import Rollout
from agents.lm.stats import explained_variance, masked_mean
from agents.lm.trainer import (CHECKPOINT_PATTERN, LMTrainer, RunProgress, ScoredRollout, export_policy,
                               latest_checkpoint, make_env, random_states, restore_random_states,
                               scheduled_learning_rate, seed_everything)
from agents.ppo.buffer import RolloutBuffer, RunningMoments
from agents.ppo.config import PPOConfig
from agents.ppo.losses import policy_loss, value_loss
from textenvs.decoding import token_logits

__all__ = [  # the shared loop's names stay importable from here (agents.lm.trainer is their home)
    "CHECKPOINT_PATTERN", "LMTrainer", "PPOTrainer", "RunProgress", "export_policy", "latest_checkpoint", "make_env",
    "random_states", "restore_random_states", "scheduled_learning_rate", "seed_everything"]


class PPOTrainer(LMTrainer):
    """Owns the env, the policy/value model, the frozen reference, the optimizer and the run directory.

    :param config: every setting (see :class:`PPOConfig`).
    :param model: an in-memory Hugging Face LM to fine-tune instead of loading ``config.model``.
    """

    env_steps_metric, reward_metric, kl_metric = "charts/env_steps", "charts/reward", "objective/kl"
    progress_metrics = (("reward", "charts/reward", ".3f"), ("kl", "objective/kl", ".3f"),
                        ("entropy", "policy/entropy", ".2f"))
    update_metrics = ("losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clipfrac",
                      "losses/value_clipfrac", "policy/ratio_mean")
    """the per-minibatch diagnostics an update logs (their means over its minibatches), in this order"""

    def __init__(self, config: PPOConfig, model: nn.Module | None = None) -> None:
        self.config = config
        # A separate value trunk has weights its loss never uses, so DDP must allow unused ones.
        lm = self._start(model, find_unused_parameters=config.value_model == "separate")
        vocab_size = self.task.vocab_size

        # The frozen reference is the initial policy; eval mode everywhere (dropout is off anyway), so the policy,
        # the reference and the rollouts all run the very same computation.
        self.reference = self.dist.prepare(frozen_copy(lm))
        self.policy = ActorCritic(lm, vocab_size, config.value_model, config.lora_r, config.lora_alpha)
        self.policy.eval()
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(self.policy)
        # Gradient passes go through the wrapped model (DDP; FSDP2 shards self.policy in place); decoding and scoring
        # use self.policy, the same parameters.
        self.model = self.dist.prepare(self.policy)

        trainable = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = self._optimizer(trainable)
        self.kl_controller = make_kl_controller(config.kl_coef, config.adaptive_kl_target, config.adaptive_kl_horizon)
        self.reward_moments = RunningMoments()
        self._start_run_state()

    @property
    def policy_lm(self) -> nn.Module:
        return self.policy.lm

    def rollout_modules(self) -> tuple[nn.Module | None, ...]:
        return self.policy, self.reference

    # ---------------------------------------------------------------- one iteration
    def collect_rollouts(self) -> list[ScoredRollout]:
        """1. Rollout: B episodes on random training prompts (each drawn prompt ``samples_per_prompt`` times, in
        adjacent slots); with ``action_mask="nlpo"`` each step is restricted to the reference's nucleus."""
        config = self.config
        nlpo_top_p = config.nlpo_top_p if config.action_mask == "nlpo" else 1.0
        return [self.sample_rollout(config.samples_per_prompt, reference=self.reference, nlpo_top_p=nlpo_top_p)]

    def train_on(self, rounds: list[ScoredRollout]) -> dict[str, float]:
        config = self.config
        (rollout, scores), = rounds
        # Losses, entropy, KL and whitening average over the agent's tokens (a multi-turn env's user turns are
        # context, attended to but never trained on); generated_mask stays the attention mask.
        mask = rollout.agent_mask.float()

        # 2. Logprobs (policy and reference) and values of the sampled tokens, teacher-forced in one pass each.
        logprobs, ref_logprobs, values, entropy = self.score_tokens(rollout)

        # 3. Rewards: the env's (normalized) score where it arrives, minus the KL penalty at every token.
        env_rewards = self.normalize_rewards(rollout, scores)
        kl = kl_estimate(logprobs, ref_logprobs, config.kl_estimator) * mask
        rewards = env_rewards - self.kl_controller.value * kl

        # 4. Advantages: GAE over each episode's agent tokens (the state after its last token is worth 0).
        buffer = RolloutBuffer(**vars(rollout.tokens()), logprobs=logprobs, ref_logprobs=ref_logprobs,
                               values=values, rewards=rewards, agent_mask=mask)
        buffer.compute_advantages(config.gamma, config.gae_lambda, config.whiten_advantages, self.dist.sum)

        # 5. PPO epochs over reshuffled minibatches.
        update_stats = self.update(buffer)

        # 6. KL controller and metrics (episode statistics over the global batch).
        episode_scores, episode_kl, lengths, eos, rlhf_rewards = self.dist.gather(torch.stack([
            rollout.env_rewards.sum(dim=1), kl.sum(dim=1), mask.sum(dim=1), rollout.ended_with_eos.float(),
            (rewards * mask).sum(dim=1)], dim=1)).T
        self.kl_controller.update(float(episode_kl.mean()), config.num_envs)
        return {
            "charts/reward": float(episode_scores.mean()),
            "charts/episode_length": float(lengths.mean()),
            "charts/eos_rate": float(eos.mean()),
            "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
            "objective/kl": float(episode_kl.mean()),
            "objective/kl_coef": self.kl_controller.value,
            "objective/rlhf_reward": float(rlhf_rewards.mean()),
            "policy/entropy": float(masked_mean(entropy, mask, all_reduce=self.dist.sum)),
            "losses/explained_variance": explained_variance(values, buffer.returns, mask, self.dist.sum),
            **update_stats,
        }

    # ---------------------------------------------------------------- steps of an iteration
    @torch.no_grad()
    def score_tokens(self, rollout: Rollout) -> tuple[torch.Tensor, ...]:
        """Teacher-forced logprobs (policy, reference), values and entropies ``(B, T)`` of the rollout's tokens,
        computed exactly as the update computes them (so the first PPO ratio is 1).

        The policy's are those of the distribution sampled (over the top-k / top-p / NLPO support when sampling was
        truncated); the reference's are of its own distribution over the env's legal actions, so the KL penalty sees
        the policy's truncation move its support away from the reference (with top-k 1 the policy's logprob is 0
        and the KL is the reference's surprise at the chosen token)."""
        config = self.config
        size = len(rollout)
        minibatch = size // config.num_minibatches
        outputs: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, size, minibatch):
            chunk = rollout.tokens().rows(slice(start, start + minibatch))
            inputs = (chunk.prompt_ids, chunk.prompt_mask, chunk.generated_ids, chunk.generated_mask)
            with autocast(self.device, config.mixed_precision), self.dist.gathered(self.reference):
                raw_logits, values = self.policy(*inputs)
                ref_raw_logits = token_logits(self.reference, *inputs)
            logits = self.sampled_logits(raw_logits, chunk)
            ref_logits = self.sampled_logits(ref_raw_logits, chunk, truncated=False)
            all_logprobs = torch.log_softmax(logits, dim=-1)  # once, for the chosen tokens and the entropy
            outputs.append((all_logprobs.gather(-1, chunk.generated_ids.unsqueeze(-1)).squeeze(-1),
                            gather_logprobs(ref_logits, chunk.generated_ids), values.float(),
                            entropy_from_logprobs(all_logprobs)))
        mask = rollout.agent_mask.float()
        return tuple(torch.cat(parts) * mask for parts in zip(*outputs))

    def normalize_rewards(self, rollout: Rollout, scores: torch.Tensor) -> torch.Tensor:
        """The env's per-step rewards, scaled as configured, with the missing-EOS penalty on the last token.

        :param scores: the global batch's episode scores (every process's, :class:`ScoredRollout`): batch statistics
            and group baselines are over all of them."""
        config = self.config
        env_rewards = rollout.env_rewards.clone()
        own_scores = scores[self.rows]
        # Score shifts and penalties go on each episode's last agent token (where a terminal reward arrives).
        columns = torch.arange(rollout.agent_mask.shape[1], device=own_scores.device)
        last = (torch.arange(len(own_scores), device=own_scores.device), (columns * rollout.agent_mask).argmax(dim=1))
        if config.reward_normalization == "running":
            self.reward_moments.update(scores.cpu().numpy())
            env_rewards = env_rewards / max(self.reward_moments.std, 1e-8)
        elif config.reward_normalization == "batch":
            env_rewards[last] -= scores.mean()
            env_rewards = env_rewards / (scores.std() + 1e-8)
        elif config.reward_normalization == "group":
            baseline = leave_one_out_baseline(scores.view(-1, config.samples_per_prompt))
            env_rewards[last] -= baseline.reshape(-1)[self.rows]
        if config.missing_eos_penalty is not None:
            env_rewards[last] -= config.missing_eos_penalty * (~rollout.ended_with_eos).float()
        return env_rewards

    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """``update_epochs`` passes of reshuffled minibatches, one optimizer step per minibatch
        (:meth:`~agents.lm.trainer.LMTrainer.gradient_step`); stops after an epoch whose last minibatch's approximate
        KL exceeds ``target_kl`` (CleanRL's early stopping)."""
        config = self.config
        totals: dict[str, list[float]] = {key: [] for key in (*self.update_metrics, "losses/grad_norm")}
        self.first_ratio_deviation: float | None = None
        epochs = 0
        # Gradient checkpointing acts in train mode only (dropout is off: the computation is eval mode's).
        self.policy.train(config.gradient_checkpointing)
        for epoch in range(config.update_epochs):
            for minibatch in buffer.minibatches(config.num_minibatches, self.rng, config.num_envs, self.rows):
                # Every loss is a token mean over the whole global minibatch (its agent tokens, on all processes).
                tokens = self.dist.sum(minibatch.agent_mask.sum()).clamp(min=1)
                stats = self.gradient_step(minibatch, lambda micro: self.micro_batch_loss(micro, tokens),
                                           "losses/grad_norm")
                for key, value in stats.items():
                    totals[key].append(value)
            epochs += 1
            if config.target_kl is not None and stats["losses/approx_kl"] > config.target_kl:
                break
        self.policy.eval()
        summary = {key: float(np.mean(values)) for key, values in totals.items()}
        # Max |ratio - 1| on the first micro-batch: not ~0 would mean rollout and update compute different policies.
        summary["policy/first_ratio_deviation"] = self.first_ratio_deviation
        summary["losses/update_epochs"] = epochs
        return summary

    def micro_batch_loss(self, batch: RolloutBuffer, tokens: torch.Tensor
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A micro-batch's share of its minibatch's PPO loss (``tokens``: the global minibatch's agent tokens) and of
        the diagnostics in :attr:`update_metrics`."""
        config = self.config
        mask = batch.agent_mask
        with autocast(self.device, config.mixed_precision):
            raw_logits, values = self.model(batch.prompt_ids, batch.prompt_mask, batch.generated_ids,
                                            batch.generated_mask.long())
        all_logprobs = torch.log_softmax(self.sampled_logits(raw_logits, batch), dim=-1)  # for ratio and entropy
        # Off the loss mask (padding, a multi-turn env's user turns) the rollout's own logprobs and values stand in:
        # no gradient there, and no exp() overflow of a very unlikely token.
        masked = mask.bool()
        logprobs = torch.where(masked, all_logprobs.gather(-1, batch.generated_ids.unsqueeze(-1)).squeeze(-1),
                               batch.logprobs)
        values = torch.where(masked, values, batch.values)
        # Clipped surrogate policy loss and clipped value loss, entropy bonus.
        pg_loss, pg_stats = policy_loss(logprobs, batch.logprobs, batch.advantages, mask, config.clip_coef, tokens)
        v_loss, v_stats = value_loss(values, batch.values, batch.returns, mask, config.clip_value, tokens)
        # Without an entropy bonus the entropy is only logged: no gradient path through it.
        with torch.set_grad_enabled(config.entropy_coef != 0):
            entropy = masked_mean(entropy_from_logprobs(all_logprobs), mask, tokens)
        if self.first_ratio_deviation is None:
            self.first_ratio_deviation = self.ratio_deviation(logprobs, batch.logprobs, mask)
        loss = pg_loss + config.value_coef * v_loss - config.entropy_coef * entropy
        return loss, dict(zip(self.update_metrics, (
            pg_loss.detach(), v_loss.detach(), entropy.detach(), pg_stats["approx_kl"], pg_stats["clipfrac"],
            v_stats["value_clipfrac"], pg_stats["ratio"])))

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        """Everything needed to continue exactly: weights, optimizer and its step count, KL controller, reward
        statistics, random states, iteration and metrics. Written atomically; older checkpoints beyond
        ``keep_checkpoints`` go.

        Called on every process (the full states are gathered from all); the main process writes. Every piece of
        state is the same on all processes or global, so the checkpoint resumes on any number of them."""
        policy, optimizer = self.dist.state_dict(self.policy, self.optimizer)
        reference, _ = self.dist.state_dict(self.reference)
        return self._write_checkpoint({
            "policy": policy, "reference": reference, "optimizer": optimizer,
            "kl_controller": self.kl_controller.state_dict(), "reward_moments": self.reward_moments.state_dict()})

    def load_checkpoint(self, path: Path) -> None:
        state = self._read_checkpoint(path)
        self.dist.load_state_dict(self.policy, state["policy"], self.optimizer, state["optimizer"])
        self.dist.load_state_dict(self.reference, state["reference"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.reward_moments.load_state_dict(state["reward_moments"])
        self._restore_run_state(state)

    def export_model(self, directory: Path) -> Path:
        """The policy as a plain Hugging Face checkpoint (LoRA merged) with the env's tokenizer beside it."""
        return export_policy(self.policy.lm, self.tokenizer, self.config, directory, "ppo_config.json", self.dist)
