"""``synthetic-dialogue-v2``: a user's booking request → the system's confirmation, several valid confirmations, and
demonstrations whose errors depend on the request.

The user turn gives every required slot of a restaurant, taxi or hotel booking in a shuffled order, sometimes an
area, and sometimes corrects one value in a second sentence (``user: please book a table for 4 people on friday at
7 pm for thai food . actually , for 6 people .``: the booking is for 6). Roles: ``service`` (``table``, ``taxi``,
``hotel``), then restaurant ``people``, ``food``, ``area`` (optional), ``day``, ``hour``; taxi ``departure``,
``destination``, ``day``, ``hour``; hotel ``people``, ``nights``, ``area`` (optional), ``day``.

Valid confirmations (:data:`GRAMMAR`), two per intent: ``i have booked a table for 6 people for thai food on friday
at 7 pm .`` (canonical) / ``your table for 6 people for thai food is booked for friday at 7 pm .``; ``i have booked a
taxi from the zoo to the airport on monday at 5 pm .`` / ``your taxi to the airport leaves from the zoo on monday
at 5 pm .``;
``i have booked a hotel for 2 people for 3 nights from monday .`` / ``your hotel for 2 people is booked from monday
for 3 nights .``.

Demonstration errors (train references), each where its trigger holds, with its knob's probability:

| error | trigger | knob |
|---|---|---|
| the value the user corrected instead of the correction | the request has a correction | ``distractor_rate`` |
| departure and destination (taxi) or people and nights (hotel) swapped | the request gives the second before the first | ``swap_rate`` |
| an invented area | no area asked for and the request opens with *please* | ``invent_rate`` |
| the slot the request mentions last left out | every request | ``omission_rate`` |
| the other valid frame | every example | ``paraphrase_rate`` |

``synonym_rate`` has no trigger here: every slot value is a closed-class word with no loose rendering.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.dialogue import _FOODS, _PLACES
from textenvs.data.generators.errors_v2 import ErrorRates, at_level
from textenvs.data.generators.frames import FrameGrammar, pick
from textenvs.data.generators.summarization import _DAYS

INTENTS: tuple[str, ...] = ("restaurant", "taxi", "hotel")
_AREAS = ("centre", "north", "south", "east", "west")
_SERVICE = {"restaurant": "table", "taxi": "taxi", "hotel": "hotel"}
_FIRST_FRAME = {"restaurant": 0, "taxi": 2, "hotel": 4}
_OPENINGS: dict[str, tuple[str, ...]] = {
    "restaurant": ("i would like to book a table", "please book a table", "can you book me a table"),
    "taxi": ("i need a taxi", "please get me a taxi", "i would like a taxi"),
    "hotel": ("i would like to book a hotel", "please book a hotel", "i need a hotel room"),
}
# How the user says each slot (the correction repeats the same phrase with the new value).
_FRAGMENTS = {"people": "for {} people", "food": "for {} food", "area": "in the {}", "day": "on {}",
              "hour": "at {} pm", "departure": "from the {}", "destination": "to the {}", "nights": "for {} nights"}

GRAMMAR = FrameGrammar(
    name="dialogue-v2",
    values={"service": frozenset(_SERVICE.values()), "people": frozenset(str(n) for n in range(2, 9)),
            "food": frozenset(_FOODS), "area": frozenset(_AREAS), "day": frozenset(_DAYS),
            "hour": frozenset(str(n) for n in range(1, 12)), "departure": frozenset(_PLACES),
            "destination": frozenset(_PLACES), "nights": frozenset(str(n) for n in range(2, 9))},
    frames=(
        "i have booked a {service} [for {people} people] [for {food} food] [in the {area}] [on {day}] "
        "[at {hour} pm] .",
        "your {service} [for {people} people] [for {food} food] [in the {area}] is booked [for {day}] "
        "[at {hour} pm] .",
        "i have booked a {service} [from the {departure}] [to the {destination}] [on {day}] [at {hour} pm] .",
        "your {service} [to the {destination}] leaves [from the {departure}] [on {day}] [at {hour} pm] .",
        "i have booked a {service} [for {people} people] [for {nights} nights] [in the {area}] [from {day}] .",
        "your {service} [for {people} people] [in the {area}] is booked [from {day}] [for {nights} nights] .",
    ),
)

LEVEL_STRUCTURE = {"easy": dict(correction_rate=0.2, area_rate=0.3),
                   "medium": dict(correction_rate=0.35, area_rate=0.3),
                   "hard": dict(correction_rate=0.5, area_rate=0.2)}


@dataclass(frozen=True)
class DialogueV2Options(ErrorRates):
    """Knobs of ``synthetic-dialogue-v2`` (``dataset_options`` of ``textenvs/SyntheticDialogue-v2``): the error rates
    of :class:`~textenvs.data.generators.errors_v2.ErrorRates` and

    :param correction_rate: probability that the user corrects one value in a second sentence.
    :param area_rate: probability that a restaurant or hotel request names an area.
    :param intents: the intents to draw from (a non-empty subset of ``restaurant``, ``taxi``, ``hotel``).
    """

    correction_rate: float = LEVEL_STRUCTURE["medium"]["correction_rate"]
    area_rate: float = LEVEL_STRUCTURE["medium"]["area_rate"]
    intents: tuple[str, ...] = INTENTS

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "intents", tuple(self.intents))
        if not self.intents or any(intent not in INTENTS for intent in self.intents):
            raise ValueError(f"intents must be a non-empty subset of {INTENTS}, got {self.intents!r}.")

    @classmethod
    def level(cls, level: str, **overrides) -> "DialogueV2Options":
        """The knobs of difficulty ``level`` (``easy``, ``medium``, ``hard``), then ``overrides``."""
        return at_level(cls, level, LEVEL_STRUCTURE, **overrides)


COMPOSITION: tuple[str, str] = ("people", "day")
"""The roles whose value pairs the compositional test split holds out (restaurant and hotel bookings: a taxi has no
party size, so the compositional split holds no taxi)."""


def _values(rng: random.Random, intent: str) -> dict[str, str]:
    if intent == "restaurant":
        return {"people": str(rng.randint(2, 8)), "food": rng.choice(_FOODS), "day": rng.choice(_DAYS),
                "hour": str(rng.randint(5, 10))}
    if intent == "taxi":
        departure, destination = rng.sample(_PLACES, 2)
        return {"departure": departure, "destination": destination, "day": rng.choice(_DAYS),
                "hour": str(rng.randint(1, 11))}
    people, nights = rng.sample(range(2, 9), 2)  # distinct, so a swap always shows
    return {"people": str(people), "nights": str(nights), "day": rng.choice(_DAYS)}


def dialogue_v2_example(rng: random.Random, options: DialogueV2Options):
    """User turn, gold roles and the demonstration's roles and frame."""
    intent = rng.choice(options.intents)
    said = _values(rng, intent)
    if intent != "taxi" and rng.random() < options.area_rate:
        said["area"] = rng.choice(_AREAS)
    order = list(said)
    rng.shuffle(order)
    opening = rng.choice(_OPENINGS[intent])
    prompt = f"user: {opening} {' '.join(_FRAGMENTS[role].format(said[role]) for role in order)} ."

    gold = {"service": _SERVICE[intent], **said}
    distractor = None
    if rng.random() < options.correction_rate:
        role = rng.choice([role for role in said if role != "area"])
        legal = sorted(GRAMMAR.values[role] - {said[role], *said.values()})
        if intent == "restaurant" and role == "hour":
            legal = [hour for hour in legal if 5 <= int(hour) <= 10]
        gold[role] = rng.choice(legal)
        distractor = (role, said[role])
        prompt += f" actually , {_FRAGMENTS[role].format(gold[role])} ."

    demo = dict(gold)
    if distractor and options.happens(rng, "distractor_rate"):
        demo[distractor[0]] = distractor[1]
    pairs = {"taxi": ("departure", "destination"), "hotel": ("people", "nights")}
    if intent in pairs:
        first, second = pairs[intent]
        if order.index(second) < order.index(first) and options.happens(rng, "swap_rate"):
            demo[first], demo[second] = demo[second], demo[first]
    if intent != "taxi" and "area" not in said and opening.startswith("please") and options.happens(
            rng, "invent_rate"):
        demo["area"] = pick(rng, _AREAS)
    if options.happens(rng, "omission_rate"):
        demo.pop(order[-1], None)
    frame = _FIRST_FRAME[intent] + (1 if options.happens(rng, "paraphrase_rate") else 0)
    return prompt, gold, demo, frame
