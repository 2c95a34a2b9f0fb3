"""Register the environments with Gymnasium. Runs on ``import textenvs`` (Gymnasium 1.x loads no plugins itself);
``gymnasium.make("textenvs:textenvs/Translation-v0")`` imports this package first, so it works without an import."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator


class EntryPoints(NamedTuple):
    """Where an env id's classes live, as ``"module:Class"`` strings (Gymnasium imports them on first use)."""

    env: str
    """The single env (``entry_point``)."""
    vector_env: str
    """The native batched env (``vector_entry_point``, ``vectorization_mode="vector_entry_point"``)."""


ENV_IDS: dict[str, EntryPoints] = {
    "textenvs/Translation-v0": EntryPoints("textenvs.tasks.translation:TranslationEnv",
                                           "textenvs.tasks.translation:TranslationVectorEnv"),
    "textenvs/Summarization-v0": EntryPoints("textenvs.tasks.summarization:SummarizationEnv",
                                             "textenvs.tasks.summarization:SummarizationVectorEnv"),
    "textenvs/Dialogue-v0": EntryPoints("textenvs.tasks.dialogue:DialogueEnv",
                                        "textenvs.tasks.dialogue:DialogueVectorEnv"),
    "textenvs/MultiTurnDialogue-v0": EntryPoints("textenvs.tasks.multiturn_dialogue:MultiTurnDialogueEnv",
                                                 "textenvs.tasks.multiturn_dialogue:MultiTurnDialogueVectorEnv"),
    "textenvs/MultiTurnDialogue-v1": EntryPoints("textenvs.tasks.multiturn_dialogue:MultiTurnDialogueV1Env",
                                                 "textenvs.tasks.multiturn_dialogue:MultiTurnDialogueV1VectorEnv"),
    "textenvs/SyntheticTranslation-v1": EntryPoints("textenvs.tasks.translation:TranslationV1Env",
                                                    "textenvs.tasks.translation:TranslationV1VectorEnv"),
    "textenvs/SyntheticSummarization-v1": EntryPoints("textenvs.tasks.summarization:SummarizationV1Env",
                                                      "textenvs.tasks.summarization:SummarizationV1VectorEnv"),
    "textenvs/SyntheticDialogue-v1": EntryPoints("textenvs.tasks.dialogue:DialogueV1Env",
                                                 "textenvs.tasks.dialogue:DialogueV1VectorEnv"),
    "textenvs/SyntheticTranslation-v2": EntryPoints("textenvs.tasks.translation:TranslationV2Env",
                                                    "textenvs.tasks.translation:TranslationV2VectorEnv"),
    "textenvs/SyntheticSummarization-v2": EntryPoints("textenvs.tasks.summarization:SummarizationV2Env",
                                                      "textenvs.tasks.summarization:SummarizationV2VectorEnv"),
    "textenvs/SyntheticDialogue-v2": EntryPoints("textenvs.tasks.dialogue:DialogueV2Env",
                                                 "textenvs.tasks.dialogue:DialogueV2VectorEnv"),
}
"""Every env id with the entry points of its single env and of its native vector env (``gymnasium.make`` and
``gymnasium.make_vec``). Two kinds of families: ``Translation``, ``Summarization``, ``Dialogue`` and
``MultiTurnDialogue`` take any dataset of the task (real data included; built-in synthetic data by default), while
the ``Synthetic*`` families are benchmark tasks on data textenvs generates, whose rewards read each example's
metadata (a correct output known per example)."""

ENV_ALIASES: dict[str, str] = {
    "textenvs/Translation-v1": "textenvs/SyntheticTranslation-v1",
    "textenvs/Summarization-v1": "textenvs/SyntheticSummarization-v1",
    "textenvs/Dialogue-v1": "textenvs/SyntheticDialogue-v1",
}
"""Deprecated ids, each the old name of the env it maps to (same class, data, reward and warm start, so results
recorded under the old name re-run unchanged). They were v1 of the real-data families' names although they are other
tasks, which made Gymnasium tell every ``Translation-v0`` user to "upgrade" to them; an alias makes its target's
spec (``gymnasium.make("textenvs/Translation-v1").spec.id`` is ``"textenvs/SyntheticTranslation-v1"``) and is not a
version of the old family, so that warning is gone. New work should use the target ids."""


def register_envs() -> None:
    """Register every textenvs id and alias (idempotent).

    An alias is entered in ``gymnasium.registry`` under its old id as the very spec of its target, not registered as
    a spec of its own: Gymnasium counts a spec's own name and version when it looks for a newer version, so an
    ``Translation-v1`` spec would make ``gymnasium.make("textenvs/Translation-v0")`` warn that it is out of date.
    """
    for env_id, entry_points in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_points.env, vector_entry_point=entry_points.vector_env)
    for alias, target in ENV_ALIASES.items():
        gym.registry.setdefault(alias, gym.registry[target])


