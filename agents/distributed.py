"""Training on several processes through accelerate, with results that do not depend on how many.

``textenvs train ppo|grpo`` runs unchanged under ``accelerate launch --num_processes W`` or ``torchrun
--nproc_per_node W``. The run's batch of ``num_envs = B`` episodes is the **global** batch: every process draws the
same prompts and random numbers for all ``B`` episodes (same seed) and keeps its own rows, a contiguous slice of
``B / W`` (:meth:`Distributed.shard`), which it decodes through its own vector env. Whatever is a statistic of the
batch is computed over the global batch:

- per-episode quantities (scores, episode KL) are gathered (:meth:`Distributed.gather`), so group baselines, reward
  whitening, running reward moments and the adaptive KL controller see all ``B`` episodes;
- token statistics (advantage whitening, loss token counts) are sums reduced over processes
  (:meth:`Distributed.sum`), and every loss is each process's share of the global mean, scaled by ``W``
  (:meth:`Distributed.backward`) so that the gradient DDP averages equals the one-process gradient;
- minibatches are drawn for the global batch with a stratified shuffle (:func:`stratified_minibatches`): each process
  owns the same number of episodes of every minibatch, and the minibatch is the same set of episodes for any ``W``.

One process (no launcher) takes the same code path with identity collectives and without accelerate: a run with
``W`` processes and a run with one process and the same config and seed compute the same parameters, up to
floating-point summation order. accelerate starts the process group and places each process on its device; models
are wrapped with DDP (default) or sharded with FSDP2 (:meth:`Distributed.prepare`); the wrapped model is only called
for gradient passes, decoding and scoring use the module inside. Checkpoints hold full (unsharded) states keyed by
parameter name (:meth:`Distributed.state_dict`), so a run written by ``N`` processes resumes on ``M``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from agents.models import resolve_device

LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What ``torchrun`` / ``accelerate launch`` set besides ``WORLD_SIZE``; a process without them cannot join a group."""

STRATEGIES = ("ddp", "fsdp")


