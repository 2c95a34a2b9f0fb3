"""PPO fine-tuning of a language-model policy on a textenvs environment, readable top to bottom.

One iteration, in the order it runs (:meth:`PPOTrainer.train`):

1. rollout: B episodes on random training prompts, decoded with the KV cache through the native vector env;
2. teacher-forced logprobs of the sampled tokens under the policy and the frozen reference, and the values;
3. rewards: the env's score at its step, minus the per-token KL penalty;
4. advantages: GAE(γ, λ), whitened;
5. several epochs of reshuffled minibatches: clipped policy loss, clipped value loss, entropy bonus;
6. KL controller update, logging (progress bar, JSONL, TensorBoard, plot) and checkpoints.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from agents.models import default_checkpoint, load_pretrained, observation_mode
from agents.ppo.buffer import RolloutBuffer, RunningMoments
from agents.ppo.config import PPOConfig
from agents.ppo.kl import kl_estimate, make_kl_controller
from agents.ppo.losses import explained_variance, masked_mean, policy_loss, value_loss
from agents.ppo.policy import (ActorCritic, autocast, disable_dropout, entropy_from_logits, frozen_copy,
                               gather_logprobs, policy_logits, resolve_device, token_logits_and_hidden)
from agents.ppo.rollout import Rollout, collect_rollout
from textenvs.registration import env_class

CHECKPOINT_PATTERN = "iteration_*.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_env(config: PPOConfig, lm: nn.Module) -> gym.vector.VectorEnv:
    """The native vector env for ``lm``: its observation layout matches the model, and a model directory that holds
    a tokenizer provides the env's tokenizer (so token ids mean the same to both)."""
    env_kwargs = dict(config.env_kwargs)
    mode = observation_mode(lm)
    if env_kwargs.setdefault("observation_mode", mode) != mode:
        raise ValueError(f"env_kwargs observation_mode={env_kwargs['observation_mode']!r} does not fit a "
                         f"{type(lm).__name__} (needs {mode!r}).")
    model_dir = Path(str(getattr(lm, "name_or_path", "") or ""))
    if "tokenizer" not in env_kwargs and str(model_dir) and (model_dir / "tokenizer_config.json").is_file():
        env_kwargs["tokenizer"] = str(model_dir)
    # Rollouts run one episode per sub-env: no autoreset, so finished episodes are neither restarted nor scored again.
    env_kwargs["autoreset_mode"] = AutoresetMode.DISABLED
    return gym.make_vec(config.env, num_envs=config.num_envs, vectorization_mode="vector_entry_point", **env_kwargs)


def resolve_model(config: PPOConfig) -> str:
    """``config.model`` as a directory: ``"default"`` is the task's shipped warm-start checkpoint."""
    if config.model == "default":
        return str(default_checkpoint(env_class(config.env).task_spec.name))
    return config.model


