"""Built-in datasets, generated deterministically at load time: no download and no shipped data files.

The registry of the generators in :mod:`textenvs.data.generators` (one module per task and version; see
``textenvs/data/README.md``):

- ``synthetic-translation``, ``synthetic-summarization``, ``synthetic-dialogue`` (v0): a generated language
  pair, news-like documents with distractors, booking dialogues; one human-like reference per example.
- ``synthetic-translation-v1``, ``synthetic-summarization-v1``, ``synthetic-dialogue-v1``: short outputs with a
  canonical answer in ``metadata["canonical"]`` (what the task reward checks) and imperfect demonstrations as
  the train split's references; their difficulty knobs are keyword arguments of :func:`load_builtin`.

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
from textenvs.data.generators.common import Generated
from textenvs.data.generators.dialogue import _dialogue_example
from textenvs.data.generators.dialogue_v1 import DialogueV1Options, dialogue_v1_example
from textenvs.data.generators.summarization import _summarization_example
from textenvs.data.generators.summarization_v1 import SummarizationV1Options, summarization_v1_example
from textenvs.data.generators.translation import _translation_example, translation_lexicon
from textenvs.data.generators.translation_v1 import TranslationV1Options, translation_v1_example

V0_DATASETS: tuple[str, ...] = ("synthetic-translation", "synthetic-summarization", "synthetic-dialogue")
"""The v0 datasets; the shipped tokenizer is trained on their train splits (and covers every v1 word)."""

V1_DATASETS: tuple[str, ...] = ("synthetic-translation-v1", "synthetic-summarization-v1", "synthetic-dialogue-v1")

BUILTIN_DATASETS: tuple[str, ...] = V0_DATASETS + V1_DATASETS

SPLIT_SIZES: dict[str, int] = {"train": 20000, "validation": 500, "test": 500}
"""Number of examples in each split of every built-in dataset."""

# Splits are generated in this order; each skips the prompts of the splits generated before it.
_SPLIT_ORDER: tuple[str, ...] = ("test", "validation", "train")

# Fixed seeds: changing one changes the data (and the pinned content hashes in tests/test_builtin_data.py).
_SPLIT_SEEDS: dict[str, dict[str, int]] = {
    "synthetic-translation": {"test": 1101, "validation": 1102, "train": 1103},
    "synthetic-summarization": {"test": 2101, "validation": 2102, "train": 2103},
    "synthetic-dialogue": {"test": 3101, "validation": 3102, "train": 3103},
    "synthetic-translation-v1": {"test": 1201, "validation": 1202, "train": 1203},
    "synthetic-summarization-v1": {"test": 2201, "validation": 2202, "train": 2203},
    "synthetic-dialogue-v1": {"test": 3201, "validation": 3202, "train": 3203},
}

# A v1 split gives up when this many draws in a row repeat earlier prompts: its knobs leave too few prompts.
_MAX_REPEATED_DRAWS = 20000


@dataclass(frozen=True)
class _V1Generator:
    options: type  # the frozen dataclass of the dataset's knobs
    example: Callable[[random.Random, Any, bool], Generated]  # (rng, options, demonstration) → example


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

__all__ = ["BUILTIN_DATASETS", "V0_DATASETS", "V1_DATASETS", "SPLIT_SIZES", "load_builtin", "builtin_options",
           "translation_lexicon"]


def builtin_options(name: str, **options: Any) -> Any:
    """The knobs object of v1 dataset ``name`` (defaults overridden by ``options``); v0 datasets take none.

    :raises ValueError: for an unknown knob or an illegal value; the message names it and the legal ones.
    """
    if name in _V0_GENERATORS:
        if options:
            raise ValueError(f"Built-in dataset {name!r} has no options; got {', '.join(sorted(options))}.")
        return None
    options_class = _V1_GENERATORS[name].options
    legal = tuple(options_class.__dataclass_fields__)
    unknown = sorted(set(options) - set(legal))
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(unknown)} for built-in dataset {name!r}; "
                         f"available: {', '.join(legal)}.")
    return options_class(**options)


def load_builtin(name: str, split: str, **options: Any) -> TextDataset:
    """Load a built-in dataset split (generated on first use, then cached in-process).

    :param name: one of :data:`BUILTIN_DATASETS`.
    :param split: ``"train"``, ``"validation"`` or ``"test"`` (sizes in :data:`SPLIT_SIZES`).
    :param options: difficulty knobs of a v1 dataset (the fields of its options class, e.g.
        :class:`~textenvs.data.generators.translation_v1.TranslationV1Options`); defaults when omitted.
    :raises ValueError: for an unknown dataset name, split or option; the message lists the legal values.
    """
    if name not in BUILTIN_DATASETS:
        raise ValueError(f"Unknown built-in dataset {name!r}; available: {', '.join(BUILTIN_DATASETS)}.")
    if split not in SPLIT_SIZES:
        raise ValueError(
            f"Unknown split {split!r} for built-in dataset {name!r}; available: {', '.join(SPLIT_SIZES)}."
        )
    return _generate_split(name, split, builtin_options(name, **options))


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
