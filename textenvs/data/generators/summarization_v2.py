"""``synthetic-summarization-v2``: a short document about one person's event → a one-sentence summary of its facts,
several valid summaries, and demonstrations whose errors depend on the document.

The document tells one person's event, actively (``maria bought 3 apples for tom .``) or passively (``3 apples were
bought by maria for tom .``); the beneficiary (optional) may come in its own sentence (``it was for tom .``); the
city (``she was in paris .``) and, optionally, the day (``it was friday .``) in their own sentences, shuffled among
background sentences and distractors: another person somewhere else or on another day (``tom was in rome .``, ``tom
came on monday .``; other people always have the other gender, so *she*/*he* is the main person).

Roles: ``person``, ``verb``, ``count``, ``object``, ``beneficiary`` (optional), ``city``, ``day`` (optional). Valid
summaries (:data:`GRAMMAR`): ``maria bought 3 apples for tom in paris on friday .`` (canonical), the day first
(``on friday , maria ...``), the place first (``in paris on friday , maria ...``) or the day before the city.

Demonstration errors (train references), each where its trigger holds, with its knob's probability:

| error | trigger | knob |
|---|---|---|
| the distractor's city or day instead of the main person's | that distractor sentence comes before the true one | ``distractor_rate`` |
| person and beneficiary swapped | the event is told in the passive | ``swap_rate`` |
| an invented day | the document gives no day | ``invent_rate`` |
| the beneficiary left out / the city left out | the beneficiary has its own sentence / the city's sentence is the document's last | ``omission_rate`` |
| a loose verb (*bought* → *ordered*) | the verb is in the loose vocabulary | ``synonym_rate`` |
| another valid frame | every example | ``paraphrase_rate`` |
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.errors_v2 import ErrorRates, at_level
from textenvs.data.generators.frames import FrameGrammar, pick
from textenvs.data.generators.summarization import (_CITIES, _CITY_ADJECTIVES, _DAYS, _EVENTS, _FEMALE_NAMES,
                                                    _MALE_NAMES, _WEATHER)

# Verbs that read naturally with "for <someone>", and the loose renderings a careless summarizer uses.
_VERBS = ("bought", "found", "collected", "delivered", "painted", "repaired", "baked", "ordered")
_LOOSE_VERBS = {"bought": "ordered", "collected": "found", "baked": "made", "delivered": "brought"}
_NAMES = _FEMALE_NAMES + _MALE_NAMES
_BACKGROUND = ("the weather was {weather} .", "{city} is a {adjective} city .", "everyone was happy .",
               "it was a busy day .")

GRAMMAR = FrameGrammar(
    name="summarization-v2",
    values={"person": frozenset(_NAMES), "beneficiary": frozenset(_NAMES),
            "verb": frozenset(_EVENTS) | frozenset(_LOOSE_VERBS.values()),
            "count": frozenset(str(n) for n in range(2, 13)),
            "object": frozenset(obj for objects in _EVENTS.values() for obj in objects),
            "city": frozenset(_CITIES), "day": frozenset(_DAYS)},
    frames=("{person} {verb} {count} {object} [for {beneficiary}] [in {city}] [on {day}] .",
            "on {day} , {person} {verb} {count} {object} [for {beneficiary}] [in {city}] .",
            "in {city} [on {day}] , {person} {verb} {count} {object} [for {beneficiary}] .",
            "{person} {verb} {count} {object} [for {beneficiary}] on {day} in {city} ."),
)

LEVEL_STRUCTURE = {"easy": dict(beneficiary_rate=0.5, day_rate=0.8, num_distractors=1, num_background=1),
                   "medium": dict(beneficiary_rate=0.6, day_rate=0.7, num_distractors=2, num_background=1),
                   "hard": dict(beneficiary_rate=0.7, day_rate=0.6, num_distractors=2, num_background=2)}


@dataclass(frozen=True)
class SummarizationV2Options(ErrorRates):
    """Knobs of ``synthetic-summarization-v2`` (``dataset_options`` of ``textenvs/SyntheticSummarization-v2``): the
    error rates of :class:`~textenvs.data.generators.errors_v2.ErrorRates` and

    :param beneficiary_rate: probability that the event has a beneficiary (``for tom``).
    :param day_rate: probability that the document gives the day (without one, a summary states none).
    :param num_distractors: distractor sentences (another person's city, then day), 0 to 2.
    :param num_background: harmless background sentences, 0 to 4.
    """

    beneficiary_rate: float = LEVEL_STRUCTURE["medium"]["beneficiary_rate"]
    day_rate: float = LEVEL_STRUCTURE["medium"]["day_rate"]
    num_distractors: int = LEVEL_STRUCTURE["medium"]["num_distractors"]
    num_background: int = LEVEL_STRUCTURE["medium"]["num_background"]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_distractors not in (0, 1, 2):
            raise ValueError(f"num_distractors must be 0, 1 or 2, got {self.num_distractors!r}.")
        if not 0 <= self.num_background <= len(_BACKGROUND):
            raise ValueError(f"num_background must be in [0, {len(_BACKGROUND)}], got {self.num_background!r}.")

    @classmethod
    def level(cls, level: str, **overrides) -> "SummarizationV2Options":
        """The knobs of difficulty ``level`` (``easy``, ``medium``, ``hard``), then ``overrides``."""
        return at_level(cls, level, LEVEL_STRUCTURE, **overrides)


COMPOSITION: tuple[str, str] = ("verb", "city")
"""The roles whose value pairs the compositional test split holds out."""


def summarization_v2_example(rng: random.Random, options: SummarizationV2Options):
    """Document, gold roles and the demonstration's roles and frame."""
    female = rng.random() < 0.5
    person = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    others = _MALE_NAMES if female else _FEMALE_NAMES
    pronoun = "she" if female else "he"
    verb = rng.choice(_VERBS)
    count, obj = str(rng.randint(2, 12)), rng.choice(_EVENTS[verb])
    beneficiary = rng.choice(others) if rng.random() < options.beneficiary_rate else None
    city = rng.choice(_CITIES)
    day = rng.choice(_DAYS) if rng.random() < options.day_rate else None
    other = pick(rng, others, exclude=[beneficiary])

    passive = rng.random() < 0.5
    own_sentence = beneficiary is not None and rng.random() < 0.5
    # Every verb of _VERBS has its past as its participle, so the passive reuses it.
    event = f"{count} {obj} were {verb} by {person}" if passive else f"{person} {verb} {count} {obj}"
    lead = [event + (f" for {beneficiary} ." if beneficiary and not own_sentence else " .")]
    facts = [("city", f"{pronoun} was in {city} .")] + ([("day", f"it was {day} .")] if day else [])
    facts += [("beneficiary", f"it was for {beneficiary} .")] if own_sentence else []
    distractor_city, distractor_day = pick(rng, _CITIES, exclude=[city]), pick(rng, _DAYS, exclude=[day])
    distractors = [("distractor:city", f"{other} was in {distractor_city} ."),
                   ("distractor:day", f"{other} came on {distractor_day} .")][:options.num_distractors]
    background = [("background", template.format(weather=rng.choice(_WEATHER), city=city,
                                                 adjective=rng.choice(_CITY_ADJECTIVES)))
                  for template in rng.sample(_BACKGROUND, options.num_background)]
    body = facts + distractors + background
    rng.shuffle(body)
    order = [kind for kind, _ in body]
    document = " ".join(lead + [sentence for _, sentence in body])

    gold = {"person": person, "verb": verb, "count": count, "object": obj, "city": city}
    gold |= {"beneficiary": beneficiary} if beneficiary else {}
    gold |= {"day": day} if day else {}
    demo = dict(gold)
    for role, wrong in (("city", distractor_city), ("day", distractor_day)):
        if (f"distractor:{role}" in order and role in order
                and order.index(f"distractor:{role}") < order.index(role) and options.happens(rng, "distractor_rate")):
            demo[role] = wrong
    if passive and beneficiary and options.happens(rng, "swap_rate"):
        demo["person"], demo["beneficiary"] = beneficiary, person
    if day is None and options.happens(rng, "invent_rate"):
        demo["day"] = pick(rng, _DAYS, exclude=[distractor_day])
    if own_sentence and options.happens(rng, "omission_rate"):
        del demo["beneficiary"]
    if order[-1] == "city" and options.happens(rng, "omission_rate"):
        del demo["city"]
    if verb in _LOOSE_VERBS and options.happens(rng, "synonym_rate"):
        demo["verb"] = _LOOSE_VERBS[verb]
    frame = rng.randrange(1, len(GRAMMAR.frames)) if options.happens(rng, "paraphrase_rate") else 0
    return document, gold, demo, frame
