"""``synthetic-summarization``: one person's event, spread over sentences among distractors → a one-sentence
summary of the key facts. Moved verbatim from ``textenvs/data/builtin.py`` (data byte-identical)."""

from __future__ import annotations

import random

from textenvs.data.generators.common import Generated

_FEMALE_NAMES = (
    "maria anna sara emma julia lena nora eva lucy mia olivia clara rosa alice helen kate laura nina "
    "ruth vera"
).split()
_MALE_NAMES = (
    "tom paul david john peter omar leo sam ben max hugo ivan carl felix oscar adam luke noah jack mark"
).split()
_CITIES = (
    "paris rome london berlin madrid vienna lisbon prague oslo dublin athens cairo tokyo lima delhi boston "
    "chicago toronto sydney moscow warsaw zurich geneva milan naples munich hamburg seoul bangkok nairobi"
).split()
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_COUNT_WORDS = ("two three four five six seven eight nine ten eleven twelve").split()  # for counts 2..12
_SHOP_GOODS = ("apples", "books", "tickets", "chairs", "flowers", "lamps", "shirts", "bikes")
"""What people buy and sell (each verb adds a few objects of its own)."""
# Event verbs (simple past = past participle) → the plural objects they take.
_EVENTS: dict[str, tuple[str, ...]] = {
    "bought": _SHOP_GOODS + ("cakes", "pens"),
    "sold": _SHOP_GOODS + ("paintings", "cars"),
    "found": ("coins", "keys", "books", "shells", "stones", "wallets", "rings", "letters"),
    "collected": ("stamps", "coins", "shells", "stones", "bottles", "leaves", "tickets"),
    "delivered": ("letters", "packages", "boxes", "pizzas", "flowers", "chairs"),
    "painted": ("pictures", "walls", "chairs", "boxes", "doors", "fences"),
    "repaired": ("bikes", "cars", "chairs", "lamps", "clocks", "phones", "doors", "fences"),
    "baked": ("cakes", "pies", "cookies", "loaves", "pizzas"),
    "caught": ("fish", "birds", "rabbits"),
    "planted": ("trees", "flowers", "roses", "seeds"),
    "ordered": ("pizzas", "books", "tickets", "chairs", "lamps", "shirts"),
    "lost": ("keys", "coins", "tickets", "books", "wallets", "rings"),
}
_SEEN_THINGS = ("birds", "dogs", "cats", "horses", "cars", "buses", "boats", "trees", "houses", "children")
_OWNED_THINGS = ("cats", "dogs", "plants", "bikes", "books", "chairs", "lamps")
_WEATHER = ("sunny", "rainy", "cold", "warm", "windy", "cloudy")
_CITY_ADJECTIVES = ("big", "busy", "quiet", "beautiful", "old", "famous")


def _count(rng: random.Random, count: int) -> str:
    return str(count) if rng.random() < 0.5 else _COUNT_WORDS[count - 2]


def _other(rng: random.Random, values, value):
    """A random one of ``values`` other than ``value`` (a distractor's fact never repeats the main event's)."""
    return rng.choice([v for v in values if v != value])


def _main_event_units(layout: int, person: str, pronoun: str, verb: str, amount: str, city: str,
                      day: str) -> list[list[str]]:
    """The main event in one of seven layouts, as units of consecutive sentences; the first unit opens the
    document."""
    if layout == 0:
        return [[f"on {day} , {person} {verb} {amount} in {city} ."]]
    if layout == 1:
        return [[f"{person} {verb} {amount} in {city} on {day} ."]]
    if layout == 2:
        return [[f"{person} went to {city} on {day} .", f"there , {pronoun} {verb} {amount} ."]]
    if layout == 3:
        return [
            [f"on {day} , {person} traveled to {city} ."],
            [f"{pronoun} {verb} {amount} at the market ."],
        ]
    if layout == 4:
        return [[f"{person} arrived in {city} .", f"it was {day} ."], [f"{pronoun} {verb} {amount} ."]]
    if layout == 5:
        return [[f"{amount} were {verb} by {person} in {city} on {day} ."]]
    return [[f"{person} {verb} {amount} on {day} ."], [f"{pronoun} was in {city} at the time ."]]


def _distractor_candidates(rng: random.Random, person: str, pronoun: str, others: list[str], count: int, city: str,
                           day: str) -> list[str]:
    """Other people's events, the main person's non-event facts and background sentences."""
    verbs = rng.sample(list(_EVENTS), 2)
    return [
        f"{others[0]} {verbs[0]} {_count(rng, _other(rng, range(2, 13), count))} {rng.choice(_EVENTS[verbs[0]])} "
        f"in {_other(rng, _CITIES, city)} on {_other(rng, _DAYS, day)} .",
        f"on {_other(rng, _DAYS, day)} , {others[1]} {verbs[1]} {_count(rng, rng.randint(2, 12))} "
        f"{rng.choice(_EVENTS[verbs[1]])} .",
        f"{others[2]} lives in {_other(rng, _CITIES, city)} .",
        f"{others[1]} visited {_other(rng, _CITIES, city)} last year .",
        f"{pronoun} saw {_count(rng, _other(rng, range(2, 13), count))} {rng.choice(_SEEN_THINGS)} on the way .",
        f"{pronoun} had {_count(rng, _other(rng, range(2, 13), count))} {rng.choice(_OWNED_THINGS)} at home .",
        f"{pronoun} was born in {_other(rng, _CITIES, city)} .",
        f"{pronoun} came back home on {_other(rng, _DAYS, day)} .",
        f"{person} met {others[0]} there .",
        f"the weather was {rng.choice(_WEATHER)} .",
        f"{city} is a {rng.choice(_CITY_ADJECTIVES)} city .",
        f"{_other(rng, _CITIES, city)} is far from {city} .",
        "the market was very busy .",
        "everyone was happy .",
    ]


def _summarization_example(rng: random.Random) -> Generated:
    female = rng.random() < 0.5
    person = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    pronoun = "she" if female else "he"
    # Other people have the other gender, so "he"/"she" always refers to the main person.
    others = rng.sample(_MALE_NAMES if female else _FEMALE_NAMES, 3)
    verb = rng.choice(list(_EVENTS))
    thing = rng.choice(_EVENTS[verb])
    count, city, day = rng.randint(2, 12), rng.choice(_CITIES), rng.choice(_DAYS)
    amount = f"{_count(rng, count)} {thing}"
    units = _main_event_units(rng.randrange(7), person, pronoun, verb, amount, city, day)
    candidates = _distractor_candidates(rng, person, pronoun, others, count, city, day)
    sentences_main = sum(len(unit) for unit in units)
    distractors = rng.sample(candidates, rng.randint(max(1, 5 - sentences_main), 9 - sentences_main))
    body = units[1:] + [[sentence] for sentence in distractors]
    rng.shuffle(body)
    sentences = units[0] + [sentence for unit in body for sentence in unit]
    while len(" ".join(sentences).split()) > 120:  # keep documents short: drop the last distractor
        sentences.remove(next(s for s in reversed(sentences) if s in distractors))
    summary = f"{person} {verb} {count} {thing} in {city} on {day} ."
    key_facts = [person, verb, f"{count} {thing}", city, day]
    return " ".join(sentences), (summary,), {"key_facts": key_facts}
