"""Supervised data for the multi-turn dialogue env: whole conversations between a demonstration agent and the env's
user simulator, recorded token by token in the env's own layout (``agent_mask`` marks the tokens the warm start
learns; the user's turns are context only).

The demonstrations are imperfect on purpose, as the v1 single-turn demonstrations are: RL can only improve on a
warm start where the demonstrations leave the right turn probable, so a share of the turns are the right move and
the rest are the two flawed modes a booking agent has.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.sft.trainer import SupervisedPairs
from textenvs.chat import Message
from textenvs.data.generators.dialogue import _QUESTIONS, _confirmations
from textenvs.data.dataset import Example

GENERIC_TURN = "how can i help you ?"
"""The flawed turn that moves nothing forward (the user answers that it does not understand)."""

Demonstrator = Callable[[Example, list[Message], random.Random, dict[str, Any]], str]
"""``f(example, conversation so far, rng, goal) -> the agent's next turn``; ``goal`` is the one the episode is scored
against now (the example's hidden goal, or the one a v1 user changed its mind to)."""


@dataclass(frozen=True)
class BookingDemonstrator:
    """A booking agent that says only what the user has told it, with two flaws drawn afresh each turn:

    - the generic turn ``"how can i help you ?"`` (probability ``generic_rate``, on any turn);
    - otherwise the right move while a goal slot is unknown: the built-in question for the first goal slot the user
      has not stated yet (the opening request, an answer, or a correction tells a slot);
    - once every slot is known, a confirmation: the full one (``example.references[0]``, which meets the goal), or,
      with probability ``partial_rate``, the full one without its last slot phrase (the time, a taxi's ``leaving
      at`` / ``arriving by``, a hotel's start day), which the user corrects.

    A confirmation only ever states values the user has given, so a model fit to these conversations can learn
    every value it writes from its context (turning ``"19:00"`` into ``"7 pm"``, ``"there will be three of us"``
    into ``"3 people"``) instead of guessing hidden ones. Both flawed turns are useless to the built-in user, who
    gives up after three. While ``partial_rate`` exceeds 1/2, a model fit to these demonstrations prefers the
    partial confirmation where the two part, so greedy decoding rarely completes a booking though sampling often
    does: the v1 design, where RL has to move probability to the canonical mode the demonstrations keep.
    """

    generic_rate: float = 0.1
    partial_rate: float = 0.6

    def __post_init__(self) -> None:
        for name in ("generic_rate", "partial_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}.")

    def __call__(self, example: Example, conversation: list[Message], rng: random.Random,
                 goal: dict[str, Any] | None = None) -> str:
        # ``goal`` is not read: v0's users never change theirs, and the confirmation is the example's reference.
        if rng.random() < self.generic_rate:
            return GENERIC_TURN
        intent, goal = example.metadata["intent"], example.metadata["goal"]
        questions = {slot: _QUESTIONS[intent, slot][0] for slot in goal if (intent, slot) in _QUESTIONS}
        told = set(example.metadata["opening"])
        for turn in (message["content"] for message in conversation if message["role"] == "assistant"):
            told.update(slot for slot, question in questions.items() if turn == question)
            if "booked" in turn:  # the user corrects the first slot a confirmation misses, which tells it
                told.update([slot for slot, said in zip(goal, example.metadata["slots"]) if said not in turn][:1])
        question = next((question for slot, question in questions.items() if slot not in told), None)
        if question is not None:
            return question
        confirmation = example.references[0]
        if rng.random() < self.partial_rate:
            cut = max(confirmation.rfind(phrase) for phrase in (" at ", " , ", " from "))
            return confirmation[:cut] + " ."
        return confirmation


VOLUNTEERED = " , and "
"""How the v1 user's answer adds an unasked slot (:class:`textenvs.users.BookingUserV1`, ``volunteer_rate``)."""

ROLE_BINDINGS = {"book_taxi": ("departure", "destination"), "book_hotel": ("people", "nights"),
                 "book_restaurant": ("people", "time")}
"""The two slots of each booking kind a v1 demonstrator can bind to each other's role: the taxi's two places, the
hotel's two counts, the restaurant's party size and hour. The error fires only when the opening request named the
second one, so the user told it before the first: the demonstrator fills the roles in the order it heard them."""


@dataclass(frozen=True)
class BookingDemonstratorV1:
    """A booking agent for ``textenvs/MultiTurnDialogue-v1`` whose mistakes depend on the conversation, each drawn
    afresh at every turn where it can happen (so a fitted model's greedy turn is wrong exactly where a rate
    exceeds 1/2, and right elsewhere):

    - the generic turn ``"how can i help you ?"`` (``generic_rate``, any turn);
    - questions: the built-in question for the first goal slot the user has not told yet, in the domain's order.
      When the user's last answer volunteered the next slot, it asks for it anyway with probability
      ``missed_volunteer_rate`` (the user answers again, a useless turn);
    - the confirmation, one of the two frames of the references, rendered from the goal *as the demonstrator
      believes it*:

      - **stale value** (``stale_rate``): after the user changed their mind (``change_of_mind``), the value told
        first instead of the new one;
      - **role binding** (``binding_rate``): the two slots of :data:`ROLE_BINDINGS` swapped, when the opening
        request named the second one (the order of hearing, not the user's words, decides the roles);
      - **time role** (``binding_rate``): a taxi the user wants to *arrive* by an hour booked as *leaving* at it;
      - **omission** (``omission_rate``, per optional slot: area, stars, parking): the slot left out.

    It reads the example's hidden goal and, through :func:`simulate_conversations`, the user's current goal
    (``goal``), so it never states a value the user has not given. With ``tell_corrections=False`` users a wrong
    booking is refused without a hint, and the next confirmation is drawn afresh, so a fitted model that binds
    wrong repeats itself until the user gives up.
    """

    generic_rate: float = 0.05
    missed_volunteer_rate: float = 0.3
    stale_rate: float = 0.6
    binding_rate: float = 0.6
    omission_rate: float = 0.2

    def __post_init__(self) -> None:
        for name in ("generic_rate", "missed_volunteer_rate", "stale_rate", "binding_rate", "omission_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}.")

    def __call__(self, example: Example, conversation: list[Message], rng: random.Random,
                 goal: dict[str, Any] | None = None) -> str:
        if rng.random() < self.generic_rate:
            return GENERIC_TURN
        intent, first_goal = example.metadata["intent"], example.metadata["goal"]
        goal = dict(goal or first_goal)
        questions = {slot: _QUESTIONS[intent, slot][0] for slot in goal if (intent, slot) in _QUESTIONS}
        told, volunteered = _told_slots(example, conversation, questions)
        for slot in questions:
            if slot not in told or (slot in volunteered and rng.random() < self.missed_volunteer_rate):
                return questions[slot]
        return rng.choice(_confirmations(intent, self._believed_goal(example, goal, rng)))

    def _believed_goal(self, example: Example, goal: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        intent, first_goal, opening = (example.metadata[key] for key in ("intent", "goal", "opening"))
        believed = dict(goal)
        for slot, value in first_goal.items():
            if value != goal[slot] and rng.random() < self.stale_rate:
                believed[slot] = value
        first, second = ROLE_BINDINGS[intent]
        if second in opening and rng.random() < self.binding_rate:
            believed[first], believed[second] = _swapped(believed[first], believed[second])
        if intent == "book_taxi" and believed["time"][2] == "arrive" and rng.random() < self.binding_rate:
            believed["time"] = [believed["time"][0], believed["time"][1], "leave"]
        for slot in ("area", "stars", "parking"):
            if slot in believed and rng.random() < self.omission_rate:
                del believed[slot]
        return believed


def _swapped(first: Any, second: Any) -> tuple[Any, Any]:
    """Two slot values exchanged; an hour takes the party size and keeps its half and role."""
    if isinstance(second, (list, tuple)):
        return second[0], [first, *second[1:]]
    return second, first


def _told_slots(example: Example, conversation: list[Message], questions: dict[str, str]) -> tuple[set[str], set[str]]:
    """The goal slots the v1 user has told (opening, answers, volunteered ones), and those its last reply
    volunteered."""
    told, volunteered = set(example.metadata["opening"]), set()
    order = list(questions)
    for agent, user in zip(conversation[1::2], conversation[2::2]):
        asked = next((slot for slot, question in questions.items() if agent["content"] == question), None)
        if asked is None:
            continue
        told.add(asked)
        volunteered = set()
        if VOLUNTEERED in user["content"]:
            extra = next((slot for slot in order if slot not in told), None)
            if extra is not None:
                told.add(extra)
                volunteered.add(extra)
    return told, volunteered


def simulate_conversations(env_id: str, env_kwargs: dict[str, Any], demonstrator: Demonstrator,
                           indices: Sequence[int], seed: int = 0) -> tuple[SupervisedPairs, dict[str, float]]:
    """Play ``demonstrator`` against the env's user on examples ``indices`` of the env's split and record each
    conversation as a supervised row: the prompt, the conversation as ``target_ids`` (``target_mask``: every
    token, the attention mask) and ``loss_mask`` = the env's ``agent_mask``.

    :param env_id: a multi-turn env id (observations with ``agent_mask``), e.g. ``textenvs/MultiTurnDialogue-v0``.
    :param env_kwargs: its keyword arguments (tokenizer, split, user simulator, limits).
    :param demonstrator: chooses each agent turn (:class:`BookingDemonstrator`).
    :param seed: seeds the demonstrator's draws (one ``random.Random(seed)`` for the whole run).
    :returns: the rows and the demonstrations' means of the env's final metrics (``goal_completion``, ...) and
        ``turns``.
    """
    env = gym.make(env_id, **env_kwargs).unwrapped
    if "agent_mask" not in env.observation_space.spaces:
        raise ValueError(f"{env_id} is not a multi-turn env (its observations have no agent_mask).")
    rng = random.Random(seed)
    rows: list[dict[str, np.ndarray]] = []
    metrics: list[dict[str, float]] = []
    for index in indices:
        observation, _ = env.reset(options={"example_index": int(index)})
        example = env.task.dataset[int(index)]
        terminated = False
        while not terminated:
            text = demonstrator(example, env.messages(), rng, env.current_goal())
            for token in env.encode_agent_turn(text) + [env.end_of_turn_token_id]:
                observation, _, terminated, _, info = env.step(token)
                if terminated:
                    break
        rows.append(observation)
        metrics.append({**info["metrics"], "turns": float(info["turns"])})
    env.close()
    stack = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
    pairs = SupervisedPairs(stack["prompt_ids"], stack["prompt_mask"], stack["generated_ids"],
                            stack["generated_mask"], loss_mask=stack["agent_mask"])
    return pairs, {key: float(np.mean([m[key] for m in metrics])) for key in metrics[0]}
