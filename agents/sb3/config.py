"""Every setting of the SB3 baselines in one dataclass: one docstring line per field, recorded with results.

The defaults mirror our PPO (:class:`agents.ppo.config.PPOConfig`) wherever the two algorithms share a setting
(learning rate, epochs, minibatches, γ, λ, clipping, value coefficient, gradient norm), so a comparison measures the
implementations, not their tuning. Each agent class may override some defaults (e.g. the MLP floor's learning rate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

BYTES_PER_MASK_ENTRY = 4
"""sb3_contrib's MaskableRolloutBuffer stores action masks as float32."""


@dataclass
class SB3Config:
    # Model
    model: str = "default"
    """"default": the task's shipped warm-start checkpoint (a fresh GPT-2 of model_size when it is missing),
    "scratch": a fresh GPT-2 of model_size, or a local Hugging Face causal LM directory"""
    model_size: str = "tiny"
    """size of a model built from scratch (agents.models.CAUSAL_SIZES)"""
    model_overrides: dict = field(default_factory=dict)
    """GPT2Config fields of a model built from scratch, e.g. {"n_layer": 1}"""
    device: str = "auto"
    """torch device of the policy: "auto" (CUDA if available), "cpu" or "cuda\""""

    # Rollouts
    num_envs: int = 16
    """sub-envs of SB3's DummyVecEnv, each made by gymnasium.make"""
    n_steps: int = 0
    """env steps per sub-env per rollout; 0 = the env's max_new_tokens (about one episode per sub-env)"""

    # Updates
    learning_rate: float = 1e-5
    """optimizer learning rate (constant)"""
    n_epochs: int = 4
    """PPO: passes over each rollout"""
    batch_size: int = 0
    """PPO: minibatch size in env steps; 0 = a quarter of the rollout (n_steps * num_envs / 4)"""
    gamma: float = 1.0
    """discount factor (1 for terminal rewards, as our PPO)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_range: float = 0.2
    """PPO: policy ratio clipping"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.1
    """value loss coefficient"""
    max_grad_norm: float = 1.0
    """global gradient norm clipping"""
    normalize_advantage: bool = True
    """whiten advantages per minibatch (PPO) / rollout (A2C)"""

    # Action masks (MaskablePPO)
    mask_top_p: float = 0.9
    """NLPO mask: the legal tokens at each step are the reference model's top-p nucleus (EOS always legal)"""
    mask_top_k: int = 0
    """additionally cap the mask at the reference's k most likely tokens (0: no cap)"""
    mask_memory_budget_mb: float = 2048.0
    """refuse configurations whose MaskablePPO mask buffer would exceed this many MiB (see mask_buffer_bytes)"""

    verbose: int = 0
    """SB3 verbosity (0 silent, 1 per-rollout table)"""

    def __post_init__(self) -> None:
        for name in ("num_envs", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"SB3Config.{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("n_steps", "batch_size", "mask_top_k"):
            if getattr(self, name) < 0:
                raise ValueError(f"SB3Config.{name} must be >= 0, got {getattr(self, name)}.")
        if not 0 < self.mask_top_p <= 1:
            raise ValueError(f"SB3Config.mask_top_p must lie in (0, 1], got {self.mask_top_p}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"SB3Config.device must be 'auto', 'cpu' or 'cuda', got {self.device!r}.")

    def resolved(self, max_new_tokens: int) -> "SB3Config":
        """A copy with n_steps and batch_size filled in for an env with the given token budget."""
        n_steps = self.n_steps or max_new_tokens
        batch_size = self.batch_size or max(2, n_steps * self.num_envs // 4)  # SB3 needs >= 2 to whiten
        return SB3Config(**{**asdict(self), "n_steps": n_steps, "batch_size": batch_size})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return "\n".join(f"{f.name:24} {getattr(self, f.name)!r}" for f in fields(self))


def mask_buffer_bytes(n_steps: int, num_envs: int, batch_size: int, vocab_size: int) -> int:
    """Peak memory of MaskablePPO's action masks: the float32 buffer of ``n_steps × num_envs × V``, its flattened
    copy made when the rollout is read for training (``swap_and_flatten``), and one minibatch on the device."""
    return (2 * n_steps * num_envs + batch_size) * vocab_size * BYTES_PER_MASK_ENTRY
