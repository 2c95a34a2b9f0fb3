"""Every PPO setting in one dataclass: one docstring line per field, printed with the run and saved with checkpoints.
The settings every language-model trainer shares (:class:`~agents.lm.config.RunConfig`) come first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from agents.lm.config import RunConfig, check_choices, check_sampling, describe_config, field_docs

ACTION_MASKS = ("env", "nlpo")
VALUE_MODELS = ("shared", "separate")
KL_ESTIMATORS = ("k1", "k3")
REWARD_NORMALIZATIONS = ("none", "running", "batch", "group")


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
        check_choices(self, {"action_mask": ACTION_MASKS, "value_model": VALUE_MODELS, "kl_estimator": KL_ESTIMATORS,
                             "reward_normalization": REWARD_NORMALIZATIONS})
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
        check_sampling(self)
        if not 0 < self.nlpo_top_p <= 1:
            raise ValueError(f"nlpo_top_p must lie in (0, 1], got {self.nlpo_top_p}.")
        for name in ("adaptive_kl_target", "target_kl"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {getattr(self, name)}.")


__all__ = ["PPOConfig", "RunConfig", "describe_config", "field_docs"]  # the last three: agents.lm.config's
