"""Built-in datasets, generated deterministically at load time: no download and no shipped data files.

The registry of the generators in :mod:`textenvs.data.generators` (one module per task and version; see
``textenvs/data/README.md``):

- ``synthetic-translation``, ``synthetic-summarization``, ``synthetic-dialogue`` (v0): a generated language
  pair, news-like documents with distractors, booking dialogues; one human-like reference per example.
- ``synthetic-translation-v1``, ``synthetic-summarization-v1``, ``synthetic-dialogue-v1``: short outputs with a
  canonical answer in ``metadata["canonical"]`` (what the task reward checks) and imperfect demonstrations as
  the train split's references; their difficulty knobs are keyword arguments of :func:`load_builtin`.
- ``synthetic-translation-v2``, ``synthetic-summarization-v2``, ``synthetic-dialogue-v2``: outputs of a frame
  grammar (several valid ones per example, all in ``metadata["valid"]``), gold role bindings in
  ``metadata["roles"]``, demonstrations with input-dependent errors, difficulty levels, and splits disjoint by the
  combination of values (see :func:`load_builtin`), with a compositional test split ``test_compositional``.

Every split is produced by ``random.Random`` seeded with a fixed per-dataset, per-split seed, so the data is
identical across runs, machines and Python versions. Splits are disjoint by prompt: the test split is
generated first, validation skips test prompts, train skips both. Prompts are also unique within a split.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from textenvs.data.dataset import Example, TextDataset
from textenvs.data.generators.common import Generated
from textenvs.data.generators.dialogue import _dialogue_example
from textenvs.data.generators import dialogue_v2, summarization_v2, translation_v2
from textenvs.data.generators.dialogue_v1 import DialogueV1Options, dialogue_v1_example
from textenvs.data.generators.errors_v2 import DEFAULT_LEVEL
from textenvs.data.generators.summarization import _summarization_example
from textenvs.data.generators.summarization_v1 import SummarizationV1Options, summarization_v1_example
from textenvs.data.generators.translation import _translation_example, translation_lexicon
from textenvs.data.generators.translation_v1 import TranslationV1Options, translation_v1_example

V0_DATASETS: tuple[str, ...] = ("synthetic-translation", "synthetic-summarization", "synthetic-dialogue")
"""The v0 datasets; the shipped tokenizer is trained on their train splits (and covers every v1 word)."""

V1_DATASETS: tuple[str, ...] = ("synthetic-translation-v1", "synthetic-summarization-v1", "synthetic-dialogue-v1")

V2_DATASETS: tuple[str, ...] = ("synthetic-translation-v2", "synthetic-summarization-v2", "synthetic-dialogue-v2")

BUILTIN_DATASETS: tuple[str, ...] = V0_DATASETS + V1_DATASETS + V2_DATASETS

SPLIT_SIZES: dict[str, int] = {"train": 20000, "validation": 500, "test": 500}
"""Number of examples in each split of every built-in dataset."""

V2_SPLIT_SIZES: dict[str, int] = {**SPLIT_SIZES, "test_compositional": 500}
"""The v2 datasets' splits: those of :data:`SPLIT_SIZES` and the compositional test split."""

# v2 splits are generated in this order, each disjoint from the ones before it by combination of values.
_V2_SPLIT_ORDER: tuple[str, ...] = ("test", "test_compositional", "validation", "train")

# Splits are generated in this order; each skips the prompts of the splits generated before it.
_SPLIT_ORDER: tuple[str, ...] = ("test", "validation", "train")

# Fixed seeds: changing one changes the data (and the pinned content hashes in tests/envs/test_builtin_data.py).
_SPLIT_SEEDS: dict[str, dict[str, int]] = {
    "synthetic-translation": {"test": 1101, "validation": 1102, "train": 1103},
    "synthetic-summarization": {"test": 2101, "validation": 2102, "train": 2103},
    "synthetic-dialogue": {"test": 3101, "validation": 3102, "train": 3103},
    "synthetic-translation-v1": {"test": 1201, "validation": 1202, "train": 1203},
    "synthetic-summarization-v1": {"test": 2201, "validation": 2202, "train": 2203},
    "synthetic-dialogue-v1": {"test": 3201, "validation": 3202, "train": 3203},
    "synthetic-translation-v2": {"test": 1301, "validation": 1302, "train": 1303, "test_compositional": 1304},
    "synthetic-summarization-v2": {"test": 2301, "validation": 2302, "train": 2303, "test_compositional": 2304},
    "synthetic-dialogue-v2": {"test": 3301, "validation": 3302, "train": 3303, "test_compositional": 3304},
}

