"""textenvs inside TRL: scorers as reward functions, tasks as datasets, the multi-turn dialogue as an environment.

>>> from trl import GRPOConfig, GRPOTrainer
>>> from textenvs.integrations.trl import reward_function, to_dataset
>>> dataset = to_dataset("textenvs/Summarization-v1", split="train", num_examples=256)
>>> trainer = GRPOTrainer(model=..., reward_funcs=reward_function("summary_facts"), train_dataset=dataset,
...                       args=GRPOConfig(...))

- :func:`reward_function` turns any scorer (a registered name, a :class:`~textenvs.scorers.Scorer` or a plain
  callable) into a callable with TRL's ``reward_funcs`` signature, ``f(prompts, completions, **columns) ->
  list[float]``. It reads the references and the per-example metadata (key facts, slots, canonical answers: what
  the v1 and multi-turn scorers need) from the dataset columns :func:`to_dataset` writes; completions may be
  plain strings or conversational (lists of message dicts).
- :func:`to_dataset` exports a task's split as a ``datasets.Dataset`` with a ``prompt`` column (text, or chat
  messages with ``conversational=True``) and the columns the reward function reads.
- :class:`MultiTurnDialogueEnvironment` meets TRL's ``environment_factory`` contract around
  ``textenvs/MultiTurnDialogue-v0``: a no-argument constructor, ``reset(**row)`` returning the user's opening
  request, the agent's turns through its one public method ``reply(message)`` (TRL exposes it as a tool) and
  ``get_reward()``.

Requires ``datasets`` (a core dependency) and, to train, ``trl`` (``pip install "textenvs[trl]"``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from textenvs.scorers import Scorer, ScorerSpec, make_scorer

TASK_COLUMNS: tuple[str, ...] = ("references", "metadata", "task_prompt", "example_id", "example_index")
"""The columns :func:`to_dataset` writes besides ``prompt``: ``references`` (list of str), ``metadata`` (the
example's metadata as a JSON string: its values mix types, which Arrow columns cannot hold), ``task_prompt`` (the
example's prompt as textenvs scorers see it, without chat formatting), ``example_id`` and ``example_index``."""

DEFAULT_DIALOGUE_SYSTEM_PROMPT = (
    "You are a booking assistant. Talk to the customer only through the reply tool: each call sends one message "
    "and returns the customer's answer. Confirm the booking with every detail the customer asked for.")
"""The system message of :func:`to_dataset` rows made for :class:`MultiTurnDialogueEnvironment`."""


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text a scorer scores for one TRL completion.

    A standard completion is the string itself. A conversational completion is a list of messages; its text is the
    content of the **last assistant message** (with tool calls the completion also holds tool messages and earlier
    assistant turns; the last assistant message is the final answer, as textenvs' multi-turn env scores the agent's
    last turn). Content given as blocks (``[{"type": "text", "text": ...}, ...]``) is joined.

    :raises TypeError: a completion that is neither a string nor a list of message dicts.
    :raises ValueError: a conversational completion without an assistant message.
    """
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, Sequence) or not all(isinstance(m, Mapping) for m in completion):
        raise TypeError("A completion must be a string or a list of message dicts ({'role': ..., 'content': ...}), "
                        f"got {type(completion).__name__}: {completion!r:.100}")
    for message in reversed(completion):
        if message.get("role") == "assistant":
            return _content_text(message.get("content"))
    roles = [message.get("role") for message in completion]
    raise ValueError(f"The conversational completion has no assistant message (roles {roles}); nothing to score.")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(block.get("text", "") for block in content
                       if isinstance(block, Mapping) and block.get("type") == "text")
    raise TypeError(f"A message's content must be a string or a list of content blocks, got "
                    f"{type(content).__name__}.")


def _prompt_text(prompt: str | Sequence[Mapping[str, Any]]) -> str:
    """A TRL prompt as text: the string, or the content of the last user message of a conversational prompt."""
    if isinstance(prompt, str):
        return prompt
    for message in reversed(prompt):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


class TextenvsReward:
    """A textenvs scorer with TRL's reward-function signature (see :func:`reward_function`).

    :ivar scorer: the :class:`~textenvs.scorers.Scorer` that scores.
    :ivar key: the score returned as the reward (the scorer's ``primary`` unless chosen).
    :ivar __name__: the name TRL logs the reward under (``rewards/<name>/mean``).
    """

    def __init__(self, scorer: Scorer, key: str | None = None, name: str | None = None) -> None:
        self.scorer = scorer
        self.key = scorer.primary if key is None else key
        if key is not None and scorer.score_names() and key not in scorer.score_names():
            raise ValueError(f"Scorer {scorer.name!r} returns {scorer.score_names()}; key={key!r} is none of them.")
        self.__name__ = name or f"textenvs_{scorer.name}"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 references: Sequence[Sequence[str]] | None = None,
                 metadata: Sequence[str | Mapping[str, Any] | None] | None = None,
                 task_prompt: Sequence[str] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
        """Score TRL's completions; one float per completion.

        :param prompts: TRL's prompts (text or messages), one per completion.
        :param completions: TRL's completions (text or messages), one per completion.
        :param completion_ids: unused (TRL passes the generated ids).
        :param references: the ``references`` dataset column (one list of strings per completion).
        :param metadata: the ``metadata`` column (JSON strings or dicts), needed by metadata scorers.
        :param task_prompt: the ``task_prompt`` column: the prompt the scorer sees; without it, the prompt text
            (a conversational prompt's last user message).
        :param log_metric: TRL's metric logger; the scorer's other scores are logged through it as
            ``<name>/<key>`` (batch means).
        :param columns: the other dataset columns and TRL's extras (``trainer_state``, ``log_extra``, ...); unused.
        """
        predictions = [completion_text(completion) for completion in completions]
        batch = len(predictions)
        if len(prompts) != batch:
            raise ValueError(f"Got {len(prompts)} prompts for {batch} completions; TRL passes one of each per row.")
        if references is None and self.scorer.requires_references:
            raise ValueError(f"Scorer {self.scorer.name!r} needs references, but the dataset has no 'references' "
                             "column; export the task with textenvs.integrations.trl.to_dataset(...).")
        decoded = None if metadata is None else [_metadata(entry, i) for i, entry in enumerate(metadata)]
        texts = list(task_prompt) if task_prompt is not None else [_prompt_text(prompt) for prompt in prompts]
        try:
            scores = self.scorer.score(predictions, references, texts, decoded)
        except KeyError as error:
            if metadata is None:
                raise KeyError(f"{error} The dataset has no 'metadata' column: export the task with "
                               "textenvs.integrations.trl.to_dataset(...), which writes it.") from error
            raise
        if self.key not in scores:
            raise KeyError(f"Scorer {self.scorer.name!r} returned {sorted(scores)}, not {self.key!r}.")
        if log_metric is not None:
            for key, values in scores.items():
                if key != self.key:
                    log_metric(f"{self.__name__}/{key}", float(np.mean(values)))
        return [float(value) for value in scores[self.key]]

    def __repr__(self) -> str:
        return f"TextenvsReward({self.scorer!r}, key={self.key!r})"


def _metadata(entry: str | Mapping[str, Any] | None, index: int) -> Mapping[str, Any]:
    if entry is None:
        return {}
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except json.JSONDecodeError as error:
            raise ValueError(f"metadata[{index}] is not valid JSON ({error}): {entry!r:.100}") from error
    if not isinstance(entry, Mapping):
        raise TypeError(f"metadata[{index}] must be a JSON object or a dict, got {type(entry).__name__}.")
    return entry


def reward_function(scorer: ScorerSpec, /, *, key: str | None = None, name: str | None = None,
                    **scorer_kwargs: Any) -> TextenvsReward:
    """A TRL reward function that scores with a textenvs scorer.

    The result is called by TRL's trainers as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
    and returns one float per completion: the scorer's ``key`` score (its primary, the env's reward, by default) of
    each completion's text (:func:`completion_text`), with the ``references``, ``metadata`` and ``task_prompt``
    columns of :func:`to_dataset` as the references, metadata and prompts. The same texts give the same rewards as
    the textenvs env.

    :param scorer: a registered scorer name (``"bleu"``, ``"summary_facts"``, ...), a Scorer or a callable.
    :param key: the score to return (default: the scorer's primary).
    :param name: the name TRL logs it under (default ``textenvs_<scorer name>``).
    :param scorer_kwargs: the scorer's constructor options (with a name only).
    :raises ValueError: an unknown scorer name (with suggestions) or a ``key`` the scorer does not return.
    """
    return TextenvsReward(make_scorer(scorer, **scorer_kwargs), key=key, name=name)


def env_reward_function(env_id: str, /, **env_kwargs: Any) -> TextenvsReward:
    """The reward function of the scorer env ``env_id`` would use with ``env_kwargs`` (its default scorer, or the
    ``scorer`` / ``scorer_kwargs`` given), e.g. ``env_reward_function("textenvs/Dialogue-v1")``."""
    from textenvs.registration import load_env_scorer

    return TextenvsReward(load_env_scorer(env_id, **env_kwargs))


def to_dataset(env_id: str, split: str = "train", *, conversational: bool = False, system_prompt: str | None = None,
               num_examples: int | None = None, for_environment: bool = False, **env_kwargs: Any) -> Any:
    """Export the split env ``env_id`` (made with ``env_kwargs``) would read as a ``datasets.Dataset`` for TRL.

    Columns: ``prompt`` and :data:`TASK_COLUMNS`. ``prompt`` is the example's prompt text (TRL's standard
    format), or with ``conversational=True`` the messages ``[system?, user]`` (TRL applies the model's chat
    template). No tokenizer is loaded: TRL tokenizes.

    :param split: ``train``, ``validation`` or ``test`` (whatever the dataset holds).
    :param conversational: chat messages instead of text.
    :param system_prompt: a system message for conversational prompts.
    :param num_examples: keep the first ``num_examples`` examples.
    :param for_environment: rows for :class:`MultiTurnDialogueEnvironment`: conversational, the user message left
        empty (the environment's ``reset`` returns the opening request, which TRL appends to it) and the system
        prompt :data:`DEFAULT_DIALOGUE_SYSTEM_PROMPT` unless given.
    :param env_kwargs: the env's dataset arguments (``dataset``, ``dataset_options``, ...).
    """
    import datasets

    from textenvs.registration import load_env_dataset

    if num_examples is not None and num_examples < 1:
        raise ValueError(f"num_examples must be >= 1 or None, got {num_examples}.")
    if system_prompt is not None and not (conversational or for_environment):
        raise ValueError("system_prompt applies to conversational prompts; pass conversational=True.")
    source = load_env_dataset(env_id, split=split, **env_kwargs)
    count = len(source) if num_examples is None else min(num_examples, len(source))
    if for_environment:
        system_prompt = DEFAULT_DIALOGUE_SYSTEM_PROMPT if system_prompt is None else system_prompt
    columns: dict[str, list[Any]] = {"prompt": [], **{name: [] for name in TASK_COLUMNS}}
    for index in range(count):
        example = source[index]
        if conversational or for_environment:
            prompt: Any = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
                {"role": "user", "content": "" if for_environment else example.prompt}]
        else:
            prompt = example.prompt
        columns["prompt"].append(prompt)
        columns["references"].append(list(example.references))
        columns["metadata"].append(json.dumps(example.metadata, sort_keys=True))
        columns["task_prompt"].append(example.prompt)
        columns["example_id"].append(example.id)
        columns["example_index"].append(index)
    return datasets.Dataset.from_dict(columns)


class MultiTurnDialogueEnvironment:
    """``textenvs/MultiTurnDialogue-v0`` behind TRL's ``environment_factory`` contract.

    ``GRPOTrainer(..., environment_factory=MultiTurnDialogueEnvironment, train_dataset=to_dataset(
    "textenvs/MultiTurnDialogue-v0", for_environment=True))``. TRL makes one instance per rollout with the
    no-argument constructor (``functools.partial(MultiTurnDialogueEnvironment, max_turns=4)`` configures it and
    stays a no-argument callable), calls :meth:`reset` with the dataset row, exposes :meth:`reply` to the model as
    a tool (its only public method besides ``reset`` and ``get_reward``), and calls :meth:`get_reward` when the
    rollout is over. TRL needs a tokenizer whose chat template renders tool calls.

    Each ``reply`` is one whole agent turn, fed through the token env by :class:`~textenvs.TextActionWrapper`, so
    the conversation, the user's answers, the episode end and the reward are the env's own.

    :param env_kwargs: arguments of ``gymnasium.make("textenvs/MultiTurnDialogue-v0", ...)`` (``user_simulator``,
        ``max_turns``, ``dataset``, ``split``, ...).
    """

    env_id = "textenvs/MultiTurnDialogue-v0"

    def __init__(self, **env_kwargs: Any) -> None:
        import gymnasium as gym

        import textenvs  # noqa: F401  (registers the env ids)
        from textenvs.wrappers import TextActionWrapper

        self._env = TextActionWrapper(gym.make(self.env_id, **env_kwargs))
        self._started = False
        self._done = False
        self._reward = 0.0
        self._end_reason: str | None = None
        self._example_index: int | None = None

    def reset(self, example_index: int | None = None, seed: int | None = None, **row: Any) -> str:
        """Start a conversation and return the user's opening request.

        :param example_index: the goal to play (the ``example_index`` column of :func:`to_dataset`); without
            it, a goal drawn by the env (with ``seed``).
        :param seed: the env's seed when no ``example_index`` is given.
        :param row: the rest of the dataset row (``prompt``, ``references``, ...); unused.
        """
        options = None if example_index is None else {"example_index": int(example_index)}
        _, info = self._env.reset(seed=seed, options=options)
        self._started, self._done, self._reward, self._end_reason = True, False, 0.0, None
        self._example_index = int(info["example_index"])
        return self._env.unwrapped.messages()[0]["content"]

    def reply(self, message: str) -> str:
        """Send your next message to the customer and get the customer's answer.

        Args:
            message: What you say to the customer (one whole turn).

        Returns:
            The customer's answer, or a note that the conversation is over.
        """
        if not self._started:
            raise RuntimeError("reply() before reset(): TRL calls reset(**row) first; call it yourself outside TRL.")
        if self._done:
            raise RuntimeError(f"The conversation is over ({self._end_reason}); no further replies are taken.")
        if not isinstance(message, str):
            raise TypeError(f"message must be a string, got {type(message).__name__}: {message!r:.80}")
        _, reward, terminated, truncated, info = self._env.step(message)
        self._reward += float(reward)
        if not (terminated or truncated):
            return info["user_reply"]
        self._done, self._end_reason = True, info.get("end_reason", "ended")
        if self._end_reason == "goal_met":
            return "The customer confirms the booking. The conversation is over."
        last_words = f"{info['user_reply']} " if info.get("user_reply") else ""
        return f"{last_words}The conversation is over ({self._end_reason})."

    def get_reward(self) -> float:
        """The env's reward for the conversation.

        A finished conversation (goal met, user gave up, a limit) earns what the env paid over it. One the model
        left unfinished (it stopped calling :meth:`reply`) is scored as the env scores a conversation ending at a
        limit: the per-turn rewards so far plus the env's scorer on the agent's last turn (``0.0`` with no turn).
        """
        if not self._started:
            raise RuntimeError("get_reward() before reset().")
        if self._done:
            return self._reward
        base = self._env.unwrapped
        agent_turns = [m["content"] for m in base.messages() if m["role"] == "assistant"]
        if not agent_turns:
            return self._reward
        task = base.task
        example = task.dataset[self._example_index]
        scores = task.scorer.score([agent_turns[-1]], [example.references], [example.prompt], [example.metadata])
        return self._reward + float(scores[task.scorer.primary][0])

    @property
    def conversation(self) -> list[dict[str, str]]:
        """The conversation so far as chat messages (a property, so TRL does not offer it as a tool)."""
        return self._env.unwrapped.messages()

    @property
    def end_reason(self) -> str | None:
        """Why the conversation ended (the env's ``end_reason``), or None while it goes on."""
        return self._end_reason

    @property
    def example_index(self) -> int | None:
        """The goal being played (index into the env's split)."""
        return self._example_index
