"""Built-in datasets, generated deterministically at load time: no download and no shipped data files.

Three synthetic tasks, one per environment family, each small enough for a 1-5M parameter transformer to learn
from scratch and hard enough that a supervised model is not perfect (see ``textenvs/data/README.md``):

- ``synthetic-translation``: a generated source language (pseudo-word lexicon, SOV order, postpositions,
  agglutinative suffixes, context-dependent word senses) → English.
- ``synthetic-summarization``: a short news-like document about one person's event, mixed with distractor
  sentences → a one-sentence summary of the key facts in a fixed order.
- ``synthetic-dialogue``: task-oriented booking dialogues (restaurant, taxi, hotel) → the next system reply,
  which confirms the requested booking or asks for the first missing slot.

Every split is produced by ``random.Random`` seeded with a fixed per-dataset, per-split seed, so the data is
identical across runs, machines and Python versions. Splits are disjoint by prompt: the test split is
generated first, validation skips test prompts, train skips both. Prompts are also unique within a split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from textenvs.data.dataset import Example, TextDataset

BUILTIN_DATASETS: tuple[str, ...] = ("synthetic-translation", "synthetic-summarization", "synthetic-dialogue")

SPLIT_SIZES: dict[str, int] = {"train": 20000, "validation": 500, "test": 500}
"""Number of examples in each split of every built-in dataset."""

# Splits are generated in this order; each skips the prompts of the splits generated before it.
_SPLIT_ORDER: tuple[str, ...] = ("test", "validation", "train")

# Fixed seeds: changing one changes the data (and the pinned content hashes in tests/test_builtin_data.py).
_SPLIT_SEEDS: dict[str, dict[str, int]] = {
    "synthetic-translation": {"test": 1101, "validation": 1102, "train": 1103},
    "synthetic-summarization": {"test": 2101, "validation": 2102, "train": 2103},
    "synthetic-dialogue": {"test": 3101, "validation": 3102, "train": 3103},
}
_LEXICON_SEED = 1001

Generated = tuple[str, tuple[str, ...], dict[str, Any]]
"""What a generator returns for one example: prompt, references, metadata."""


def load_builtin(name: str, split: str) -> TextDataset:
    """Load a built-in dataset split (generated on first use, then cached in-process).

    :param name: one of :data:`BUILTIN_DATASETS`.
    :param split: ``"train"``, ``"validation"`` or ``"test"`` (sizes in :data:`SPLIT_SIZES`).
    :raises ValueError: for an unknown dataset name or split; the message lists the legal values.
    """
    if name not in BUILTIN_DATASETS:
        raise ValueError(f"Unknown built-in dataset {name!r}; available: {', '.join(BUILTIN_DATASETS)}.")
    if split not in SPLIT_SIZES:
        raise ValueError(
            f"Unknown split {split!r} for built-in dataset {name!r}; available: {', '.join(SPLIT_SIZES)}."
        )
    return _generate_split(name, split)


@lru_cache(maxsize=None)
def _generate_split(name: str, split: str) -> TextDataset:
    # Disjointness: skip every prompt of the splits generated before this one.
    seen: set[str] = set()
    for earlier in _SPLIT_ORDER[: _SPLIT_ORDER.index(split)]:
        seen.update(example.prompt for example in _generate_split(name, earlier))
    generate = _GENERATORS[name]
    rng = random.Random(_SPLIT_SEEDS[name][split])
    examples: list[Example] = []
    while len(examples) < SPLIT_SIZES[split]:
        prompt, references, metadata = generate(rng)
        if prompt in seen:
            continue
        seen.add(prompt)
        examples.append(Example(f"{split}-{len(examples):05d}", prompt, references, metadata))
    return TextDataset(examples, name, split, source=f"textenvs.data.builtin generator ({name})")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ---------------------------------------------------------------------------------------------------------
# synthetic-translation: English from a small probabilistic grammar, and a generated source language.
# ---------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------
# synthetic-summarization: one person's event, spread over sentences among distractors.
# ---------------------------------------------------------------------------------------------------------

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
# Event verbs (simple past = past participle) → the plural objects they take.
_EVENTS: dict[str, tuple[str, ...]] = {
    "bought": (
        "apples",
        "books",
        "tickets",
        "chairs",
        "flowers",
        "lamps",
        "shirts",
        "bikes",
        "cakes",
        "pens",
    ),
    "sold": (
        "apples",
        "books",
        "tickets",
        "chairs",
        "flowers",
        "lamps",
        "shirts",
        "bikes",
        "paintings",
        "cars",
    ),
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


def _summarization_example(rng: random.Random) -> Generated:
    female = rng.random() < 0.5
    person = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    pronoun = "she" if female else "he"
    # Other people have the other gender, so "he"/"she" always refers to the main person.
    others = rng.sample(_MALE_NAMES if female else _FEMALE_NAMES, 3)
    verb = rng.choice(list(_EVENTS))
    thing = rng.choice(_EVENTS[verb])
    count, city, day = rng.randint(2, 12), rng.choice(_CITIES), rng.choice(_DAYS)

    def other(values, value):
        return rng.choice([v for v in values if v != value])

    # The main event, as units of consecutive sentences; the first unit always opens the document.
    amount = f"{_count(rng, count)} {thing}"
    layout = rng.randrange(7)
    if layout == 0:
        units = [[f"on {day} , {person} {verb} {amount} in {city} ."]]
    elif layout == 1:
        units = [[f"{person} {verb} {amount} in {city} on {day} ."]]
    elif layout == 2:
        units = [[f"{person} went to {city} on {day} .", f"there , {pronoun} {verb} {amount} ."]]
    elif layout == 3:
        units = [
            [f"on {day} , {person} traveled to {city} ."],
            [f"{pronoun} {verb} {amount} at the market ."],
        ]
    elif layout == 4:
        units = [[f"{person} arrived in {city} .", f"it was {day} ."], [f"{pronoun} {verb} {amount} ."]]
    elif layout == 5:
        units = [[f"{amount} were {verb} by {person} in {city} on {day} ."]]
    else:
        units = [[f"{person} {verb} {amount} on {day} ."], [f"{pronoun} was in {city} at the time ."]]

    # Distractors: other people's events, the main person's non-event facts, background.
    verbs = rng.sample(list(_EVENTS), 2)
    candidates = [
        f"{others[0]} {verbs[0]} {_count(rng, other(range(2, 13), count))} {rng.choice(_EVENTS[verbs[0]])} "
        f"in {other(_CITIES, city)} on {other(_DAYS, day)} .",
        f"on {other(_DAYS, day)} , {others[1]} {verbs[1]} {_count(rng, rng.randint(2, 12))} "
        f"{rng.choice(_EVENTS[verbs[1]])} .",
        f"{others[2]} lives in {other(_CITIES, city)} .",
        f"{others[1]} visited {other(_CITIES, city)} last year .",
        f"{pronoun} saw {_count(rng, other(range(2, 13), count))} {rng.choice(_SEEN_THINGS)} on the way .",
        f"{pronoun} had {_count(rng, other(range(2, 13), count))} {rng.choice(_OWNED_THINGS)} at home .",
        f"{pronoun} was born in {other(_CITIES, city)} .",
        f"{pronoun} came back home on {other(_DAYS, day)} .",
        f"{person} met {others[0]} there .",
        f"the weather was {rng.choice(_WEATHER)} .",
        f"{city} is a {rng.choice(_CITY_ADJECTIVES)} city .",
        f"{other(_CITIES, city)} is far from {city} .",
        "the market was very busy .",
        "everyone was happy .",
    ]
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


# ---------------------------------------------------------------------------------------------------------
# synthetic-dialogue: booking dialogues; the reply confirms every slot or asks for the first missing one.
# ---------------------------------------------------------------------------------------------------------

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


_GENERATORS: dict[str, Callable[[random.Random], Generated]] = {
    "synthetic-translation": _translation_example,
    "synthetic-summarization": _summarization_example,
    "synthetic-dialogue": _dialogue_example,
}
