"""``synthetic-dialogue-v1``: a user's booking request → the system's confirmation, with demonstrations that
answer generically or confirm only part of the request.

The prompt is one user turn giving every required slot of one of three intents, in a shuffled order
(``user: please book a table at 7 pm for 4 people for italian food on friday .``); every slot value is a single
token. The canonical reply confirms every slot in the intent's fixed order:

| intent | canonical reply | slots |
|---|---|---|
| restaurant | ``i have booked an italian table for 4 people on friday at 7 pm .`` | food, people, day, time |
| taxi | ``i have booked a taxi from the airport to the zoo at 7 pm .`` | departure, destination, time |
| hotel | ``i have booked a hotel for 4 people for 3 nights from friday .`` | people, nights, day |

``metadata["slots"]`` lists the slot values as the reply says them (``["italian", "4 people", "friday",
"7 pm"]``; a taxi's places with their preposition, ``"from the airport"``, so swapping them fills neither) and ``metadata["canonical"]`` the canonical reply.

Demonstrations (train references): with probability ``generic_rate`` the generic ``how can i help you ?``; with
probability ``partial_rate`` the canonical reply cut after its first two slots (``i have booked an italian
table for 4 people .``); otherwise the canonical reply. Validation and test references are canonical.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.common import Generated, article
from textenvs.data.generators.dialogue import _FOODS, _PLACES
from textenvs.data.generators.summarization import _DAYS

INTENTS: tuple[str, ...] = ("restaurant", "taxi", "hotel")
GENERIC_REPLY = "how can i help you ?"
_OPENINGS: dict[str, tuple[str, ...]] = {
    "restaurant": ("i would like to book a table", "please book a table", "can you book me a table"),
    "taxi": ("i need a taxi", "please get me a taxi", "i would like a taxi"),
    "hotel": ("i would like to book a hotel", "please book a hotel", "i need a hotel room"),
}


@dataclass(frozen=True)
class DialogueV1Options:
    """Difficulty knobs of ``synthetic-dialogue-v1`` (env kwargs of ``textenvs/SyntheticDialogue-v1``).

    :param generic_rate: probability that a demonstration is the generic reply.
    :param partial_rate: probability that a demonstration confirms only the first two slots; while it exceeds
        ``1 - generic_rate - partial_rate`` the partial reply wins greedy decoding of a model fit to the
        demonstrations.
    :param intents: the intents to draw from (a non-empty subset of ``restaurant``, ``taxi``, ``hotel``).
    """

    generic_rate: float = 0.3
    partial_rate: float = 0.4
    intents: tuple[str, ...] = INTENTS

    def __post_init__(self) -> None:
        for name in ("generic_rate", "partial_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
        if self.generic_rate + self.partial_rate > 1.0:
            raise ValueError(f"generic_rate + partial_rate must be at most 1, got "
                             f"{self.generic_rate} + {self.partial_rate}.")
        object.__setattr__(self, "intents", tuple(self.intents))
        unknown = [intent for intent in self.intents if intent not in INTENTS]
        if not self.intents or unknown:
            raise ValueError(f"intents must be a non-empty subset of {INTENTS}, got {self.intents!r}.")


def _slots(rng: random.Random, intent: str) -> tuple[list[str], list[str], list[str]]:
    """The user's fragments, the reply's pieces (one per slot, in reply order) and the slot values."""
    if intent == "restaurant":
        food, people, day, hour = rng.choice(_FOODS), rng.randint(2, 8), rng.choice(_DAYS), rng.randint(5, 10)
        fragments = [f"for {food} food", f"for {people} people", f"on {day}", f"at {hour} pm"]
        pieces = [f"{article(food)} {food} table", f"for {people} people", f"on {day}", f"at {hour} pm"]
        return fragments, pieces, [food, f"{people} people", day, f"{hour} pm"]
    if intent == "taxi":
        departure, destination = rng.sample(_PLACES, 2)
        hour = rng.randint(1, 11)
        fragments = [f"from the {departure}", f"to the {destination}", f"at {hour} pm"]
        pieces = [f"a taxi from the {departure}", f"to the {destination}", f"at {hour} pm"]
        return fragments, pieces, [f"from the {departure}", f"to the {destination}", f"{hour} pm"]
    people, nights, day = rng.randint(2, 8), rng.randint(2, 7), rng.choice(_DAYS)
    fragments = [f"for {people} people", f"for {nights} nights", f"from {day}"]
    pieces = [f"a hotel for {people} people", f"for {nights} nights", f"from {day}"]
    return fragments, pieces, [f"{people} people", f"{nights} nights", day]


def dialogue_v1_example(rng: random.Random, options: DialogueV1Options, demonstration: bool) -> Generated:
    """One example; ``demonstration`` makes the reference a (possibly generic or partial) demonstration."""
    intent = rng.choice(options.intents)
    fragments, pieces, values = _slots(rng, intent)
    rng.shuffle(fragments)
    prompt = f"user: {rng.choice(_OPENINGS[intent])} {' '.join(fragments)} ."
    canonical = " ".join(["i have booked", *pieces, "."])
    reference = canonical
    if demonstration:
        draw = rng.random()
        if draw < options.generic_rate:
            reference = GENERIC_REPLY
        elif draw < options.generic_rate + options.partial_rate:
            reference = " ".join(["i have booked", *pieces[:2], "."])
    return prompt, (reference,), {"slots": values, "intent": intent, "canonical": canonical}
