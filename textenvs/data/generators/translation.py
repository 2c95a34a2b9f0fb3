"""``synthetic-translation``: English from a small probabilistic grammar, and a generated source language →
English (see ``textenvs/data/README.md``). Moved verbatim from ``textenvs/data/builtin.py``: the data is
byte-identical (hashes pinned in ``tests/envs/test_builtin_data.py``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from textenvs.data.generators.common import Generated, article as _article

_LEXICON_SEED = 1001

# Semantic classes of nouns; verbs, adjectives and prepositions select on them.
PERSON, ANIMAL, FOOD, DRINK = "person", "animal", "food", "drink"
VEHICLE, RIDABLE, INSTRUMENT, TEXT = "vehicle", "ridable", "instrument", "text"
THING, CONTAINER, PLACE, SURFACE = "thing", "container", "place", "surface"
_ANIMATE = (PERSON, ANIMAL)
_CONCRETE = (PERSON, ANIMAL, FOOD, DRINK, VEHICLE, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER)
_ARTIFACT = (VEHICLE, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER)


@dataclass(frozen=True)
class _Noun:
    singular: str
    plural: str  # equal to singular for mass nouns, which are never pluralised
    kind: str


def _english_plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")) or word in ("potato", "tomato"):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _nouns(kind: str, spec: str) -> list[_Noun]:
    """``"man/men dog"`` → nouns with an irregular plural after ``/``, else the regular one."""
    nouns = []
    for entry in spec.split():
        singular, _, plural = entry.partition("/")
        nouns.append(_Noun(singular, plural or _english_plural(singular), kind))
    return nouns


_NOUNS: tuple[_Noun, ...] = tuple(
    _nouns(
        PERSON,
        "man/men woman/women boy girl child/children teacher doctor farmer student driver cook king "
        "queen baby friend nurse pilot singer artist soldier",
    )
    + _nouns(ANIMAL, "dog cat horse bird cow fish/fish mouse/mice rabbit sheep/sheep duck fox goat")
    + _nouns(FOOD, "apple banana orange egg cake sandwich potato tomato cookie pie carrot lemon")
    + _nouns(DRINK, "water/water milk/milk tea/tea coffee/coffee juice/juice")
    + _nouns(VEHICLE, "car bus truck train tractor van")
    + _nouns(RIDABLE, "bike scooter motorbike")
    + _nouns(INSTRUMENT, "guitar piano drum violin flute trumpet")
    + _nouns(TEXT, "book letter newspaper poem story message")
    + _nouns(THING, "ball key cup chair hat phone lamp picture toy clock umbrella pen")
    + _nouns(CONTAINER, "box bag basket bottle door window")
    + _nouns(
        PLACE,
        "park garden house kitchen school city forest market village room shop station library museum office",
    )
    + _nouns(SURFACE, "table bed roof hill bridge beach shelf/shelves street")
)


@dataclass(frozen=True)
class _Verb:
    base: str
    third: str  # present tense, third person singular
    past: str
    lemma: str  # source-language lemma; several English verbs share one (context-dependent translation)
    subjects: tuple[str, ...]
    objects: tuple[str, ...]  # empty for intransitive verbs


def _verb(forms: str, lemma: str, subjects: tuple[str, ...], objects: tuple[str, ...] = ()) -> _Verb:
    base, third, past = forms.split("/")
    return _Verb(base, third, past, lemma, subjects, objects)


_P, _A = (PERSON,), _ANIMATE
_VERBS: tuple[_Verb, ...] = (
    _verb("see/sees/saw", "see", _A, _CONCRETE),
    _verb("like/likes/liked", "like", _A, _CONCRETE),
    _verb("want/wants/wanted", "want", _A, _CONCRETE),
    _verb("find/finds/found", "find", _A, (ANIMAL, FOOD, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("carry/carries/carried", "carry", _P, (ANIMAL, FOOD, DRINK, INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("buy/buys/bought", "buy", _P, (FOOD, DRINK, VEHICLE, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("sell/sells/sold", "sell", _P, (FOOD, DRINK, VEHICLE, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("bring/brings/brought", "bring", _P, (FOOD, DRINK, INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("lose/loses/lost", "lose", _P, (INSTRUMENT, TEXT, THING, CONTAINER)),
    _verb("clean/cleans/cleaned", "clean", _P, (VEHICLE, RIDABLE, INSTRUMENT, THING, CONTAINER, PLACE)),
    _verb("paint/paints/painted", "paint", _P, (VEHICLE, RIDABLE, THING, CONTAINER)),
    _verb("read/reads/read", "read", _P, (TEXT,)),
    _verb("open/opens/opened", "open", _P, (TEXT, CONTAINER)),
    _verb("close/closes/closed", "close", _P, (TEXT, CONTAINER)),
    _verb("feed/feeds/fed", "feed", _P, (ANIMAL,)),
    _verb("help/helps/helped", "help", _P, (PERSON,)),
    _verb("call/calls/called", "call", _P, _ANIMATE),
    _verb("follow/follows/followed", "follow", _A, _ANIMATE),
    _verb("chase/chases/chased", "chase", (ANIMAL,), (PERSON, ANIMAL, VEHICLE, RIDABLE, THING)),
    # Context-dependent lexical choice: one source verb, an English verb chosen by the object's class.
    _verb("eat/eats/ate", "consume", _A, (FOOD,)),
    _verb("drink/drinks/drank", "consume", _A, (DRINK,)),
    _verb("drive/drives/drove", "operate", _P, (VEHICLE,)),
    _verb("ride/rides/rode", "operate", _P, (RIDABLE,)),
    _verb("play/plays/played", "operate", _P, (INSTRUMENT,)),
    _verb("play/plays/played", "operate", _A),  # "operate" without an object means "play"
    _verb("cook/cooks/cooked", "make", _P, (FOOD,)),
    _verb("write/writes/wrote", "make", _P, (TEXT,)),
    _verb("make/makes/made", "make", _P, (THING,)),
    _verb("visit/visits/visited", "visit", _P, (PLACE,)),
    _verb("meet/meets/met", "visit", _P, (PERSON,)),
    _verb("sleep/sleeps/slept", "sleep", _A),
    _verb("run/runs/ran", "run", _A),
    _verb("walk/walks/walked", "walk", _A),
    _verb("swim/swims/swam", "swim", _A),
    _verb("sit/sits/sat", "sit", _A),
    _verb("jump/jumps/jumped", "jump", _A),
    _verb("sing/sings/sang", "sing", _P),
    _verb("dance/dances/danced", "dance", _P),
    _verb("wait/waits/waited", "wait", _P),
    _verb("work/works/worked", "work", _P),
    _verb("laugh/laughs/laughed", "laugh", _P),
    _verb("cry/cries/cried", "cry", _P),
)


@dataclass(frozen=True)
class _Adjective:
    lemma: str
    english: dict[str, str]  # noun class → English word (context-dependent for some lemmas)
    is_color: bool = False


def _adjective(lemma: str, *groups: tuple[str, tuple[str, ...]], is_color: bool = False) -> _Adjective:
    return _Adjective(lemma, {kind: word for word, kinds in groups for kind in kinds}, is_color)


_SIZED = (ANIMAL, FOOD, VEHICLE, RIDABLE, INSTRUMENT, TEXT, THING, CONTAINER, PLACE, SURFACE)
_COLORED = _ARTIFACT
_ADJECTIVES: tuple[_Adjective, ...] = (
    _adjective("big", ("tall", (PERSON,)), ("big", _SIZED)),
    _adjective("small", ("short", (PERSON,)), ("small", _SIZED)),
    _adjective("new", ("young", _ANIMATE), ("new", _ARTIFACT + (PLACE, SURFACE))),
    _adjective("good", ("kind", (PERSON,)), ("tasty", (FOOD, DRINK)), ("good", (ANIMAL,) + _ARTIFACT)),
    _adjective("old", ("old", _ANIMATE + _ARTIFACT + (PLACE, SURFACE))),
    _adjective("hot", ("hot", (FOOD, DRINK, PLACE))),
    _adjective("cold", ("cold", (FOOD, DRINK, PLACE))),
    _adjective("happy", ("happy", _ANIMATE)),
    _adjective("sad", ("sad", _ANIMATE)),
    _adjective("angry", ("angry", _ANIMATE)),
    _adjective("tired", ("tired", _ANIMATE)),
    _adjective("hungry", ("hungry", _ANIMATE)),
    _adjective("fast", ("fast", (ANIMAL, VEHICLE, RIDABLE))),
    _adjective("slow", ("slow", (ANIMAL, VEHICLE, RIDABLE))),
    _adjective("clean", ("clean", (VEHICLE, RIDABLE, THING, CONTAINER, PLACE, SURFACE))),
    _adjective("dirty", ("dirty", (ANIMAL, VEHICLE, RIDABLE, THING, CONTAINER, PLACE, SURFACE))),
    _adjective("heavy", ("heavy", (INSTRUMENT, THING, CONTAINER, VEHICLE))),
    _adjective("beautiful", ("beautiful", (PERSON, ANIMAL, PLACE, THING, INSTRUMENT))),
    _adjective("quiet", ("quiet", (PERSON, ANIMAL, PLACE))),
    _adjective("noisy", ("noisy", (ANIMAL, PLACE, VEHICLE))),
    _adjective("fresh", ("fresh", (FOOD, DRINK))),
    _adjective("sweet", ("sweet", (FOOD, DRINK))),
    _adjective("empty", ("empty", (CONTAINER,))),
    _adjective("full", ("full", (CONTAINER,))),
    _adjective("red", ("red", _COLORED), is_color=True),
    _adjective("blue", ("blue", _COLORED), is_color=True),
    _adjective("green", ("green", _COLORED), is_color=True),
    _adjective("yellow", ("yellow", _COLORED), is_color=True),
    _adjective("black", ("black", _COLORED + (ANIMAL,)), is_color=True),
    _adjective("white", ("white", _COLORED + (ANIMAL,)), is_color=True),
    _adjective("brown", ("brown", _COLORED + (ANIMAL,)), is_color=True),
)

# Postpositions: source lemma → {noun class → English preposition}; "at" is "in" for enclosures, "on" for
# surfaces.
_POSITIONS: dict[str, dict[str, str]] = {
    "at": {PLACE: "in", SURFACE: "on"},
    "near": {PLACE: "near", SURFACE: "near", VEHICLE: "near"},
    "behind": {PLACE: "behind", VEHICLE: "behind"},
    "under": {SURFACE: "under"},
    "with": {PERSON: "with", ANIMAL: "with"},
}
_NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine")
_TIMES: dict[str, tuple[str, ...]] = {  # tense → time adverbials (each its own source lemma)
    "past": ("yesterday", "last night"),
    "present": ("today", "every day"),
    "future": ("tomorrow", "next week"),
}
_TENSES = ("present", "past", "future")

# Source morphology: suffix after a vowel-final stem / after a consonant-final stem.
_PLURAL, _ACCUSATIVE = ("ri", "i"), ("m", "um")
_TENSE_SUFFIX = {"present": ("n", "en"), "past": ("ta", "ata"), "future": ("vo", "ivo")}


def _suffix(stem: str, allomorphs: tuple[str, str]) -> str:
    return stem + allomorphs[0 if stem[-1] in "aeiou" else 1]


def _noun_form(stem: str, plural: bool, accusative: bool) -> str:
    word = _suffix(stem, _PLURAL) if plural else stem
    return _suffix(word, _ACCUSATIVE) if accusative else word


def _verb_form(stem: str, tense: str) -> str:
    return _suffix(stem, _TENSE_SUFFIX[tense])


@dataclass(frozen=True)
class _Language:
    """The generated source language: a pseudo-word stem per lemma, keyed ``"<part of speech>:<lemma>"``."""

    stems: dict[str, str]

    def noun(self, noun: _Noun, plural: bool, accusative: bool) -> str:
        return _noun_form(self.stems["n:" + noun.singular], plural, accusative)

    def verb(self, lemma: str, tense: str) -> str:
        return _verb_form(self.stems["v:" + lemma], tense)


def _lemma_keys() -> list[tuple[str, int]]:
    """Every source lemma key with its number of syllables, in a fixed order."""
    keys = [("n:" + noun.singular, 2) for noun in _NOUNS]
    keys += [("v:" + lemma, 2) for lemma in dict.fromkeys(verb.lemma for verb in _VERBS)]
    keys += [("a:" + adjective.lemma, 2) for adjective in _ADJECTIVES]
    keys += [("num:" + number, 2) for number in _NUMBERS]
    keys += [("t:" + time, 2) for times in _TIMES.values() for time in times]
    keys += [("p:" + position, 1) for position in _POSITIONS]
    keys += [("d:the", 1), ("d:this", 1), ("d:some", 1), ("c:and", 1), ("neg:not", 1)]
    return keys


@lru_cache(maxsize=1)
def _language() -> _Language:
    rng = random.Random(_LEXICON_SEED)
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    english = {word for noun in _NOUNS for word in (noun.singular, noun.plural)}
    english |= {word for verb in _VERBS for word in (verb.base, verb.third, verb.past)}
    english |= {word for adjective in _ADJECTIVES for word in adjective.english.values()}
    english |= {"a", "an", "the", "this", "these", "some", "and", "will", "not", "do", "does", "did"}
    english |= set(_NUMBERS) | {word for times in _TIMES.values() for time in times for word in time.split()}
    english |= {word for senses in _POSITIONS.values() for word in senses.values()}
    taken = set(english)  # every surface form of the source language is unique and never an English word
    stems: dict[str, str] = {}
    for key, syllables in _lemma_keys():
        while True:
            stem = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
            if rng.random() < 0.4:
                stem += rng.choice(consonants)  # a closed final syllable selects the other allomorphs
            if key.startswith("n:"):
                forms = [_noun_form(stem, p, a) for p in (False, True) for a in (False, True)]
            elif key.startswith("v:"):
                forms = [_verb_form(stem, tense) for tense in _TENSES]
            else:
                forms = [stem]
            if not taken.intersection(forms):
                break
        taken.update(forms)
        stems[key] = stem
    return _Language(stems)


def translation_lexicon() -> dict[str, str]:
    """A word-by-word gloss of the source language: every source word form → its most literal English.

    Not used to generate data; it is the naive "look every word up" baseline (README, tests) and a reading
    aid. Nouns gloss to the English singular or plural, verbs to the tense's form, context-dependent lemmas to
    their first sense, postpositions to their first preposition.
    """
    language = _language()
    lexicon: dict[str, str] = {}
    for noun in _NOUNS:
        for plural in (False, True):
            for accusative in (False, True):
                lexicon[language.noun(noun, plural, accusative)] = noun.plural if plural else noun.singular
    for verb in _VERBS:
        for tense, english in (("present", verb.third), ("past", verb.past), ("future", verb.base)):
            lexicon.setdefault(language.verb(verb.lemma, tense), english)
    for adjective in _ADJECTIVES:
        lexicon[language.stems["a:" + adjective.lemma]] = next(iter(adjective.english.values()))
    for key, stem in language.stems.items():
        kind, _, lemma = key.partition(":")
        if kind == "p":
            lexicon[stem] = next(iter(_POSITIONS[lemma].values()))
        elif kind in ("num", "t", "d", "c", "neg"):
            lexicon[stem] = lemma
    return lexicon


@dataclass(frozen=True)
class _Phrase:
    english: list[str]
    source: list[str]


def _noun_phrase(rng: random.Random, kinds: tuple[str, ...], accusative: bool) -> tuple[_Phrase, bool, str]:
    """A determiner/number/adjective noun phrase; returns it, whether it is plural, and the noun's class."""
    language = _language()
    noun = rng.choice([noun for noun in _NOUNS if noun.kind in kinds])
    mass = noun.kind == DRINK
    plural = not mass and rng.random() < 0.35
    adjectives: list[_Adjective] = []
    if rng.random() < 0.4:
        adjectives.append(rng.choice([a for a in _ADJECTIVES if noun.kind in a.english and not a.is_color]))
    if rng.random() < 0.25:
        colors = [a for a in _ADJECTIVES if noun.kind in a.english and a.is_color]
        if colors:
            adjectives.append(rng.choice(colors))
    # English: determiner number adjectives noun. Source: noun(-plural)(-accusative) adjectives number
    # determiner, adjectives mirrored, so the whole phrase reverses.
    if plural:
        determiner = rng.choices(["the", "some", "number", "the number", "these"], [3, 2, 3, 1, 1])[0]
    elif mass:
        determiner = rng.choices(["the", "some", "this"], [5, 3, 2])[0]
    else:
        determiner = rng.choices(["the", "a", "this"], [9, 8, 3])[0]
    number = rng.choice(_NUMBERS) if "number" in determiner else None
    adjective_words = [adjective.english[noun.kind] for adjective in adjectives]
    head = noun.plural if plural else noun.singular
    english: list[str] = []
    source_determiner: list[str] = []
    for word in determiner.split():
        if word == "a":
            english.append(_article((adjective_words + [head])[0]))
        elif word == "number":
            english.append(number)
        else:
            english.append(word)
            source_determiner.append(language.stems["d:" + ("this" if word == "these" else word)])
    english += adjective_words + [head]
    source = [language.noun(noun, plural, accusative)]
    source += [language.stems["a:" + adjective.lemma] for adjective in reversed(adjectives)]
    if number:
        source.append(language.stems["num:" + number])
    source += source_determiner
    return _Phrase(english, source), plural, noun.kind


