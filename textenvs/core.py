"""The text-generation environment: one token per action, reward from a pluggable scorer.

:class:`GenerationTask` resolves the user's choices (tokenizer, dataset, scorer, lengths, observation layout) once;
:class:`EpisodeBatch` holds the token state of B episodes as fixed-size arrays, so a step is O(1) in the episode
length (one array write; no re-tokenization). The single env (:class:`TextGenerationEnv`) is a batch of one and the
native vector env (:mod:`textenvs.vector`) a batch of B, so both run exactly the same episode logic.
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded

from textenvs.chat import ChatFormat
from textenvs.data.dataset import TextDataset
from textenvs.data.loaders import DatasetSpec
from textenvs.masks import ActionMaskSpec, make_action_mask
from textenvs.scorers import Scorer, ScorerSpec
from textenvs.tasks.base import TaskSpec, TruncationSide
from textenvs.validation import (example_index, positive_int, references_for_scorer, reset_options, task_arguments,
                                 unknown_keys)

ObservationMode = Literal["causal", "seq2seq"]
RewardMode = Literal["terminal", "incremental"]
OBSERVATION_MODES = ("causal", "seq2seq")
REWARD_MODES = ("terminal", "incremental")
TRUNCATION_POLICIES = ("left", "right", "error")


def load_tokenizer(tokenizer: Any = None) -> Any:
    """``None`` → the built-in tokenizer; a string → ``AutoTokenizer.from_pretrained`` (local dir or hub id);
    otherwise the tokenizer object itself. Checks that it has EOS and pad tokens."""
    if tokenizer is None:
        from textenvs.data.tokenizer import load_builtin_tokenizer

        tokenizer = load_builtin_tokenizer()
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _tokenizer_from_pretrained(os.fspath(tokenizer))
    for attribute in ("encode", "batch_decode", "convert_tokens_to_ids"):
        if not hasattr(tokenizer, attribute):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer (or a path to one); "
                            f"{type(tokenizer).__name__} has no {attribute!r}.")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"Tokenizer {type(tokenizer).__name__} has no EOS token, so episodes could never terminate. "
                         "Set one, e.g. tokenizer.add_special_tokens({'eos_token': '</s>'}).")
    if tokenizer.pad_token_id is None:
        raise ValueError(f"Tokenizer {type(tokenizer).__name__} has no pad token. Add one distinct from EOS, e.g. "
                         "tokenizer.add_special_tokens({'pad_token': '<pad>'}) (and resize the model's embeddings).")
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        warnings.warn("The tokenizer's pad token equals its EOS token. The env masks padding explicitly, but a policy "
                      "trained with pad == EOS often never learns to stop; prefer a distinct pad token.", stacklevel=3)
    return tokenizer


def chat_format(tokenizer: Any, chat_template: bool, system_prompt: str | None,
                observation_mode: ObservationMode) -> ChatFormat | None:
    """The prompt's chat format, or ``None`` for the plain layout; refuses combinations that cannot work."""
    if not chat_template:
        if system_prompt is not None:
            raise ValueError("system_prompt is rendered by the chat template; pass chat_template=True with it.")
        return None
    if observation_mode != "causal":
        raise ValueError("chat_template=True needs observation_mode='causal': chat templates format a decoder's "
                         f"context, while a seq2seq encoder reads the plain prompt (got {observation_mode!r}).")
    return ChatFormat(tokenizer, system_prompt)


def _tokenizer_from_pretrained(name: str) -> Any:
    """``AutoTokenizer.from_pretrained(name)`` with errors that say whether ``name`` was read as a path or a hub id."""
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    # A hub id is "name" or "org/name"; anything else that does not exist is a mistyped local path.
    if path.is_dir() or name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        if not path.is_dir():
            raise FileNotFoundError(f"tokenizer={name!r}: no such directory"
                                    + (" (it is a file; pass the directory that holds it)" if path.exists() else "")
                                    + ". Pass a save_pretrained directory, a hub id, or None for the built-in one.")
        try:
            return AutoTokenizer.from_pretrained(str(path))
        except Exception as error:  # transformers raises OSError, ValueError, KeyError ... for a broken directory
            raise OSError(f"tokenizer={name!r}: cannot load a tokenizer from this directory "
                          f"({type(error).__name__}: {error}).") from error
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise OSError(f"tokenizer={name!r}: not a local directory, and loading it as a hub id failed: {error}") from None


