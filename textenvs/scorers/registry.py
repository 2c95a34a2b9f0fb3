"""Scorer registry: look scorers up by name, and turn names, objects or callables into scorers."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.validation import did_you_mean, unknown_keys

ScorerFactory = Callable[..., Scorer]
ScorerSpec = Union[str, Scorer, Callable[..., Any]]

_REGISTRY: dict[str, ScorerFactory] = {}


def register(name: str, factory: ScorerFactory, *, overwrite: bool = False) -> None:
    """Register ``factory`` (a :class:`Scorer` subclass or a function returning one) under ``name``."""
    if not overwrite and name in _REGISTRY:
        raise ValueError(f"Scorer {name!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[name] = factory


def available() -> list[str]:
    """Names of all registered scorers, sorted."""
    return sorted(_REGISTRY)


def get(name: str, /, **kwargs: Any) -> Scorer:
    """Build the scorer registered as ``name`` with constructor ``kwargs``.

    :raises ValueError: ``name`` is not registered (the message suggests close names, case-insensitively, and lists
        the registered ones).
    :raises TypeError: ``kwargs`` names an argument the scorer's constructor does not take.
    """
    check_scorer(name, kwargs)
    return _REGISTRY[name](**kwargs)


def check_scorer(name: str, kwargs: Mapping[str, Any] | None = None, /) -> None:
    """Refuse an unknown scorer ``name`` or constructor ``kwargs`` it does not take, without building the scorer
    (some load models): what :func:`get` checks first, for callers that validate settings before a run starts.

    :raises ValueError: ``name`` is not registered. :raises TypeError: an unknown keyword argument.
    """
    if name not in _REGISTRY:
        # ValueError, not KeyError: a KeyError prints its message inside quotes.
        raise ValueError(f"Unknown scorer {name!r}.{did_you_mean(name, _REGISTRY)} Available: "
                         f"{', '.join(available())}.")
    try:
        parameters = inspect.signature(_REGISTRY[name]).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the constructor judge
        parameters = {}
    if parameters and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown_keys(f"scorer_kwargs for scorer {name!r}", kwargs or {}, [p for p in parameters if p != "self"])


class CallableScorer(Scorer):
    """Adapts a plain function to the :class:`Scorer` interface, in either of two forms:

    - **batch** (the default): ``f(predictions: list[str], references: list[list[str]]) -> scores``, where scores
      is a sequence of one float per prediction, or a mapping of such sequences (the primary one under
      ``primary``);
    - **per example**: ``f(prediction: str, references: list[str]) -> float`` (or a mapping of floats), called once
      per prediction. Chosen by ``per_example=True``, or when the function's first parameter is named
      ``prediction`` or annotated ``str``: the form most people write first works as written.

    Either form also receives ``prompts=`` / ``metadata=`` (per example: ``prompt=`` / ``metadata=``, one each) when
    its signature accepts them. A batch function that returns one number for a whole batch is refused with a
    message saying which form was expected. Pass ``requires_references=False`` for a reference-free function (it
    then may receive ``None``).
    """

    def __init__(self, function: Callable[..., Any], name: str | None = None, primary: str = "score",
                 requires_references: bool = True, per_example: bool | None = None) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "callable")
        self.primary = primary
        self.requires_references = requires_references
        parameters = inspect.signature(function).parameters
        self.per_example = _looks_per_example(parameters) if per_example is None else bool(per_example)
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        extras = ("prompt", "metadata") if self.per_example else ("prompts", "metadata")
        self._passes = {key for key in extras if accepts_any or key in parameters}

    def compute(self, predictions, references, prompts, metadata) -> Mapping[str, Sequence[float] | np.ndarray]:
        if self.per_example:
            return self._compute_per_example(predictions, references, prompts, metadata)
        extra = {key: value for key, value in (("prompts", prompts), ("metadata", metadata)) if key in self._passes}
        result = self.function(predictions, references, **extra)
        scores = result if isinstance(result, Mapping) else {self.primary: result}
        for key, values in scores.items():
            if np.ndim(values) == 0:
                raise ValueError(
                    f"Scorer function {self.name!r} returned one number ({key!r}: {values!r:.40}) for a batch of "
                    f"{len(predictions)} prediction(s). It is called in batch form, f(predictions: list[str], "
                    "references: list[list[str]]) -> one score per prediction. For a per-example function "
                    "f(prediction: str, references: list[str]) -> float, name its first parameter 'prediction', "
                    "annotate it as str, or pass per_example=True (scorer_kwargs={'per_example': True} in an env).")
        return scores

    def _compute_per_example(self, predictions, references, prompts, metadata) -> dict[str, np.ndarray]:
        rows: list[Mapping[str, float]] = []
        for i, prediction in enumerate(predictions):
            extra = {key: value[i] for key, value in (("prompt", prompts), ("metadata", metadata))
                     if key in self._passes and value is not None}
            result = self.function(prediction, None if references is None else references[i], **extra)
            row = result if isinstance(result, Mapping) else {self.primary: result}
            for key, value in row.items():
                if np.ndim(value) != 0:
                    raise ValueError(f"Scorer function {self.name!r} is called per example, f(prediction: str, "
                                     f"references: list[str]) -> float, but returned {np.shape(value)}-shaped "
                                     f"{key!r} for prediction {i}. Return one float (or a dict of floats), or pass "
                                     "per_example=False for a function that scores a whole batch.")
            rows.append(row)
        keys = list(rows[0])
        if any(list(row) != keys for row in rows):
            raise ValueError(f"Scorer function {self.name!r} returned different keys for different examples "
                             f"({keys} and {next(list(row) for row in rows if list(row) != keys)}).")
        return {key: np.asarray([float(row[key]) for row in rows], dtype=np.float64) for key in keys}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "primary": self.primary, "callable": repr(self.function),
                "per_example": self.per_example}


def _looks_per_example(parameters: Mapping[str, inspect.Parameter]) -> bool:
    """Whether a scorer function's first parameter says it takes one prediction: named ``prediction`` (singular) or
    annotated ``str``; anything else is the batch form."""
    first = next(iter(parameters.values()), None)
    if first is None or first.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return False
    return first.name == "prediction" or first.annotation in (str, "str")


def make_scorer(spec: ScorerSpec, /, **kwargs: Any) -> Scorer:
    """Turn a scorer name, a :class:`Scorer` instance or a plain callable into a :class:`Scorer`."""
    if isinstance(spec, Scorer):
        if kwargs:
            raise TypeError("scorer kwargs can only be given with a scorer name, not with a Scorer instance.")
        return spec
    if isinstance(spec, str):
        return get(spec, **kwargs)
    if callable(spec):
        return CallableScorer(spec, **kwargs)
    raise TypeError(f"scorer must be a registered name, a Scorer or a callable; got {type(spec).__name__}.")
