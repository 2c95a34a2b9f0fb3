"""Run a batched policy over every example of a split: the one evaluation loop agents, benchmarks and the
leaderboard's verified runs share. It needs only a callable, so the environments stay agent-agnostic."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from textenvs.vector import TextGenerationVectorEnv

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Maps a batched observation to one token id per sub-env."""


class EpisodeRecord(dict):
    """One finished episode: what was asked, what was generated, and how it scored.

    A ``dict`` whose keys are also attributes (``record.prediction`` is ``record["prediction"]``), so
    ``json.dumps(record)`` writes it as it is: a file of records is a predictions file the leaderboard accepts
    (``example_id`` is read as ``id``).

    Keys: ``example_id`` (str), ``example_index`` (int), ``prompt`` (str), ``prediction`` (str), ``references``
    (list of str), ``reward`` (float), ``length`` (int, tokens generated), ``metrics`` (dict of str to float), and,
    for a multi-turn episode only, ``agent_turns`` (list of str: the agent's turns in order, the last being
    ``prediction``), from which the episode can be replayed and re-scored (:mod:`textenvs.rescoring`).
    """

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ("example_id", "example_index", "prompt", "prediction", "references",
                                         "reward", "length", "metrics")

    def __init__(self, example_id: str, example_index: int, prompt: str, prediction: str, references: list[str],
                 reward: float, length: int, metrics: dict[str, float] | None = None,
                 agent_turns: list[str] | None = None) -> None:
        super().__init__(example_id=example_id, example_index=example_index, prompt=prompt, prediction=prediction,
                         references=references, reward=reward, length=length,
                         metrics={} if metrics is None else metrics)
        if agent_turns is not None:  # single-turn records keep exactly the keys they always had
            self["agent_turns"] = list(agent_turns)

    # Read-only attributes: a record is written once, by from_step.
    example_id = property(lambda self: self["example_id"])
    example_index = property(lambda self: self["example_index"])
    prompt = property(lambda self: self["prompt"])
    prediction = property(lambda self: self["prediction"])
    references = property(lambda self: self["references"])
    reward = property(lambda self: self["reward"])
    length = property(lambda self: self["length"])
    metrics = property(lambda self: self["metrics"])
    agent_turns = property(lambda self: self.get("agent_turns"))
    """The agent's turns of a multi-turn episode; None for a single-turn one."""

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy (the record itself already serializes as one)."""
        return {key: (dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value)
                for key, value in self.items()}

    def __repr__(self) -> str:
        return f"EpisodeRecord({', '.join(f'{key}={value!r}' for key, value in self.items())})"

    @classmethod
    def from_step(cls, info: dict[str, Any], slot: int, reward: float, length: int) -> "EpisodeRecord":
        """The record of sub-env ``slot``'s episode from the vector env's ``info`` at its last step (metrics whose
        name starts with ``_`` are the scorer's internals and are left out). A multi-turn episode's info holds its
        ``conversation``; its agent turns are recorded."""
        conversation = info["conversation"][slot] if "conversation" in info else None
        return cls(example_id=str(info["example_id"][slot]), example_index=int(info["example_index"][slot]),
                   prompt=str(info["prompt"][slot]), prediction=str(info["prediction"][slot]),
                   references=list(info["references"][slot]), reward=float(reward), length=int(length),
                   metrics={key: float(values[slot]) for key, values in info["metrics"].items()
                            if not key.startswith("_")},
                   agent_turns=None if conversation is None else
                   [str(message["content"]) for message in conversation if message["role"] == "assistant"])


def generate_split(env: TextGenerationVectorEnv, policy: Policy, indices: Sequence[int] | None = None,
                   progress: Callable[[int], None] | None = None) -> list[EpisodeRecord]:
    """One episode per example of ``env``'s split (or of ``indices``), ``env.num_envs`` at a time.

    Each chunk of examples starts together through ``reset(options={"example_index": ...})``; a sub-env that
    finishes early idles when the env runs without autoreset (``autoreset_mode=AutoresetMode.DISABLED``, so nothing
    is scored twice), else it is auto-reset and its later episodes are ignored.

    :param env: the native vector env (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``,
        unwrapped with ``.unwrapped`` if wrapped).
    :param policy: batched policy; it sees every step of every sub-env.
    :param indices: example indices to run (default: the whole split, in order).
    :param progress: called with the number of episodes finished after each chunk.
    :returns: records in the order of ``indices``.
    """
    env = getattr(env, "unwrapped", env)
    if not isinstance(env, TextGenerationVectorEnv):
        raise TypeError(f"generate_split needs a textenvs vector env, got {type(env).__name__}.")
    indices = list(range(len(env.task.dataset)) if indices is None else indices)
    records: list[EpisodeRecord] = []
    batch = env.num_envs
    for start in range(0, len(indices), batch):
        chunk = indices[start:start + batch]
        padded = chunk + [chunk[-1]] * (batch - len(chunk))
        observation, _ = env.reset(options={"example_index": np.asarray(padded)})
        finished: dict[int, EpisodeRecord] = {}
        length = np.zeros(batch, dtype=np.int64)
        while len(finished) < len(chunk):
            observation, reward, terminated, truncated, info = env.step(np.asarray(policy(observation)))
            length += 1
            for slot in np.flatnonzero(terminated | truncated):
                if slot < len(chunk) and slot not in finished:
                    finished[slot] = EpisodeRecord.from_step(info, slot, reward[slot], length[slot])
        records.extend(finished[slot] for slot in range(len(chunk)))
        if progress is not None:
            progress(len(records))
    return records


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, float]:
    """Mean of every metric, of the reward and of the episode length over ``records``."""
    if not records:
        raise ValueError("No episode records to summarize.")
    keys = sorted({key for record in records for key in record.metrics})
    summary = {key: float(np.mean([r.metrics[key] for r in records if key in r.metrics])) for key in keys}
    summary["reward"] = float(np.mean([r.reward for r in records]))
    summary["length"] = float(np.mean([r.length for r in records]))
    return summary
