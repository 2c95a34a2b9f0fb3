"""``synthetic-summarization-v1``: a short document about one person's purchase-like event → a one-sentence
summary of its key facts, with demonstrations that leave facts out.

The document opens with the event (``maria bought 3 apples .``); the place (``she was in paris .``) and the day
(``it was friday .``) follow in their own sentences, shuffled among harmless background sentences. Every fact
value occurs once, as a single token, so copying it is easy. The canonical summary is
``<person> <verb> <count> <objects> in <city> on <day> .`` and ``metadata["key_facts"]`` lists its facts
(``["maria", "bought", "3 apples", "paris", "friday"]``).

Demonstrations (train references) stop early: with probability ``omission_rate`` a demonstration omits facts,
in 70% of those cases every fact after the objects (``maria bought 3 apples .``), otherwise only the city
(``maria bought 3 apples on friday .``). Validation and test references are canonical.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.common import Generated
from textenvs.data.generators.summarization import (_CITIES, _CITY_ADJECTIVES, _DAYS, _EVENTS, _FEMALE_NAMES,
                                                    _MALE_NAMES, _WEATHER)

_BACKGROUND = ("the weather was {weather} .", "{city} is a {adjective} city .", "everyone was happy .",
               "the market was very busy .", "it was a busy day .")


@dataclass(frozen=True)
class SummarizationV1Options:
    """Difficulty knobs of ``synthetic-summarization-v1`` (env kwargs of ``textenvs/SyntheticSummarization-v1``).

    :param omission_rate: probability that a demonstration leaves out facts (see the module docstring); above
        about 0.55 the shortest summary wins greedy decoding of a model fit to the demonstrations.
    :param num_facts: key facts per example, 3 to 5: person, verb and amount, then the city (4), then the day
        (5). With 3 there is nothing for a demonstration to leave out.
    :param num_distractors: background sentences mixed into the document, 0 to 5.
    """

    omission_rate: float = 0.65
    num_facts: int = 5
    num_distractors: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.omission_rate <= 1.0:
            raise ValueError(f"omission_rate must be in [0, 1], got {self.omission_rate!r}.")
        if self.num_facts not in (3, 4, 5):
            raise ValueError(f"num_facts must be 3, 4 or 5, got {self.num_facts!r}.")
        if not 0 <= self.num_distractors <= len(_BACKGROUND):
            raise ValueError(f"num_distractors must be in [0, {len(_BACKGROUND)}], got {self.num_distractors!r}.")


def summarization_v1_example(rng: random.Random, options: SummarizationV1Options,
                             demonstration: bool) -> Generated:
    """One example; ``demonstration`` makes the reference a (possibly incomplete) demonstration."""
    female = rng.random() < 0.5
    person = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    pronoun = "she" if female else "he"
    verb = rng.choice(list(_EVENTS))
    amount = f"{rng.randint(2, 12)} {rng.choice(_EVENTS[verb])}"
    city, day = rng.choice(_CITIES), rng.choice(_DAYS)

    extras = [(f"{pronoun} was in {city} .", f"in {city}", city), (f"it was {day} .", f"on {day}", day)]
    extras = extras[: options.num_facts - 3]
    background = [template.format(weather=rng.choice(_WEATHER), city=city, adjective=rng.choice(_CITY_ADJECTIVES))
                  for template in rng.sample(_BACKGROUND, options.num_distractors)]
    body = [sentence for sentence, _, _ in extras] + background
    rng.shuffle(body)
    document = " ".join([f"{person} {verb} {amount} ."] + body)

    def summary(kept: list[tuple[str, str, str]]) -> str:
        return " ".join([person, verb, amount, *(phrase for _, phrase, _ in kept), "."])

    canonical = summary(extras)
    reference = canonical
    if demonstration and extras and rng.random() < options.omission_rate:
        reference = summary(extras[1:] if len(extras) > 1 and rng.random() < 0.3 else [])
    key_facts = [person, verb, amount, *(value for _, _, value in extras)]
    return document, (reference,), {"key_facts": key_facts, "canonical": canonical}
