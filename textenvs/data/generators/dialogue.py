"""``synthetic-dialogue``: booking dialogues; the reply confirms every slot or asks for the first missing one.
Moved verbatim from ``textenvs/data/builtin.py`` (data byte-identical)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from textenvs.data.generators.common import Generated, article as _article
from textenvs.data.generators.summarization import _COUNT_WORDS, _DAYS

_FOODS = ("italian chinese indian french thai mexican japanese greek spanish turkish korean british").split()
_AREAS = ("north", "south", "east", "west", "centre")
_PLACES = (
    "airport station museum hospital university cinema zoo harbour stadium theatre library mall"
).split()


@dataclass(frozen=True)
class _Domain:
    intent: str
    required: tuple[str, ...]  # asked for in this order when missing
    optional: tuple[str, ...]
    opening: tuple[str, ...]  # ways to start a request ("{}" takes the slot fragments)


_DOMAINS: tuple[_Domain, ...] = (
    _Domain(
        "book_restaurant",
        ("food", "people", "day", "time"),
        ("area",),
        (
            "i would like to book a table{} .",
            "can you book me a table{} ?",
            "i want to reserve a table{} .",
            "please book a table{} .",
        ),
    ),
    _Domain(
        "book_taxi",
        ("departure", "destination", "time"),
        (),
        (
            "i need a taxi{} .",
            "can you book me a taxi{} ?",
            "i would like a taxi{} .",
            "please get me a taxi{} .",
        ),
    ),
    _Domain(
        "book_hotel",
        ("people", "day", "nights"),
        ("area", "stars", "parking"),
        (
            "i would like to book a hotel{} .",
            "can you find me a hotel{} ?",
            "i need a hotel room{} .",
            "please book a hotel{} .",
        ),
    ),
)

_QUESTIONS: dict[tuple[str, str], tuple[str, str]] = {  # (intent, slot) → (question, keyword it must contain)
    ("book_restaurant", "food"): ("what kind of food would you like ?", "food"),
    ("book_restaurant", "people"): ("how many people will be in your party ?", "people"),
    ("book_restaurant", "day"): ("what day would you like the table ?", "day"),
    ("book_restaurant", "time"): ("what time would you like the table ?", "time"),
    ("book_taxi", "departure"): ("where will you be departing from ?", "departing"),
    ("book_taxi", "destination"): ("what is your destination ?", "destination"),
    ("book_taxi", "time"): ("what time would you like to leave ?", "time"),
    ("book_hotel", "people"): ("how many people will be staying ?", "people"),
    ("book_hotel", "day"): ("what day will you arrive ?", "day"),
    ("book_hotel", "nights"): ("how many nights will you stay ?", "nights"),
}
_GREETINGS = (
    "hello , how can i help you ?",
    "good evening . what can i do for you ?",
    "hi ! how may i help ?",
)


def _sample_slot(rng: random.Random, intent: str, slot: str, state: dict[str, Any]) -> Any:
    """A canonical slot value (times are ``(hour, "am"|"pm", "leave"|"arrive")``)."""
    if slot == "food":
        return rng.choice(_FOODS)
    if slot == "area":
        return rng.choice(_AREAS)
    if slot == "people":
        return rng.randint(2, 8)
    if slot == "day":
        return rng.choice(_DAYS)
    if slot == "nights":
        return rng.randint(1, 7)
    if slot == "stars":
        return rng.randint(2, 5)
    if slot == "parking":
        return True
    if slot in ("departure", "destination"):
        taken = [state[s] for s in ("departure", "destination") if s in state]
        return rng.choice([place for place in _PLACES if place not in taken])
    if intent == "book_restaurant":
        return (rng.randint(5, 10), "pm", "leave")
    return (rng.randint(1, 11), rng.choice(("am", "pm")), rng.choice(("leave", "leave", "arrive")))


def _say_number(rng: random.Random, number: int) -> str:
    return str(number) if rng.random() < 0.5 else ("one", *_COUNT_WORDS)[number - 1]


def _say_time(rng: random.Random, time: tuple[int, str, str]) -> str:
    """How a user says a time: "7 pm", "seven pm", "7 in the evening" or "19:00"."""
    hour, half, _ = time
    style = rng.randrange(4)
    if style == 0:
        return f"{hour} {half}"
    if style == 1:
        return f"{('one', *_COUNT_WORDS)[hour - 1]} {half}"
    if style == 2:
        return f"{hour} in the {'morning' if half == 'am' else 'evening'}"
    return f"{hour + (12 if half == 'pm' else 0):02d}:00"


def _fragment(rng: random.Random, intent: str, slot: str, value: Any) -> str:
    """A user's phrase giving one slot inside a request sentence."""
    if slot == "food":
        return rng.choice((f"at {_article(value)} {value} restaurant", f"for {value} food"))
    if slot == "area":
        return rng.choice((f"in the {value}", f"in the {value} of town"))
    if slot == "people":
        return rng.choice((f"for {_say_number(rng, value)} people", f"for a party of {value}"))
    if slot == "day":
        return rng.choice((f"on {value}", f"this {value}", f"for {value}"))
    if slot == "nights":
        return f"for {_say_number(rng, value)} {'night' if value == 1 else 'nights'}"
    if slot == "stars":
        return rng.choice((f"with {value} stars", f"rated {value} stars"))
    if slot == "parking":
        return rng.choice(("with parking", "with free parking"))
    if slot == "departure":
        return f"from the {value}"
    if slot == "destination":
        return f"to the {value}"
    if intent == "book_restaurant":
        return f"at {_say_time(rng, value)}"
    return f"{'leaving at' if value[2] == 'leave' else 'arriving by'} {_say_time(rng, value)}"