class GenerationTask:
    """Everything an episode needs, resolved once: tokenizer, dataset split, scorer, lengths and observation layout.

    Arguments are those of the environments (see :class:`TextGenerationEnv`).
    """

    def __init__(
        self,
        spec: TaskSpec,
        tokenizer: Any = None,
        dataset: DatasetSpec | None = None,
        split: str = "train",
        dataset_fields: Mapping[str, str] | None = None,
        dataset_languages: tuple[str, str] | None = None,
        dataset_options: Mapping[str, Any] | None = None,
        scorer: ScorerSpec | None = None,
        scorer_kwargs: Mapping[str, Any] | None = None,
        max_prompt_length: int | None = None,
        max_new_tokens: int | None = None,
        observation_mode: ObservationMode = "causal",
        prompt_truncation: TruncationSide | None = None,
        reward_mode: RewardMode = "terminal",
        action_mask: ActionMaskSpec = None,
        chat_template: bool = False,
        system_prompt: str | None = None,
    ) -> None:
        self.spec = spec
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}.")
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}.")
        self.prompt_truncation = prompt_truncation or spec.prompt_truncation
        if self.prompt_truncation not in TRUNCATION_POLICIES:
            raise ValueError(f"prompt_truncation must be one of {TRUNCATION_POLICIES}, got {self.prompt_truncation!r}.")
        self.max_prompt_length = positive_int("max_prompt_length", max_prompt_length, spec.max_prompt_length)
        self.max_new_tokens = positive_int("max_new_tokens", max_new_tokens, spec.max_new_tokens)
        task_arguments(split, dataset_fields, dataset_languages, scorer_kwargs)
        self.observation_mode = observation_mode
        self.reward_mode = reward_mode

        self.tokenizer = load_tokenizer(tokenizer)
        self.chat = chat_format(self.tokenizer, chat_template, system_prompt, observation_mode)
        self.vocab_size = len(self.tokenizer)
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        self.pad_token_id = int(self.tokenizer.pad_token_id)
        self._prompt_suffix, self._prompt_budget = self._prompt_layout()

        self.dataset: TextDataset = spec.resolve_dataset(dataset, split, dataset_fields, dataset_languages,
                                                         dataset_options)
        self.split = split
        self.scorer: Scorer = spec.resolve_scorer(scorer, scorer_kwargs)
        references_for_scorer(self.dataset, self.scorer)
        self.action_mask = make_action_mask(action_mask, self.vocab_size)
        self._encoded_prompts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        high = self.vocab_size - 1
        self.observation_space = spaces.Dict({
            "prompt_ids": spaces.Box(0, high, (self.max_prompt_length,), np.int64),
            "prompt_mask": spaces.Box(0, 1, (self.max_prompt_length,), np.int8),
            "generated_ids": spaces.Box(0, high, (self.max_new_tokens,), np.int64),
            "generated_mask": spaces.Box(0, 1, (self.max_new_tokens,), np.int8),
        })
        self.action_space = spaces.Discrete(self.vocab_size)

    def _prompt_layout(self) -> tuple[list[int], int]:
        """The ids that end every prompt (causal: the separator, else EOS; seq2seq: none, the tokenizer adds its
        special tokens) and the tokens left for the prompt's text."""
        if self.observation_mode == "causal":
            separator = self.tokenizer.sep_token_id
            suffix = [int(separator if separator is not None else self.eos_token_id)]
            num_special = 1
        else:
            suffix = []
            num_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        budget = self.max_prompt_length - num_special
        if budget < 1:
            raise ValueError(f"max_prompt_length={self.max_prompt_length} leaves no room for the prompt after "
                             f"{num_special} special token(s).")
        return suffix, budget

    def encode_prompt(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-length ids and mask of example ``index``'s prompt (cached: each prompt is tokenized once)."""
        cached = self._encoded_prompts.get(index)
        if cached is not None:
            return cached
        example = self.dataset[index]
        content = self.tokenizer.encode(example.prompt, add_special_tokens=False)
        budget = self._prompt_budget if self.chat is None else self.chat.content_budget(self.max_prompt_length)
        if len(content) > budget:
            if self.prompt_truncation == "error":
                raise ValueError(f"Prompt of example {example.id!r} ({self.dataset.source}) has {len(content)} tokens; "
                                 f"the limit is {budget} (max_prompt_length={self.max_prompt_length} "
                                 "minus special or chat-template tokens). Raise max_prompt_length or set "
                                 "prompt_truncation to 'left' (keep the end) or 'right' (keep the beginning).")
            content = content[-budget:] if self.prompt_truncation == "left" else content[:budget]
        if self.chat is not None:
            # The template's generation prompt (assistant header) ends the prompt instead of the separator.
            token_ids = self.chat.encode_prompt(content, self.max_prompt_length, self.prompt_truncation)
        elif self.observation_mode == "causal":
            token_ids = content + self._prompt_suffix
        else:
            # The tokenizer adds its own special tokens (e.g. a trailing EOS) and truncates around them.
            side = self.tokenizer.truncation_side
            self.tokenizer.truncation_side = "left" if self.prompt_truncation == "left" else "right"
            try:
                token_ids = self.tokenizer(example.prompt, add_special_tokens=True, truncation=True,
                                           max_length=self.max_prompt_length)["input_ids"]
            finally:
                self.tokenizer.truncation_side = side
        ids = np.full(self.max_prompt_length, self.pad_token_id, dtype=np.int64)
        mask = np.zeros(self.max_prompt_length, dtype=np.int8)
        # Causal models continue right after the prompt, so it is left-padded; encoders read it right-padded.
        window = slice(self.max_prompt_length - len(token_ids), None) if self.observation_mode == "causal" \
            else slice(0, len(token_ids))
        ids[window], mask[window] = token_ids, 1
        self._encoded_prompts[index] = (ids, mask)
        return ids, mask

    def decode(self, generated_ids: np.ndarray, lengths: np.ndarray) -> list[str]:
        """Texts of generated token rows, each cut at its length, special tokens (EOS included) skipped."""
        return self.tokenizer.batch_decode([row[:n].tolist() for row, n in zip(generated_ids, lengths)],
                                           skip_special_tokens=True)

    def score(self, example_indices: Sequence[int], predictions: list[str]) -> dict[str, np.ndarray]:
        """All scores the scorer returns for ``predictions`` of the given examples."""
        examples = [self.dataset[i] for i in example_indices]
        return self.scorer.score(predictions, [e.references for e in examples], [e.prompt for e in examples],
                                 [e.metadata for e in examples])

    def close(self) -> None:
        """Release what the task holds (the scorer's worker processes, if any)."""
        self.scorer.close()

    def config(self) -> dict[str, Any]:
        """JSON-serializable description of this task setup (recorded with results)."""
        return {
            "task": self.spec.name, "dataset": self.dataset.name, "split": self.split,
            "dataset_hash": self.dataset.content_hash, "dataset_size": len(self.dataset),
            "scorer": self.scorer.config(), "tokenizer": getattr(self.tokenizer, "name_or_path", "") or "builtin",
            "vocab_size": self.vocab_size, "max_prompt_length": self.max_prompt_length,
            "max_new_tokens": self.max_new_tokens, "observation_mode": self.observation_mode,
            "prompt_truncation": self.prompt_truncation, "reward_mode": self.reward_mode,
            "chat_template": self.chat is not None, "system_prompt": self.chat.system_prompt if self.chat else None,
        }


TEXT_ACTION_HINT = (" One action is one token id; to act with whole strings, wrap the env: "
                    "textenvs.TextActionWrapper(env) (a step then takes the whole response as a str).")
"""Appended to the error for a text action on a token-level env."""


def _holds_text(actions: np.ndarray) -> bool:
    return actions.dtype.kind in "US" or (actions.dtype.kind == "O" and any(isinstance(a, (str, bytes))
                                                                            for a in actions.ravel()))


TASK_ARGUMENTS: tuple[str, ...] = tuple(inspect.signature(GenerationTask).parameters)[1:]
"""The keyword arguments every env (single and vector) passes to :class:`GenerationTask`."""


def task_signature(init: Any) -> inspect.Signature:
    """The signature of an env constructor whose ``**task_kwargs`` go to :class:`GenerationTask`, with those spelled
    out (keyword-only, with their defaults): what ``help()``, ``inspect.signature`` and IDEs show for the env classes,
    instead of a bare ``**task_kwargs``."""
    own = [parameter for name, parameter in inspect.signature(init).parameters.items() if name != "self"]
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in own):
        return inspect.Signature(own)
    explicit = [parameter for parameter in own if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    names = {parameter.name for parameter in explicit}
    task = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for name, parameter in inspect.signature(GenerationTask).parameters.items()
            if name != "spec" and name not in names]
    return inspect.Signature(explicit + task)