class PPOTrainer:
    """Owns the env, the policy/value model, the frozen reference, the optimizer and the run directory.

    :param config: every setting (see :class:`PPOConfig`).
    :param model: an in-memory Hugging Face LM to fine-tune instead of loading ``config.model``.
    """

    def __init__(self, config: PPOConfig, model: nn.Module | None = None) -> None:
        self.config = config
        seed_everything(config.seed)
        self.device = resolve_device(config.device)
        lm = load_pretrained(model if model is not None else resolve_model(config))
        disable_dropout(lm)
        self.env = make_env(config, lm)
        self.task = self.env.unwrapped.task
        self.tokenizer = self.task.tokenizer
        vocab_size = self.task.vocab_size

        # The frozen reference is the initial policy; eval mode everywhere (dropout is off anyway), so the policy,
        # the reference and the rollouts all run the very same computation.
        self.reference = frozen_copy(lm).to(self.device)
        self.policy = ActorCritic(lm, vocab_size, config.value_model, config.lora_r, config.lora_alpha)
        self.policy.to(self.device).eval()

        trainable = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, eps=1e-5)
        total_steps = config.iterations * config.update_epochs * config.num_minibatches
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factory(total_steps))
        self.kl_controller = make_kl_controller(config.kl_coef, config.target_kl, config.kl_horizon)
        self.reward_moments = RunningMoments()
        # Prompt draws and minibatch shuffles; token sampling has its own generator on the model's device.
        # (Prompts are chosen here and passed to reset(), so the env's own generators are never used.)
        self.rng = np.random.default_rng(config.seed)
        self.sampler = torch.Generator(device=self.device).manual_seed(config.seed)

        self.iteration = 0
        self.env_steps = 0
        self.history: list[dict[str, float]] = []
        self.out = Path(config.out) if config.out else None
        if config.resume:
            self.load_checkpoint(latest_checkpoint(self.out))
        self.logger = RunLogger(self.out, config, self.iteration) if self.out else None

    def _lr_factory(self, total_steps: int) -> Callable[[int], float]:
        warmup, linear = self.config.warmup_steps, self.config.lr_schedule == "linear"

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, 1.0 - (step - warmup) / max(1, total_steps - warmup)) if linear else 1.0
        return factor

    # ---------------------------------------------------------------- the loop
    def train(self, max_env_steps: int | None = None,
              callback: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run until ``config.iterations`` (or ``max_env_steps`` tokens); returns the per-iteration metrics.

        The env is closed when training ends, normally or not (its scorer's worker processes stop; a later call
        restarts them)."""
        try:
            return self._train(max_env_steps, callback)
        finally:
            self.env.close()

    def _train(self, max_env_steps: int | None,
               callback: Callable[[dict[str, float]], None] | None) -> list[dict[str, float]]:
        from tqdm.auto import tqdm

        config = self.config
        progress = tqdm(total=config.iterations, initial=self.iteration, disable=not config.progress,
                        desc="PPO", dynamic_ncols=True)
        while self.iteration < config.iterations and (max_env_steps is None or self.env_steps < max_env_steps):
            started = time.perf_counter()

            # 1. Rollout: B episodes on random training prompts (each drawn prompt samples_per_prompt times, in
            #    adjacent slots), all started together.
            prompts = self.rng.integers(len(self.task.dataset), size=config.num_envs // config.samples_per_prompt)
            example_indices = np.repeat(prompts, config.samples_per_prompt)
            with autocast(self.device):
                rollout = collect_rollout(
                    self.env, self.policy.lm, example_indices, temperature=config.temperature, top_k=config.top_k,
                    top_p=config.top_p, generator=self.sampler, reference=self.reference,
                    nlpo_top_p=config.nlpo_top_p if config.action_mask == "nlpo" else 1.0)
            mask = rollout.generated_mask.float()

            # 2. Logprobs (policy and reference) and values of the sampled tokens, teacher-forced in one pass each.
            logprobs, ref_logprobs, values, entropy = self.score_tokens(rollout)

            # 3. Rewards: the env's (normalized) score where it arrives, minus the KL penalty at every token.
            env_rewards = self.normalize_rewards(rollout)
            kl = kl_estimate(logprobs, ref_logprobs, config.kl_estimator) * mask
            rewards = env_rewards - self.kl_controller.value * kl

            # 4. Advantages: GAE over each episode's tokens (the state after its last token is worth 0).
            buffer = RolloutBuffer(rollout.prompt_ids, rollout.prompt_mask, rollout.generated_ids, mask,
                                   rollout.action_masks, logprobs, ref_logprobs, values, rewards)
            buffer.compute_advantages(config.gamma, config.gae_lambda, config.whiten_advantages)

            # 5. PPO epochs over reshuffled minibatches.
            update_stats = self.update(buffer)

            # 6. KL controller, metrics, checkpoint.
            scores = rollout.env_rewards.sum(dim=1)
            episode_kl = kl.sum(dim=1)
            self.kl_controller.update(float(episode_kl.mean()), config.num_envs)
            self.iteration += 1
            self.env_steps += int(mask.sum())
            metrics = {
                "iteration": self.iteration,
                "charts/env_steps": self.env_steps,
                "charts/reward": float(scores.mean()),
                "charts/episode_length": float(mask.sum(dim=1).mean()),
                "charts/eos_rate": float(rollout.ended_with_eos.float().mean()),
                "charts/learning_rate": self.scheduler.get_last_lr()[0],
                "objective/kl": float(episode_kl.mean()),
                "objective/kl_coef": self.kl_controller.value,
                "objective/rlhf_reward": float((rewards * mask).sum(dim=1).mean()),
                "policy/entropy": float(masked_mean(entropy, mask)),
                "losses/explained_variance": explained_variance(values, buffer.returns, mask),
                **update_stats,
                "time/iteration_seconds": time.perf_counter() - started,
            }
            self.history.append(metrics)
            progress.update(1)
            progress.set_postfix(reward=f"{metrics['charts/reward']:.3f}", kl=f"{metrics['objective/kl']:.3f}",
                                 entropy=f"{metrics['policy/entropy']:.2f}")
            if self.logger:
                self.logger.log(metrics, rollout)
            if callback is not None:
                callback({"env_steps": self.env_steps, "reward": metrics["charts/reward"],
                          "kl": metrics["objective/kl"]})
            if self.out and config.checkpoint_every > 0 and self.iteration % config.checkpoint_every == 0:
                self.save_checkpoint()
        progress.close()
        if self.out:
            if not self.history or not (self.out / "checkpoints" / f"iteration_{self.iteration:06d}.pt").exists():
                self.save_checkpoint()
            self.export_model(self.out / "model")
            self.logger.plot(self.history)
        return self.history

    # ---------------------------------------------------------------- steps of the loop
    @torch.no_grad()
    def score_tokens(self, rollout: Rollout) -> tuple[torch.Tensor, ...]:
        """Teacher-forced logprobs (policy, reference), values and entropies ``(B, T)`` of the rollout's tokens,
        computed exactly as the update computes them (so the first PPO ratio is 1)."""
        config = self.config
        minibatch = config.num_envs // config.num_minibatches
        outputs: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, config.num_envs, minibatch):
            rows = slice(start, start + minibatch)
            inputs = (rollout.prompt_ids[rows], rollout.prompt_mask[rows], rollout.generated_ids[rows],
                      rollout.generated_mask[rows])
            legal = rollout.action_masks[rows] if rollout.action_masks is not None else None
            with autocast(self.device):
                raw_logits, values = self.policy(*inputs)
                ref_raw_logits, _ = token_logits_and_hidden(self.reference, *inputs, self.policy.start_token_id,
                                                            hidden=False)
            logits = policy_logits(raw_logits, self.task.vocab_size, config.temperature, legal)
            ref_logits = policy_logits(ref_raw_logits, self.task.vocab_size, config.temperature, legal)
            tokens = rollout.generated_ids[rows]
            outputs.append((gather_logprobs(logits, tokens), gather_logprobs(ref_logits, tokens), values.float(),
                            entropy_from_logits(logits)))
        mask = rollout.generated_mask.float()
        return tuple(torch.cat(parts) * mask for parts in zip(*outputs))

    def normalize_rewards(self, rollout: Rollout) -> torch.Tensor:
        """The env's per-step rewards, scaled as configured, with the missing-EOS penalty on the last token."""
        config = self.config
        env_rewards = rollout.env_rewards.clone()
        scores = env_rewards.sum(dim=1)
        # Score shifts and penalties go on each episode's last token (where a terminal reward arrives).
        last = (torch.arange(len(scores), device=scores.device), rollout.generated_mask.sum(dim=1) - 1)
        if config.reward_normalization == "running":
            self.reward_moments.update(scores.cpu().numpy())
            env_rewards = env_rewards / max(self.reward_moments.std, 1e-8)
        elif config.reward_normalization == "batch":
            env_rewards[last] -= scores.mean()
            env_rewards = env_rewards / (scores.std() + 1e-8)
        elif config.reward_normalization == "group":
            # Leave-one-out baseline (RLOO): each score minus the mean score of the prompt's other samples, so the
            # prompt's difficulty cancels and only the differences between its samples remain.
            k = config.samples_per_prompt
            groups = scores.view(-1, k)
            baseline = (groups.sum(dim=1, keepdim=True) - groups) / (k - 1)
            env_rewards[last] -= baseline.reshape(-1)
        if config.missing_eos_penalty is not None:
            env_rewards[last] -= config.missing_eos_penalty * (~rollout.ended_with_eos).float()
        return env_rewards

    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """``update_epochs`` passes of reshuffled minibatches, one optimizer step per minibatch (gradients accumulated
        over ``gradient_accumulation_steps`` micro-batches)."""
        config = self.config
        totals: dict[str, list[float]] = {key: [] for key in (
            "losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clipfrac",
            "losses/value_clipfrac", "losses/grad_norm", "policy/ratio_mean")}
        first_ratio_deviation = None
        for epoch in range(config.update_epochs):
            for minibatch in buffer.minibatches(config.num_minibatches, self.rng):
                self.optimizer.zero_grad(set_to_none=True)
                size = len(minibatch["generated_ids"])
                micro = size // config.gradient_accumulation_steps
                for start in range(0, size, micro):
                    batch = {key: value[start:start + micro] for key, value in minibatch.items()}
                    mask = batch["generated_mask"]
                    with autocast(self.device):
                        raw_logits, values = self.policy(batch["prompt_ids"], batch["prompt_mask"],
                                                         batch["generated_ids"], mask.long())
                    logits = policy_logits(raw_logits, self.task.vocab_size, config.temperature,
                                           batch.get("action_masks"))
                    logprobs = gather_logprobs(logits, batch["generated_ids"])
                    # Clipped surrogate policy loss and clipped value loss, entropy bonus.
                    pg_loss, pg_stats = policy_loss(logprobs, batch["logprobs"], batch["advantages"], mask,
                                                    config.clip_coef)
                    v_loss, v_stats = value_loss(values.float(), batch["values"], batch["returns"], mask,
                                                 config.clip_value)
                    entropy = masked_mean(entropy_from_logits(logits), mask)
                    loss = pg_loss + config.value_coef * v_loss - config.entropy_coef * entropy
                    (loss / config.gradient_accumulation_steps).backward()

                    if first_ratio_deviation is None:
                        ratio = pg_stats["ratio"][mask.bool()]
                        first_ratio_deviation = float((ratio - 1).abs().max()) if ratio.numel() else 0.0
                    for key, value in (("losses/policy", pg_loss), ("losses/value", v_loss),
                                       ("losses/entropy", entropy), ("losses/approx_kl", pg_stats["approx_kl"]),
                                       ("losses/clipfrac", pg_stats["clipfrac"]),
                                       ("losses/value_clipfrac", v_stats["value_clipfrac"]),
                                       ("policy/ratio_mean", masked_mean(pg_stats["ratio"], mask))):
                        totals[key].append(float(value.detach()))
                grad_norm = nn.utils.clip_grad_norm_(self.policy.parameters(), config.max_grad_norm)
                totals["losses/grad_norm"].append(float(grad_norm))
                self.optimizer.step()
                self.scheduler.step()
        stats = {key: float(np.mean(values)) for key, values in totals.items()}
        # Max |ratio - 1| on the first minibatch: not ~0 would mean rollout and update compute different policies.
        stats["policy/first_ratio_deviation"] = first_ratio_deviation
        return stats

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        """Everything needed to continue exactly: weights, optimizer, scheduler, KL controller, reward statistics,
        random states, iteration and metrics. Written atomically; older checkpoints beyond ``keep_checkpoints`` go."""
        directory = self.out / "checkpoints"
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "iteration": self.iteration, "env_steps": self.env_steps, "history": self.history,
            "config": json.loads(json.dumps(self.config.to_dict(), default=repr)),
            "policy": self.policy.state_dict(), "reference": self.reference.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "kl_controller": self.kl_controller.state_dict(), "reward_moments": self.reward_moments.state_dict(),
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "trainer": self.rng.bit_generator.state, "sampler": self.sampler.get_state()},
        }
        path = directory / f"iteration_{self.iteration:06d}.pt"
        temporary = path.with_suffix(".tmp")
        torch.save(state, temporary)
        temporary.replace(path)
        for old in sorted(directory.glob(CHECKPOINT_PATTERN))[:-max(1, self.config.keep_checkpoints)]:
            old.unlink()
        return path

    def load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.policy.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.reward_moments.load_state_dict(state["reward_moments"])
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.rng.bit_generator.state = rng["trainer"]
        self.sampler.set_state(rng["sampler"].to("cpu"))
        self.iteration, self.env_steps, self.history = state["iteration"], state["env_steps"], state["history"]

    def export_model(self, directory: Path) -> Path:
        """The policy as a plain Hugging Face checkpoint (LoRA merged) with the env's tokenizer beside it."""
        lm = self.policy.lm
        if hasattr(lm, "merge_and_unload"):
            import copy

            lm = copy.deepcopy(lm).merge_and_unload()
        lm.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        (directory / "ppo_config.json").write_text(json.dumps(self.config.to_dict(), indent=2, default=repr))
        return directory


