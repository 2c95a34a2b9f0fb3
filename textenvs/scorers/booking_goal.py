"""A goal check that reads the booking: the agent's confirmation is parsed into slot values with their roles and
compared with the user's whole goal (``textenvs/MultiTurnDialogue-v1``).

:func:`parse_booking` turns a turn into a :class:`ParsedBooking`: whether it is a booking (``"booked"``), whether it
is negated (``not``, ``cancelled``, ``couldn't``, ...) or hedged (``or``, ``maybe``, ...), the booking kinds it
names (``table``/``restaurant``, ``taxi``/``cab``, ``hotel``/``room``) and every slot value it states, each with its
role:

- places: ``from the X`` is the departure, ``to the X`` the destination; a place with neither is unassigned;
- times: ``7 pm``, ``seven pm``, ``7 in the evening``, ``19:00``; ``leaving`` / ``leave`` / ``departing`` /
  ``pick up`` before it make it a departure time, ``arriving`` / ``arrive`` / ``arrival`` an arrival time;
- counts by their unit: ``4 people`` / ``4 guests`` / ``party of 4`` / ``4 of us``, ``3 nights``, ``4 stars``;
  a number with no unit is unassigned;
- days, food types, areas (``north`` ... ``centre``) and ``parking`` by their words.

:func:`check_booking` compares it with a goal: the booking is complete only when it is affirmative (booked, not
negated, not hedged), names the goal's booking kind and no other, states every goal slot with the goal's value in
the goal's role, and states nothing else (no slot outside the goal, no second value for a slot, no unassigned
value). :class:`BookingGoalScorer` (registered as ``booking_goal``) reports that check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from textenvs.data.generators.dialogue import _AREAS, _FOODS, _PLACES
from textenvs.data.generators.summarization import _COUNT_WORDS, _DAYS
from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import normalize_tokens

BOOKING_WORD = "booked"
NEGATIONS = frozenset("not no never cancelled canceled cancel cannot unable failed couldn wasn isn didn hasn "
                      "haven won unfortunately".split())
"""Words that make a confirmation negative (``couldn't`` normalizes to ``couldn t``)."""
HEDGES = frozenset("or either maybe perhaps possibly probably".split())
"""Words that make a confirmation a hedge between values rather than one booking."""
INTENT_WORDS: dict[str, str] = {"table": "book_restaurant", "restaurant": "book_restaurant", "taxi": "book_taxi",
                                "cab": "book_taxi", "hotel": "book_hotel", "room": "book_hotel"}
_NUMBERS = {word: number for number, word in enumerate(("one", *_COUNT_WORDS), start=1)}
_LEAVE_WORDS = frozenset("leaving leave leaves departing depart departure pick pickup".split())
_ARRIVE_WORDS = frozenset("arriving arrive arrives arrival".split())
_PEOPLE_UNITS = frozenset("people guests persons adults".split())


@dataclass
class ParsedBooking:
    """What a turn states, read as a booking."""

    booked: bool = False
    negated: bool = False
    hedged: bool = False
    intents: set[str] = field(default_factory=set)
    values: list[tuple[str, Any]] = field(default_factory=list)
    """``(slot, value)`` in order of appearance; times are ``(hour, "am"|"pm", role)`` with role ``"leave"``,
    ``"arrive"`` or None; places are their name under ``departure``/``destination``."""
    unassigned: list[str] = field(default_factory=list)
    """Values the parser found but could give no role (a place without from/to, a bare number)."""

    def slot_values(self, slot: str) -> list[Any]:
        return [value for name, value in self.values if name == slot]


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _NUMBERS.get(token)


def _time_role(tokens: Sequence[str], start: int) -> str | None:
    """The role of a time starting at ``start``: the nearest leave/arrive word among the three tokens before it."""
    for token in reversed(tokens[max(0, start - 3):start]):
        if token in _LEAVE_WORDS:
            return "leave"
        if token in _ARRIVE_WORDS:
            return "arrive"
    return None


def parse_booking(text: str) -> ParsedBooking:
    """Read ``text`` as a booking: see the module docstring for what is recognized."""
    tokens = normalize_tokens(text)
    parsed = ParsedBooking(booked=BOOKING_WORD in tokens, negated=any(t in NEGATIONS for t in tokens),
                           hedged=any(t in HEDGES for t in tokens),
                           intents={INTENT_WORDS[t] for t in tokens if t in INTENT_WORDS})
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        number = _number(token)
        if number is not None:
            if following in ("am", "pm"):
                parsed.values.append(("time", (number, following, _time_role(tokens, i))))
                i += 2
                continue
            if following == "in" and i + 2 < len(tokens) and tokens[i + 2] in ("morning", "evening"):
                half = "am" if tokens[i + 2] == "morning" else "pm"
                parsed.values.append(("time", (number, half, _time_role(tokens, i))))
                i += 3
                continue
            if token.isdigit() and following == "00" and 0 < number < 24:  # "19:00"
                hour, half = (number - 12, "pm") if number > 12 else (number, "pm" if number == 12 else "am")
                parsed.values.append(("time", (hour, half, _time_role(tokens, i))))
                i += 2
                continue
            if following in _PEOPLE_UNITS or (following == "of" and i + 2 < len(tokens) and tokens[i + 2] == "us"):
                parsed.values.append(("people", number))
            elif i >= 2 and tokens[i - 2:i] == ["party", "of"]:
                parsed.values.append(("people", number))
            elif following in ("night", "nights"):
                parsed.values.append(("nights", number))
            elif following in ("star", "stars"):
                parsed.values.append(("stars", number))
            else:
                parsed.unassigned.append(token)
        elif token in _DAYS:
            parsed.values.append(("day", token))
        elif token in _FOODS:
            parsed.values.append(("food", token))
        elif token in _AREAS:
            parsed.values.append(("area", token))
        elif token == "parking":
            parsed.values.append(("parking", True))
        elif token in _PLACES:
            previous = tokens[i - 1] if i else ""
            if previous == "from":
                parsed.values.append(("departure", token))
            elif previous == "to":
                parsed.values.append(("destination", token))
            else:
                parsed.unassigned.append(token)
        i += 1
    return parsed


def stated_values(text: str) -> set[str]:
    """The slot values ``text`` states, as comparable strings whatever their wording (``"19:00"`` and ``"seven pm"``
    are both ``"time:7 pm"``): places and numbers are compared without their role, so a user's ``"the zoo ."``
    states ``"place:zoo"`` as ``"from the zoo"`` does. Used to compare two users' replies."""
    parsed = parse_booking(text)
    values = set()
    for slot, value in parsed.values:
        if slot in ("departure", "destination"):
            values.add(f"place:{value}")
        elif slot == "time":
            values.add(f"time:{value[0]} {value[1]}")
        else:
            values.add(f"{slot}:{value}")
    values.update(f"number:{token}" if token.isdigit() or token in _NUMBERS else f"place:{token}"
                  for token in parsed.unassigned)
    return values


def _goal_value(intent: str, slot: str, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _matches(intent: str, slot: str, goal_value: Any, value: Any) -> bool:
    if slot != "time":
        return value == goal_value
    hour, half, role = value
    if (hour, half) != tuple(goal_value[:2]):
        return False
    # A restaurant time has no direction; a taxi's must say whether it leaves or arrives then.
    return intent == "book_restaurant" and role is None or intent != "book_restaurant" and role == goal_value[2]


@dataclass(frozen=True)
class BookingCheck:
    """The result of :func:`check_booking`."""

    complete: bool
    """The turn books exactly the goal (see the module docstring)."""
    affirmative: bool
    """Booked, not negated, not hedged, and naming the goal's booking kind only."""
    correct_slots: tuple[str, ...]
    """Goal slots stated with the goal's value in the goal's role and no other value."""
    wrong_slots: tuple[str, ...]
    """Goal slots missing, or stated with a wrong value or role (in goal order)."""
    extra_values: int
    """Values outside the goal: a slot the goal does not have, a second value for a slot, an unassigned value."""
    stated_values: int
    """All values the turn states (assigned or not)."""

    @property
    def slot_accuracy(self) -> float:
        total = len(self.correct_slots) + len(self.wrong_slots)
        return len(self.correct_slots) / total if total else 0.0

    @property
    def slot_precision(self) -> float:
        """Share of the stated values that are goal values in their role (0 when nothing is stated)."""
        return len(self.correct_slots) / self.stated_values if self.stated_values else 0.0


def check_booking(text: str | ParsedBooking, intent: str, goal: Mapping[str, Any]) -> BookingCheck:
    """Compare the booking ``text`` states with ``goal`` (``{slot: value}``, times ``[hour, half, role]``) of
    booking kind ``intent``."""
    parsed = parse_booking(text) if isinstance(text, str) else text
    correct, wrong = [], []
    extra = len(parsed.unassigned)
    for slot, value in goal.items():
        stated = parsed.slot_values(slot)
        goal_value = _goal_value(intent, slot, value)
        right = [v for v in stated if _matches(intent, slot, goal_value, v)]
        if right and len(right) == len(stated):
            correct.append(slot)
        else:
            wrong.append(slot)
        # Repeating the goal value is fine; every other value for the slot is a contradiction.
        extra += len(stated) - len(right)
    extra += sum(1 for slot, _ in parsed.values if slot not in goal)
    affirmative = parsed.booked and not parsed.negated and not parsed.hedged and parsed.intents == {intent}
    stated = len(parsed.values) + len(parsed.unassigned)
    return BookingCheck(affirmative and not wrong and extra == 0, affirmative, tuple(correct), tuple(wrong), extra,
                        stated)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a booking kind (str, e.g. 'book_taxi'), got {value!r:.80}")
    return value


def _goal(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{where} must be a non-empty dict {{slot: value}} (a synthetic-booking-goals goal), "
                        f"got {value!r:.80}")
    return value


class BookingGoalScorer(Scorer):
    """Scores the agent's final turn by reading it as a booking (:func:`check_booking`) against
    ``metadata["intent"]`` and ``metadata["goal"]``; references are not used.

    - ``goal_completion``: 1 when the turn books exactly the goal;
    - ``slot_accuracy``: share of goal slots stated right (value and role) in an affirmative booking, else 0;
    - ``slot_precision``: share of the stated values that are goal values in their role, in an affirmative booking;
    - ``goal_score`` (primary): ``(goal_completion + slot_accuracy * slot_precision) / 2``: partial credit for a
      partly right booking, none for one padded with every candidate value, none for a negated or hedged one.
    """

    name = "booking_goal"
    primary = "goal_score"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        intents = metadata_field(metadata, "intent", self.name, _string)
        goals = metadata_field(metadata, "goal", self.name, _goal)
        completion, accuracy, precision = [], [], []
        for prediction, intent, goal in zip(predictions, intents, goals):
            check = check_booking(prediction, intent, goal)
            completion.append(float(check.complete))
            accuracy.append(check.slot_accuracy if check.affirmative else 0.0)
            precision.append(check.slot_precision if check.affirmative else 0.0)
        completion, accuracy, precision = (np.array(values, dtype=np.float64)
                                           for values in (completion, accuracy, precision))
        return {"goal_score": (completion + accuracy * precision) / 2, "goal_completion": completion,
                "slot_accuracy": accuracy, "slot_precision": precision}

    def score_names(self):
        return ["goal_score", "goal_completion", "slot_accuracy", "slot_precision"]
