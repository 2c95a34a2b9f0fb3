"""Scripted booking agents for ``textenvs/MultiTurnDialogue-v1`` that the bench runs like any agent
(``tests.scripted_booking:CurrentGoalAgent``): each turn is a :class:`agents.sft.conversations.BookingDemonstratorV1`
turn, told the goal the episode is scored against now, and written token by token through the env.

- :class:`CurrentGoalAgent` asks for every untold slot, then books the goal the user holds now (after a change of
  mind, the new one): it meets every goal.
- :class:`OriginalGoalAgent` does the same but books the value the user told first (a stale value after a change of
  mind): the user refuses it, so it meets no goal whose user changed its mind.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

import numpy as np

from agents.base import Agent
from agents.sft.conversations import BookingDemonstratorV1
from textenvs.evaluation import EpisodeRecord, generate_split


class CurrentGoalAgent(Agent):
    """Books the user's current goal (see the module docstring)."""

    name = "current-goal"
    stale_rate = 0.0

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError("a scripted agent plays through generate(), which sees the env")

    def generate(self, env: Any, indices: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
        base = env.unwrapped
        demonstrator = BookingDemonstratorV1(generic_rate=0.0, missed_volunteer_rate=0.0, stale_rate=self.stale_rate,
                                             binding_rate=0.0, omission_rate=0.0)
        rng = random.Random(self.seed)
        pending: list[list[int]] = [[] for _ in range(base.num_envs)]

        def policy(observation: dict[str, np.ndarray]) -> np.ndarray:
            for slot, tokens in enumerate(pending):
                # A conversation that only holds the opening request has just started: drop what is left of the
                # previous one (an idle sub-env's actions are ignored).
                if not tokens or len(base.messages(slot)) == 1 and not observation["agent_mask"][slot].any():
                    example = base.task.dataset[int(base._episodes.example_index[slot])]
                    text = demonstrator(example, base.messages(slot), rng, base.current_goal(slot))
                    tokens[:] = base._episodes.format.agent_turn_ids(text) + [base.end_of_turn_token_id]
            return np.asarray([tokens.pop(0) for tokens in pending])

        return generate_split(env, policy, indices, progress)


class OriginalGoalAgent(CurrentGoalAgent):
    """Books the values the user told first, ignoring a change of mind (see the module docstring)."""

    name = "original-goal"
    stale_rate = 1.0
