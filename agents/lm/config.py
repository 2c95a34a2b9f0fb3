"""The settings every language-model trainer's config starts with (:class:`RunConfig`), the checks the configs
share, and the ways a config is printed and documented.

Convention for the legal values of a field (one way, for every config here and in :mod:`agents.ppo` /
:mod:`agents.grpo`): a module-level tuple constant in UPPER_CASE next to the config (``get_args`` of a ``Literal``
where the values also type a function parameter, as ``textenvs.decoding.DECODING_BACKENDS``), checked in
``__post_init__`` by :func:`check_choices`.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, Mapping, Optional

from agents.lm.policy import MIXED_PRECISION
from textenvs.decoding import check_decoding_backend, check_truncation

DEVICES = ("auto", "cpu", "cuda")
STRATEGIES = ("ddp", "fsdp")
LR_SCHEDULES = ("linear", "constant")


def check_choices(config: Any, choices: Mapping[str, tuple[Any, ...]]) -> None:
    """Raise a ValueError naming the config class, the field, its legal values and the value given, for the first
    field of ``choices`` whose value is not among its legal ones."""
    for name, legal in choices.items():
        if getattr(config, name) not in legal:
            raise ValueError(f"{type(config).__name__}.{name} must be one of {legal}, got {getattr(config, name)!r}.")


def check_sampling(config: Any) -> None:
    """The checks of the rollout-sampling fields every trainer's config declares (``temperature``, ``top_k``,
    ``top_p``, ``decoding_backend``), so PPO and the GRPO family accept exactly the same values."""
    check_decoding_backend(config.decoding_backend)
    if config.temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {config.temperature}.")
    check_truncation(config.top_k, config.top_p)


@dataclass
class RunConfig:
    """The settings every language-model trainer's config starts with (:class:`PPOConfig`, ``GRPOConfig``): the
    experiment, the model, the optimizer, logging and checkpoints; their checks, and the ways a config is printed and
    saved. A subclass may give one of these fields its own default by declaring it again (it keeps its place)."""

    # Experiment
    env: str = "textenvs/Translation-v0"
    """registered textenvs environment id"""
    env_kwargs: dict = field(default_factory=dict)
    """keyword arguments for gymnasium.make_vec (dataset, scorer, tokenizer, max_new_tokens, ...)"""
    model: str = "default"
    """policy: a local Hugging Face model directory, or "default" for the task's shipped warm-start checkpoint"""
    out: Optional[str] = None
    """run directory for logs, plots and checkpoints (None: nothing is written)"""
    seed: int = 0
    """seeds python, numpy, torch, the prompt draws and the token sampling"""
    device: str = "auto"
    """"auto" (CUDA if available, else CPU), "cpu" or "cuda"; bf16 autocast is used on CUDA"""
    iterations: int = 100
    """number of iterations (one rollout batch + its updates each)"""
    strategy: str = "ddp"
    """how the processes of a multi-process launch (accelerate launch, torchrun) hold the model: "ddp" (a copy each,
    gradients averaged) or "fsdp" (FSDP2: parameters, gradients and optimizer state sharded over the processes)"""

    # Model
    lora_r: int = 0
    """LoRA rank (peft) for the policy's linear layers; 0 trains every weight"""
    lora_alpha: int = 16
    """LoRA scaling numerator"""
    mixed_precision: str = "auto"
    """precision of the forward passes: "auto" (bf16 autocast on CUDA, float32 on CPU), "bf16" (bf16 autocast on any
    device) or "no" (float32)"""
    gradient_checkpointing: bool = False
    """recompute activations in the backward pass instead of storing them (less memory for long sequences, about one
    more forward pass per update)"""
    fused_activations: bool = True
    """run a model's Python-composed tanh GELU (GPT-2's gelu_new, gelu_fast) as PyTorch's fused kernel of the same
    formula (equal up to float rounding, ~4x faster; textenvs.decoding.fuse_activations)"""

    # Optimizer
    learning_rate: float = 1e-5
    """AdamW learning rate"""
    lr_schedule: str = "linear"
    """"linear" (decay to 0 over the run: iterations or the env-step budget, whichever ends it) or "constant", after
    warmup"""
    warmup_steps: int = 0
    """optimizer steps of linear learning-rate warmup"""
    gradient_accumulation_steps: int = 1
    """micro-batches (per process) per minibatch whose gradients are accumulated before the step"""
    max_grad_norm: float = 1.0
    """global gradient norm clipping"""

    # Logging and checkpoints
    checkpoint_every: int = 10
    """iterations between checkpoints (also written at the end; needs out)"""
    keep_checkpoints: int = 2
    """most recent checkpoints kept on disk"""
    resume: bool = False
    """continue from the latest checkpoint in out"""
    progress: bool = True
    """show a progress bar with the iteration's reward and main statistics"""
    tensorboard: bool = True
    """write TensorBoard event files to out/tensorboard"""

    def __post_init__(self) -> None:
        check_choices(self, {"device": DEVICES, "strategy": STRATEGIES, "mixed_precision": MIXED_PRECISION,
                             "lr_schedule": LR_SCHEDULES})
        if self.gradient_accumulation_steps < 1 or self.warmup_steps < 0:
            raise ValueError("gradient_accumulation_steps must be >= 1 and warmup_steps >= 0, got "
                             f"{self.gradient_accumulation_steps} and {self.warmup_steps}.")
        if self.strategy == "fsdp" and self.lora_r > 0:
            raise ValueError("strategy='fsdp' with lora_r > 0 is not supported (the merged LoRA export needs whole "
                             "weights): train LoRA with strategy='ddp', whose frozen base is not sharded anyway.")
        if self.resume and self.out is None:
            raise ValueError("resume=True needs out (the run directory holding the checkpoints).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return describe_config(self)



def describe_config(config: Any) -> str:
    """One line per field of a config dataclass: name, value and its docstring."""
    docs = field_docs(type(config))
    return "\n".join(f"{f.name:28} {getattr(config, f.name)!r:36} # {docs.get(f.name, '')}" for f in fields(config))


@lru_cache(maxsize=None)
def field_docs(config_class: type) -> dict[str, str]:
    """The docstring line under each field of a config dataclass and of the dataclasses it extends (read from the
    source, as CleanRL/tyro do)."""
    docs: dict[str, str] = {}
    for owner in reversed(config_class.__mro__):
        if "__dataclass_fields__" not in vars(owner):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(owner))).body[0].body
        for node, following in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) \
                    and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs
