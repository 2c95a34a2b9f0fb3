"""Every GRPO-family setting in one dataclass: one docstring line per field, printed with the run and saved with
checkpoints. Names follow TRL's ``GRPOConfig`` where the idea is the same (``loss_type``, ``num_generations``,
``epsilon``/``epsilon_high``, ``beta``, ``scale_rewards``, ``num_iterations``) and verl's ``adv_estimator``;
``loss_type="rloo"`` is TRL's ``RLOOTrainer`` (which has no ``loss_type``: it is a trainer of its own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from agents.lm.config import RunConfig, check_choices, check_sampling

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
"""TRL GRPOTrainer's loss types on PPO's clipped surrogate: a clipped ratio per token (per episode with
importance_sampling_level "sequence"), aggregated as each says"""
OTHER_LOSS_TYPES = ("cispo", "rloo")
""""cispo" (TRL GRPOTrainer's: capped, detached importance weights) and "rloo" (TRL's RLOOTrainer)"""
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")
IMPORTANCE_SAMPLING_CORRECTIONS = ("none", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask")
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
    """DAPO's dynamic sampling: train only on groups whose scores differ (a group of equal scores has zero advantage),
    sampling further batches of fresh prompts until num_envs / num_generations such groups are collected (at most
    max_sampling_rounds batches); a batch still short after them is completed with signal-free groups masked out of
    every loss and count; no optimizer step for a minibatch left without episodes"""
    max_sampling_rounds: int = 4
    """with dynamic_sampling, the most rollout batches generated per iteration (verl's max_num_gen_batches); 1 only
    filters the first batch. Logged as sampling_rounds; env_steps counts every round's tokens"""

    # Loss
    loss_type: str = "grpo"
    """"grpo" (token mean per episode, then mean over episodes), "dr_grpo" (token sum / (episodes *
    max_new_tokens)), "dapo" (token mean over the whole minibatch), "bnpo" (token mean per micro-batch), "cispo"
    (MiniMax-M1 as TRL: -min(ratio, epsilon_high) A log π, the weight detached, token mean over the minibatch) or
    "rloo" (TRL's RLOOTrainer: one clipped ratio per episode, of its sequence probabilities, mean over episodes;
    beta is then a k1 KL penalty on each episode's reward, before the baseline)"""
    importance_sampling_level: str = "token"
    """the ratio of the clipped (or, for cispo, capped) loss: "token" (one per token) or "sequence" (GSPO, as TRL:
    one per episode, the geometric mean of its tokens' ratios, on each of its tokens; then aggregated per loss_type,
    GSPO's paper with "grpo")"""
    epsilon: float = 0.2
    """lower clipping bound of the ratio: 1 - epsilon"""
    epsilon_high: Optional[float] = None
    """upper clipping bound 1 + epsilon_high (DAPO's clip-higher, e.g. 0.28); None: epsilon. With loss_type "cispo"
    the cap of the ratio itself, TRL's ε_max (ScaleRL: 5.0)"""
    beta: float = 0.0
    """coefficient of the KL penalty against the frozen initial policy; 0 builds no reference. A k3 term in the loss,
    or with loss_type "rloo" (as TRL's RLOO) beta * the episode's summed k1 subtracted from its reward"""
    use_bias_correction_kl: bool = False
    """multiply the k3 term by the importance ratio to the sampling policy, gradient included (DeepSeek-V3.2's
    unbiased reverse-KL gradient; TRL's use_bias_correction_kl, on by default there, off here so that recorded
    beta > 0 results keep their meaning)"""

    # Rollout/trainer mismatch
    importance_sampling_correction: str = "none"
    """reweight the loss by the ratio of the trainer's logprobs to the rollout's, for rollouts decoded by another
    engine or precision (compiled or bf16 decoding): "none", "token_truncate", "token_mask", "sequence_truncate" or
    "sequence_mask" (TRL's vllm_importance_sampling_mode: per token or per episode, clamped or zeroed outside
    [importance_sampling_min, importance_sampling_max]); logged as importance_sampling/ratio_mean"""
    importance_sampling_max: float = 3.0
    """upper bound of the correction's ratio (TRL's vllm_importance_sampling_clip_max)"""
    importance_sampling_min: Optional[float] = None
    """lower bound of the correction's ratio (TRL's vllm_importance_sampling_clip_min); None: none"""

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
        check_choices(self, {"loss_type": LOSS_TYPES + OTHER_LOSS_TYPES, "advantage_estimator": ADVANTAGE_ESTIMATORS,
                             "scale_rewards": SCALE_REWARDS, "importance_sampling_level": IMPORTANCE_SAMPLING_LEVELS,
                             "importance_sampling_correction": IMPORTANCE_SAMPLING_CORRECTIONS})
        if self.num_generations < 2 or self.num_envs % self.num_generations:
            raise ValueError(f"num_envs={self.num_envs} must be a multiple of num_generations="
                             f"{self.num_generations} (>= 2: a group needs two episodes to compare).")
        if self.num_minibatches < 1 or self.num_iterations < 1:
            raise ValueError(f"num_minibatches and num_iterations must be >= 1, got {self.num_minibatches} and "
                             f"{self.num_iterations}.")
        if self.num_envs % (self.num_minibatches * self.gradient_accumulation_steps):
            raise ValueError(f"num_envs={self.num_envs} must be divisible by num_minibatches * "
                             f"gradient_accumulation_steps = {self.num_minibatches * self.gradient_accumulation_steps}.")
        check_sampling(self)
        if not 0 <= self.epsilon < 1 or (self.epsilon_high is not None and self.epsilon_high < 0):
            raise ValueError(f"epsilon must lie in [0, 1) and epsilon_high be >= 0 or None, got {self.epsilon} and "
                             f"{self.epsilon_high}.")
        if self.max_sampling_rounds < 1:
            raise ValueError(f"max_sampling_rounds must be >= 1, got {self.max_sampling_rounds}.")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}.")
        if self.loss_type == "rloo" and self.beta > 0 and self.scale_rewards != "none":
            # The penalty enters the rewards before the baseline; scaling by the std of the penalised rewards is
            # not offered (TRL's RLOO scales only with normalize_advantages, off by default).
            raise ValueError(f"loss_type='rloo' with beta > 0 needs scale_rewards='none', got "
                             f"{self.scale_rewards!r}.")
        if self.loss_type == "rloo" and (self.importance_sampling_correction != "none" or self.use_bias_correction_kl):
            raise ValueError("loss_type='rloo' (TRL's RLOOTrainer) takes neither importance_sampling_correction nor "
                             "use_bias_correction_kl (its KL is a reward penalty, not a loss term).")
        if self.importance_sampling_max <= 0 or (self.importance_sampling_min is not None
                                                 and not 0 <= self.importance_sampling_min < self.importance_sampling_max):
            raise ValueError("importance_sampling_max must be > 0 and importance_sampling_min None or in [0, max), "
                             f"got {self.importance_sampling_max} and {self.importance_sampling_min}.")
        if self.loss_type == "rloo" and self.importance_sampling_level != "token":
            raise ValueError("loss_type='rloo' has its own per-episode ratio (the sequence probabilities'); "
                             "importance_sampling_level must stay 'token'.")

    @property
    def clip_high(self) -> float:
        """The upper clipping epsilon in force (``epsilon_high``, or ``epsilon`` when it is None)."""
        return self.epsilon if self.epsilon_high is None else self.epsilon_high
