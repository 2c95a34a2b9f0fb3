"""Stable-Baselines3 baselines on the textenvs environments, behind the :class:`~agents.base.Agent` interface.

- :class:`SB3PPOAgent` / :class:`SB3A2CAgent`: stock ``stable_baselines3`` PPO and A2C with
  :class:`~agents.sb3.policies.TransformerActorCriticPolicy` (the warm-start transformer as trunk and action head).
- :class:`SB3MaskablePPOAgent`: ``sb3_contrib`` MaskablePPO; the env's ``action_masks()`` restrict each step to
  the frozen reference (warm-start) model's top-p tokens, the NLPO idea.
- :class:`SB3MultiInputPPOAgent`: PPO with SB3's naive ``MultiInputPolicy`` (an MLP on the raw token ids), the floor.

Every run is a real SB3 run: the algorithm classes are used unchanged on a ``DummyVecEnv`` of envs made by
``gymnasium.make`` (each wrapped in SB3's ``Monitor``). The end of the token budget is a termination in the env
itself, so SB3 does not bootstrap past it. Unlike our PPO there is no
KL penalty against the reference (stock SB3 has none) and no KV cache: SB3 steps one token at a time and re-runs the
policy over the whole sequence per token (``benchmarks/sb3/README.md`` measures the cost).
"""

from __future__ import annotations

import copy
import time
from functools import partial
from typing import Any, Callable, ClassVar, Sequence

import gymnasium as gym
import numpy as np
import stable_baselines3
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import get_device
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.base import Agent, LearningCallback
from agents.baselines import load_reference_model
from agents.models import env_kwargs_for_model, resolve_model_source
from agents.sb3.config import SB3Config, mask_buffer_bytes
from agents.sb3.policies import (MaskableTransformerActorCriticPolicy, TransformerActorCriticPolicy,
                                 check_token_observation_space)
from textenvs.core import load_tokenizer
from textenvs.decoding import DecodingPolicy
from textenvs.evaluation import EpisodeRecord, generate_split
from textenvs.masks import ActionMaskProvider, TopPMask
from textenvs.vector import TextGenerationVectorEnv

MODEL_FIELDS = ("model", "model_size", "model_overrides")
MASK_FIELDS = ("mask_top_p", "mask_top_k", "mask_memory_budget_mb")
PPO_ONLY_FIELDS = ("n_epochs", "batch_size", "clip_range")


class LearningCurveCallback(BaseCallback):
    """One learning-curve point per rollout + update: the mean return of the episodes that ended during the rollout
    and the update's SB3 ``train/`` statistics (``approx_kl``, ``clip_fraction``, ``entropy_loss``, ...).

    A point is emitted once its update has run (at the next rollout's start, or at the end of training). Episodes
    longer than a rollout are counted in the rollout where they end; a rollout in which none ended adds no point.
    """

    def __init__(self, on_point: LearningCallback | None = None) -> None:
        super().__init__()
        self.on_point = on_point
        self.points: list[dict[str, float]] = []
        self._returns: list[float] = []
        self._lengths: list[int] = []
        self._pending: dict[str, float] | None = None
        self._start = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:  # written by Monitor when an episode ends
                self._returns.append(float(info["episode"]["r"]))
                self._lengths.append(int(info["episode"]["l"]))
        return True

    def _on_rollout_end(self) -> None:
        if self._returns:
            self._pending = {"env_steps": int(self.num_timesteps), "reward": float(np.mean(self._returns)),
                             "episodes": len(self._returns), "episode_length": float(np.mean(self._lengths))}
            self._returns, self._lengths = [], []

    def _on_rollout_start(self) -> None:
        self._emit()

    def _on_training_end(self) -> None:
        self._emit()

    def _emit(self) -> None:
        if self._pending is None:
            return
        point = dict(self._pending)
        for key, value in self.logger.name_to_value.items():
            if key.startswith("train/"):
                point[key.removeprefix("train/")] = float(value)
        point["wall_time"] = time.perf_counter() - self._start
        self._pending = None
        self.points.append(point)
        if self.on_point is not None:
            self.on_point(point)


def make_training_env(env_id: str, env_kwargs: dict[str, Any],
                      action_mask: ActionMaskProvider | None = None) -> gym.Env:
    """``gymnasium.make(env_id, **env_kwargs)`` wrapped in SB3's ``Monitor`` (episode returns for the curve)."""
    kwargs = dict(env_kwargs) if action_mask is None else {**env_kwargs, "action_mask": action_mask}
    return Monitor(gym.make(env_id, **kwargs))


