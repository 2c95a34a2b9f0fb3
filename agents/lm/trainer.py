"""The training loop every language-model RL trainer runs (:class:`LMTrainer`, a template as SB3's ``learn()``):
launch and model setup, the loop over iterations, the optimizer step and its learning-rate schedule, checkpoints,
the exported model and the logs. An algorithm (:class:`~agents.ppo.trainer.PPOTrainer`,
:class:`~agents.grpo.trainer.GRPOTrainer`) declares its steps:

- :meth:`LMTrainer.collect_rollouts`: this iteration's episodes (:meth:`LMTrainer.sample_rollout` draws a batch);
- :meth:`LMTrainer.train_on`: advantages and updates on them (each minibatch through
  :meth:`LMTrainer.gradient_step`), returning the iteration's metrics;
- :meth:`LMTrainer.save_checkpoint`, :meth:`LMTrainer.load_checkpoint`, :meth:`LMTrainer.export_model`: what its
  checkpoints and exported model hold.

Under ``accelerate launch`` / ``torchrun`` each process runs its share of the batch and every statistic of the batch
is global (:mod:`agents.distributed`): the parameters do not depend on the number of processes.
"""

from __future__ import annotations

import copy
import json
import random
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, NamedTuple, TypeVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from agents.distributed import Distributed, episode_seed
from agents.lm.batch import TokenBatch
from agents.lm.config import RunConfig
from agents.lm.policy import autocast, disable_dropout
from agents.lm.rollout import Rollout, collect_rollout
from agents.models import (env_kwargs_for_model, float32_master_weights, load_pretrained, observation_mode,
                           resolve_model_source)
from agents.run_logger import RunLogger
from textenvs.decoding import fuse_activations, policy_logits

Batch = TypeVar("Batch", bound=TokenBatch)
MicroBatchLoss = Callable[[Any], "tuple[torch.Tensor, dict[str, torch.Tensor]]"]
"""A micro-batch's share of its minibatch's loss, and the shares of the minibatch's diagnostics (0-d tensors, in the
order they are to be logged)."""
CHECKPOINT_PATTERN = "iteration_*.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_env(config: Any, lm: nn.Module, num_envs: int | None = None) -> gym.vector.VectorEnv:
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

class ScoredRollout(NamedTuple):
    """One rollout batch (this process's episodes) and the scores of the global batch's episodes ``(num_envs,)``,
    every process's, in rank order (group baselines and batch statistics need all of them)."""

    rollout: Rollout
    scores: torch.Tensor


