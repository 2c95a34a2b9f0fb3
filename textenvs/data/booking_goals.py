"""``synthetic-booking-goals``: hidden user goals for the multi-turn dialogue env, generated like the built-in data.

Each example is one booking a simulated user wants (the domains, slots and phrasings of ``synthetic-dialogue`` in
:mod:`textenvs.data.builtin`): the prompt is the user's opening request (naming only some of the slots), the
references are the confirmations a booking agent would give, and the metadata holds the whole goal:

- ``intent``: ``book_restaurant``, ``book_taxi`` or ``book_hotel``;
- ``goal``: ``{slot: value}`` (times as ``[hour, "am"|"pm", "leave"|"arrive"]``), everything the user wants;
- ``slots``: the goal's values as the agent must say them in its confirmation (``"4 people"``, ``"7 pm"``);
- ``opening``: the slots the opening request already names.

Splits are deterministic (fixed seeds) and disjoint by prompt and goal, like the other built-in data.

``synthetic-booking-goals-v1`` (:func:`load_booking_goals_v1`, the data of ``textenvs/MultiTurnDialogue-v1``)
differs in three ways:

- goals are disjoint across splits by the goal alone (``intent`` and ``goal``; v0 only kept prompt + goal
  apart, so 55 of its 200 test goals equal a train goal);
- the opening request names at most ``len(required) - 2`` required slots (optional ones always), so every
  conversation needs at least two answers from the user;
- a fourth split, ``test_compositional``, holds goals whose *combination* of two slot values never occurs in the
  other splits although each value does (:func:`held_out_combination`: the food and day of a restaurant, the two
  places of a taxi, the people and nights of a hotel).
"""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any, Callable

from textenvs.data.generators.dialogue import _DOMAINS, _canonical, _confirmations, _request, _sample_slot
from textenvs.data.dataset import Example, TextDataset

NAME = "synthetic-booking-goals"
SPLIT_SIZES: dict[str, int] = {"train": 5000, "validation": 200, "test": 200}
_SPLIT_SEEDS = {"test": 5101, "validation": 5102, "train": 5103}
_SPLIT_ORDER = ("test", "validation", "train")
OPENING_PROBABILITY = 0.5
"""Each required slot is named in the opening request with this probability (optional ones always are)."""


NAME_V1 = "synthetic-booking-goals-v1"
SPLIT_SIZES_V1: dict[str, int] = {"train": 5000, "validation": 200, "test": 200, "test_compositional": 200}
_SPLIT_SEEDS_V1 = {"test_compositional": 6100, "test": 6101, "validation": 6102, "train": 6103}
_SPLIT_ORDER_V1 = ("test_compositional", "test", "validation", "train")
_COMBINATION_MODULUS = 4