# A v1 split gives up when this many draws in a row repeat earlier prompts: its knobs leave too few prompts.
_MAX_REPEATED_DRAWS = 20000


@dataclass(frozen=True)
class _V1Generator:
    options: type  # the frozen dataclass of the dataset's knobs
    example: Callable[[random.Random, Any, bool], Generated]  # (rng, options, demonstration) → example


@dataclass(frozen=True)
class _V2Generator:
    options: type  # the frozen dataclass of the dataset's knobs, with a ``level`` constructor
    example: Callable[[random.Random, Any], tuple[str, dict, dict, int]]  # → prompt, gold, demonstration, frame
    module: Any  # the generator module: its GRAMMAR and COMPOSITION


_V0_GENERATORS: dict[str, Callable[[random.Random], Generated]] = {
    "synthetic-translation": _translation_example,
    "synthetic-summarization": _summarization_example,
    "synthetic-dialogue": _dialogue_example,
}
_V1_GENERATORS: dict[str, _V1Generator] = {
    "synthetic-translation-v1": _V1Generator(TranslationV1Options, translation_v1_example),
    "synthetic-summarization-v1": _V1Generator(SummarizationV1Options, summarization_v1_example),
    "synthetic-dialogue-v1": _V1Generator(DialogueV1Options, dialogue_v1_example),
}

_V2_GENERATORS: dict[str, _V2Generator] = {
    "synthetic-translation-v2": _V2Generator(translation_v2.TranslationV2Options,
                                             translation_v2.translation_v2_example, translation_v2),
    "synthetic-summarization-v2": _V2Generator(summarization_v2.SummarizationV2Options,
                                               summarization_v2.summarization_v2_example, summarization_v2),
    "synthetic-dialogue-v2": _V2Generator(dialogue_v2.DialogueV2Options, dialogue_v2.dialogue_v2_example,
                                          dialogue_v2),
}

__all__ = ["BUILTIN_DATASETS", "V0_DATASETS", "V1_DATASETS", "V2_DATASETS", "SPLIT_SIZES", "V2_SPLIT_SIZES",
           "load_builtin", "builtin_options", "held_out_pair", "translation_lexicon"]


def builtin_options(name: str, **options: Any) -> Any:
    """The knobs object of v1 or v2 dataset ``name`` (defaults overridden by ``options``); v0 datasets take none.
    A v2 dataset also takes ``level`` (``"easy"``, ``"medium"``, the default, or ``"hard"``): that level's knobs,
    which the other options then override.

    :raises ValueError: for an unknown knob or an illegal value; the message names it and the legal ones.
    """
    if name in _V0_GENERATORS:
        if options:
            raise ValueError(f"Built-in dataset {name!r} has no options; got {', '.join(sorted(options))}.")
        return None
    if name in _V2_GENERATORS:
        options_class = _V2_GENERATORS[name].options
        legal = ("level", *options_class.__dataclass_fields__)
        unknown = sorted(set(options) - set(legal))
        if unknown:
            raise ValueError(f"Unknown option(s) {', '.join(unknown)} for built-in dataset {name!r}; "
                             f"available: {', '.join(legal)}.")
        options = dict(options)
        return options_class.level(options.pop("level", DEFAULT_LEVEL), **options)
    options_class = _V1_GENERATORS[name].options
    legal = tuple(options_class.__dataclass_fields__)
    unknown = sorted(set(options) - set(legal))
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(unknown)} for built-in dataset {name!r}; "
                         f"available: {', '.join(legal)}.")
    return options_class(**options)


