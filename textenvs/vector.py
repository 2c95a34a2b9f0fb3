"""Native batched vector environment: B episodes advance in one array operation per step.

It reproduces ``gymnasium.vector.SyncVectorEnv`` over single envs exactly (same seeds → same prompts, observations,
rewards and infos) in the two autoreset modes it supports, ``NEXT_STEP`` and ``DISABLED`` (where a finished sub-env
idles). What they mean is part of the env contract, the "Vector Env" section of every env's manual
(:data:`textenvs.tasks.manual.COMMON_MANUAL`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textenvs.core import EpisodeBatch, GenerationTask, TaskEnvMixin, check_env_kwargs
from textenvs.tasks.base import TaskSpec
from textenvs.validation import VECTOR_RESET_OPTION_KEYS, example_indices, positive_int, reset_options, seeds_for


class TextGenerationVectorEnv(TaskEnvMixin, VectorEnv):
    """``num_envs`` text-generation episodes stepped together; takes the same keyword arguments as the single env.

    Sub-env ``i`` draws its prompts from its own generator seeded with ``seed + i`` (as ``SyncVectorEnv`` seeds its
    sub-envs), so results do not depend on the batch size a sub-env runs in.

    :param num_envs: number of parallel episodes B.
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``AutoresetMode.DISABLED`` (or their string
        values), as ``gymnasium.make_vec(id, num_envs=B, autoreset_mode=AutoresetMode.DISABLED)`` passes it.
    :param task_kwargs: see :class:`textenvs.core.TextGenerationEnv`.
    """

    task_spec: ClassVar[TaskSpec]
    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi"]}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **task_kwargs: Any) -> None:
        num_envs = positive_int("num_envs", num_envs, 1)
        supported = (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED)
        if autoreset_mode not in supported and autoreset_mode not in [mode.value for mode in supported]:
            raise ValueError(f"autoreset_mode must be one of {[mode.value for mode in supported]} (an AutoresetMode "
                             f"or its value), got {autoreset_mode!r}.")
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        if render_mode not in (None, "ansi"):
            raise ValueError(f"The vector env renders only as 'ansi', got render_mode={render_mode!r}.")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        check_env_kwargs(task_kwargs, extra=())
        self.task = GenerationTask(self.task_spec, **task_kwargs)
        self.single_observation_space = self.task.observation_space
        self.single_action_space = self.task.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, self.task.vocab_size, dtype=np.int64))
        self._episodes = EpisodeBatch(self.task, self.num_envs)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._all_slots = np.arange(self.num_envs)

    def __init_subclass__(cls, single_env: type | None = None, **kwargs: Any) -> None:
        """``class XVectorEnv(TextGenerationVectorEnv, single_env=XEnv)`` declares the native batched form of the
        single-env class ``XEnv``: its ``task_spec``, so the same keyword arguments and episodes. A subclass with
        code of its own (multi-turn) sets ``task_spec`` itself."""
        super().__init_subclass__(**kwargs)
        if single_env is not None:
            cls.task_spec = single_env.task_spec

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Start new episodes in every sub-env, or only in those of ``options["reset_mask"]`` (bool ``(num_envs,)``,
        as ``SyncVectorEnv``; the others keep their state). ``options["example_index"]``: one index for all or an
        array of ``num_envs`` (entries of unmasked sub-envs are ignored)."""
        seeds = self._seeds(seed)
        indices = reset_options(options, VECTOR_RESET_OPTION_KEYS).get("example_index")
        if indices is not None:
            indices = example_indices(indices, self.num_envs, len(self.task.dataset))
        slots = np.flatnonzero(self._reset_mask(options))
        infos: dict[str, Any] = {}
        for slot in slots:
            if seeds[slot] is not None:
                self._rngs[slot] = seeding.np_random(seeds[slot])[0]
            index = self._draw_example(slot) if indices is None else indices[slot]
            infos = self._add_info(infos, self._episodes.start(slot, index), slot)
        self._autoreset[slots] = False
        return self._episodes.observation(), infos

    def step(self, actions):
        running = self._episodes.running
        if self.autoreset_mode is AutoresetMode.DISABLED:
            if not running.any():
                raise ResetNeeded("No episode is running (all have ended or none was started); call reset(), or "
                                  "reset(options={'reset_mask': mask}) for some sub-envs, before step().")
            resetting = ()  # (``_autoreset`` stays False)
        elif not self._episodes.started.all():
            raise ResetNeeded("Call reset() before step().")
        else:
            resetting = np.flatnonzero(self._autoreset)
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise InvalidAction(f"Expected actions of shape ({self.num_envs},), one token id per sub-env; "
                                f"got shape {actions.shape}.")
        stepping = np.flatnonzero(running)
        # Sub-envs that ended on the previous step are reset now and their actions ignored (next-step autoreset);
        # with autoreset disabled they idle instead.
        checked = self._episodes.check_actions(actions if len(stepping) == self.num_envs else actions[stepping],
                                               stepping)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        if len(stepping):
            step_rewards, step_terminated, step_truncated, step_infos = self._episodes.append(stepping, checked)
            rewards[stepping], terminated[stepping], truncated[stepping] = step_rewards, step_terminated, step_truncated
            # Only the episodes that have something to say add an info: those that ended on this step, and a
            # multi-turn conversation that got the user's reply (``user_reply``), as in ``SyncVectorEnv``.
            for position, info in enumerate(step_infos):
                if info:
                    infos = self._add_info(infos, info, int(stepping[position]))
        for slot in resetting:
            infos = self._add_info(infos, self._episodes.start(int(slot), self._draw_example(int(slot))), int(slot))
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            self._autoreset = terminated | truncated
        return self._episodes.observation(), rewards, terminated, truncated, infos

    def action_masks(self) -> np.ndarray:
        """Boolean ``(num_envs, vocab_size)`` array of the tokens legal at this step (EOS always legal). With autoreset
        disabled, the mask provider runs only for running episodes; an idle sub-env's row is all True."""
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            return self._episodes.action_masks(self._all_slots)
        masks = np.ones((self.num_envs, self.task.vocab_size), dtype=bool)
        running = np.flatnonzero(self._episodes.running)
        masks[running] = self._episodes.action_masks(running)
        return masks

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self._episodes.render_text(slot) for slot in range(self.num_envs))

    def close(self, **kwargs: Any) -> None:
        # Not only the first time (VectorEnv.close returns early once ``closed``): the env stays usable after close,
        # a ParallelScorer restarting its workers on its next batch, so every close releases them again.
        self.task.close()
        super().close(**kwargs)

    def _reset_mask(self, options: dict[str, Any] | None) -> np.ndarray:
        if options is None or "reset_mask" not in options:
            return np.ones(self.num_envs, dtype=bool)
        mask = options["reset_mask"]
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise TypeError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), got "
                            f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {getattr(mask, 'shape', '')}.")
        if not mask.any():
            raise ValueError(f"options['reset_mask'] selects no sub-env: {mask}.")
        return mask

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        return seeds_for(seed, self.num_envs)

    def _draw_example(self, slot: int) -> int:
        if self._rngs[slot] is None:
            self._rngs[slot] = seeding.np_random()[0]
        return int(self._rngs[slot].integers(len(self.task.dataset)))
