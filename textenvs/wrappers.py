"""Text-level access to the token-level envs: one action is a whole response string.

For agents that generate with an API or an external inference engine, and for code written against GEM- or
TextArena-style text envs. The wrapped env stays the one source of truth: a ``step`` tokenizes the response and
feeds its tokens through the token-level env one by one, so rewards, infos and episode ends are the token env's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from textenvs.core import TextGenerationEnv

ROLES = ("system", "user", "assistant")


class TextActionWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Turn a textenvs env into one whose action is a response string and whose observation is text.

    ## Action Space
    ``Text(max_length=N * (C + 1), charset=...)``: N = the wrapped env's ``max_new_tokens`` (multi-turn:
    ``max_turn_tokens``), C = the longest text a single token decodes to; the charset holds every character that
    any single token of the tokenizer decodes to, plus space and newline. Every text the tokenizer decodes from at
    most N tokens lies in the space. ``step`` accepts any ``str``: characters the tokenizer does not know become
    its unknown token, exactly as when tokenizing the text yourself.

    ## Observation Space
    - plain layout: ``Text`` — the prompt the token env shows (``prompt_ids`` decoded, special tokens skipped, so
      after any truncation); multi-turn: the conversation so far, one ``"<role>: <text>"`` line per turn.
    - ``chat_template=True``: the chat messages, a ``Sequence`` of ``{"role", "content"}`` dicts (tuple): single
      turn: the system message (if any) and the user message as the template renders it (after truncation);
      multi-turn: the whole conversation, each message decoded from the ids the env holds.

    ## Step
    The response is tokenized (``add_special_tokens=False``; multi-turn: as it is tokenized in the rendered
    conversation), its tokens and then the end token (EOS; multi-turn: the end-of-turn token) are fed to the token
    env, and the step returns the sum of their rewards, the token env's ``terminated``/``truncated`` and its last
    info plus ``response_ids`` (the tokens fed) and ``response_truncated``.

    - A response longer than the budget is cut: its first tokens are fed until the token env ends the episode at
      its budget (single turn: after ``max_new_tokens`` tokens, no EOS, ``finish_reason="length"``; multi-turn:
      after ``max_turn_tokens``, ``end_reason="max_turn_tokens"``), with ``info["response_truncated"] = True``.
    - ``""`` is a legal, empty response: only the end token is fed (single turn: the empty prediction is scored).
    - A non-string action raises ``InvalidAction``; a token excluded by the env's action mask raises
      ``InvalidAction`` from the token env.

    :param env: a textenvs single env (made with ``gymnasium.make``; wrappers around it are kept).
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        self._multi_turn = hasattr(base, "end_of_turn_token_id")
        if not (isinstance(base, TextGenerationEnv) or self._multi_turn):
            raise TypeError(f"TextActionWrapper wraps textenvs envs, got {type(base).__name__}.")
        self.task = base.task
        tokenizer = self.task.tokenizer
        charset, token_chars = _token_charset(tokenizer)
        budget = base.max_turn_tokens if self._multi_turn else self.task.max_new_tokens
        self.end_token_id = base.end_of_turn_token_id if self._multi_turn else self.task.eos_token_id
        self.action_space = spaces.Text(max_length=budget * (token_chars + 1), min_length=0, charset=charset)
        context_tokens = self.task.max_prompt_length + (self.task.max_new_tokens if self._multi_turn else 0)
        content = spaces.Text(max_length=context_tokens * (token_chars + 1), min_length=0, charset=charset)
        if self.task.chat is not None:
            role = spaces.Text(max_length=max(map(len, ROLES)), min_length=0, charset="".join(ROLES))
            self.observation_space = spaces.Sequence(spaces.Dict({"role": role, "content": content}), stack=False)
        elif self._multi_turn:
            # One "<role>: " prefix and newline per turn; every turn holds at least one token.
            self.observation_space = spaces.Text(max_length=context_tokens * (token_chars + 1 + len("assistant: \n")),
                                                 min_length=0, charset=charset | frozenset("".join(ROLES) + ": \n"))
        else:
            self.observation_space = content

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        return self._text_observation(observation), info

    def step(self, action: str):
        if not isinstance(action, str):
            raise InvalidAction(f"The action must be a response string, got {type(action).__name__}: {action!r:.80}")
        base = self.env.unwrapped
        response_ids = (base.encode_agent_turn(action) if self._multi_turn
                        else self.task.tokenizer.encode(action, add_special_tokens=False))
        tokens = [*response_ids, self.end_token_id]
        total_reward = 0.0
        fed: list[int] = []
        for token in tokens:
            observation, reward, terminated, truncated, info = self.env.step(np.int64(token))
            total_reward += float(reward)
            fed.append(int(token))
            if terminated or truncated or (self._multi_turn and token == self.end_token_id):
                break
        info = {**info, "response_ids": fed, "response_truncated": len(fed) < len(tokens)}
        return self._text_observation(observation), total_reward, terminated, truncated, info

    def _text_observation(self, observation: dict[str, np.ndarray]) -> str | tuple[dict[str, str], ...]:
        if self._multi_turn:
            messages = self.env.unwrapped.messages()
            if self.task.chat is not None:
                return tuple(messages)
            return "\n".join(f"{message['role']}: {message['content']}" for message in messages)
        prompt_ids = observation["prompt_ids"][observation["prompt_mask"] == 1].tolist()
        if self.task.chat is not None:
            return tuple(self.task.chat.messages(self.task.chat.user_content(prompt_ids)))
        return self.task.tokenizer.decode(prompt_ids, skip_special_tokens=True)


def _token_charset(tokenizer: Any) -> tuple[frozenset[str], int]:
    """Characters any single token decodes to (plus space and newline), and the longest single-token text."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
    return frozenset("".join(texts)) | frozenset(" \n"), max(map(len, texts))
