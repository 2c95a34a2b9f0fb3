"""``synthetic-booking-goals``: hidden user goals for the multi-turn dialogue env, generated like the built-in data.

Each example is one booking a simulated user wants (the domains, slots and phrasings of ``synthetic-dialogue`` in
:mod:`textenvs.data.builtin`): the prompt is the user's opening request (naming only some of the slots), the
references are the confirmations a booking agent would give, and the metadata holds the whole goal:

- ``intent``: ``book_restaurant``, ``book_taxi`` or ``book_hotel``;
- ``goal``: ``{slot: value}`` (times as ``[hour, "am"|"pm", "leave"|"arrive"]``), everything the user wants;
- ``slots``: the goal's values as the agent must say them in its confirmation (``"4 people"``, ``"7 pm"``);
- ``opening``: the slots the opening request already names.

Splits are deterministic (fixed seeds) and disjoint by prompt and goal, like the other built-in data.
"""

from __future__ import annotations

import json
import random
from functools import cache, lru_cache
from typing import Any

from textenvs.data.generators.dialogue import _DOMAINS, _canonical, _confirmations, _request, _sample_slot
from textenvs.data.dataset import Example, TextDataset

NAME = "synthetic-booking-goals"
SPLIT_SIZES: dict[str, int] = {"train": 5000, "validation": 200, "test": 200}
_SPLIT_SEEDS = {"test": 5101, "validation": 5102, "train": 5103}
_SPLIT_ORDER = ("test", "validation", "train")
OPENING_PROBABILITY = 0.5
"""Each required slot is named in the opening request with this probability (optional ones always are)."""


def load_booking_goals(split: str) -> TextDataset:
    """The ``split`` of ``synthetic-booking-goals`` (sizes in :data:`SPLIT_SIZES`)."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"Unknown split {split!r} for {NAME}; available: {', '.join(SPLIT_SIZES)}.")
    return _generate(split)


@cache
def _generate(split: str) -> TextDataset:
    seen: set[str] = set()
    for earlier in _SPLIT_ORDER[:_SPLIT_ORDER.index(split)]:
        seen.update(_key(example) for example in _generate(earlier))
    rng = random.Random(_SPLIT_SEEDS[split])
    examples: list[Example] = []
    while len(examples) < SPLIT_SIZES[split]:
        example = _goal_example(rng, f"{split}-{len(examples):05d}")
        if _key(example) not in seen:
            seen.add(_key(example))
            examples.append(example)
    return TextDataset(examples, NAME, split, source=f"textenvs.data.booking_goals generator ({NAME})")


def _key(example: Example) -> str:
    return example.prompt + json.dumps(example.metadata["goal"], sort_keys=True)


def _goal_example(rng: random.Random, example_id: str) -> Example:
    domain = rng.choice(_DOMAINS)
    goal: dict[str, Any] = {}
    for slot in domain.required:
        goal[slot] = _sample_slot(rng, domain.intent, slot, goal)
    for slot in domain.optional:
        if rng.random() < 0.3:
            goal[slot] = _sample_slot(rng, domain.intent, slot, goal)
    opening = {slot: value for slot, value in goal.items()
               if slot in domain.optional or rng.random() < OPENING_PROBABILITY}
    slots = [_canonical(domain.intent, slot, goal[slot]) for slot in domain.required + domain.optional if slot in goal]
    as_json = {slot: list(value) if isinstance(value, tuple) else value for slot, value in goal.items()}
    metadata = {"intent": domain.intent, "goal": as_json, "slots": slots, "opening": list(opening)}
    return Example(example_id, _request(rng, domain, opening), _confirmations(domain.intent, goal), metadata)