def load_builtin(name: str, split: str, **options: Any) -> TextDataset:
    """Load a built-in dataset split (generated on first use, then cached in-process and on disk: see
    :data:`CACHE_DIR_VARIABLE`).

    :param name: one of :data:`BUILTIN_DATASETS`.
    :param split: ``"train"``, ``"validation"`` or ``"test"`` (sizes in :data:`SPLIT_SIZES`); v2 datasets also
        ``"test_compositional"`` (:data:`V2_SPLIT_SIZES`).
    :param options: difficulty knobs of a v1 or v2 dataset (the fields of its options class, e.g.
        :class:`~textenvs.data.generators.translation_v1.TranslationV1Options`; v2: also ``level``); defaults
        when omitted.
    :raises ValueError: for an unknown dataset name, split or option; the message lists the legal values.

    v2 splits: ``test`` (i.i.d.), ``test_compositional``, ``validation``, then ``train`` are generated in that
    order, each skipping every combination of gold values (``metadata["combination"]``) of the splits before it, so
    no held-out output and no held-out combination of values and frame occurs in train, and no train demonstration
    equals a held-out valid output. A fifth of the value pairs of two roles (each module's ``COMPOSITION``, chosen by
    :func:`held_out_pair`) occur only in ``test_compositional``: each value is seen in train, the pair never.
    """
    if name not in BUILTIN_DATASETS:
        raise ValueError(f"Unknown built-in dataset {name!r}; available: {', '.join(BUILTIN_DATASETS)}.")
    sizes = V2_SPLIT_SIZES if name in _V2_GENERATORS else SPLIT_SIZES
    if split not in sizes:
        raise ValueError(
            f"Unknown split {split!r} for built-in dataset {name!r}; available: {', '.join(sizes)}."
        )
    knobs = builtin_options(name, **options)
    generate = _generate_v2_split if name in _V2_GENERATORS else _generate_split
    return _disk_cached(name, split, knobs, lambda: generate(name, split, knobs))


CACHE_DIR_VARIABLE = "TEXTENVS_CACHE_DIR"
"""Where generated splits are kept between processes (default ``~/.cache/textenvs/builtin``); ``"off"``: nowhere."""


