"""What a finished episode is scored on when it is scored again from its record: the example (references, prompt,
metadata) and the text. The benchmark runner and the leaderboard both pass these to
:func:`textenvs.metrics.prediction_metrics`, so both report what the env rewarded.

- A single-turn episode is its example and its text (the record's ``prediction``).
- A multi-turn episode's reward is its final agent turn (``prediction``) scored against the goal the user holds
  when the conversation ends. Where the user never changes its goal (``MultiTurnDialogue-v0``, v1 with
  ``change_of_mind=0``, a model or a function as the user) that is the example's goal, so the example and the text
  are scored as for a single turn. Where it can (v1 with ``change_of_mind > 0``, e.g. the benchmark setting
  :data:`~textenvs.tasks.multiturn_dialogue.BENCHMARK_USER_V1`) the goal it ended with is not in the dataset: the
  conversation is *replayed* through the env from the agent's turns (the record's ``agent_turns``), the
  deterministic user answering as it did (:meth:`~textenvs.tasks.multiturn_dialogue.MultiTurnDialogueEnv.replay`),
  and the final turn is scored against the goal the replay ends with. A claimed conversation the env does not
  reproduce turn for turn (a turn the env would never have asked for, a conversation that does not end where it is
  said to) is refused, so no one can score against a goal of their own choosing.
- A user that can change its goal but cannot be replayed (a :class:`~textenvs.users.UserSimulator` that overrides
  ``current_goal`` without being ``replayable``) cannot be re-scored: :class:`RescoringError`, never a score
  against the example's original goal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from textenvs.data.dataset import Example, TextDataset

AGENT_TURNS = "agent_turns"
"""Key of a multi-turn record's agent turns (its texts in order; the last is the ``prediction``)."""


class RescoringError(ValueError):
    """Predictions that cannot be scored as the env scored their episodes (the message says which and why)."""


def scored_answers(env_id: str, env_kwargs: Mapping[str, Any], split: str, dataset: TextDataset,
                   indices: Sequence[int], predictions: Sequence[str],
                   agent_turns: Sequence[Sequence[str] | None] | None = None) -> tuple[list[Example], list[str]]:
    """The examples and texts to score for episodes of ``env_id`` on examples ``indices`` of ``dataset``.

    :param env_id: the env the episodes ran in.
    :param env_kwargs: its keyword arguments (the user simulator's among them; ``split`` is ignored).
    :param split: the split ``dataset`` is (a replay makes the env on it).
    :param dataset: the split's examples.
    :param indices: each episode's example index in ``dataset``.
    :param predictions: each episode's final text.
    :param agent_turns: each multi-turn episode's agent turns (None for an episode without them); None: none has.
    :returns: examples (a replayed episode's with the metadata it was scored with) and texts, in order.
    :raises RescoringError: agent turns for a single-turn env or not ending with the prediction; episodes that
        need a replay without their turns, with a user that cannot be replayed, or whose turns do not replay.
    """
    from textenvs.registration import _env_kwargs, env_class

    if len(indices) != len(predictions) or (agent_turns is not None and len(agent_turns) != len(predictions)):
        raise ValueError(f"Got {len(predictions)} predictions for {len(indices)} examples"
                         + ("" if agent_turns is None else f" and {len(agent_turns)} agent-turn lists") + ".")
    examples = [dataset[int(index)] for index in indices]
    turns = list(agent_turns) if agent_turns is not None else [None] * len(predictions)
    cls = env_class(env_id)
    if not hasattr(cls, "replay"):
        given = [example.id for example, episode in zip(examples, turns) if episode is not None]
        if given:
            raise RescoringError(f"{env_id} is a single-turn env; {AGENT_TURNS} belong to multi-turn episodes only "
                                 f"(given for {len(given)} example(s), first {given[0]!r}).")
        return examples, list(predictions)
    _check_final_turns(examples, predictions, turns)
    kwargs = {key: value for key, value in _env_kwargs(env_id, dict(env_kwargs)).items() if key != "split"}
    if not cls.user_goal_can_change(kwargs.get("user_simulator"), kwargs.get("user_simulator_kwargs")):
        return examples, list(predictions)  # the example's goal is the one every episode ended with
    return _replayed(env_id, kwargs, split, dataset, examples, indices, turns)


def _check_final_turns(examples: Sequence[Example], predictions: Sequence[str],
                       turns: Sequence[Sequence[str] | None]) -> None:
    """Refuse agent turns that are not a non-empty list of texts ending with the episode's prediction."""
    for example, prediction, episode in zip(examples, predictions, turns):
        if episode is None:
            continue
        if not episode or not all(isinstance(text, str) for text in episode):
            raise RescoringError(f"Example {example.id!r}: {AGENT_TURNS} must be a non-empty list of texts.")
        if episode[-1] != prediction:
            raise RescoringError(f"Example {example.id!r}: the last of its {AGENT_TURNS} ({episode[-1]!r:.120}) is "
                                 f"not its prediction ({prediction!r:.120}); the prediction is the final agent turn.")


def _replayed(env_id: str, kwargs: dict[str, Any], split: str, dataset: TextDataset, examples: list[Example],
              indices: Sequence[int], turns: list[Sequence[str] | None]) -> tuple[list[Example], list[str]]:
    """Replay each conversation through a fresh env; its final turn and the metadata it was scored with."""
    import gymnasium as gym

    missing = [example.id for example, episode in zip(examples, turns) if episode is None]
    if missing:
        raise RescoringError(
            f"{env_id} with these user settings can change the user's goal during a conversation, so an episode is "
            f"scored against the goal it ended with, which only a replay of its {AGENT_TURNS} gives; "
            f"{len(missing)} episode(s) have none (first {missing[0]!r}). Record them (textenvs bench does).")
    env = gym.make(env_id, split=split, **kwargs).unwrapped
    try:
        user = env.user_simulator
        if not user.replayable:
            raise RescoringError(
                f"The user simulator {type(user).__name__} of {env_id} can change its goal during a conversation "
                "(goal_can_change) but is not replayable, so the goal an episode ended with cannot be recovered "
                "from its record; re-scoring refuses rather than score against the original goal.")
        if env.task.dataset.content_hash != dataset.content_hash:
            raise RescoringError(f"The env's {split!r} split is not the data the episodes are scored on "
                                 f"({env.task.dataset.content_hash[:12]} vs {dataset.content_hash[:12]}).")
        scored, texts = [], []
        for example, index, episode in zip(examples, indices, turns):
            try:
                info = env.replay(int(index), list(episode))
            except ValueError as error:  # ReplayMismatch, or a turn with no ids of its own (chat template)
                raise RescoringError(f"Example {example.id!r}: its {AGENT_TURNS} do not replay: {error}.") from None
            scored.append(replace(example, metadata=info["scored_metadata"]))
            texts.append(info["prediction"])
    finally:
        env.close()
    return scored, texts