class LMTrainer(ABC):
    """The loop of a language-model RL trainer, with its steps declared as abstract methods (see the module's
    docstring). A subclass's ``__init__`` sets ``config``, calls :meth:`_start` (processes, seed, LM, env), builds
    its models and optimizer (:meth:`_optimizer`), and ends with :meth:`_start_run_state` (counters, generators, run
    directory, resume).

    :cvar env_steps_metric: / :cvar reward_metric: / :cvar kl_metric: the names its metrics give the env-step count,
        the mean episode reward and the KL to the reference (the callback's ``env_steps`` / ``reward`` / ``kl``).
    :cvar progress_metrics: ``(label, metric, format)`` of each value the progress bar shows.
    :cvar plot_panels: the learning-curve plot's ``(metric, title)`` panels (None: :class:`RunLogger`'s default).
    """

    config: RunConfig
    env_steps_metric: str
    reward_metric: str
    kl_metric: str
    progress_metrics: tuple[tuple[str, str, str], ...]
    plot_panels: tuple[tuple[str, str], ...] | None = None
    # Set by _start / the subclass / _start_run_state:
    dist: Distributed
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer

    # ---------------------------------------------------------------- the steps an algorithm declares
    @abstractmethod
    def collect_rollouts(self) -> list[ScoredRollout]:
        """This iteration's rollout batches (one, or several rounds: DAPO's dynamic sampling); every one's tokens
        count as env steps, and the first one's first episode is logged."""

    @abstractmethod
    def train_on(self, rounds: list[ScoredRollout]) -> dict[str, float]:
        """Advantages and policy updates on this iteration's rollouts; returns the iteration's metrics (the loop
        adds ``iteration``, the env-step count and the iteration's time)."""

    @abstractmethod
    def save_checkpoint(self) -> Path:
        """Write everything needed to continue exactly (:meth:`_write_checkpoint`); called on every process."""

    @abstractmethod
    def load_checkpoint(self, path: Path) -> None:
        """Undo :meth:`save_checkpoint` (:meth:`_read_checkpoint`, then :meth:`_restore_run_state`)."""

    @abstractmethod
    def export_model(self, directory: Path) -> Path:
        """The policy as a plain Hugging Face checkpoint with the env's tokenizer (:func:`export_policy`)."""

    # ---------------------------------------------------------------- the loop
    def train(self, max_env_steps: int | None = None,
              callback: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run until ``config.iterations`` (or ``max_env_steps`` tokens, whichever comes first: the learning-rate
        schedule is sized on it); returns the per-iteration metrics.

        The env is closed when training ends, normally or not (its scorer's worker processes stop; a later call
        restarts them)."""
        try:
            return self.learn(max_env_steps, callback)
        finally:
            self.env.close()

    def learn(self, max_env_steps: int | None,
              callback: Callable[[dict[str, float]], None] | None) -> list[dict[str, float]]:
        """The loop: per iteration :meth:`collect_rollouts`, then :meth:`train_on`, then the counters, metrics, logs
        and checkpoint; at the end the final checkpoint, the exported model and the plot (:meth:`_finish_run`)."""
        config = self.config
        self.max_env_steps = max_env_steps
        saved = False
        progress = self._progress_bar()
        while self.iteration < config.iterations and (max_env_steps is None or self.env_steps < max_env_steps):
            started = time.perf_counter()
            rounds = self.collect_rollouts()
            step_metrics = self.train_on(rounds)
            self.iteration += 1
            self.env_steps += sum(int(self.dist.sum(rollout.agent_mask.sum())) for rollout, _ in rounds)
            metrics = {"iteration": self.iteration, self.env_steps_metric: self.env_steps, **step_metrics,
                       "time/iteration_seconds": time.perf_counter() - started}
            self.history.append(metrics)
            progress.update(self.iteration, self.env_steps,
                            **{label: format(metrics[key], spec) for label, key, spec in self.progress_metrics})
            if self.logger:
                self.logger.log(metrics, rounds[0].rollout.records[0])
            if callback is not None:
                callback({"env_steps": self.env_steps, "reward": metrics[self.reward_metric],
                          **({"kl": metrics[self.kl_metric]} if self.kl_metric in metrics else {})})
            saved = self._checkpoint_if_due()
        progress.close()
        return self._finish_run(saved)

    @property
    def progress_label(self) -> str:
        """The progress bar's label: the algorithm's name."""
        return type(self).__name__.removesuffix("Trainer")

    # ---------------------------------------------------------------- shared parts of the steps
    @property
    @abstractmethod
    def policy_lm(self) -> nn.Module:
        """The policy's language model, as decoding runs it."""

    @abstractmethod
    def rollout_modules(self) -> tuple[nn.Module | None, ...]:
        """The modules whose FSDP2-sharded parameters decoding needs gathered."""

    def sample_rollout(self, samples_per_prompt: int, sampling_round: int = 0, **decoding: Any) -> ScoredRollout:
        """One rollout batch on fresh random training prompts: ``num_envs / samples_per_prompt`` of them, each
        sampled ``samples_per_prompt`` times in adjacent slots, all started together; this process runs its rows of
        the global batch. The token sampler is re-seeded from the run's seed, the iteration and ``sampling_round``
        (so an episode's tokens do not depend on the number of processes); ``decoding``: further
        :func:`~agents.lm.rollout.collect_rollout` arguments (NLPO's reference)."""
        config = self.config
        prompts = self.rng.integers(len(self.task.dataset), size=config.num_envs // samples_per_prompt)
        example_indices = np.repeat(prompts, samples_per_prompt)[self.rows]
        self.sampler.manual_seed(episode_seed(config.seed, self.iteration, sampling_round))
        with autocast(self.device, config.mixed_precision), self.dist.gathered(*self.rollout_modules()):
            rollout = collect_rollout(
                self.env, self.policy_lm, example_indices, temperature=config.temperature, top_k=config.top_k,
                top_p=config.top_p, generator=self.sampler, shard=(self.dist.rank, self.dist.world_size),
                lockstep=self.dist.all if self.dist.lockstep else None, decoding_backend=config.decoding_backend,
                **decoding)
        return ScoredRollout(rollout, self.dist.gather(rollout.env_rewards.sum(dim=1)))

    def sampled_logits(self, raw_logits: torch.Tensor, batch: TokenBatch, truncated: bool = True) -> torch.Tensor:
        """Float32 logits of the distribution each token of ``batch`` came from, from the model's raw logits: sliced
        to the env's vocabulary, divided by the temperature and restricted to the legal set
        (:meth:`~agents.lm.batch.TokenBatch.legal_actions`: with ``truncated`` the top-k / top-p support sampled
        from, the policy's; otherwise the env's legal actions, the reference's)."""
        vocab_size = self.task.vocab_size
        return policy_logits(raw_logits, vocab_size, self.config.temperature,
                             batch.legal_actions(vocab_size, truncated))

    def gradient_step(self, minibatch: Batch, micro_loss: MicroBatchLoss, grad_norm_metric: str) -> dict[str, float]:
        """One optimizer step on a minibatch: its micro-batches' losses (``gradient_accumulation_steps`` of them,
        prompts trimmed to their own padding) are backpropagated one after the other, gradients synchronized over the
        processes only on the last (:meth:`Distributed.no_sync`); then the global gradient norm is clipped, the
        scheduled learning rate set and the step taken.

        Every loss is a micro-batch's share of the *global* minibatch's (token sums divided by the global minibatch's
        count), so the shares add up whatever the split into processes and micro-batches
        (:meth:`Distributed.backward`). Returns the minibatch's diagnostics (the micro-batches' and processes' shares
        summed: the same on every process) and its gradient norm under ``grad_norm_metric``."""
        self.optimizer.zero_grad(set_to_none=True)
        shares: dict[str, torch.Tensor] = {}
        size = len(minibatch)
        micro_size = size // self.config.gradient_accumulation_steps
        for start in range(0, size, micro_size):
            micro = minibatch.rows(slice(start, start + micro_size)).trim_prompt()
            with self.dist.no_sync(self.model, sync=start + micro_size >= size):
                loss, stats = micro_loss(micro)
                self.dist.backward(loss)
            for key, value in stats.items():
                shares[key] = shares.get(key, 0.0) + value
        metrics = dict(zip(shares, self.dist.sum(torch.stack(list(shares.values()))).tolist()))
        metrics[grad_norm_metric] = self.dist.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.optimizer.step()
        self.optimizer_steps += 1
        return metrics

    def learning_rate(self) -> float:
        """Learning rate of the next optimizer step (:func:`scheduled_learning_rate`)."""
        return scheduled_learning_rate(self.config, self.optimizer_steps, self.iteration, self.env_steps,
                                       self.max_env_steps)

    def ratio_deviation(self, logprobs: torch.Tensor, rollout_logprobs: torch.Tensor, mask: torch.Tensor) -> float:
        """Max ``|π / π_rollout - 1|`` over the masked tokens of every process. On an update's first micro-batch it
        is ~0 unless the rollout and the update compute different policies (logged as first_ratio_deviation)."""
        ratio = torch.exp(logprobs.detach() - rollout_logprobs)[mask.bool()]
        return float(self.dist.max(
            (ratio - 1).abs().max() if ratio.numel() else torch.zeros((), device=self.device)))

    # ---------------------------------------------------------------- setup, run state, checkpoints

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
        lm = load_pretrained(model if model is not None
                             else resolve_model_source(config.env, config.model, config.env_kwargs))
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

    def _progress_bar(self) -> RunProgress:
        """The run's progress bar (:class:`RunProgress`), from the current iteration; shown on the main process when
        ``config.progress``."""
        return RunProgress(self.progress_label, self.config.iterations, self.max_env_steps, self.iteration,
                           self.env_steps, enabled=self.config.progress and self.dist.is_main)

    def _checkpoint_if_due(self) -> bool:
        """Save a checkpoint (with a run directory) when the iteration just ended is a multiple of
        ``config.checkpoint_every``; returns whether it was one."""
        due = self.config.checkpoint_every > 0 and self.iteration % self.config.checkpoint_every == 0
        if self.out and due:
            self.save_checkpoint()
        return due

    def _finish_run(self, saved: bool) -> list[dict[str, float]]:
        """End of training: with a run directory, the final checkpoint (unless the last iteration ``saved`` one), the
        exported model and the learning-curve plot; then wait for every process. Returns the metrics history."""
        if self.out:
            if not (self.history and saved):
                self.save_checkpoint()
            self.export_model(self.out / "model")
            if self.logger:
                self.logger.plot(self.history, self.plot_panels)
        # No process returns (and e.g. reads the run directory) before the main one has written it.
        self.dist.barrier()
        return self.history


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
