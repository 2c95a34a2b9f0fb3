"""Checks of user-supplied arguments, in one place: each error names the argument, the value and what is legal.

They run where the values enter (env construction, ``reset`` options, ``load_env_*`` keyword arguments), never
per step, so the step loop stays as fast as it was.
"""

from __future__ import annotations

import difflib
import numbers
from typing import Any, Iterable, Mapping

import numpy as np

RESET_OPTION_KEYS = ("example_index",)
"""The ``options`` keys the single env's ``reset`` understands."""
VECTOR_RESET_OPTION_KEYS = ("example_index", "reset_mask")
"""The ``options`` keys the vector env's ``reset`` understands."""
DATASET_FIELD_KEYS = ("prompt", "reference", "id", "metadata")
"""The parts a ``dataset_fields`` mapping may name columns for."""


def positive_int(name: str, value: Any, default: int) -> int:
    """``value`` as an int >= 1 (``None`` → ``default``); bools, floats, strings and values < 1 are refused."""
    if value is None:
        return int(default)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return int(value)


def close_matches(name: Any, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``candidates`` closest to ``name``, best first, compared case-insensitively (``"BLEU"`` finds ``"bleu"``,
    which a plain ``difflib`` comparison scores as no match at all)."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    return [by_lower[match] for match in difflib.get_close_matches(str(name).lower(), by_lower, n=n)]


def did_you_mean(name: Any, candidates: Iterable[str], n: int = 3) -> str:
    """``" Did you mean 'a', 'b'?"`` for the candidates close to ``name`` (:func:`close_matches`), or ``""``: the one
    wording of the hint every unknown-name error (envs, scorers, agents, arguments) appends."""
    close = close_matches(name, candidates, n=n)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def unknown_keys(what: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Raise ``TypeError`` naming every key of ``given`` not in ``known``, with the closest known name for each."""
    known = list(known)
    unknown = [key for key in given if key not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = close_matches(key, known, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(f"Unknown {what}: {', '.join(hints)}; accepted: {', '.join(sorted(known))}.")


def reset_options(options: Any, known: tuple[str, ...] = RESET_OPTION_KEYS) -> Mapping[str, Any]:
    """``options`` of ``reset`` as a mapping with only ``known`` keys (``None`` → empty)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"reset(options=...) must be a dict such as {{'example_index': 3}}, "
                        f"got {type(options).__name__}: {options!r:.100}.")
    unknown_keys("reset option(s)", options, known)
    return options


def example_index(value: Any, dataset_size: int, where: str = "options['example_index']") -> int:
    """One example index: an integer (not a bool) in ``0..dataset_size - 1``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where} must be an integer in 0..{dataset_size - 1}, got {value!r:.100} "
                        f"({type(value).__name__}).")
    if not 0 <= value < dataset_size:
        raise IndexError(f"{where}={value} is out of range: the split has {dataset_size} examples (0..{dataset_size - 1}).")
    return int(value)


def example_indices(value: Any, num_envs: int, dataset_size: int) -> list[int]:
    """The vector env's ``example_index``: one integer for every sub-env, or a sequence of exactly ``num_envs``."""
    if isinstance(value, (numbers.Integral, np.bool_)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item() if isinstance(value, np.ndarray) else value
        return [example_index(value, dataset_size)] * num_envs
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"options['example_index'] must be an integer or a sequence of {num_envs} integers, "
                        f"got {value!r:.100} ({type(value).__name__}).")
    values = list(value.tolist() if isinstance(value, np.ndarray) else value)
    if len(values) != num_envs:
        raise ValueError(f"options['example_index'] has {len(values)} entries for {num_envs} sub-environments; "
                         "give one integer per sub-env (or a single integer for all).")
    return [example_index(v, dataset_size, f"options['example_index'][{i}]") for i, v in enumerate(values)]


def task_arguments(split: Any, dataset_fields: Any, dataset_languages: Any, scorer_kwargs: Any) -> None:
    """Types of the env arguments that would otherwise fail deep inside a loader or scorer."""
    if not isinstance(split, str) or not split:
        raise TypeError(f"split must be a non-empty string such as 'train' or 'test', got {split!r}.")
    if dataset_fields is not None:
        if not isinstance(dataset_fields, Mapping) or not all(isinstance(v, str) for v in dataset_fields.values()):
            raise TypeError(f"dataset_fields must map 'prompt'/'reference'/'id'/'metadata' to column names, "
                            f"got {dataset_fields!r:.100}.")
        unknown_keys("dataset_fields key(s)", dataset_fields, DATASET_FIELD_KEYS)
    if dataset_languages is not None and (isinstance(dataset_languages, str) or not isinstance(dataset_languages, Iterable)
                                          or len(list(dataset_languages)) != 2
                                          or not all(isinstance(v, str) and v for v in dataset_languages)):
        raise TypeError(f"dataset_languages must be a (source, target) pair of file suffixes such as ('de', 'en'), "
                        f"got {dataset_languages!r:.100}.")
    if scorer_kwargs is not None and not isinstance(scorer_kwargs, Mapping):
        raise TypeError(f"scorer_kwargs must be a dict of the scorer's constructor arguments, "
                        f"got {type(scorer_kwargs).__name__}: {scorer_kwargs!r:.100}.")


def references_for_scorer(dataset: Any, scorer: Any) -> None:
    """Refuse a dataset with reference-less examples (``[]``) for a scorer that needs references."""
    if not getattr(scorer, "requires_references", True):
        return
    missing = next((example for example in dataset if not example.references), None)
    if missing is not None:
        raise ValueError(f"Example {missing.id!r} of {dataset.source} has no reference, but scorer "
                         f"{getattr(scorer, 'name', type(scorer).__name__)!r} needs references; give every example "
                         "a reference or use a reference-free scorer.")


def seeds_for(seed: Any, num_envs: int) -> list[int | None]:
    """The vector env's ``seed``: one integer (sub-env i gets ``seed + i``) or ``num_envs`` integers / ``None``."""
    def check(value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
            raise TypeError(f"{where} must be a non-negative integer or None, got {value!r:.60} ({type(value).__name__}).")
        return int(value)

    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        first = check(seed, "seed")
        return [first + i for i in range(num_envs)]
    if isinstance(seed, (str, bytes, Mapping)) or not isinstance(seed, Iterable):
        raise TypeError(f"seed must be an integer or a sequence of {num_envs} integers (or None), "
                        f"got {seed!r:.60} ({type(seed).__name__}).")
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"seed has {len(seeds)} entries for {num_envs} sub-environments.")
    return [check(value, f"seed[{i}]") for i, value in enumerate(seeds)]
