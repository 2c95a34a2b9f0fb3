"""The demonstration errors of the v2 synthetic benchmark tasks: one knob per kind of error, and the difficulty
levels that set them.

Each error has a *trigger*, a property of the input (a distractor mentioned before the true value, two people who
could each be the subject, a word of the translator's loose vocabulary...). When the trigger holds, the demonstration
makes the error with the knob's probability, independently per item. So a model fit to the demonstrations learns a
wrong rule for the inputs that trigger it (above a rate of 0.5 the error wins greedy decoding there) and the right one
elsewhere: which content is wrong depends on the input and sits at different positions and values per example, and
no single decision turns every output into the correct one. Each task's module documents its triggers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

LEVELS: tuple[str, ...] = ("easy", "medium", "hard")

DEFAULT_LEVEL = "medium"
"""The level a v2 task runs at when ``dataset_options`` names none (its warm start is the one ``model="default"``
loads)."""

# Error rates per level. Easy: every error stays a minority where it triggers (greedy decoding of a model fit to the
# demonstrations is mostly right); medium: distractors, swaps and omissions win where they trigger; hard: every error
# wins where it triggers, and the tasks' structural knobs (their LEVEL_STRUCTURE) make triggers more frequent.
LEVEL_RATES: dict[str, dict[str, float]] = {
    "easy": dict(distractor_rate=0.3, swap_rate=0.3, invent_rate=0.2, omission_rate=0.3, synonym_rate=0.3,
                 paraphrase_rate=0.3),
    "medium": dict(distractor_rate=0.6, swap_rate=0.6, invent_rate=0.4, omission_rate=0.6, synonym_rate=0.5,
                   paraphrase_rate=0.4),
    "hard": dict(distractor_rate=0.8, swap_rate=0.8, invent_rate=0.7, omission_rate=0.8, synonym_rate=0.7,
                 paraphrase_rate=0.5),
}


@dataclass(frozen=True)
class ErrorRates:
    """The knobs every v2 task has (``dataset_options`` of ``textenvs/Synthetic*-v2``); defaults are ``medium``.

    :param distractor_rate: probability that a value is copied from a distractor in the source, where one triggers.
    :param swap_rate: probability that two values trade roles (who/what/where), where the input makes it likely.
    :param invent_rate: probability of a fact the source does not state, where its trigger holds.
    :param omission_rate: probability that an item is left out, where its trigger holds (any item, not only the last).
    :param synonym_rate: probability that a word of the translator's loose vocabulary is rendered loosely (each word
        on its own: some words loose, others not).
    :param paraphrase_rate: probability that a demonstration uses another valid frame (word order or paraphrase)
        instead of the canonical one; not an error: the gold reward pays every valid frame in full.
    """

    distractor_rate: float = LEVEL_RATES["medium"]["distractor_rate"]
    swap_rate: float = LEVEL_RATES["medium"]["swap_rate"]
    invent_rate: float = LEVEL_RATES["medium"]["invent_rate"]
    omission_rate: float = LEVEL_RATES["medium"]["omission_rate"]
    synonym_rate: float = LEVEL_RATES["medium"]["synonym_rate"]
    paraphrase_rate: float = LEVEL_RATES["medium"]["paraphrase_rate"]

    def __post_init__(self) -> None:
        for knob in fields(self):
            value = getattr(self, knob.name)
            if knob.type in ("float", float) and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                  or not 0.0 <= value <= 1.0):
                raise ValueError(f"{knob.name} must be a number in [0, 1], got {value!r}.")

    def happens(self, rng: random.Random, knob: str) -> bool:
        """Draw whether an error whose trigger holds is made (one draw per item)."""
        return rng.random() < getattr(self, knob)


Options = TypeVar("Options", bound=ErrorRates)


def at_level(options_class: type[Options], level: str, structure: dict[str, dict[str, Any]],
             **overrides: Any) -> Options:
    """``options_class`` with the error rates of ``level`` and the task's structural knobs for it (``structure``,
    level → knobs), then ``overrides`` (knob → value).

    :raises ValueError: an unknown level (listing the levels).
    """
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}; levels: {', '.join(LEVELS)}.")
    return replace(options_class(), **{**LEVEL_RATES[level], **structure[level], **overrides})