def check_env_kwargs(kwargs: Mapping[str, Any], extra: Sequence[str] = ("render_mode",)) -> None:
    """Refuse keyword arguments no env understands, naming them with the closest valid name (as ``gym.make`` does)."""
    unknown_keys("env argument(s)", kwargs, TASK_ARGUMENTS + tuple(extra))


class EpisodeBatch:
    """Token state of ``size`` episodes in fixed arrays; the single and the vector env both step through this."""

    def __init__(self, task: GenerationTask, size: int) -> None:
        self.task = task
        self.size = size
        self.prompt_ids = np.full((size, task.max_prompt_length), task.pad_token_id, dtype=np.int64)
        self.prompt_mask = np.zeros((size, task.max_prompt_length), dtype=np.int8)
        self.generated_ids = np.full((size, task.max_new_tokens), task.pad_token_id, dtype=np.int64)
        self.generated_mask = np.zeros((size, task.max_new_tokens), dtype=np.int8)
        self.lengths = np.zeros(size, dtype=np.int64)
        self.example_index = np.zeros(size, dtype=np.int64)
        self.previous_score = np.zeros(size, dtype=np.float64)
        self.started = np.zeros(size, dtype=bool)
        self.finished = np.zeros(size, dtype=bool)
        # Masks of the current state, so an agent's action_masks() call and the legality check in step() run a
        # (possibly model-based) mask provider once per state, not twice.
        self._masks = np.zeros((size, task.vocab_size), dtype=bool) if task.action_mask is not None else None
        self._masks_current = np.zeros(size, dtype=bool)

    def start(self, slot: int, example_index: int) -> dict[str, Any]:
        """Begin a new episode in ``slot`` on example ``example_index``; returns the reset info."""
        if not 0 <= example_index < len(self.task.dataset):
            raise IndexError(f"example_index {example_index} is out of range for {self.task.dataset!r} "
                             f"(0..{len(self.task.dataset) - 1}).")
        self.prompt_ids[slot], self.prompt_mask[slot] = self.task.encode_prompt(example_index)
        self.generated_ids[slot] = self.task.pad_token_id
        self.generated_mask[slot] = 0
        self.lengths[slot] = 0
        self.example_index[slot] = example_index
        self.previous_score[slot] = 0.0
        self.started[slot], self.finished[slot] = True, False
        self._masks_current[slot] = False
        return {"example_id": self.task.dataset[example_index].id, "example_index": int(example_index)}

    @property
    def running(self) -> np.ndarray:
        """Bool ``(size,)``: slots whose episode has started and not ended."""
        return self.started & ~self.finished

    def observation(self, slots: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        return {"prompt_ids": self.prompt_ids[slots].copy(), "prompt_mask": self.prompt_mask[slots].copy(),
                "generated_ids": self.generated_ids[slots].copy(), "generated_mask": self.generated_mask[slots].copy()}

    def action_masks(self, slots: np.ndarray) -> np.ndarray:
        if self._masks is None:
            raise AttributeError("This environment has no action mask; pass action_mask=... when making it.")
        stale = slots[~self._masks_current[slots]]
        if len(stale):
            masks = np.asarray(self.task.action_mask(self.prompt_ids[stale], self.prompt_mask[stale],
                                                     self.generated_ids[stale], self.generated_mask[stale]), dtype=bool)
            self._masks[stale] = masks
            self._masks[stale, self.task.eos_token_id] = True
            self._masks_current[stale] = True
        return self._masks[slots].copy()

    def check_actions(self, actions: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Validate integer token ids for ``slots`` (range and, if configured, the action mask)."""
        actions = np.asarray(actions)
        if actions.shape != (len(slots),):
            raise InvalidAction(f"Expected {len(slots)} action(s) of shape ({len(slots)},), got shape {actions.shape}.")
        if actions.dtype.kind not in "iu":  # integer dtypes (np.issubdtype(dtype, np.integer))
            raise InvalidAction(f"Actions must be integer token ids, got dtype {actions.dtype}: {actions!r:.100}"
                                + (TEXT_ACTION_HINT if _holds_text(actions) else ""))
        bad = (actions < 0) | (actions >= self.task.vocab_size)
        if bad.any():
            raise InvalidAction(f"Token id {actions[bad][0]} is outside the action space Discrete("
                                f"{self.task.vocab_size}) (legal: 0..{self.task.vocab_size - 1}).")
        if self.task.action_mask is not None and len(slots):
            legal = self.action_masks(slots)[np.arange(len(slots)), actions]
            if not legal.all():
                raise InvalidAction(f"Token id {actions[~legal][0]} is masked out by the action mask at this step.")
        return actions.astype(np.int64)

    def append(self, slots: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Append one token to each episode in ``slots``: returns rewards, terminated, truncated and infos."""
        position = self.lengths[slots]
        self.generated_ids[slots, position] = actions
        self.generated_mask[slots, position] = 1
        self.lengths[slots] = position + 1
        self._masks_current[slots] = False
        stopped = actions == self.task.eos_token_id
        # The token budget is part of the task: the text is final and fully scored at that step, nothing follows and
        # the observation shows the tokens left, so it is a terminal state (no bootstrapping), not a truncation.
        done = terminated = stopped | (position + 1 >= self.task.max_new_tokens)
        truncated = np.zeros(len(slots), dtype=bool)
        self.finished[slots] = done
        rewards = np.zeros(len(slots), dtype=np.float64)
        infos: list[dict] = [{} for _ in slots]
        scored = slots if self.task.reward_mode == "incremental" else slots[done]
        if len(scored):
            example_indices = self.example_index[scored]
            predictions = self.task.decode(self.generated_ids[scored], self.lengths[scored])
            scores = self.task.score(example_indices, predictions)
            primary = scores[self.task.scorer.primary]
            where = np.flatnonzero(np.isin(slots, scored))
            if self.task.reward_mode == "incremental":
                rewards[where] = primary - self.previous_score[scored]
                self.previous_score[scored] = primary
            else:
                rewards[where] = primary
            for row, position_in_batch in enumerate(where):
                if not done[position_in_batch]:
                    continue
                example = self.task.dataset[int(example_indices[row])]
                infos[position_in_batch] = {
                    "prediction": predictions[row], "prompt": example.prompt, "references": list(example.references),
                    "example_id": example.id, "example_index": int(example_indices[row]),
                    "finish_reason": "stop" if stopped[position_in_batch] else "length",
                    "metrics": {key: float(values[row]) for key, values in scores.items()},
                }
        return rewards, terminated, truncated, infos

    def render_text(self, slot: int) -> str:
        example = self.task.dataset[int(self.example_index[slot])]
        generated = self.task.decode(self.generated_ids[slot:slot + 1], self.lengths[slot:slot + 1])[0]
        return f"[{example.id}] {example.prompt}\n>>> {generated}"


class TaskEnvMixin:
    """What the single and the vector env share about their task: ``help()`` and IDEs see a subclass's real keyword
    arguments (:func:`task_signature`), and ``env.tokenizer`` is the task's."""

    task: GenerationTask

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__signature__ = task_signature(cls.__init__)

    @property
    def tokenizer(self) -> Any:
        """The env's tokenizer (the one that defines its token actions; also ``task.tokenizer``)."""
        return self.task.tokenizer


class TextGenerationEnv(TaskEnvMixin, gym.Env[dict, int]):
    """Base class of the text-generation environments; each task module subclasses it with its :class:`TaskSpec`
    and documents the task in the subclass docstring, which ends with the env contract
    (:data:`textenvs.tasks.manual.COMMON_MANUAL`).

    :param tokenizer: a Hugging Face tokenizer object, or a path / id for ``AutoTokenizer.from_pretrained``;
        ``None`` uses the built-in tokenizer trained on the built-in data.
    :param dataset: built-in name, JSONL/JSON/CSV/TSV file (plain or gzip), a directory of split files, aligned
        line-pair files, ``"hf:<name>"``, a ``datasets`` object or a :class:`TextDataset` (see
        :func:`textenvs.data.loaders.resolve_dataset`); ``None`` = the task's built-in data.
    :param split: which split to sample prompts from.
    :param dataset_fields: column mapping ``{"prompt": ..., "reference": ..., "id": ..., "metadata": ...}``.
    :param dataset_languages: ``(source, target)`` suffixes of aligned line-pair files, e.g. ``("de", "en")``.
    :param dataset_options: difficulty knobs of a built-in v1 dataset, e.g. ``{"synonym_rate": 0.8}`` (see the
        env's manual); None = its defaults.
    :param scorer: registered scorer name, :class:`~textenvs.scorers.Scorer` object or a plain callable, batched
        ``f(predictions, references) -> scores`` or per example ``f(prediction: str, references) -> float`` (see
        :class:`~textenvs.scorers.CallableScorer`); ``None`` = the task's default.
    :param scorer_kwargs: constructor arguments when ``scorer`` is a name (or ``CallableScorer``'s, e.g.
        ``{"per_example": True}``, for a callable).
    :param max_prompt_length: prompt length P in tokens, special tokens included.
    :param max_new_tokens: generation budget N; the episode terminates after N tokens.
    :param observation_mode: ``"causal"`` (left-padded prompt ending with a separator) or ``"seq2seq"``
        (right-padded encoder input with the tokenizer's special tokens).
    :param prompt_truncation: ``"left"`` (drop the beginning), ``"right"`` (drop the end) or ``"error"``.
    :param reward_mode: ``"terminal"`` (score at the last step) or ``"incremental"`` (score differences each step).
    :param action_mask: ``None``, allowed token ids / boolean vocabulary array, or a mask provider
        (:mod:`textenvs.masks`); exposed through :meth:`action_masks`.
    :param chat_template: render the prompt with the tokenizer's own chat template (system message, one user
        message holding the prompt, ``add_generation_prompt=True``) instead of the plain layout; causal mode only.
    :param system_prompt: content of the chat template's system message (needs ``chat_template=True``).
    :param render_mode: ``"ansi"`` (return the text) or ``"human"`` (print it).
    """

    task_spec: ClassVar[TaskSpec]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **task_kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}.")
        self.render_mode = render_mode
        check_env_kwargs(task_kwargs, extra=())
        self.task = GenerationTask(self.task_spec, **task_kwargs)
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._episodes = EpisodeBatch(self.task, 1)
        self._slot = np.zeros(1, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = reset_options(options).get("example_index")
        size = len(self.task.dataset)
        index = int(self.np_random.integers(size)) if index is None else example_index(index, size)
        info = self._episodes.start(0, index)
        return self._observation(), info

    def step(self, action: int):
        if not self._episodes.started[0]:
            raise ResetNeeded("Call reset() before step().")
        if self._episodes.finished[0]:
            raise ResetNeeded("The episode has ended (EOS or max_new_tokens); call reset() before stepping again.")
        if isinstance(action, (str, bytes)):
            raise InvalidAction(f"Expected one token id (an int), got a string: {action!r:.60}.{TEXT_ACTION_HINT}")
        action = np.asarray(action)
        # Only a scalar is in Discrete(V) (gymnasium's Discrete.contains refuses shape (1,)): the single env accepts
        # exactly what its action space contains, and the vector env takes the (B,) array.
        if action.ndim != 0:
            raise InvalidAction(f"Expected one token id (a scalar), got shape {action.shape}: {action.tolist()!r:.100}."
                                + (" Pass action[0] (or action.item()) for a one-element array." if action.size == 1
                                   else ""))
        actions = self._episodes.check_actions(action.reshape(1), self._slot)
        rewards, terminated, truncated, infos = self._episodes.append(self._slot, actions)
        if self.render_mode == "human":
            self.render()
        return self._observation(), float(rewards[0]), bool(terminated[0]), bool(truncated[0]), infos[0]

    def action_masks(self) -> np.ndarray:
        """Boolean ``(vocab_size,)`` array of the tokens legal at this step (EOS always legal)."""
        return self._episodes.action_masks(self._slot)[0]

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human' to make().")
            return None
        text = self._episodes.render_text(0)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        self.task.close()
        super().close()

    def _observation(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self._episodes.observation(self._slot).items()}


