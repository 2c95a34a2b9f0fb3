"""``synthetic-translation-v1``: short sentences of a generated language → English, with loose demonstrations.

The source language reuses the v0 lexicon (``textenvs.data.generators.translation``): subject-object-verb order,
adjectives after their noun, an accusative suffix on the object and a past-tense suffix on the verb. Every
content word has one canonical English rendering and one loose rendering (a near-synonym or a hypernym: *boy* →
*child*, *saw* → *found*). The canonical translation is fully determined by the source:
``the [adjective] subject verb the [adjective] object .``.

Demonstrations (the train split's references) come from two translators: with probability ``synonym_rate`` the
loose one, who renders every content word by its loose word; otherwise the literal one (the canonical
translation). Validation and test references are canonical. ``metadata["canonical"]`` always holds the canonical
translation, so the task reward (``translation_agreement``) is computed from it, never from a demonstration.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textenvs.data.generators.common import Generated
from textenvs.data.generators.translation import _ACCUSATIVE, _language, _noun_form, _suffix, _verb_form

# (canonical English, loose English); nouns and adjectives are keyed by their v0 lemma, verbs carry theirs.
_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("boy", "child"), ("girl", "child"), ("king", "man"), ("queen", "woman"),
    ("farmer", "man"), ("nurse", "woman"), ("pilot", "man"), ("singer", "woman"),
)
_OBJECTS: tuple[tuple[str, str], ...] = (
    ("car", "van"), ("truck", "van"), ("house", "home"), ("shop", "market"), ("city", "town"),
    ("village", "town"), ("letter", "message"), ("story", "book"), ("garden", "park"), ("forest", "park"),
    ("kitchen", "room"), ("office", "room"), ("bottle", "cup"),
)
_ADJECTIVES: tuple[tuple[str, str], ...] = (
    ("big", "heavy"), ("small", "short"), ("hot", "warm"), ("noisy", "busy"), ("new", "fresh"),
    ("beautiful", "good"), ("dirty", "old"),
)
_VERBS: tuple[tuple[str, str, str], ...] = (  # (v0 source lemma, canonical past, loose past)
    ("see", "saw", "found"), ("like", "liked", "loved"), ("carry", "carried", "brought"),
    ("visit", "visited", "saw"), ("chase", "chased", "followed"), ("paint", "painted", "cleaned"),
    ("want", "wanted", "liked"),
)


@dataclass(frozen=True)
class TranslationV1Options:
    """Difficulty knobs of ``synthetic-translation-v1`` (env kwargs of ``textenvs/SyntheticTranslation-v1``).

    :param synonym_rate: probability that a demonstration is the loose translation (every content word by its
        loose rendering); above 0.5 the loose rendering wins greedy decoding of a model fit to the demonstrations.
    :param adjective_rate: probability that each noun has an adjective (sentence length 6 to 8 tokens).
    """

    synonym_rate: float = 0.6
    adjective_rate: float = 0.5

    def __post_init__(self) -> None:
        for name in ("synonym_rate", "adjective_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}.")


def translation_v1_example(rng: random.Random, options: TranslationV1Options, demonstration: bool) -> Generated:
    """One example; ``demonstration`` makes the reference a (possibly loose) demonstration."""
    stems = _language().stems
    subject, obj = rng.choice(_SUBJECTS), rng.choice(_OBJECTS)
    lemma, *verb = rng.choice(_VERBS)
    subject_adjective = rng.choice(_ADJECTIVES) if rng.random() < options.adjective_rate else None
    object_adjective = rng.choice(_ADJECTIVES) if rng.random() < options.adjective_rate else None

    source = [stems["n:" + subject[0]]]
    source += [stems["a:" + subject_adjective[0]]] if subject_adjective else []
    source += [_suffix(_noun_form(stems["n:" + obj[0]], plural=False, accusative=False), _ACCUSATIVE)]
    source += [stems["a:" + object_adjective[0]]] if object_adjective else []
    source += [_verb_form(stems["v:" + lemma], "past"), "."]

    def english(rendering: int) -> str:
        words = ["the", *([subject_adjective[rendering]] if subject_adjective else []), subject[rendering],
                 verb[rendering], "the", *([object_adjective[rendering]] if object_adjective else []),
                 obj[rendering], "."]
        return " ".join(words)

    canonical = english(0)
    loose = demonstration and rng.random() < options.synonym_rate
    return " ".join(source), (english(1) if loose else canonical,), {"canonical": canonical}
