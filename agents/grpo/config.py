"""Every GRPO-family setting in one dataclass: one docstring line per field, printed with the run and saved with
checkpoints. Names follow TRL's ``GRPOConfig`` where the idea is the same (``loss_type``, ``num_generations``,
``epsilon``/``epsilon_high``, ``beta``, ``scale_rewards``, ``num_iterations``) and verl's ``adv_estimator``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from agents.ppo.config import RunConfig
from textenvs.decoding import check_decoding_backend, check_truncation

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
ADVANTAGE_ESTIMATORS = ("grpo", "rloo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass
class GRPOConfig(RunConfig):
    # Rollouts
    num_envs: int = 16
    """episodes per rollout batch (sub-envs of the native vector env, decoded together); with W processes, the
    global batch: each process runs num_envs / W of them"""
    num_generations: int = 4
    """group size G: episodes sampled per drawn prompt (num_envs / num_generations prompts per batch)"""
    temperature: float = 1.0
    """sampling temperature; logprobs are computed from logits / temperature as well"""
    top_k: int = 0
    """sample only among the k most likely tokens (0: off); part of each step's legal actions, so the ratio and
    entropy are those of the distribution sampled"""
    top_p: float = 1.0
    """sample only from the nucleus of this probability mass (1.0: off); part of the legal actions like top_k"""
    decoding_backend: str = "eager"
    """rollout decoding (textenvs.decoding.CachedDecoder): "eager" (DynamicCache), "static" (StaticCache), "compiled"
    (static + torch.compile, compiles once per batch size), "cudagraphs" (compiled with CUDA graphs, CUDA only)"""

    # Advantages
    advantage_estimator: str = "grpo"
    """baseline of each episode's score: "grpo" (the group mean) or "rloo" (the mean of the group's other episodes)"""
    scale_rewards: str = "group"
    """divide advantages by the std of the group's scores ("group", GRPO), of the whole batch ("batch") or not at
    all ("none", Dr. GRPO / RLOO); True and False mean "group" and "none\""""
    dynamic_sampling: bool = False
    """leave the groups whose scores are all equal (zero advantage, no signal) out of the update (DAPO): their tokens
    are masked out of every loss and count (the batch shrinks, it is not refilled with new prompts); no optimizer step
    for a minibatch left without episodes"""

    # Loss
    loss_type: str = "grpo"
    """"grpo" (token mean per episode, then mean over episodes), "dr_grpo" (token sum / (episodes *
    max_new_tokens)), "dapo" (token mean over the whole minibatch) or "bnpo" (token mean per micro-batch)"""
    epsilon: float = 0.2
    """lower clipping bound of the ratio: 1 - epsilon"""
    epsilon_high: Optional[float] = None
    """upper clipping bound 1 + epsilon_high (DAPO's clip-higher, e.g. 0.28); None: epsilon"""
    beta: float = 0.0
    """coefficient of the k3 KL penalty against the frozen initial policy in the loss; 0 builds no reference"""

    # Updates
    num_iterations: int = 1
    """mu: passes over each rollout batch (PPO-style epochs), reshuffled every pass"""
    num_minibatches: int = 1
    """minibatches per pass (one optimizer step each), drawn by a stratified shuffle: each run of num_minibatches
    consecutive episodes sends one episode to every minibatch"""
    lr_schedule: str = "constant"  # RunConfig's field (documented and placed there), with GRPO's default

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.scale_rewards, bool):
            self.scale_rewards = "group" if self.scale_rewards else "none"
        choices = {"loss_type": LOSS_TYPES, "advantage_estimator": ADVANTAGE_ESTIMATORS,
                   "scale_rewards": SCALE_REWARDS}
        for name, legal in choices.items():
            if getattr(self, name) not in legal:
                raise ValueError(f"GRPOConfig.{name} must be one of {legal}, got {getattr(self, name)!r}.")
        if self.num_generations < 2 or self.num_envs % self.num_generations:
            raise ValueError(f"num_envs={self.num_envs} must be a multiple of num_generations="
                             f"{self.num_generations} (>= 2: a group needs two episodes to compare).")
        if self.num_minibatches < 1 or self.num_iterations < 1:
            raise ValueError(f"num_minibatches and num_iterations must be >= 1, got {self.num_minibatches} and "
                             f"{self.num_iterations}.")
        if self.num_envs % (self.num_minibatches * self.gradient_accumulation_steps):
            raise ValueError(f"num_envs={self.num_envs} must be divisible by num_minibatches * "
                             f"gradient_accumulation_steps = {self.num_minibatches * self.gradient_accumulation_steps}.")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        check_truncation(self.top_k, self.top_p)
        check_decoding_backend(self.decoding_backend)
        if not 0 <= self.epsilon < 1 or (self.epsilon_high is not None and self.epsilon_high < 0):
            raise ValueError(f"epsilon must lie in [0, 1) and epsilon_high be >= 0 or None, got {self.epsilon} and "
                             f"{self.epsilon_high}.")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}.")

    @property
    def clip_high(self) -> float:
        """The upper clipping epsilon in force (``epsilon_high``, or ``epsilon`` when it is None)."""
        return self.epsilon if self.epsilon_high is None else self.epsilon_high
