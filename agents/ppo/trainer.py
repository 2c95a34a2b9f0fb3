"""PPO fine-tuning of a language-model policy on a textenvs environment, readable top to bottom.

One iteration, in the order it runs (:meth:`PPOTrainer.train`):

1. rollout: B episodes on random training prompts, decoded with the KV cache through the native vector env;
2. teacher-forced logprobs of the sampled tokens under the policy and the frozen reference, and the values;
3. rewards: the env's score at its step, minus the per-token KL penalty;
4. advantages: GAE(γ, λ), whitened;
5. several epochs of reshuffled minibatches: clipped policy loss, clipped value loss, entropy bonus (stopping early
   when the approximate KL to the rollout policy exceeds ``target_kl``);
6. KL controller update, logging (progress bar, JSONL, TensorBoard, plot) and checkpoints.

Under ``accelerate launch`` / ``torchrun`` each process runs its share of the batch and every statistic of the batch
is global (:mod:`agents.distributed`): the parameters do not depend on the number of processes.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from agents.distributed import Distributed, episode_seed
from agents.models import (env_kwargs_for_model, float32_master_weights, load_pretrained, observation_mode,
                           resolve_model_source)
from agents.ppo.buffer import RolloutBuffer, RunningMoments, trim_prompt
from agents.ppo.config import PPOConfig
from agents.ppo.kl import kl_estimate, make_kl_controller
from agents.ppo.losses import explained_variance, masked_mean, policy_loss, value_loss
from agents.ppo.policy import (ActorCritic, autocast, disable_dropout, enable_gradient_checkpointing,
                               entropy_from_logprobs, frozen_copy, gather_logprobs)
from agents.ppo.rollout import Rollout, collect_rollout
from agents.run_logger import RunLogger
from textenvs.decoding import fuse_activations, policy_logits, sampling_mask, token_logits

CHECKPOINT_PATTERN = "iteration_*.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_env(config: PPOConfig, lm: nn.Module, num_envs: int | None = None) -> gym.vector.VectorEnv:
    """The native vector env for ``lm`` with ``num_envs`` sub-envs (default ``config.num_envs``): its observation
    layout matches the model, and a model directory that holds a tokenizer provides the env's tokenizer (so token ids
    mean the same to both)."""
    env_kwargs = env_kwargs_for_model(str(getattr(lm, "name_or_path", "") or ""), config.env_kwargs)
    mode = observation_mode(lm)
    if env_kwargs.setdefault("observation_mode", mode) != mode:
        raise ValueError(f"env_kwargs observation_mode={env_kwargs['observation_mode']!r} does not fit a "
                         f"{type(lm).__name__} (needs {mode!r}).")
    # Rollouts run one episode per sub-env: no autoreset, so finished episodes are neither restarted nor scored again.
    env_kwargs["autoreset_mode"] = AutoresetMode.DISABLED
    return gym.make_vec(config.env, num_envs=num_envs or config.num_envs, vectorization_mode="vector_entry_point",
                        **env_kwargs)


class LMTrainer:
    """What the PPO and GRPO trainers share: the launch and model setup (:meth:`_start`), the run state and its
    resume (:meth:`_start_run_state`) and :meth:`train`. A subclass defines ``_train`` and ``load_checkpoint``."""

    config: Any

    def _start(self, model: nn.Module | None, find_unused_parameters: bool = False) -> nn.Module:
        """Join the processes of the launch, seed, load the LM (dropout off) and make this process's env; returns
        the LM. Bad splits and differing configs fail here, before any model is loaded."""
        config = self.config
        # The processes of a launch (one without a launcher).
        self.dist = Distributed(config.device, config.strategy, find_unused_parameters=find_unused_parameters)
        self.dist.check_batch(config.num_envs, config.num_minibatches, config.gradient_accumulation_steps)
        self.dist.check_same_config(config.to_dict())
        seed_everything(config.seed)
        self.device = self.dist.device
        lm = load_pretrained(model if model is not None else resolve_model_source(config.env, config.model))
        float32_master_weights(lm)  # a bf16 checkpoint trains in float32 master weights, under autocast
        disable_dropout(lm)
        if config.fused_activations:
            fuse_activations(lm)  # before the reference and value copies are made, so they run the same kernels
        # This process's episodes: its rows of the global batch of num_envs.
        self.rows = self.dist.shard(config.num_envs)
        self.env = make_env(config, lm, num_envs=config.num_envs // self.dist.world_size)
        self.task = self.env.unwrapped.task
        self.tokenizer = self.task.tokenizer
        return lm

    def _optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.AdamW:
        """AdamW over ``parameters`` (eps 1e-5), fused into one kernel per step where torch has one (CPU and CUDA
        tensors, not FSDP2's sharded ones): the same update as the per-parameter loop up to float rounding, ~4x
        cheaper on a CPU, and what the transformers Trainer (TRL) uses by default."""
        fused = not any(hasattr(parameter, "full_tensor") for parameter in parameters)
        return torch.optim.AdamW(parameters, lr=self.config.learning_rate, eps=1e-5, fused=fused or None)

    def _start_run_state(self) -> None:
        """Counters, generators and run directory; with ``config.resume``, restored from the latest checkpoint."""
        config = self.config
        # Prompt draws and minibatch shuffles, the same on every process; token sampling has its own generator on the
        # model's device, re-seeded per rollout. (Prompts are chosen by the trainer and passed to reset(), so the
        # env's own generators are never used.)
        self.rng = np.random.default_rng(config.seed)
        self.sampler = torch.Generator(device=self.device).manual_seed(config.seed)
        self.iteration = 0
        self.env_steps = 0
        self.optimizer_steps = 0
        self.max_env_steps: int | None = None
        self.history: list[dict[str, float]] = []
        self.out = Path(config.out) if config.out else None
        if config.resume:
            self.load_checkpoint(latest_checkpoint(self.out))
        self.logger = RunLogger(self.out, config.to_dict(), self.iteration, config.tensorboard) \
            if self.out and self.dist.is_main else None
        if self.logger:
            # How this (part of the) run was launched: a resume on another number of processes rewrites it.
            (self.out / "launch.json").write_text(json.dumps(self.dist.launch_record(config.num_envs), indent=2))

    def _write_checkpoint(self, state: dict[str, Any]) -> Path:
        """Write ``state`` (already gathered from every process) with the run state every trainer has (counters,
        metrics, config, random states) to ``out/checkpoints``, atomically, on the main process; older checkpoints
        beyond ``keep_checkpoints`` go. Returns the checkpoint's path on every process."""
        path = self.out / "checkpoints" / f"iteration_{self.iteration:06d}.pt"
        if not self.dist.is_main:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"iteration": self.iteration, "env_steps": self.env_steps, "history": self.history,
                 "config": json.loads(json.dumps(self.config.to_dict(), default=repr)),
                 "optimizer_steps": self.optimizer_steps, "rng": random_states(self.rng, self.sampler),
                 "launch": self.dist.launch_record(self.config.num_envs), **state}
        temporary = path.with_suffix(".tmp")
        torch.save(state, temporary)
        temporary.replace(path)
        for old in sorted(path.parent.glob(CHECKPOINT_PATTERN))[:-max(1, self.config.keep_checkpoints)]:
            old.unlink()
        return path

    @staticmethod
    def _read_checkpoint(path: Path) -> dict[str, Any]:
        """A :meth:`_write_checkpoint` file, read onto the CPU: its random states must stay CPU byte tensors
        (``torch.set_rng_state`` / ``torch.cuda.set_rng_state_all`` take nothing else), and ``load_state_dict``
        copies the weights and optimizer state onto the model's device itself."""
        return torch.load(path, map_location="cpu", weights_only=False)

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        """The counters, metrics and random states a :meth:`_write_checkpoint` checkpoint saved."""
        self.optimizer_steps = state["optimizer_steps"]
        restore_random_states(state["rng"], self.rng, self.sampler)
        self.iteration, self.env_steps, self.history = state["iteration"], state["env_steps"], state["history"]

    def _progress_bar(self, description: str) -> RunProgress:
        """The run's progress bar (:class:`RunProgress`), from the current iteration; shown on the main process when
        ``config.progress``."""
        return RunProgress(description, self.config.iterations, self.max_env_steps, self.iteration, self.env_steps,
                           enabled=self.config.progress and self.dist.is_main)

    def _checkpoint_if_due(self) -> bool:
        """Save a checkpoint (with a run directory) when the iteration just ended is a multiple of
        ``config.checkpoint_every``; returns whether it was one."""
        due = self.config.checkpoint_every > 0 and self.iteration % self.config.checkpoint_every == 0
        if self.out and due:
            self.save_checkpoint()
        return due

    def _finish_run(self, saved: bool,
                    plot_panels: tuple[tuple[str, str], ...] | None = None) -> list[dict[str, float]]:
        """End of training: with a run directory, the final checkpoint (unless the last iteration ``saved`` one), the
        exported model and the learning-curve plot; then wait for every process. Returns the metrics history."""
        if self.out:
            if not (self.history and saved):
                self.save_checkpoint()
            self.export_model(self.out / "model")
            if self.logger:
                self.logger.plot(self.history, plot_panels)
        # No process returns (and e.g. reads the run directory) before the main one has written it.
        self.dist.barrier()
        return self.history

    def train(self, max_env_steps: int | None = None,
              callback: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run until ``config.iterations`` (or ``max_env_steps`` tokens, whichever comes first: the learning-rate
        schedule is sized on it); returns the per-iteration metrics.

        The env is closed when training ends, normally or not (its scorer's worker processes stop; a later call
        restarts them)."""
        try:
            return self._train(max_env_steps, callback)
        finally:
            self.env.close()


class RunProgress:
    """A run's tqdm bar in percent of whichever limit ends it: ``iterations``, or ``max_env_steps`` when that budget
    is spent first (a bench run's usual end; a bar over iterations stopped at "4/100" there). The postfix shows both
    counts and the latest metrics.

    :param description: the bar's label (the algorithm).
    :param iteration: / :param env_steps: where the run starts (a resumed run's counts).
    """

    def __init__(self, description: str, iterations: int, max_env_steps: int | None, iteration: int = 0,
                 env_steps: int = 0, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self.iterations, self.max_env_steps = iterations, max_env_steps
        self.bar = tqdm(total=100, initial=self.percent(iteration, env_steps), disable=not enabled, desc=description,
                        dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")

    def percent(self, iteration: int, env_steps: int) -> int:
        done = iteration / self.iterations
        if self.max_env_steps:
            done = max(done, env_steps / self.max_env_steps)
        return int(100 * min(done, 1.0))

    def update(self, iteration: int, env_steps: int, **metrics: str) -> None:
        self.bar.update(self.percent(iteration, env_steps) - self.bar.n)
        budget = f"/{self.max_env_steps}" if self.max_env_steps else ""
        self.bar.set_postfix(iteration=f"{iteration}/{self.iterations}", env_steps=f"{env_steps}{budget}", **metrics)

    def close(self) -> None:
        self.bar.close()


class PPOTrainer(LMTrainer):
    """Owns the env, the policy/value model, the frozen reference, the optimizer and the run directory.

    :param config: every setting (see :class:`PPOConfig`).
    :param model: an in-memory Hugging Face LM to fine-tune instead of loading ``config.model``.
    """

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

    def learning_rate(self) -> float:
        """Learning rate of the next optimizer step (:func:`scheduled_learning_rate`)."""
        return scheduled_learning_rate(self.config, self.optimizer_steps, self.iteration, self.env_steps,
                                       self.max_env_steps)

    # ---------------------------------------------------------------- the loop
    def _train(self, max_env_steps: int | None,
               callback: Callable[[dict[str, float]], None] | None) -> list[dict[str, float]]:
        config = self.config
        self.max_env_steps = max_env_steps
        saved = False
        progress = self._progress_bar("PPO")
        while self.iteration < config.iterations and (max_env_steps is None or self.env_steps < max_env_steps):
            started = time.perf_counter()

            # 1. Rollout: B episodes on random training prompts (each drawn prompt samples_per_prompt times, in
            #    adjacent slots), all started together; this process runs its rows of the B.
            prompts = self.rng.integers(len(self.task.dataset), size=config.num_envs // config.samples_per_prompt)
            example_indices = np.repeat(prompts, config.samples_per_prompt)[self.rows]
            self.sampler.manual_seed(episode_seed(config.seed, self.iteration))
            with autocast(self.device, config.mixed_precision), self.dist.gathered(self.policy, self.reference):
                rollout = collect_rollout(
                    self.env, self.policy.lm, example_indices, temperature=config.temperature, top_k=config.top_k,
                    top_p=config.top_p, generator=self.sampler, reference=self.reference,
                    nlpo_top_p=config.nlpo_top_p if config.action_mask == "nlpo" else 1.0,
                    shard=(self.dist.rank, self.dist.world_size),
                    lockstep=self.dist.all if self.dist.lockstep else None,
                    decoding_backend=config.decoding_backend)
            # Losses, entropy, KL and whitening average over the agent's tokens (a multi-turn env's user turns are
            # context, attended to but never trained on); generated_mask stays the attention mask.
            mask = rollout.agent_mask.float()

            # 2. Logprobs (policy and reference) and values of the sampled tokens, teacher-forced in one pass each.
            logprobs, ref_logprobs, values, entropy = self.score_tokens(rollout)

            # 3. Rewards: the env's (normalized) score where it arrives, minus the KL penalty at every token.
            env_rewards = self.normalize_rewards(rollout)
            kl = kl_estimate(logprobs, ref_logprobs, config.kl_estimator) * mask
            rewards = env_rewards - self.kl_controller.value * kl

            # 4. Advantages: GAE over each episode's agent tokens (the state after its last token is worth 0).
            buffer = RolloutBuffer(
                prompt_ids=rollout.prompt_ids, prompt_mask=rollout.prompt_mask, generated_ids=rollout.generated_ids,
                generated_mask=rollout.generated_mask, action_masks=rollout.action_masks,
                sampling_support=rollout.sampling_support, logprobs=logprobs, ref_logprobs=ref_logprobs,
                values=values, rewards=rewards, agent_mask=mask)
            buffer.compute_advantages(config.gamma, config.gae_lambda, config.whiten_advantages, self.dist.sum)

            # 5. PPO epochs over reshuffled minibatches.
            update_stats = self.update(buffer)

            # 6. KL controller, metrics, checkpoint (episode statistics over the global batch).
            scores, episode_kl, lengths, eos, rlhf_rewards = self.dist.gather(torch.stack([
                rollout.env_rewards.sum(dim=1), kl.sum(dim=1), mask.sum(dim=1), rollout.ended_with_eos.float(),
                (rewards * mask).sum(dim=1)], dim=1)).T
            self.kl_controller.update(float(episode_kl.mean()), config.num_envs)
            self.iteration += 1
            self.env_steps += int(lengths.sum())
            metrics = {
                "iteration": self.iteration,
                "charts/env_steps": self.env_steps,
                "charts/reward": float(scores.mean()),
                "charts/episode_length": float(lengths.mean()),
                "charts/eos_rate": float(eos.mean()),
                "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
                "objective/kl": float(episode_kl.mean()),
                "objective/kl_coef": self.kl_controller.value,
                "objective/rlhf_reward": float(rlhf_rewards.mean()),
                "policy/entropy": float(masked_mean(entropy, mask, all_reduce=self.dist.sum)),
                "losses/explained_variance": explained_variance(values, buffer.returns, mask, self.dist.sum),
                **update_stats,
                "time/iteration_seconds": time.perf_counter() - started,
            }
            self.history.append(metrics)
            progress.update(self.iteration, self.env_steps, reward=f"{metrics['charts/reward']:.3f}",
                            kl=f"{metrics['objective/kl']:.3f}", entropy=f"{metrics['policy/entropy']:.2f}")
            if self.logger:
                self.logger.log(metrics, rollout.records[0])
            if callback is not None:
                callback({"env_steps": self.env_steps, "reward": metrics["charts/reward"],
                          "kl": metrics["objective/kl"]})
            saved = self._checkpoint_if_due()
        progress.close()
        return self._finish_run(saved)

    # ---------------------------------------------------------------- steps of the loop
    @torch.no_grad()
    def score_tokens(self, rollout: Rollout) -> tuple[torch.Tensor, ...]:
        """Teacher-forced logprobs (policy, reference), values and entropies ``(B, T)`` of the rollout's tokens,
        computed exactly as the update computes them (so the first PPO ratio is 1).

        The policy's are those of the distribution sampled (over the top-k / top-p / NLPO support when sampling was
        truncated); the reference's are of its own distribution over the env's legal actions, so the KL penalty sees
        the policy's truncation move its support away from the reference (with top-k 1 the policy's logprob is 0
        and the KL is the reference's surprise at the chosen token)."""
        config = self.config
        size = len(rollout.generated_ids)
        minibatch = size // config.num_minibatches
        outputs: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, size, minibatch):
            rows = slice(start, start + minibatch)
            inputs = (rollout.prompt_ids[rows], rollout.prompt_mask[rows], rollout.generated_ids[rows],
                      rollout.generated_mask[rows])
            env_legal = rollout.action_masks[rows] if rollout.action_masks is not None else None
            support = rollout.sampling_support[rows] if rollout.sampling_support is not None else None
            with autocast(self.device, config.mixed_precision), self.dist.gathered(self.reference):
                raw_logits, values = self.policy(*inputs)
                ref_raw_logits = token_logits(self.reference, *inputs)
            logits = policy_logits(raw_logits, self.task.vocab_size, config.temperature,
                                   sampling_mask(env_legal, support, self.task.vocab_size))
            ref_logits = policy_logits(ref_raw_logits, self.task.vocab_size, config.temperature, env_legal)
            tokens = rollout.generated_ids[rows]
            all_logprobs = torch.log_softmax(logits, dim=-1)  # once, for the chosen tokens and the entropy
            outputs.append((all_logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1),
                            gather_logprobs(ref_logits, tokens), values.float(), entropy_from_logprobs(all_logprobs)))
        mask = rollout.agent_mask.float()
        return tuple(torch.cat(parts) * mask for parts in zip(*outputs))

    def normalize_rewards(self, rollout: Rollout) -> torch.Tensor:
        """The env's per-step rewards, scaled as configured, with the missing-EOS penalty on the last token. Batch
        statistics and group baselines are over the global batch (every process's scores gathered)."""
        config = self.config
        env_rewards = rollout.env_rewards.clone()
        global_scores = self.dist.gather(env_rewards.sum(dim=1))
        scores = global_scores[self.rows]
        # Score shifts and penalties go on each episode's last agent token (where a terminal reward arrives).
        columns = torch.arange(rollout.agent_mask.shape[1], device=scores.device)
        last = (torch.arange(len(scores), device=scores.device), (columns * rollout.agent_mask).argmax(dim=1))
        if config.reward_normalization == "running":
            self.reward_moments.update(global_scores.cpu().numpy())
            env_rewards = env_rewards / max(self.reward_moments.std, 1e-8)
        elif config.reward_normalization == "batch":
            env_rewards[last] -= global_scores.mean()
            env_rewards = env_rewards / (global_scores.std() + 1e-8)
        elif config.reward_normalization == "group":
            # Leave-one-out baseline (RLOO): each score minus the mean score of the prompt's other samples, so the
            # prompt's difficulty cancels and only the differences between its samples remain.
            k = config.samples_per_prompt
            groups = global_scores.view(-1, k)
            baseline = (groups.sum(dim=1, keepdim=True) - groups) / (k - 1)
            env_rewards[last] -= baseline.reshape(-1)[self.rows]
        if config.missing_eos_penalty is not None:
            env_rewards[last] -= config.missing_eos_penalty * (~rollout.ended_with_eos).float()
        return env_rewards

    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """``update_epochs`` passes of reshuffled minibatches, one optimizer step per minibatch (gradients accumulated
        over ``gradient_accumulation_steps`` micro-batches); stops after an epoch whose last minibatch's approximate
        KL exceeds ``target_kl`` (CleanRL's early stopping)."""
        config = self.config
        keys = ("losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clipfrac",
                "losses/value_clipfrac", "policy/ratio_mean")
        totals: dict[str, list[float]] = {key: [] for key in (*keys, "losses/grad_norm")}
        first_ratio_deviation = None
        epochs = 0
        # Gradient checkpointing acts in train mode only (dropout is off: the computation is eval mode's).
        self.policy.train(config.gradient_checkpointing)
        for epoch in range(config.update_epochs):
            for minibatch in buffer.minibatches(config.num_minibatches, self.rng, config.num_envs, self.rows):
                self.optimizer.zero_grad(set_to_none=True)
                # Every loss is a token mean over the whole global minibatch however it is split into processes and
                # micro-batches: each micro-batch's sum is divided by the global minibatch's token count, and the
                # gradients add up (Distributed.backward). Tokens: the agent's (the loss mask).
                tokens = self.dist.sum(minibatch["agent_mask"].sum()).clamp(min=1)
                shares = torch.zeros(len(keys), device=self.device)
                size = len(minibatch["generated_ids"])
                micro = size // config.gradient_accumulation_steps
                for start in range(0, size, micro):
                    batch = trim_prompt({key: value[start:start + micro] for key, value in minibatch.items()})
                    mask = batch["agent_mask"]
                    with self.dist.no_sync(self.model, sync=start + micro >= size):
                        with autocast(self.device, config.mixed_precision):
                            raw_logits, values = self.model(batch["prompt_ids"], batch["prompt_mask"],
                                                            batch["generated_ids"], batch["generated_mask"].long())
                        logits = policy_logits(raw_logits, self.task.vocab_size, config.temperature,
                                               sampling_mask(batch.get("action_masks"), batch.get("sampling_support"),
                                                             self.task.vocab_size))
                        all_logprobs = torch.log_softmax(logits, dim=-1)  # once, for the ratio and the entropy
                        # Off the loss mask (padding, a multi-turn env's user turns) the rollout's own logprobs and
                        # values stand in: no gradient there, and no exp() overflow of a very unlikely token.
                        masked = mask.bool()
                        logprobs = torch.where(
                            masked, all_logprobs.gather(-1, batch["generated_ids"].unsqueeze(-1)).squeeze(-1),
                            batch["logprobs"])
                        values = torch.where(masked, values, batch["values"])
                        # Clipped surrogate policy loss and clipped value loss, entropy bonus.
                        pg_loss, pg_stats = policy_loss(logprobs, batch["logprobs"], batch["advantages"], mask,
                                                        config.clip_coef, tokens)
                        v_loss, v_stats = value_loss(values, batch["values"], batch["returns"], mask,
                                                     config.clip_value, tokens)
                        # Without an entropy bonus the entropy is only logged: no gradient path through it.
                        with torch.set_grad_enabled(config.entropy_coef != 0):
                            entropy = masked_mean(entropy_from_logprobs(all_logprobs), mask, tokens)
                        loss = pg_loss + config.value_coef * v_loss - config.entropy_coef * entropy
                        self.dist.backward(loss)

                    if first_ratio_deviation is None:
                        ratio = pg_stats["ratio"][mask.bool()]
                        first_ratio_deviation = float(self.dist.max(
                            (ratio - 1).abs().max() if ratio.numel() else torch.zeros((), device=self.device)))
                    shares += torch.stack([pg_loss.detach(), v_loss.detach(), entropy.detach(), pg_stats["approx_kl"],
                                           pg_stats["clipfrac"], v_stats["value_clipfrac"],
                                           masked_mean(pg_stats["ratio"], mask, tokens)])
                # The shares of every process add up to the global minibatch's means (the same on all processes, so
                # the early stop below is too).
                stats = dict(zip(keys, self.dist.sum(shares).tolist()))
                stats["losses/grad_norm"] = self.dist.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate()
                self.optimizer.step()
                self.optimizer_steps += 1
                for key, value in stats.items():
                    totals[key].append(value)
            epochs += 1
            if config.target_kl is not None and stats["losses/approx_kl"] > config.target_kl:
                break
        self.policy.eval()
        summary = {key: float(np.mean(values)) for key, values in totals.items()}
        # Max |ratio - 1| on the first minibatch: not ~0 would mean rollout and update compute different policies.
        summary["policy/first_ratio_deviation"] = first_ratio_deviation
        summary["losses/update_epochs"] = epochs
        return summary

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