def _disk_cached(name: str, split: str, options: Any, generate: Callable[[], TextDataset]) -> TextDataset:
    """A generated split, kept on disk between processes: generating the 20,000-example train splits costs a new
    process about a second (17 s for v2 dialogue) before its first ``reset``; reading them back is a fraction of
    that. The key covers the dataset, split, knobs and the source of every generator, so changed code regenerates;
    a cache that cannot be read or written is ignored (the split is generated as without one). In-process, the
    generators' own ``lru_cache`` answers first."""
    import os
    import pickle
    import tempfile
    from pathlib import Path

    directory = os.environ.get(CACHE_DIR_VARIABLE) or str(Path.home() / ".cache" / "textenvs" / "builtin")
    if directory == "off" or (name, split, repr(options)) in _IN_PROCESS:
        return _IN_PROCESS.get((name, split, repr(options))) or generate()
    path = Path(directory) / f"{name}-{split}-{_cache_key(name, split, options)}.pkl"
    dataset = None
    try:
        with open(path, "rb") as file:
            dataset = pickle.load(file)  # our own file, written below from our own objects
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, TypeError):
        pass
    if not isinstance(dataset, TextDataset):
        dataset = generate()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as file:
                pickle.dump(dataset, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(file.name, path)  # atomic: a concurrent reader sees the old file or the whole new one
        except OSError:
            pass
    _IN_PROCESS[name, split, repr(options)] = dataset
    return dataset


_IN_PROCESS: dict[tuple[str, str, str], TextDataset] = {}


@lru_cache(maxsize=1)
def _generator_source_digest() -> str:
    """A digest of this module's and every generator module's source: the generated data is a function of it."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in [here / "builtin.py", here / "dataset.py", *sorted((here / "generators").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _cache_key(name: str, split: str, options: Any) -> str:
    import hashlib

    return hashlib.sha256(repr((name, split, options, _generator_source_digest())).encode()).hexdigest()[:20]


def held_out_pair(first: str, second: str) -> bool:
    """Whether the value pair (``first``, ``second``) of a v2 dataset's ``COMPOSITION`` roles is held out for the
    compositional test split: a fixed fifth of all pairs, by a checksum (the same on every machine)."""
    return zlib.crc32(f"{first}|{second}".encode()) % 5 == 0


def _combination(gold: dict[str, str]) -> str:
    return " ".join(f"{role}={value}" for role, value in sorted(gold.items()))


@lru_cache(maxsize=None)
def _generate_v2_split(name: str, split: str, options: Any) -> TextDataset:
    from textenvs.data.generators.frames import check_roles

    generator = _V2_GENERATORS[name]
    grammar, composition = generator.module.GRAMMAR, generator.module.COMPOSITION
    seen_combinations: set[str] = set()
    held_out_outputs: set[str] = set()
    for earlier in _V2_SPLIT_ORDER[: _V2_SPLIT_ORDER.index(split)]:
        for example in _generate_v2_split(name, earlier, options):
            seen_combinations.add(example.metadata["combination"])
            held_out_outputs.update(example.metadata["valid"])
    rng = random.Random(_SPLIT_SEEDS[name][split])
    examples: list[Example] = []
    repeated = 0
    while len(examples) < V2_SPLIT_SIZES[split]:
        prompt, gold, demonstration, frame = generator.example(rng, options)
        combination = _combination(gold)
        pair = tuple(gold.get(role) for role in composition)
        compositional = None not in pair and held_out_pair(*pair)
        if split == "train":
            # A frame that cannot state the demonstration's roles (a place-first frame without the place) falls
            # back to the canonical frame of the same intent.
            candidates = [frame] + [index for index in range(len(grammar.frames)) if index != frame]
            reference = next(text for index in candidates
                             if (text := _render_or_none(grammar, index, demonstration)) is not None)
        if (combination in seen_combinations or compositional != (split == "test_compositional")
                or (split == "train" and reference in held_out_outputs)):
            repeated += 1
            if repeated >= _MAX_REPEATED_DRAWS:
                raise ValueError(f"Built-in dataset {name!r} with {options} has too few distinct combinations of "
                                 f"values for {V2_SPLIT_SIZES[split]} {split} examples (found {len(examples)}).")
            continue
        repeated = 0
        seen_combinations.add(combination)
        check_roles(gold, grammar, f"{name} {split}")
        valid = grammar.valid_outputs(gold)
        references = (reference,) if split == "train" else tuple(valid)
        metadata = {"grammar": grammar.name, "roles": dict(gold), "canonical": valid[0], "valid": valid,
                    "combination": combination}
        examples.append(Example(f"{split}-{len(examples):05d}", prompt, references, metadata))
    return TextDataset(examples, name, split, source=f"textenvs.data.builtin generator ({name})")


def _render_or_none(grammar: Any, frame: int, roles: dict[str, str]) -> str | None:
    try:
        return grammar.render(frame, roles)
    except ValueError:
        return None


@lru_cache(maxsize=None)
def _generate_split(name: str, split: str, options: Any = None) -> TextDataset:
    if options is None and name in _V1_GENERATORS:
        return _generate_split(name, split, builtin_options(name))
    # Disjointness: skip every prompt of the splits generated before this one.
    seen: set[str] = set()
    for earlier in _SPLIT_ORDER[: _SPLIT_ORDER.index(split)]:
        seen.update(example.prompt for example in _generate_split(name, earlier, options))
    if name in _V0_GENERATORS:
        generate = _V0_GENERATORS[name]
    else:
        v1 = _V1_GENERATORS[name]

        def generate(rng: random.Random) -> Generated:
            return v1.example(rng, options, split == "train")

    rng = random.Random(_SPLIT_SEEDS[name][split])
    examples: list[Example] = []
    repeated = 0
    while len(examples) < SPLIT_SIZES[split]:
        prompt, references, metadata = generate(rng)
        if prompt in seen:
            repeated += 1
            if repeated >= _MAX_REPEATED_DRAWS:
                raise ValueError(f"Built-in dataset {name!r} with {options} has too few distinct prompts for "
                                 f"{SPLIT_SIZES[split]} {split} examples (found {len(examples)}); raise the knobs "
                                 "that add variety (e.g. adjective_rate, num_facts).")
            continue
        repeated = 0
        seen.add(prompt)
        examples.append(Example(f"{split}-{len(examples):05d}", prompt, references, metadata))
    return TextDataset(examples, name, split, source=f"textenvs.data.builtin generator ({name})")