def _answer(rng: random.Random, intent: str, slot: str, value: Any) -> str:
    """A user's short answer to the system's question about ``slot``."""
    if slot == "departure" or slot == "destination":
        return rng.choice(
            (f"the {value} .", f"the {value} , please .", f"{_fragment(rng, intent, slot, value)} .")
        )
    if slot == "people":
        return rng.choice(
            (f"{_say_number(rng, value)} people .", f"there will be {_say_number(rng, value)} of us .")
        )
    if slot == "day":
        return rng.choice((f"{value} , please .", f"on {value} ."))
    if slot == "food":
        return rng.choice((f"{value} food , please .", f"{value} ."))
    if slot == "time" and intent == "book_restaurant":
        return rng.choice((f"{_say_time(rng, value)} , please .", f"at {_say_time(rng, value)} ."))
    return f"{_fragment(rng, intent, slot, value)} , please ."


def _request(rng: random.Random, domain: _Domain, slots: dict[str, Any]) -> str:
    fragments = [_fragment(rng, domain.intent, slot, value) for slot, value in slots.items()]
    rng.shuffle(fragments)
    return rng.choice(domain.opening).format("".join(" " + fragment for fragment in fragments))


def _canonical(intent: str, slot: str, value: Any) -> str:
    """The slot value as the system says it (and as it is listed in ``metadata["slots"]``)."""
    if slot == "people":
        return f"{value} people"
    if slot == "nights":
        return f"{value} {'night' if value == 1 else 'nights'}"
    if slot == "stars":
        return f"{value} star"
    if slot == "time":
        return f"{value[0]} {value[1]}"
    if slot == "parking":
        return "parking"
    return str(value)


def _confirmations(intent: str, state: dict[str, Any]) -> tuple[str, str]:
    said = {slot: _canonical(intent, slot, value) for slot, value in state.items()}
    if intent == "book_restaurant":
        area = f" in the {said['area']}" if "area" in said else ""
        place = f"{_article(said['food'])} {said['food']} restaurant{area}"
        return (
            f"i have booked a table for {said['people']} at {place} on {said['day']} at {said['time']} .",
            f"your table for {said['people']} at {place} is booked for {said['day']} at {said['time']} .",
        )
    if intent == "book_taxi":
        route = f"from the {said['departure']} to the {said['destination']}"
        when = f"{'leaving at' if state['time'][2] == 'leave' else 'arriving by'} {said['time']}"
        return f"i have booked a taxi {route} , {when} .", f"your taxi {route} is booked , {when} ."
    hotel = (f"{said['stars']} " if "stars" in said else "") + "hotel"
    hotel += (f" in the {said['area']}" if "area" in said else "") + (
        " with parking" if "parking" in said else ""
    )
    stay = f"for {said['people']} for {said['nights']} from {said['day']}"
    return f"i have booked {_article(hotel)} {hotel} {stay} .", f"your {hotel} is booked {stay} ."


def _dialogue_example(rng: random.Random) -> Generated:
    domain = rng.choice(_DOMAINS)
    intent = domain.intent
    state: dict[str, Any] = {}
    turns: list[str] = []
    # The first request gives each required slot with probability 0.75, each optional one with 0.3.
    for slot in domain.required + domain.optional:
        if rng.random() < (0.75 if slot in domain.required else 0.3):
            state[slot] = _sample_slot(rng, intent, slot, state)
    missing = [slot for slot in domain.required if slot not in state]
    shape = rng.randrange(3)
    if (
        shape == 2 and missing
    ):  # user request, system question, user answer (+ maybe more slots or a correction)
        turns.append("user: " + _request(rng, domain, dict(state)))
        asked = missing[0]
        turns.append("system: " + _QUESTIONS[intent, asked][0])
        state[asked] = _sample_slot(rng, intent, asked, state)
        answer = _answer(rng, intent, asked, state[asked])
        extra = rng.random()
        still_missing = [slot for slot in domain.required if slot not in state]
        if extra < 0.3 and still_missing:  # volunteers another slot
            slot = still_missing[0] if rng.random() < 0.5 else rng.choice(still_missing)
            state[slot] = _sample_slot(rng, intent, slot, state)
            answer = answer[:-2] + f" , and {_fragment(rng, intent, slot, state[slot])} ."
        elif extra < 0.5:  # corrects a slot given in the first request
            given = [slot for slot in state if slot != asked and slot != "parking"]
            if given:
                slot = rng.choice(given)
                old = state[slot]
                while state[slot] == old:
                    state[slot] = _sample_slot(rng, intent, slot, state)
                correction = rng.choice(("sorry , make that", "actually ,", "wait , i meant"))
                answer += f" {correction} {_fragment(rng, intent, slot, state[slot])} ."
        turns.append("user: " + answer)
    else:
        if shape == 1:
            turns.append("system: " + rng.choice(_GREETINGS))
        turns.append("user: " + _request(rng, domain, dict(state)))
    missing = [slot for slot in domain.required if slot not in state]
    if missing:
        question, keyword = _QUESTIONS[intent, missing[0]]
        return "\n".join(turns), (question,), {"slots": [keyword], "intent": intent, "act": "request"}
    slots = [
        _canonical(intent, slot, state[slot]) for slot in domain.required + domain.optional if slot in state
    ]
    return (
        "\n".join(turns),
        _confirmations(intent, state),
        {"slots": slots, "intent": intent, "act": "confirm"},
    )