def export_policy(lm: nn.Module, tokenizer: Any, config: Any, directory: Path, config_name: str,
                  dist: Distributed) -> Path:
    """``lm`` as a plain Hugging Face checkpoint (LoRA merged), the tokenizer and the run's config beside it. Called
    on every process (FSDP2 gathers the weights from all); the main process writes."""
    weights, _ = dist.state_dict(lm)
    if not dist.is_main:
        return directory
    if hasattr(lm, "merge_and_unload"):
        lm = copy.deepcopy(lm).merge_and_unload()
        weights = None  # the merged copy's own (LoRA trains with DDP: whole weights on every process)
    lm.save_pretrained(directory, state_dict=weights)
    tokenizer.save_pretrained(directory)
    (directory / config_name).write_text(json.dumps(config.to_dict(), indent=2, default=repr))
    return directory


def random_states(rng: np.random.Generator, sampler: torch.Generator) -> dict[str, Any]:
    """Every random state a run draws from (global python/numpy/torch/CUDA, the trainer's prompt/shuffle generator
    and the token sampler), for a checkpoint to continue exactly."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "trainer": rng.bit_generator.state, "sampler": sampler.get_state()}


def restore_random_states(state: dict[str, Any], rng: np.random.Generator, sampler: torch.Generator) -> None:
    """Undo :func:`random_states`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([cuda_state.cpu() for cuda_state in state["cuda"]])
    rng.bit_generator.state = state["trainer"]
    sampler.set_state(state["sampler"].to("cpu"))


def scheduled_learning_rate(config: Any, optimizer_steps: int, iteration: int, env_steps: int,
                            max_env_steps: int | None) -> float:
    """Learning rate of the next optimizer step of a run with ``config.learning_rate`` / ``lr_schedule`` /
    ``warmup_steps`` / ``iterations``: linear warmup over ``warmup_steps`` optimizer steps, times the schedule
    ("linear": annealed to 0 as the budget that ends the run is spent, iterations or ``max_env_steps`` env steps,
    whichever comes first, as CleanRL anneals it per iteration; "constant": 1)."""
    warmup = min(1.0, (optimizer_steps + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    if config.lr_schedule != "linear":
        return config.learning_rate * warmup
    spent = iteration / config.iterations
    if max_env_steps:
        spent = max(spent, env_steps / max_env_steps)
    return config.learning_rate * warmup * (1.0 - min(spent, 1.0))


def latest_checkpoint(out: Path | None) -> Path:
    checkpoints = sorted((out / "checkpoints").glob(CHECKPOINT_PATTERN)) if out else []
    if not checkpoints:
        raise FileNotFoundError(f"resume=True but there is no checkpoint in {out}/checkpoints.")
    return checkpoints[-1]