class SB3Agent(Agent):
    """Common part of the SB3 agents: builds the vectorized training env, the model and the algorithm.

    :param env_id: registered textenvs id (``observation_mode="causal"`` for the transformer policies).
    :param env_kwargs: keyword arguments of ``gymnasium.make`` (tokenizer, dataset, scorer, lengths, ...).
    :param seed: SB3's seed (python, numpy, torch, the sub-envs' prompt draws) and the scratch model's init.
    :param config: fields of :class:`~agents.sb3.config.SB3Config`.
    """

    algorithm_class: ClassVar[type[BaseAlgorithm]] = PPO
    policy: ClassVar[type[BasePolicy] | str] = TransformerActorCriticPolicy
    defaults: ClassVar[dict[str, Any]] = {}
    """Per-agent overrides of the SB3Config defaults."""
    masked: ClassVar[bool] = False

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0, **config: Any) -> None:
        super().__init__(env_id, env_kwargs, seed)
        settings = SB3Config(**{**self.defaults, **config})
        if not self.masked and self.env_kwargs.get("action_mask") is not None:
            raise ValueError(f"{type(self).__name__} samples from the whole vocabulary, so the env's action_mask would "
                             "reject its actions; use SB3MaskablePPOAgent ('sb3-maskable-ppo') with a masked env.")
        self.uses_transformer = not isinstance(self.policy, str)
        device = get_device(settings.device)

        self.model = self.model_source = None
        if self.uses_transformer:
            if self.env_kwargs.get("observation_mode", "causal") != "causal":
                raise ValueError(f"{type(self).__name__} runs a causal LM; it needs observation_mode='causal', got "
                                 f"{self.env_kwargs['observation_mode']!r}.")
            source = resolve_model_source(env_id, settings.model, self.env_kwargs)
            self.env_kwargs = env_kwargs_for_model(source, self.env_kwargs)
            tokenizer = load_tokenizer(self.env_kwargs.get("tokenizer"))
            self.model, self.model_source = load_reference_model(source, tokenizer, settings.model_size,
                                                                 settings.model_overrides, seed)
        else:
            tokenizer = load_tokenizer(self.env_kwargs.get("tokenizer"))
        self.vocab_size = len(tokenizer)

        # The mask provider: the env's own when the caller configured one, else the frozen reference's top-p set.
        self.action_mask: ActionMaskProvider | None = None
        if self.masked and self.env_kwargs.get("action_mask") is None:
            if self.model is None:
                raise ValueError("The default top-p action mask needs a reference model.")
            reference = copy.deepcopy(self.model).requires_grad_(False).to(device)
            self.action_mask = TopPMask(reference, settings.mask_top_p, settings.mask_top_k, len(tokenizer))

        self.vec_env = DummyVecEnv([partial(make_training_env, env_id, self.env_kwargs, self.action_mask)
                                    for _ in range(settings.num_envs)])
        check_token_observation_space(self.vec_env.observation_space)
        self.settings = settings.resolved(self.vec_env.envs[0].unwrapped.task.max_new_tokens)
        if self.masked:
            self._check_mask_memory()

        self.algorithm = self.algorithm_class(
            self.policy, self.vec_env, seed=seed, device=device, verbose=self.settings.verbose,
            policy_kwargs=self._policy_kwargs(), **self._algorithm_kwargs())
        self.curve: list[dict[str, float]] = []

    def _algorithm_kwargs(self) -> dict[str, Any]:
        s = self.settings
        kwargs = dict(n_steps=s.n_steps, learning_rate=s.learning_rate, gamma=s.gamma, gae_lambda=s.gae_lambda,
                      ent_coef=s.ent_coef, vf_coef=s.vf_coef, max_grad_norm=s.max_grad_norm,
                      normalize_advantage=s.normalize_advantage)
        if self.algorithm_class is not A2C:
            kwargs.update(n_epochs=s.n_epochs, batch_size=s.batch_size, clip_range=s.clip_range)
        return kwargs

    def _policy_kwargs(self) -> dict[str, Any]:
        return dict(features_extractor_kwargs=dict(model=self.model)) if self.uses_transformer else {}

    def _check_mask_memory(self) -> None:
        s = self.settings
        needed = mask_buffer_bytes(s.n_steps, s.num_envs, s.batch_size, self.vocab_size)
        budget = s.mask_memory_budget_mb * 2 ** 20
        if needed > budget:
            per_step = mask_buffer_bytes(1, s.num_envs, 0, self.vocab_size)
            fitting = int((budget - mask_buffer_bytes(0, 0, s.batch_size, self.vocab_size)) // per_step)
            raise ValueError(
                f"MaskablePPO would hold {needed / 2 ** 20:.0f} MiB of action masks: float32 n_steps × num_envs × "
                f"vocabulary = {s.n_steps} × {s.num_envs} × {self.vocab_size}, twice while the rollout is flattened "
                f"for training, plus a minibatch of {s.batch_size}; mask_memory_budget_mb={s.mask_memory_budget_mb:g}. "
                f"At most n_steps={max(fitting, 0)} fits with num_envs={s.num_envs}: lower n_steps or num_envs, use a "
                "smaller vocabulary, or raise mask_memory_budget_mb.")

    def learn(self, total_env_steps: int, callback: LearningCallback | None = None) -> list[dict[str, float]]:
        """SB3 ``learn`` for ``total_env_steps`` more env steps (tokens), rounded up to whole rollouts of
        ``n_steps × num_envs``; returns this call's learning-curve points."""
        if self.settings.verbose:
            print(f"{type(self).__name__} on {self.env_id}\n{self.settings.describe()}")
        curve = LearningCurveCallback(callback)
        self.algorithm.learn(total_timesteps=total_env_steps, callback=curve, reset_num_timesteps=False)
        self.curve.extend(curve.points)
        return curve.points

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        actions, _ = self.algorithm.policy.predict(observation, deterministic=True)
        return np.asarray(actions, dtype=np.int64)

    def generate(self, env: TextGenerationVectorEnv, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        """Greedy decoding of the trained policy; the transformer's argmax is decoded with a KV cache (the same
        actions as :meth:`act`, without re-running the whole sequence per token)."""
        if self.uses_transformer and not self.masked:
            return generate_split(env, DecodingPolicy(self.model, vocab_size=self.vocab_size), indices, progress)
        return generate_split(env, self.act, indices, progress)

    def config(self) -> dict[str, Any]:
        unused = set(PPO_ONLY_FIELDS if self.algorithm_class is A2C else ())
        unused |= set(MASK_FIELDS if not self.masked else ())
        unused |= set(MODEL_FIELDS if not self.uses_transformer else ())
        settings = {key: value for key, value in self.settings.to_dict().items() if key not in unused}
        config = {"name": self.name, "algorithm": self.algorithm_class.__name__,
                  "policy": self.policy if isinstance(self.policy, str) else self.policy.__name__,
                  **settings, "sb3_version": stable_baselines3.__version__,
                  "parameters": sum(p.numel() for p in self.algorithm.policy.parameters())}
        if self.uses_transformer:
            config["model_source"] = self.model_source
        if self.masked:
            config["action_mask"] = "env" if self.action_mask is None else "reference_top_p"
        return config


class SB3PPOAgent(SB3Agent):
    """Stock SB3 PPO with the transformer policy (warm-start trunk, LM-head actor, linear critic)."""

    name = "sb3-ppo"


class SB3A2CAgent(SB3Agent):
    """Stock SB3 A2C (RMSprop) with the transformer policy; short rollouts of 8 steps per sub-env, one update each."""

    name = "sb3-a2c"
    algorithm_class = A2C
    defaults = {"n_steps": 8}


class SB3MaskablePPOAgent(SB3Agent):
    """sb3_contrib MaskablePPO with the transformer policy. Unless ``env_kwargs`` sets an ``action_mask``, each step's
    legal tokens are the frozen reference model's top-``mask_top_p`` nucleus (NLPO's masking; the reference stays the
    warm start, it is not refreshed during training). EOS is always legal."""

    name = "sb3-maskable-ppo"
    algorithm_class = MaskablePPO
    policy = MaskableTransformerActorCriticPolicy
    masked = True

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        actions, _ = self.algorithm.policy.predict(observation, deterministic=True,
                                                   action_masks=self._action_masks(observation))
        return np.asarray(actions, dtype=np.int64)

    def _action_masks(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The training env's masks for a batch of observations (the same provider, EOS always legal)."""
        provider = self.action_mask if self.action_mask is not None else self.vec_env.envs[0].unwrapped.task.action_mask
        masks = np.array(provider(observation["prompt_ids"], observation["prompt_mask"],
                                  observation["generated_ids"], observation["generated_mask"]), dtype=bool)
        masks[:, self.vec_env.envs[0].unwrapped.task.eos_token_id] = True
        return masks


class SB3MultiInputPPOAgent(SB3Agent):
    """The floor: SB3 PPO with its default ``MultiInputPolicy`` (each observation key flattened as floats into a 64-64
    MLP, orthogonal init), no language model. SB3's default learning rate and value coefficient."""

    name = "sb3-ppo-mlp"
    policy = "MultiInputPolicy"
    defaults = {"learning_rate": 3e-4, "vf_coef": 0.5}