def latest_checkpoint(out: Path | None) -> Path:
    checkpoints = sorted((out / "checkpoints").glob(CHECKPOINT_PATTERN)) if out else []
    if not checkpoints:
        raise FileNotFoundError(f"resume=True but there is no checkpoint in {out}/checkpoints.")
    return checkpoints[-1]


class RunLogger:
    """Metrics to ``metrics.jsonl`` and TensorBoard, sample generations to ``samples.jsonl``, the learning curve to
    ``learning_curve.png``. On resume, lines after the checkpoint's iteration are dropped so the logs continue
    exactly where the checkpoint left off."""

    def __init__(self, out: Path, config: PPOConfig, iteration: int) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=repr))
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = out / name
            if path.exists():
                kept = [line for line in path.read_text().splitlines()
                        if line.strip() and json.loads(line)["iteration"] <= iteration]
                path.write_text("".join(line + "\n" for line in kept))
        self.writer = None
        if config.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=iteration + 1 if iteration else None)

    def log(self, metrics: dict[str, float], rollout: Rollout) -> None:
        iteration = int(metrics["iteration"])
        with open(self.out / "metrics.jsonl", "a") as file:
            file.write(json.dumps(metrics) + "\n")
        record = rollout.records[0]
        with open(self.out / "samples.jsonl", "a") as file:
            file.write(json.dumps({"iteration": iteration, "prompt": record.prompt, "prediction": record.prediction,
                                   "references": record.references, "reward": record.reward}) + "\n")
        if self.writer is not None:
            for key, value in metrics.items():
                if key != "iteration" and value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(key, value, iteration)
            self.writer.flush()

    def plot(self, history: list[dict[str, float]]) -> Path:
        return plot_learning_curve(history, self.out / "learning_curve.png")


def plot_learning_curve(history: list[dict[str, float]], path: Path) -> Path:
    """Reward, KL and entropy per iteration, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [m["iteration"] for m in history]
    panels = (("charts/reward", "mean episode reward"), ("objective/kl", "KL to reference (per episode)"),
              ("policy/entropy", "entropy (per token)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for axis, (key, title) in zip(axes, panels):
        axis.plot(iterations, [m[key] for m in history])
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
