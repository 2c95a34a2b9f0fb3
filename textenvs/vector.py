"""Native batched vector environment: B episodes advance in one array operation per step.

It reproduces ``gymnasium.vector.SyncVectorEnv`` over single envs exactly (same seeds → same prompts, observations,
rewards and infos), including its next-step autoreset: after sub-env i ends, the following ``step`` resets it and
ignores its action. Scoring of the episodes that end on a step is one batched scorer call.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textenvs.core import EpisodeBatch, GenerationTask
from textenvs.tasks.base import TaskSpec


class TextGenerationVectorEnv(VectorEnv):
    """``num_envs`` text-generation episodes stepped together; takes the same keyword arguments as the single env.

    Sub-env ``i`` draws its prompts from its own generator seeded with ``seed + i`` (as ``SyncVectorEnv`` seeds its
    sub-envs), so results do not depend on the batch size a sub-env runs in.

    :param num_envs: number of parallel episodes B.
    :param task_kwargs: see :class:`textenvs.core.TextGenerationEnv`.
    """

    task_spec: ClassVar[TaskSpec]
    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi"]}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **task_kwargs: Any) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"The vector env renders only as 'ansi', got render_mode={render_mode!r}.")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.task = GenerationTask(self.task_spec, **task_kwargs)
        self.single_observation_space = self.task.observation_space
        self.single_action_space = self.task.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, self.task.vocab_size, dtype=np.int64))
        self._episodes = EpisodeBatch(self.task, self.num_envs)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._all_slots = np.arange(self.num_envs)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = self._seeds(seed)
        indices = (options or {}).get("example_index")
        if indices is not None:
            indices = np.broadcast_to(np.asarray(indices, dtype=np.int64), (self.num_envs,))
        infos: dict[str, Any] = {}
        for slot in range(self.num_envs):
            if seeds[slot] is not None:
                self._rngs[slot] = seeding.np_random(seeds[slot])[0]
            index = self._draw_example(slot) if indices is None else int(indices[slot])
            infos = self._add_info(infos, self._episodes.start(slot, index), slot)
        self._autoreset[:] = False
        return self._episodes.observation(), infos

    def step(self, actions):
        if not self._episodes.started.all():
            raise ResetNeeded("Call reset() before step().")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise InvalidAction(f"Expected actions of shape ({self.num_envs},), one token id per sub-env; "
                                f"got shape {actions.shape}.")
        resetting = np.flatnonzero(self._autoreset)
        stepping = np.flatnonzero(~self._autoreset)
        # Sub-envs that ended on the previous step are reset now and their actions ignored (next-step autoreset).
        checked = self._episodes.check_actions(actions[stepping], stepping)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        if len(stepping):
            step_rewards, step_terminated, step_truncated, step_infos = self._episodes.append(stepping, checked)
            rewards[stepping], terminated[stepping], truncated[stepping] = step_rewards, step_terminated, step_truncated
            for slot, info in zip(stepping, step_infos):
                if info:
                    infos = self._add_info(infos, info, int(slot))
        for slot in resetting:
            infos = self._add_info(infos, self._episodes.start(int(slot), self._draw_example(int(slot))), int(slot))
        self._autoreset = terminated | truncated
        return self._episodes.observation(), rewards, terminated, truncated, infos

    def action_masks(self) -> np.ndarray:
        """Boolean ``(num_envs, vocab_size)`` array of the tokens legal at this step (EOS always legal)."""
        return self._episodes.action_masks(self._all_slots)

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self._episodes.render_text(slot) for slot in range(self.num_envs))

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"Got {len(seeds)} seeds for {self.num_envs} sub-environments.")
        return seeds

    def _draw_example(self, slot: int) -> int:
        if self._rngs[slot] is None:
            self._rngs[slot] = seeding.np_random()[0]
        return int(self._rngs[slot].integers(len(self.task.dataset)))
