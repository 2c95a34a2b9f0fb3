"""``synthetic-translation-v2``: short sentences of the generated language → English, several valid translations, and
demonstrations whose errors depend on the source.

Source: v1's language (subject-object-verb, adjectives after their noun, accusative ``-m/-um`` on the object, past
tense; v1's verbs but *see*), with people as objects too (``the king visited the queen .``). Roles: ``subject``, ``subject_adjective``,
``verb``, ``object``, ``object_adjective`` (adjectives optional, each with probability ``adjective_rate``).

Valid outputs (:data:`GRAMMAR`): the active ``the [adjective] subject verb the [adjective] object .`` (canonical) and
the passive ``the [adjective] object was <participle> by the [adjective] subject .``.

Demonstration errors (train references), each where its trigger holds, with its knob's probability:

| error | trigger | knob |
|---|---|---|
| loose word (*boy* → *child*, *carried* → *brought*) | each word of the loose vocabulary (every other lemma of each class), on its own | ``synonym_rate`` |
| subject and object swapped | the object is a person too | ``swap_rate`` |
| the subject's adjective copied onto the object | both nouns have adjectives | ``distractor_rate`` |
| an adjective left out | each adjective of the droppable half | ``omission_rate`` |
| an invented adjective on the subject | the subject has none and the object has one | ``invent_rate`` |
| the passive frame (valid) | every example | ``paraphrase_rate`` |
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.errors_v2 import ErrorRates, at_level
from textenvs.data.generators.frames import FrameGrammar, pick
from textenvs.data.generators.translation import _ACCUSATIVE, _language, _noun_form, _suffix, _verb_form
from textenvs.data.generators.translation_v1 import _ADJECTIVES, _OBJECTS, _SUBJECTS
from textenvs.data.generators.translation_v1 import _VERBS as _V1_VERBS

# v1's verbs but *see*, whose participle *seen* is two tokens of the shipped tokenizer; *visited* is loosely *met*.
_VERBS = tuple((lemma, past, "met" if lemma == "visit" else loose) for lemma, past, loose in _V1_VERBS
               if lemma != "see")
_PARTICIPLES = {"found": "found", "liked": "liked", "loved": "loved", "carried": "carried", "brought": "brought",
                "visited": "visited", "met": "met", "chased": "chased", "followed": "followed",
                "painted": "painted", "cleaned": "cleaned", "wanted": "wanted"}
_NOUNS = {canonical for canonical, _ in _SUBJECTS + _OBJECTS} | {loose for _, loose in _SUBJECTS + _OBJECTS}
_ADJECTIVE_WORDS = {word for pair in _ADJECTIVES for word in pair}

GRAMMAR = FrameGrammar(
    name="translation-v2",
    values={"subject": frozenset(_NOUNS), "object": frozenset(_NOUNS), "verb": frozenset(_PARTICIPLES),
            "subject_adjective": frozenset(_ADJECTIVE_WORDS), "object_adjective": frozenset(_ADJECTIVE_WORDS)},
    frames=("the [{subject_adjective}] {subject} {verb} the [{object_adjective}] {object} .",
            "the [{object_adjective}] {object} was {verb:participle} by the [{subject_adjective}] {subject} ."),
    forms={"participle": _PARTICIPLES},
)

# Which words the loose translator renders loosely, and which adjectives a demonstration may drop: fixed halves of
# each class, so whether an error can happen depends on the words of the source.
_LOOSE = {canonical: loose for index, (canonical, loose) in enumerate(_SUBJECTS + _OBJECTS + _ADJECTIVES)
          if index % 2 == 0} | {past: loose for index, (_, past, loose) in enumerate(_VERBS) if index % 2 == 0}
_DROPPABLE = {canonical for index, (canonical, _) in enumerate(_ADJECTIVES) if index % 2 == 1}

LEVEL_STRUCTURE = {"easy": dict(adjective_rate=0.4, person_object_rate=0.2),
                   "medium": dict(adjective_rate=0.5, person_object_rate=0.3),
                   "hard": dict(adjective_rate=0.7, person_object_rate=0.4)}


@dataclass(frozen=True)
class TranslationV2Options(ErrorRates):
    """Knobs of ``synthetic-translation-v2`` (``dataset_options`` of ``textenvs/SyntheticTranslation-v2``): the
    error rates of :class:`~textenvs.data.generators.errors_v2.ErrorRates` and

    :param adjective_rate: probability that each noun has an adjective.
    :param person_object_rate: probability that the object is a person (which triggers subject/object swaps).
    """

    adjective_rate: float = LEVEL_STRUCTURE["medium"]["adjective_rate"]
    person_object_rate: float = LEVEL_STRUCTURE["medium"]["person_object_rate"]

    @classmethod
    def level(cls, level: str, **overrides) -> "TranslationV2Options":
        """The knobs of difficulty ``level`` (``easy``, ``medium``, ``hard``), then ``overrides``."""
        return at_level(cls, level, LEVEL_STRUCTURE, **overrides)


COMPOSITION: tuple[str, str] = ("subject", "object")
"""The roles whose value pairs the compositional test split holds out."""


def translation_v2_example(rng: random.Random, options: TranslationV2Options):
    """Source, gold roles and the demonstration's roles and frame."""
    stems = _language().stems
    subject = rng.choice(_SUBJECTS)[0]
    people = [noun for noun, _ in _SUBJECTS if noun != subject]
    obj = rng.choice(people) if rng.random() < options.person_object_rate else rng.choice(_OBJECTS)[0]
    lemma, past, _ = rng.choice(_VERBS)
    subject_adjective = rng.choice(_ADJECTIVES)[0] if rng.random() < options.adjective_rate else None
    object_adjective = rng.choice(_ADJECTIVES)[0] if rng.random() < options.adjective_rate else None

    source = [stems["n:" + subject], *([stems["a:" + subject_adjective]] if subject_adjective else []),
              _suffix(_noun_form(stems["n:" + obj], plural=False, accusative=False), _ACCUSATIVE),
              *([stems["a:" + object_adjective]] if object_adjective else []),
              _verb_form(stems["v:" + lemma], "past"), "."]
    gold = {"subject": subject, "verb": past, "object": obj}
    gold |= {"subject_adjective": subject_adjective} if subject_adjective else {}
    gold |= {"object_adjective": object_adjective} if object_adjective else {}

    demo = dict(gold)
    if "subject_adjective" in demo and "object_adjective" in demo and options.happens(rng, "distractor_rate"):
        demo["object_adjective"] = demo["subject_adjective"]
    if "subject_adjective" not in demo and "object_adjective" in demo and options.happens(rng, "invent_rate"):
        demo["subject_adjective"] = pick(rng, [a for a, _ in _ADJECTIVES], exclude=[object_adjective])
    for role in ("subject_adjective", "object_adjective"):
        if gold.get(role) in _DROPPABLE and demo.get(role) == gold[role] and options.happens(rng, "omission_rate"):
            del demo[role]
    if obj in people and options.happens(rng, "swap_rate"):
        demo["subject"], demo["object"] = demo["object"], demo["subject"]
    for role, value in demo.items():
        if value in _LOOSE and options.happens(rng, "synonym_rate"):
            demo[role] = _LOOSE[value]
    frame = 1 if options.happens(rng, "paraphrase_rate") else 0
    return " ".join(source), gold, demo, frame
