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
    """Adapts a plain function to the :class:`Scorer` interface.

    The function receives ``(predictions, references)`` and, if its signature accepts them, ``prompts=`` and
    ``metadata=``. It returns either a sequence of floats (the primary score) or a mapping of named sequences.
    Pass ``requires_references=False`` for a reference-free function (it then may receive ``None``).
    """

    def __init__(self, function: Callable[..., Any], name: str | None = None, primary: str = "score",
                 requires_references: bool = True) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "callable")
        self.primary = primary
        self.requires_references = requires_references
        parameters = inspect.signature(function).parameters
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        self._passes = {key for key in ("prompts", "metadata") if accepts_any or key in parameters}

    def compute(self, predictions, references, prompts, metadata) -> Mapping[str, Sequence[float] | np.ndarray]:
        extra = {key: value for key, value in (("prompts", prompts), ("metadata", metadata)) if key in self._passes}
        result = self.function(predictions, references, **extra)
        if isinstance(result, Mapping):
            return result
        return {self.primary: np.asarray(result, dtype=np.float64)}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "primary": self.primary, "callable": repr(self.function)}


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