def launched_world_size() -> int:
    """Number of processes of the launch this process belongs to (``WORLD_SIZE``; 1 without a launcher)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        world_size = int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={value!r} is not an integer (set by torchrun / accelerate launch).") from None
    if world_size < 1:
        raise ValueError(f"WORLD_SIZE={world_size} must be >= 1.")
    return world_size


def check_launch_environment(device: str) -> None:
    """Fail before any work with what is missing for a multi-process run: the launcher's variables, or a
    ``torch.distributed`` backend for the device (``nccl`` on CUDA, ``gloo`` on CPU)."""
    import torch.distributed as dist

    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not set: start the run with `accelerate launch "
                           "--num_processes N -m textenvs train ...` or `torchrun --nproc_per_node N -m textenvs "
                           "train ...`, not by setting WORLD_SIZE alone.")
    if not dist.is_available():
        raise RuntimeError("This torch build has no torch.distributed support: a multi-process run needs one "
                           "(install a torch build with distributed support).")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    backend, available = ("nccl", dist.is_nccl_available()) if use_cuda else ("gloo", dist.is_gloo_available())
    if not available:
        raise RuntimeError(f"A multi-process run on {'CUDA' if use_cuda else 'CPU'} needs the {backend!r} backend of "
                           f"torch.distributed, which this torch build lacks.")


def config_json(config: dict[str, Any]) -> str:
    """A config as JSON with sorted keys; a value that is not JSON (an in-memory tokenizer, dataset or scorer passed
    through ``env_kwargs``) stands as its type, since its ``repr`` may hold a memory address that differs between
    processes."""
    return json.dumps(config, sort_keys=True, default=lambda value: f"<{type(value).__qualname__}>")


def config_digest(config: dict[str, Any]) -> str:
    """A short hash of :func:`config_json`."""
    return hashlib.sha256(config_json(config).encode()).hexdigest()[:16]


def stratified_minibatches(global_size: int, num_minibatches: int, rng: np.random.Generator,
                           rows: slice | None = None) -> list[np.ndarray]:
    """One epoch's minibatches of a global batch, as indices local to ``rows`` (default: the whole batch).

    Stratified shuffle: the batch is cut into consecutive blocks of ``num_minibatches`` episodes and each block
    sends one episode, chosen at random, to every minibatch. The random numbers are drawn for the whole global batch
    (the same draw on every process), so a minibatch is the same set of episodes however the batch is split into
    contiguous shards whose size is a multiple of ``num_minibatches``, and each shard holds the same number of its
    episodes. (Consecutive episodes of one block never share a minibatch: the samples of one prompt, adjacent in the
    batch, are spread over the minibatches.)
    """
    if global_size % num_minibatches:
        raise ValueError(f"The batch of {global_size} episodes does not split into num_minibatches="
                         f"{num_minibatches} equal minibatches.")
    rows = rows or slice(0, global_size)
    # Column j of a block's random order is the minibatch its j-th episode joins.
    assignment = np.argsort(rng.random((global_size // num_minibatches, num_minibatches)), axis=1).reshape(-1)
    local = assignment[rows]
    return [np.flatnonzero(local == minibatch) for minibatch in range(num_minibatches)]


def episode_seed(seed: int, iteration: int, sampling_round: int = 0) -> int:
    """The token-sampling seed of one iteration's rollout, derived from the run's seed and the iteration (the
    sampler is re-seeded per rollout, so processes that decoded different numbers of steps stay in step), and, for
    the further rollouts of an iteration (DAPO's dynamic sampling), the round."""
    entropy = [seed, iteration] + ([sampling_round] if sampling_round else [])
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


class Distributed:
    """The processes a trainer runs on: accelerate's when launched with several, else this one alone.

    :param device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda"``.
    :param strategy: ``"ddp"`` (each process holds the whole model, gradients are averaged) or ``"fsdp"`` (FSDP2:
        parameters, gradients and optimizer state sharded over the processes, for models that do not fit one device).
    :param find_unused_parameters: DDP option, for models with parameters that get no gradient in some passes.

    :ivar accelerator: the ``accelerate.Accelerator``, or None on the single-process path.
    :ivar rank: this process's index; :ivar world_size: the number of processes ``W``.
    """

    def __init__(self, device: str = "auto", strategy: str = "ddp", find_unused_parameters: bool = False) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
        self.strategy = strategy
        self.world_size = launched_world_size()
        self.accelerator = None
        # A CUDA request without CUDA fails here, before the launch is checked, as it does for one process.
        self.rank, self.device = 0, resolve_device(device)
        if self.world_size == 1:
            return
        check_launch_environment(device)
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        # accelerate starts the process group and places this process on its device. FSDP2 is applied by prepare()
        # with torch's fully_shard rather than accelerate's FSDP plugin, which only exists on GPUs and shards from
        # the root (decoding calls parts of the model, not its forward). ``cpu`` follows the resolved device: without
        # it, accelerate on a machine without GPUs would not join the launch's processes.
        self.accelerator = Accelerator(
            cpu=self.device.type == "cpu",
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)])
        if self.accelerator.num_processes != self.world_size:
            raise RuntimeError(f"WORLD_SIZE={self.world_size} but accelerate joined {self.accelerator.num_processes} "
                               f"process(es) ({self.accelerator.distributed_type}); start the run with `accelerate "
                               "launch --multi_gpu --num_processes N` or `torchrun --nproc_per_node N`.")
        self.rank, self.device = self.accelerator.process_index, self.accelerator.device

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (logs, checkpoints, the exported model)."""
        return self.rank == 0

    def launch_record(self, num_envs: int) -> dict[str, Any]:
        """How a run was launched, for its run directory (``launch.json``) and checkpoints: the number of processes,
        the strategy, each process's share of the global batch of ``num_envs`` episodes and the device type."""
        return {"world_size": self.world_size, "strategy": self.strategy,
                "per_process_batch": num_envs // self.world_size, "device": self.device.type}

    def describe(self, num_envs: int) -> str:
        return (f"training on {self.world_size} process{'es' if self.world_size > 1 else ''} ({self.strategy}), "
                f"{num_envs // self.world_size} episodes each, on {self.device.type}")

    # ---------------------------------------------------------------- the global batch
    def check_divisible(self, **sizes: int) -> None:
        """Fail unless every ``name=size`` splits evenly over the processes (before any work starts)."""
        for name, size in sizes.items():
            if size % self.world_size:
                raise ValueError(f"{name}={size} must be divisible by the number of processes ({self.world_size}): "
                                 f"each process runs {name} / {self.world_size} of them.")

    def check_batch(self, num_envs: int, num_minibatches: int, gradient_accumulation_steps: int) -> None:
        """Fail unless the global batch of ``num_envs`` episodes splits over the processes as training needs: the same
        number of episodes each, of every minibatch each (:func:`stratified_minibatches`), and of every micro-batch."""
        self.check_divisible(num_envs=num_envs)
        local = num_envs // self.world_size
        if local % num_minibatches or (local // num_minibatches) % gradient_accumulation_steps:
            raise ValueError(
                f"num_envs={num_envs} over {self.world_size} processes gives {local} episodes per process, which must "
                f"split into num_minibatches={num_minibatches} minibatches of gradient_accumulation_steps="
                f"{gradient_accumulation_steps} equal micro-batches: num_envs must be a multiple of "
                f"{self.world_size * num_minibatches * gradient_accumulation_steps}.")

    def shard(self, global_size: int) -> slice:
        """This process's rows of a global batch of ``global_size``: a contiguous slice, in rank order."""
        self.check_divisible(batch=global_size)
        size = global_size // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    # ---------------------------------------------------------------- collectives (identity for one process)
    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every process's ``tensor`` (same shape on all), concatenated along the first dimension in rank order:
        the global batch's values."""
        if self.world_size == 1:
            return tensor
        return self.accelerator.gather(tensor.contiguous())

    def gather_rollout(self, rollout: Any, pad_id: int, left_padded_prompt: bool) -> Any:
        """Every process's episodes of a :class:`~agents.lm.rollout.Rollout` (its tensors padded to the widest
        process's with :func:`~agents.lm.rollout.pad_rollout`, then concatenated in rank order), on every process;
        the episode records stay each process's own (the result holds none)."""
        if self.world_size == 1:
            return rollout
        from agents.lm.rollout import Rollout, pad_rollout

        support = rollout.sampling_support
        widths = self.max(torch.tensor([rollout.prompt_ids.shape[1], rollout.generated_ids.shape[1],
                                        support.shape[2] if support is not None else 0], device=self.device))
        padded = pad_rollout(rollout, *(int(width) for width in widths), pad_id, left_padded_prompt)

        def gather(value: torch.Tensor | None) -> torch.Tensor | None:
            if value is None:
                return None
            # (booleans travel as integers: not every backend gathers bool tensors)
            return self.gather(value.long()).bool() if value.dtype == torch.bool else self.gather(value)

        return Rollout(**{name: gather(getattr(padded, name)) for name in Rollout.__dataclass_fields__
                          if name != "records"}, records=[])

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of ``tensor`` over the processes."""
        if self.world_size == 1:
            return tensor
        return self.accelerator.reduce(tensor.clone(), reduction="sum")

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise maximum of ``tensor`` over the processes."""
        if self.world_size == 1:
            return tensor
        return self.gather(tensor.unsqueeze(0)).amax(dim=0)

    def check_same_config(self, config: dict[str, Any]) -> None:
        """Fail on every process, naming the differing fields, unless all processes run the same config (a process
        started with other flags would silently train another model)."""
        if self.world_size == 1:
            return
        from accelerate.utils import gather_object

        texts = gather_object([config_json(config)])
        if len(set(texts)) == 1:
            return
        configs = [json.loads(text) for text in texts]
        differing = sorted(key for key in set().union(*configs)
                           if len({json.dumps(c.get(key), sort_keys=True) for c in configs}) > 1)
        details = "; ".join(f"{key}: " + ", ".join(f"rank {rank}={c.get(key)!r}" for rank, c in enumerate(configs))
                            for key in differing)
        raise ValueError(f"The {self.world_size} processes were started with different configs "
                         f"(digests {[config_digest(c) for c in configs]}): {details}. Start every process with the "
                         "same arguments.")

    # ---------------------------------------------------------------- models and gradients
    @property
    def lockstep(self) -> bool:
        """Whether the processes must run the same number of forward passes (FSDP2: every forward gathers the
        parameters from all processes), so decoding goes on until every process's episodes have ended."""
        return self.strategy == "fsdp" and self.world_size > 1

    def all(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every process (in lockstep; otherwise this process's ``flag``)."""
        if not self.lockstep:
            return flag
        return bool(self.sum(torch.tensor(int(not flag), device=self.device)) == 0)

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` on this process's device, ready for training on the processes: wrapped with DDP, or sharded in
        place with FSDP2, or as it is for one process. Returns the module to call for gradient passes.

        FSDP2 makes every transformer block a unit (gathered in its own forward) and ``model`` the root unit, which
        holds the rest (embeddings, heads: tied weights stay together). Code that calls parts of the model without its
        forward (decoding, scoring) runs inside :meth:`gathered`. Build the optimizer after this call: FSDP2 replaces
        the parameters by their shards."""
        model.to(self.device)
        if self.world_size == 1:
            return model
        if self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard
            from transformers import PreTrainedModel

            blocks = set().union(*(m._no_split_modules or () for m in model.modules()
                                   if isinstance(m, PreTrainedModel)))
            for module in model.modules():
                if type(module).__name__ in blocks:
                    fully_shard(module)
            fully_shard(model)
            # Make ``model`` the root now: FSDP2 picks the first unit called as its root, and decoding calls blocks
            # first. (No public API does this in torch 2.13; the root's first forward would.)
            model._get_fsdp_state()._lazy_init()
            return model
        if not any(parameter.requires_grad for parameter in model.parameters()):
            return model  # a frozen model (the reference) needs no gradient averaging
        return self.accelerator.prepare_model(model)

    @contextlib.contextmanager
    def gathered(self, *models: nn.Module) -> Iterator[None]:
        """FSDP2: the root units' parameters of ``models`` gathered whole for the duration (for code that calls the
        model's parts rather than its forward); the blocks gather their own in their forward. Nothing otherwise."""
        sharded = [model for model in models if model is not None and self.lockstep]
        for model in sharded:
            model.unshard()
        try:
            yield
        finally:
            for model in sharded:
                model.reshard()

    def unwrap(self, model: nn.Module) -> nn.Module:
        """The module inside a DDP wrapper (FSDP2 shards in place: the module itself)."""
        return self.accelerator.unwrap_model(model, keep_torch_compile=False) if self.accelerator else model

    def state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
        """The full (unsharded) state of ``model`` and its optimizer on the CPU, keyed by parameter name: the same
        checkpoint whatever the strategy and number of processes, so a run resumes on any other. Call it on every
        process (FSDP2 gathers the shards); only the main process gets the values."""
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model = self.unwrap(model)
        return (get_model_state_dict(model, options=options),
                get_optimizer_state_dict(model, optimizer, options=options) if optimizer is not None else None)

    def load_state_dict(self, model: nn.Module, state: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer |
                        None = None, optimizer_state: dict[str, Any] | None = None) -> None:
        """Load a full state written by :meth:`state_dict` (each process reads the whole checkpoint and keeps its
        shards)."""
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                             set_optimizer_state_dict)

        options = StateDictOptions(full_state_dict=True)
        model = self.unwrap(model)
        set_model_state_dict(model, state, options=options)
        if optimizer is not None:
            set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate this process's share of a global loss.

        ``loss`` must already be this process's part of the global mean (its sums divided by the global count), so
        the global loss is the sum of the processes' losses. DDP and FSDP average gradients over processes; the
        factor ``W`` turns that average back into the sum, the one-process gradient."""
        (loss * self.world_size).backward()

    def no_sync(self, model: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
        """Skip DDP's gradient all-reduce unless ``sync`` (gradient accumulation: only the last micro-batch of a
        minibatch needs it; the sum is the same either way)."""
        if sync or self.accelerator is None or self.strategy != "ddp":
            return contextlib.nullcontext()
        return model.no_sync()

    def clip_grad_norm_(self, parameters: Iterator[nn.Parameter], max_norm: float) -> float:
        """Clip the gradient norm over all parameters (FSDP2: over all shards) and return the norm before."""
        norm = nn.utils.clip_grad_norm_(parameters, max_norm)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)

    def barrier(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
