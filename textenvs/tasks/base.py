"""What distinguishes one text-generation task from another: its defaults and how a dataset row becomes a prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping

if TYPE_CHECKING:
    from textenvs.data.dataset import TextDataset
    from textenvs.data.loaders import DatasetSpec
    from textenvs.scorers import Scorer, ScorerSpec

TruncationSide = Literal["left", "right", "error"]


@dataclass(frozen=True)
class TaskSpec:
    """Defaults and data conventions of a task; the environment classes read everything task-specific from here.

    :param name: task name (``translation``, ``summarization``, ``dialogue``; ``translation-v1``... for the v1
        tasks); it also names the shipped warm start (``agents.models.default_checkpoint``).
    :param default_dataset: built-in dataset used when the caller names none.
    :param default_scorer: registered scorer used when the caller names none; it must work on any dataset of
        the task (reference-based), so real data needs no task-specific metadata.
    :param prompt_field: row field holding the prompt (a string, or a list of turns for dialogue).
    :param reference_field: row field holding the reference (a string or a list of strings).
    :param max_prompt_length: default prompt budget in tokens (observation ``prompt_ids`` length).
    :param max_new_tokens: default generation budget in tokens (observation ``generated_ids`` length).
    :param prompt_truncation: which end of an over-long prompt is cut by default: ``"right"`` keeps the
        beginning (documents), ``"left"`` keeps the end (dialogue history), ``"error"`` refuses.
    :param turn_separator: how a list-valued prompt (dialogue turns) is joined into one prompt string.
    :param reward_ceiling: the best score the default scorer can give on the default dataset, reached by every
        example's canonical output (1.0 for the v1 tasks); None where no output is known to reach a ceiling
        (v0: one human-style reference among many acceptable outputs). Results report the fraction of the
        warm-start-to-ceiling gap closed against it.
    """

    name: str
    default_dataset: str
    default_scorer: str
    prompt_field: str
    reference_field: str
    max_prompt_length: int
    max_new_tokens: int
    prompt_truncation: TruncationSide
    turn_separator: str = "\n"
    reward_ceiling: float | None = None

    def format_prompt(self, value: Any) -> str:
        """Turn a row's prompt field into the prompt string (lists of turns are joined by ``turn_separator``)."""
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and all(isinstance(turn, str) for turn in value):
            return self.turn_separator.join(value)
        raise TypeError(f"{self.name} prompt field {self.prompt_field!r} must be a string or a list of strings, "
                        f"got {type(value).__name__}.")

    def scorer_spec(self, scorer: ScorerSpec | None = None) -> ScorerSpec:
        """The scorer an env given ``scorer`` uses: ``scorer`` itself, or this task's ``default_scorer`` when None."""
        return scorer if scorer is not None else self.default_scorer

    def resolve_scorer(self, scorer: ScorerSpec | None = None,
                       scorer_kwargs: Mapping[str, Any] | None = None) -> Scorer:
        """The scorer an env made with ``scorer`` and ``scorer_kwargs`` uses (the task's default when ``scorer`` is
        None); the one place both the envs and :func:`textenvs.load_env_scorer` resolve it."""
        from textenvs.scorers import make_scorer

        return make_scorer(self.scorer_spec(scorer), **(scorer_kwargs or {}))

    def resolve_dataset(self, dataset: DatasetSpec | None = None, split: str = "test",
                        fields: Mapping[str, str] | None = None, languages: tuple[str, str] | None = None,
                        options: Mapping[str, Any] | None = None) -> TextDataset:
        """The ``split`` of ``dataset`` as an env made with these dataset arguments reads it (the task's
        ``default_dataset`` when ``dataset`` is None; arguments as :func:`textenvs.data.loaders.resolve_dataset`);
        the one place both the envs and :func:`textenvs.load_env_dataset` resolve it."""
        from textenvs.data.loaders import resolve_dataset

        return resolve_dataset(self, dataset, split, fields, languages, options)


@dataclass(frozen=True)
class TaskFamily:
    """The data schema a family's versions share: how a row of any of the family's datasets becomes a prompt and
    references (:class:`TaskSpec`'s fields of the same names). Each version adds its own defaults with
    :meth:`version`; the table of every version is ``textenvs/tasks/specs.py``."""

    prompt_field: str
    reference_field: str
    prompt_truncation: TruncationSide
    turn_separator: str = "\n"

    def version(self, name: str, default_dataset: str, default_scorer: str, max_prompt_length: int,
                max_new_tokens: int, reward_ceiling: float | None = None) -> TaskSpec:
        """The :class:`TaskSpec` of one version of the family (arguments as :class:`TaskSpec`'s)."""
        return TaskSpec(name=name, default_dataset=default_dataset, default_scorer=default_scorer,
                        prompt_field=self.prompt_field, reference_field=self.reference_field,
                        max_prompt_length=max_prompt_length, max_new_tokens=max_new_tokens,
                        prompt_truncation=self.prompt_truncation, turn_separator=self.turn_separator,
                        reward_ceiling=reward_ceiling)