def _clause(rng: random.Random, tense: str) -> _Phrase:
    """Source (SOV): subject [postpositional phrase] [object] verb; English: subject verb [object] [PP]."""
    language = _language()
    verb = rng.choice(_VERBS)
    subject, subject_plural, _ = _noun_phrase(rng, verb.subjects, accusative=False)
    obj = _noun_phrase(rng, verb.objects, accusative=True)[0] if verb.objects else None
    negated = rng.random() < 0.2
    if tense == "present" and not negated:
        verb_words = [verb.base if subject_plural else verb.third]
    elif tense == "present":
        verb_words = ["do" if subject_plural else "does", "not", verb.base]
    elif tense == "past":
        verb_words = ["did", "not", verb.base] if negated else [verb.past]
    else:
        verb_words = ["will", "not", verb.base] if negated else ["will", verb.base]
    position: _Phrase | None = None
    if rng.random() < 0.4:
        lemma = rng.choice(list(_POSITIONS))
        phrase, _, kind = _noun_phrase(rng, tuple(_POSITIONS[lemma]), accusative=False)
        position = _Phrase(
            [_POSITIONS[lemma][kind]] + phrase.english, phrase.source + [language.stems["p:" + lemma]]
        )
    english = (
        subject.english + verb_words + (obj.english if obj else []) + (position.english if position else [])
    )
    source = subject.source + (position.source if position else []) + (obj.source if obj else [])
    source.append(language.verb(verb.lemma, tense))
    if negated:  # the negation particle follows the verb
        source.append(language.stems["neg:not"])
    return _Phrase(english, source)


def _translation_example(rng: random.Random) -> Generated:
    language = _language()
    if rng.random() < 0.15:  # two coordinated clauses, each with its own tense
        first, second = _clause(rng, rng.choice(_TENSES)), _clause(rng, rng.choice(_TENSES))
        source = first.source + [language.stems["c:and"]] + second.source + ["."]
        return " ".join(source), (" ".join(first.english + ["and"] + second.english + ["."]),), {}
    tense = rng.choice(_TENSES)
    clause = _clause(rng, tense)
    if rng.random() >= 0.3:
        return " ".join(clause.source + ["."]), (" ".join(clause.english + ["."]),), {}
    # A time adverbial leads the source sentence; English puts it last, or first followed by a comma.
    time = rng.choice(_TIMES[tense])
    source = " ".join([language.stems["t:" + time]] + clause.source + ["."])
    return (
        source,
        (" ".join(clause.english + [time, "."]), " ".join([time, ","] + clause.english + ["."])),
        {},
    )