def load_booking_goals(split: str) -> TextDataset:
    """The ``split`` of ``synthetic-booking-goals`` (sizes in :data:`SPLIT_SIZES`)."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"Unknown split {split!r} for {NAME}; available: {', '.join(SPLIT_SIZES)}.")
    return _generate(split)


@cache
def _generate(split: str) -> TextDataset:
    return _unique_goals(NAME, split, _SPLIT_ORDER, _SPLIT_SEEDS, SPLIT_SIZES, _goal_example, _key, _generate)


def _unique_goals(name: str, split: str, order: tuple[str, ...], seeds: dict[str, int], sizes: dict[str, int],
                  make_example: Callable[[random.Random, str], Example], key: Callable[[Example], str],
                  generate: Callable[[str], TextDataset],
                  accept: Callable[[Example], bool] = lambda example: True) -> TextDataset:
    """The ``split`` of the goal set ``name``: examples from ``make_example`` with the split's seed, keeping those
    ``accept`` takes whose ``key`` no split earlier in ``order`` (made by ``generate``) nor this one has."""
    seen: set[str] = set()
    for earlier in order[:order.index(split)]:
        seen.update(key(example) for example in generate(earlier))
    rng = random.Random(seeds[split])
    examples: list[Example] = []
    while len(examples) < sizes[split]:
        example = make_example(rng, f"{split}-{len(examples):05d}")
        if key(example) not in seen and accept(example):
            seen.add(key(example))
            examples.append(example)
    return TextDataset(examples, name, split, source=f"textenvs.data.booking_goals generator ({name})")


def _key(example: Example) -> str:
    return example.prompt + json.dumps(example.metadata["goal"], sort_keys=True)


def _goal_example(rng: random.Random, example_id: str) -> Example:
    domain, goal = _sample_goal(rng)
    opening = {slot: value for slot, value in goal.items()
               if slot in domain.optional or rng.random() < OPENING_PROBABILITY}
    return _booking_example(rng, example_id, domain, goal, opening)


def _sample_goal(rng: random.Random) -> tuple[Any, dict[str, Any]]:
    """A booking domain and a goal in it: every required slot, each optional one with probability 0.3."""
    domain = rng.choice(_DOMAINS)
    goal: dict[str, Any] = {}
    for slot in domain.required:
        goal[slot] = _sample_slot(rng, domain.intent, slot, goal)
    for slot in domain.optional:
        if rng.random() < 0.3:
            goal[slot] = _sample_slot(rng, domain.intent, slot, goal)
    return domain, goal


def _booking_example(rng: random.Random, example_id: str, domain: Any, goal: dict[str, Any],
                     opening: dict[str, Any]) -> Example:
    """The example of ``goal``: the opening request naming the ``opening`` slots, the confirmations as
    references, the goal in the metadata."""
    slots = [_canonical(domain.intent, slot, goal[slot]) for slot in domain.required + domain.optional if slot in goal]
    as_json = {slot: list(value) if isinstance(value, tuple) else value for slot, value in goal.items()}
    metadata = {"intent": domain.intent, "goal": as_json, "slots": slots, "opening": list(opening)}
    return Example(example_id, _request(rng, domain, opening), _confirmations(domain.intent, goal), metadata)


def held_out_combination(intent: str, goal: dict[str, Any]) -> bool:
    """Whether ``goal`` holds a combination of slot values reserved for the ``test_compositional`` split of
    ``synthetic-booking-goals-v1``: (food, day) of a restaurant, (departure, destination) of a taxi, (people,
    nights) of a hotel whose indices sum to a multiple of 4. A quarter of each pair's combinations is held out; every
    single value keeps combinations outside that quarter, so each part of a held-out goal is seen in training."""
    from textenvs.data.generators.dialogue import _FOODS, _PLACES
    from textenvs.data.generators.summarization import _DAYS

    if intent == "book_restaurant":
        total = _FOODS.index(goal["food"]) + _DAYS.index(goal["day"])
    elif intent == "book_taxi":
        total = _PLACES.index(goal["departure"]) + _PLACES.index(goal["destination"])
    else:
        total = int(goal["people"]) + int(goal["nights"])
    return total % _COMBINATION_MODULUS == 0


def load_booking_goals_v1(split: str) -> TextDataset:
    """The ``split`` of ``synthetic-booking-goals-v1`` (sizes in :data:`SPLIT_SIZES_V1`; see the module
    docstring)."""
    if split not in SPLIT_SIZES_V1:
        raise ValueError(f"Unknown split {split!r} for {NAME_V1}; available: {', '.join(SPLIT_SIZES_V1)}.")
    return _generate_v1(split)


def goal_key(example: Example) -> str:
    """The identity of a goal: its booking kind and slot values (not the wording of its opening request)."""
    return example.metadata["intent"] + json.dumps(example.metadata["goal"], sort_keys=True)


@cache
def _generate_v1(split: str) -> TextDataset:
    compositional = split == "test_compositional"
    return _unique_goals(NAME_V1, split, _SPLIT_ORDER_V1, _SPLIT_SEEDS_V1, SPLIT_SIZES_V1, _goal_example_v1,
                         goal_key, _generate_v1, accept=lambda example: held_out_combination(
                             example.metadata["intent"], example.metadata["goal"]) == compositional)


def _goal_example_v1(rng: random.Random, example_id: str) -> Example:
    domain, goal = _sample_goal(rng)
    named = [slot for slot in domain.required if rng.random() < OPENING_PROBABILITY]
    rng.shuffle(named)
    named = named[:len(domain.required) - 2]  # at least two slots are left for the conversation
    opening = {slot: value for slot, value in goal.items() if slot in domain.optional or slot in named}
    return _booking_example(rng, example_id, domain, goal, opening)
