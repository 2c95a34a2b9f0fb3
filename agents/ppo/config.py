"""Every PPO setting in one dataclass: one docstring line per field, printed with the run and saved with checkpoints."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, Optional

from textenvs.decoding import check_decoding_backend, check_truncation


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
        choices = {"device": ("auto", "cpu", "cuda"), "strategy": ("ddp", "fsdp"),
                   "mixed_precision": ("auto", "bf16", "no"), "lr_schedule": ("linear", "constant")}
        for name, legal in choices.items():
            if getattr(self, name) not in legal:
                raise ValueError(f"{type(self).__name__}.{name} must be one of {legal}, got {getattr(self, name)!r}.")
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


@dataclass
class PPOConfig(RunConfig):
    # Rollouts
    num_envs: int = 16
    """episodes per rollout batch B (sub-envs of the native vector env, decoded together); with W processes, the
    global batch: each process runs B / W of them"""
    samples_per_prompt: int = 1
    """episodes per drawn prompt: B / samples_per_prompt prompts, each sampled this many times (needed by
    reward_normalization="group")"""
    temperature: float = 1.0
    """sampling temperature; logprobs are computed from logits / temperature as well"""
    top_k: int = 0
    """sample only among the k most likely tokens (0: off)"""
    top_p: float = 1.0
    """sample only from the nucleus of this probability mass (1.0: off)"""
    action_mask: str = "env"
    """masked PPO: "env" uses the env's action_masks() when it defines any; "nlpo" also restricts each step to
    the reference model's top-p tokens"""
    nlpo_top_p: float = 0.9
    """probability mass of the reference model's nucleus used by action_mask=nlpo"""
    decoding_backend: str = "eager"
    """rollout decoding (textenvs.decoding.CachedDecoder): "eager" (DynamicCache), "static" (StaticCache), "compiled"
    (static + torch.compile, compiles once per batch size), "cudagraphs" (compiled with CUDA graphs, CUDA only)"""

    # Policy and value
    value_model: str = "shared"
    """"shared": a zero-initialized linear value head on the policy's last hidden state; "separate": a copy of the
    initial model with its own zero-initialized head"""

    # Rewards
    kl_coef: float = 0.05
    """initial coefficient of the per-token KL penalty against the frozen reference (TRL's init_kl_coef)"""
    kl_estimator: str = "k1"
    """per-token KL estimator in the reward: "k1" (log p - log q) or "k3" ((r - 1) - log r, r = q / p)"""
    adaptive_kl_target: Optional[float] = None
    """target of the adaptive KL controller (Ziegler et al.): KL to the reference per episode (sum over tokens);
    None keeps kl_coef fixed"""
    adaptive_kl_horizon: int = 10000
    """adaptive KL controller horizon in episodes"""
    reward_normalization: str = "none"
    """scale of the env's scores: "none", "running" (divide by a running std), "batch" (whiten per rollout) or
    "group" (subtract the mean score of the other samples of the same prompt, RLOO's baseline)"""
    missing_eos_penalty: Optional[float] = None
    """subtracted from the score of episodes that reach max_new_tokens without emitting EOS (None: no penalty)"""

    # Advantages
    gamma: float = 1.0
    """discount factor (1 for terminal rewards)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    whiten_advantages: bool = True
    """normalize advantages over the batch's valid tokens"""

    # Updates
    update_epochs: int = 4
    """passes over each rollout batch, reshuffled every epoch"""
    num_minibatches: int = 4
    """minibatches per epoch (one optimizer step each), drawn by a stratified shuffle: each run of num_minibatches
    consecutive episodes sends one episode to every minibatch"""
    clip_coef: float = 0.2
    """policy ratio clipping"""
    clip_value: float = 0.2
    """value prediction clipping around the rollout's values"""
    value_coef: float = 0.1
    """value loss coefficient"""
    entropy_coef: float = 0.0
    """entropy bonus coefficient"""
    target_kl: Optional[float] = None
    """stop an iteration's update epochs once the approximate KL to the rollout policy (losses/approx_kl of the
    epoch's last minibatch) exceeds this (CleanRL's target_kl); None never stops early"""

    def __post_init__(self) -> None:
        super().__post_init__()
        choices = {"action_mask": ("env", "nlpo"), "value_model": ("shared", "separate"),
                   "kl_estimator": ("k1", "k3"), "reward_normalization": ("none", "running", "batch", "group")}
        for name, legal in choices.items():
            if getattr(self, name) not in legal:
                raise ValueError(f"PPOConfig.{name} must be one of {legal}, got {getattr(self, name)!r}.")
        if self.num_envs % self.num_minibatches:
            raise ValueError(f"num_envs={self.num_envs} must be divisible by num_minibatches={self.num_minibatches}.")
        if self.samples_per_prompt < 1 or self.num_envs % self.samples_per_prompt:
            raise ValueError(f"num_envs={self.num_envs} must be a multiple of samples_per_prompt="
                             f"{self.samples_per_prompt} (>= 1).")
        if self.reward_normalization == "group" and self.samples_per_prompt < 2:
            raise ValueError('reward_normalization="group" compares samples of the same prompt: it needs '
                             f"samples_per_prompt >= 2, got {self.samples_per_prompt}.")
        minibatch = self.num_envs // self.num_minibatches
        if minibatch % self.gradient_accumulation_steps:
            raise ValueError(f"The minibatch size {minibatch} must be divisible by gradient_accumulation_steps="
                             f"{self.gradient_accumulation_steps}.")
        check_decoding_backend(self.decoding_backend)
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        check_truncation(self.top_k, self.top_p)  # the GRPO family's check too
        if not 0 < self.nlpo_top_p <= 1:
            raise ValueError(f"nlpo_top_p must lie in (0, 1], got {self.nlpo_top_p}.")
        for name in ("adaptive_kl_target", "target_kl"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {getattr(self, name)}.")


def describe_config(config: Any) -> str:
    """One line per field of a config dataclass: name, value and its docstring."""
    docs = field_docs(type(config))
    return "\n".join(f"{f.name:28} {getattr(config, f.name)!r:36} # {docs.get(f.name, '')}" for f in fields(config))


@lru_cache(maxsize=None)
def field_docs(config_class: type = PPOConfig) -> dict[str, str]:
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