def resolve_env_id(env_id: str) -> str:
    """The registered id ``env_id`` names: itself, or the target of an alias in :data:`ENV_ALIASES`.

    :raises gymnasium.error.NameNotFound: ``env_id`` is neither an id nor an alias (with the closest id).
    """
    if env_id in ENV_IDS:
        return env_id
    if env_id in ENV_ALIASES:
        return ENV_ALIASES[env_id]
    from textenvs.validation import did_you_mean

    raise gym.error.NameNotFound(f"Unknown textenvs environment {env_id!r}.{did_you_mean(env_id, ENV_IDS, n=1)} "
                                 f"Available: {', '.join(ENV_IDS)}.")


def env_class(env_id: str) -> Any:
    """The single-env class registered as ``env_id`` (or an alias of it); unknown ids list what exists."""
    return load_env_creator(gym.spec(resolve_env_id(env_id)).entry_point)


def check_env_arguments(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
    """Refuse, before anything is loaded, the mistakes that would make ``gymnasium.make(env_id, **env_kwargs)`` fail
    on a name: an unknown env id, keyword arguments the env does not take, arguments of the wrong type, an unknown
    scorer name or ``scorer_kwargs`` that scorer does not take. Loads no data, tokenizer or model, so the training
    commands and ``textenvs bench`` run it on every setting before the first run starts.

    :raises gymnasium.error.NameNotFound: unknown ``env_id`` (with the closest registered id).
    :raises TypeError: an unknown argument name (with the closest valid one) or a wrongly typed argument.
    :raises ValueError: an unknown scorer name (with the closest registered names).
    """
    from textenvs.scorers import check_scorer
    from textenvs.validation import task_arguments

    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs for {env_id} must be a dict of keyword arguments, got "
                        f"{type(env_kwargs).__name__}: {env_kwargs!r:.100}.")
    kwargs = _env_kwargs(env_id, dict(env_kwargs or {}))
    task_arguments(kwargs.get("split", "train"), kwargs.get("dataset_fields"), kwargs.get("dataset_languages"),
                   kwargs.get("scorer_kwargs"))
    scorer = env_class(env_id).task_spec.scorer_spec(kwargs.get("scorer"))
    if isinstance(scorer, str):  # Scorer objects and callables are checked when they score
        check_scorer(scorer, kwargs.get("scorer_kwargs") or {})


def load_env_dataset(env_id: str, split: str = "test", **env_kwargs: Any):
    """The :class:`~textenvs.data.dataset.TextDataset` an env made with ``env_kwargs`` would read for ``split``
    (no tokenizer is loaded). The leaderboard uses it to hold canonical test references."""
    kwargs = _env_kwargs(env_id, env_kwargs)
    return env_class(env_id).task_spec.resolve_dataset(kwargs.get("dataset"), split, kwargs.get("dataset_fields"),
                                                       kwargs.get("dataset_languages"), kwargs.get("dataset_options"))


def load_env_scorer(env_id: str, **env_kwargs: Any):
    """The :class:`~textenvs.scorers.Scorer` an env made with ``env_kwargs`` would use."""
    kwargs = _env_kwargs(env_id, env_kwargs)
    return env_class(env_id).task_spec.resolve_scorer(kwargs.get("scorer"), kwargs.get("scorer_kwargs"))


def env_reward_ceiling(env_id: str, **env_kwargs: Any) -> float | None:
    """The best score ``env_id`` made with ``env_kwargs`` can give (its task's ``reward_ceiling``), or None where it
    is unknown: the task has none, or the kwargs replace the dataset or the scorer the ceiling was shown for."""
    kwargs = _env_kwargs(env_id, env_kwargs)
    if any(kwargs.get(name) is not None for name in ("dataset", "scorer", "scorer_kwargs")):
        return None
    return env_class(env_id).task_spec.reward_ceiling


def _env_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The registered kwargs of ``env_id`` updated with ``env_kwargs``, after refusing names the env does not accept
    (those of :class:`~textenvs.core.GenerationTask` and the env class's own, e.g. a multi-turn env's
    ``user_simulator``)."""
    import inspect

    from textenvs.core import check_env_kwargs

    own = [name for name, parameter in inspect.signature(env_class(env_id)).parameters.items()
           if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    check_env_kwargs(env_kwargs, extra=own)
    return {**gym.spec(env_id).kwargs, **env_kwargs} if env_id in gym.registry else env_kwargs
