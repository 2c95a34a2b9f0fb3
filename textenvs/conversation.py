"""The multi-turn episode engine: a conversation's token ids grow by appending, agent token by agent token and
user turn by user turn, in the fixed arrays of :class:`textenvs.core.EpisodeBatch` (one array write per agent
token; a user turn is tokenized once, alone; the history is never re-tokenized).

:class:`TurnFormat` fixes how turns are laid out in ids (plain layout or the tokenizer's chat template) and checks
once that appending gives the ids of the whole rendered conversation; :class:`ConversationBatch` runs B
conversations for both the single and the vector env.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from textenvs.chat import Message
from textenvs.core import EpisodeBatch, GenerationTask
from textenvs.scorers import Scorer
from textenvs.data.generators.dialogue import _canonical
from textenvs.scorers.booking_goal import check_booking
from textenvs.scorers.dialogue_goal import booking_slot_accuracy
from textenvs.users import UserReply, UserSimulator

_AGENT, _USER_1, _USER_2 = "\x00agent\x00", "\x00first\x00", "\x00second\x00"  # placeholders for probing a template
FINISH_REASONS = {"goal_met": "stop", "user_gave_up": "stop", "max_turns": "length", "max_turn_tokens": "length",
                  "max_conversation_tokens": "length"}
"""``info["finish_reason"]`` of each ``end_reason``: ``"stop"`` when a party ended the conversation, ``"length"``
when a limit did (as ``finish_reason`` of the other envs)."""
_PROBE = ("i need a taxi to the zoo .", "what time would you like to leave ?", "at 5 pm , please .")


class TurnFormat:
    """How turns are laid out in ids, and the tokenized rendering of a whole conversation.

    - Plain layout (``chat_template=False``): the prompt is the user's opening turn followed by the separator
      (sep token, else EOS), as in every env; an agent turn is its tokens followed by EOS (the end-of-turn
      action); a user turn is its text tokenized alone followed by the separator. The rendering of a
      conversation is defined that way, turn by turn.
    - Chat template: the rendering is the template's text of the messages tokenized in one piece. The agent's
      end-of-turn action is the special token that closes an assistant message (e.g. ``<|im_end|>``); after it
      the env appends the rest of the template's text up to the next assistant header, with the user's text in
      it, tokenized as one string that starts with that special token. Special tokens split a tokenizer's input
      before anything else, so the piece gets the ids it has inside the whole rendering; a probe conversation
      checks this when the env is made and a template for which it fails is refused.
    """

    def __init__(self, task: GenerationTask) -> None:
        self.tokenizer = task.tokenizer
        self.chat = task.chat
        if self.chat is None:
            self.end_of_turn_token_id = task.eos_token_id
            self._separator = list(task._prompt_suffix)  # the prompt's own end: the same rule for every user turn
            return
        probe = [*self.chat.messages(_USER_1), {"role": "assistant", "content": _AGENT},
                 {"role": "user", "content": _USER_2}]
        text = self.chat.render(probe)
        if any(text.count(placeholder) != 1 for placeholder in (_USER_1, _AGENT, _USER_2)):
            raise ValueError("The chat template does not render each message's content exactly once; the "
                             "multi-turn env cannot append turns to it.")
        before_agent, rest = text.split(_AGENT)
        self._user_turn_prefix, self._user_turn_suffix = rest.split(_USER_2)
        first_ids = self.tokenizer.encode(self._user_turn_prefix, add_special_tokens=False)
        special = set(self.tokenizer.all_special_ids)
        if not first_ids or first_ids[0] not in special or \
                not self._user_turn_prefix.startswith(self.tokenizer.convert_ids_to_tokens(first_ids[0])):
            raise ValueError("The chat template must close an assistant message with a special token (the agent's "
                             f"end-of-turn action); it renders {self._user_turn_prefix!r} after one.")
        self.end_of_turn_token_id = int(first_ids[0])
        # The agent's text follows the assistant header; its ids are those it gets after the header's last special
        # token, the context it has in the whole rendering.
        starts = [before_agent.rfind(token) for token in self.tokenizer.all_special_tokens]
        self._agent_context = before_agent[max(starts):] if max(starts) >= 0 else ""
        self._check_appending_matches_rendering()

    def user_turn_ids(self, text: str) -> list[int]:
        """Ids appended after the agent's end-of-turn token: the user's turn and the next agent header."""
        if self.chat is None:
            return self.tokenizer.encode(text, add_special_tokens=False) + self._separator
        ids = self.tokenizer.encode(self._user_turn_prefix + text + self._user_turn_suffix, add_special_tokens=False)
        return ids[1:]  # the end-of-turn token is already there: the agent wrote it

    def agent_turn_ids(self, text: str) -> list[int]:
        """The ids of an agent turn's ``text`` as the rendering of the conversation tokenizes them (no end token)."""
        if self.chat is None:
            return self.tokenizer.encode(text, add_special_tokens=False)
        context = self.tokenizer.encode(self._agent_context, add_special_tokens=False)
        ids = self.tokenizer.encode(self._agent_context + text, add_special_tokens=False)
        if ids[:len(context)] != context:
            raise ValueError(f"Agent text {text!r:.80} merges with the assistant header {self._agent_context!r} "
                             "when tokenized; it has no ids of its own in the rendered conversation.")
        return ids[len(context):]

    def conversation_ids(self, messages: Sequence[Message]) -> list[int]:
        """The tokenized rendering of a conversation: ending with the agent header when the user spoke last, with
        the agent's end-of-turn token when the agent did (the template's text after that token, e.g. a newline,
        belongs to no turn of the episode)."""
        if self.chat is not None:
            user_last = messages[-1]["role"] == "user"
            ids = self.chat.encode(messages, add_generation_prompt=user_last)
            return ids if user_last else ids[:len(ids) - ids[::-1].index(self.end_of_turn_token_id)]
        ids: list[int] = []
        for message in messages:
            if message["role"] == "assistant":
                ids += self.agent_turn_ids(message["content"]) + [self.end_of_turn_token_id]
            else:
                ids += self.user_turn_ids(message["content"])
        return ids

    def _check_appending_matches_rendering(self) -> None:
        opening, agent, user = _PROBE
        messages = [*self.chat.messages(opening), {"role": "assistant", "content": agent},
                    {"role": "user", "content": user}]
        appended = (self.chat.encode(self.chat.messages(opening)) + self.agent_turn_ids(agent)
                    + [self.end_of_turn_token_id] + self.user_turn_ids(user))
        rendered = self.conversation_ids(messages)
        if appended != rendered:
            where = next((i for i, (a, b) in enumerate(zip(appended, rendered)) if a != b),
                         min(len(appended), len(rendered)))
            raise ValueError(
                "The chat template renders a conversation differently from the ids the env appends turn by turn "
                f"(first difference at token {where}: appended {self.tokenizer.decode(appended[where:where + 8])!r}"
                f", rendered {self.tokenizer.decode(rendered[where:where + 8])!r}). Templates that rewrite earlier "
                "turns (e.g. drop past reasoning) cannot be extended token-in, token-out; use another template "
                "or chat_template=False.")


class ConversationBatch(EpisodeBatch):
    """B conversations in fixed arrays; ``append`` takes one agent token per conversation.

    ``generated_ids`` holds everything after the prompt: agent tokens (``agent_mask`` 1) and the user turns the
    env appends (``agent_mask`` 0).
    """

    def __init__(self, task: GenerationTask, size: int, user: UserSimulator, max_turns: int, max_turn_tokens: int,
                 turn_scorer: Scorer | None = None, parsed_goal_check: bool = False, turn_reward: float = 0.0,
                 turn_penalty: float = 0.0) -> None:
        """:param parsed_goal_check: the v1 rules: the goal is met when a turn books exactly the user's current
            goal (:func:`textenvs.scorers.booking_goal.check_booking`), the scorer reads the user's current goal,
            and the final metrics add ``turns`` and ``format_violations``; False: the v0 phrase check.
        :param turn_reward: weight of the per-turn reward (v1 only): each finished agent turn earns
            ``turn_reward * (slots the user newly told in reply + goal slots the turn newly books right) /
            goal slots``.
        :param turn_penalty: subtracted at each finished agent turn (v1 only).
        """
        if task.observation_mode != "causal":
            raise ValueError("The multi-turn dialogue env is causal only (a conversation is one growing "
                             f"sequence); got observation_mode={task.observation_mode!r}.")
        if task.reward_mode != "terminal":
            raise ValueError("The multi-turn dialogue env scores the conversation when it ends (reward_mode="
                             f"'terminal'); per-turn rewards come from turn_scorer. Got {task.reward_mode!r}.")
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}.")
        if not 1 <= max_turn_tokens <= task.max_new_tokens:
            raise ValueError(f"max_turn_tokens must lie in [1, max_new_tokens={task.max_new_tokens}], "
                             f"got {max_turn_tokens}.")
        if not parsed_goal_check and (turn_reward or turn_penalty):
            raise ValueError("turn_reward and turn_penalty need the v1 goal check (parsed_goal_check=True).")
        super().__init__(task, size)
        self.parsed_goal_check = parsed_goal_check
        self.turn_reward, self.turn_penalty = float(turn_reward), float(turn_penalty)
        self.violations = np.zeros(size, dtype=np.int64)
        self.confirmed: list[set[str]] = [set() for _ in range(size)]
        self.format = TurnFormat(task)
        self.user = user
        self.max_turns, self.max_turn_tokens = int(max_turns), int(max_turn_tokens)
        self.turn_scorer = turn_scorer
        self.agent_mask = np.zeros((size, task.max_new_tokens), dtype=np.int8)
        self.turn_start = np.zeros(size, dtype=np.int64)
        self.turns = np.zeros(size, dtype=np.int64)
        self.messages: list[list[Message]] = [[] for _ in range(size)]
        self.observation_space = spaces.Dict({
            **task.observation_space.spaces, "agent_mask": spaces.Box(0, 1, (task.max_new_tokens,), np.int8)})

    def start(self, slot: int, example_index: int) -> dict[str, Any]:
        info = super().start(slot, example_index)
        self.agent_mask[slot] = 0
        self.turn_start[slot] = self.turns[slot] = self.violations[slot] = 0
        self.confirmed[slot] = set()
        prompt = self.prompt_ids[slot][self.prompt_mask[slot] == 1].tolist()
        if self.task.chat is not None:
            self.messages[slot] = self.task.chat.messages(self.task.chat.user_content(prompt))
        else:
            self.messages[slot] = [{"role": "user", "content": self.task.tokenizer.decode(
                prompt, skip_special_tokens=True)}]
        self.user.start(slot, self.task.dataset[example_index])
        return info

    def observation(self, slots: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        return {**super().observation(slots), "agent_mask": self.agent_mask[slots].copy()}

    def action_masks(self, slots: np.ndarray) -> np.ndarray:
        masks = super().action_masks(slots)
        self._masks[slots, self.format.end_of_turn_token_id] = True  # every turn can end
        masks[:, self.format.end_of_turn_token_id] = True
        return masks

    def append(self, slots: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Append one agent token per conversation; a finished turn gets the user's reply appended (or ends the
        episode). Returns rewards, terminated, truncated and infos."""
        position = self.lengths[slots]
        self.generated_ids[slots, position] = actions
        self.generated_mask[slots, position] = 1
        self.agent_mask[slots, position] = 1
        self.lengths[slots] = position + 1
        self._masks_current[slots] = False
        count = len(slots)
        rewards = np.zeros(count, dtype=np.float64)
        infos: list[dict] = [{} for _ in range(count)]
        turn_ended = actions == self.format.end_of_turn_token_id
        # Why each ending conversation ends (keyed by row of ``slots``). Limits are part of the task, as the token
        # budget of the other envs: the conversation is final and fully scored, so every end is a termination
        # (``truncated`` stays for wrappers).
        reasons = self._close_cut_turns(slots, turn_ended)
        ended = np.flatnonzero(turn_ended)
        texts = [self._close_agent_turn(int(slots[k]), ended=True) for k in ended]
        if self.turn_scorer is not None and len(ended):
            rewards[ended] += self._score(self.turn_scorer, slots[ended], texts)[self.turn_scorer.primary]
        if self.parsed_goal_check:
            rewards[list(reasons)] -= self.turn_penalty  # a turn cut by a limit is a turn too
            rewards[ended] -= self.turn_penalty
        waiting = []
        for k, text in zip(ended, texts):
            reason = self._turn_outcome(int(slots[k]), text, rewards, k)
            if reason is None:
                waiting.append(k)
            else:
                reasons[k] = reason
        self._append_user_replies(slots, waiting, rewards, infos, reasons)
        terminated = np.zeros(count, dtype=bool)
        terminated[list(reasons)] = True
        self.finished[slots] = terminated
        self._score_finished(slots, np.flatnonzero(terminated), reasons, rewards, infos)
        return rewards, terminated, np.zeros(count, dtype=bool), infos

    def _close_cut_turns(self, slots: np.ndarray, turn_ended: np.ndarray) -> dict[int, str]:
        """Close the agent turns that reached a token limit without ending; their end reasons, by row."""
        reasons: dict[int, str] = {}
        turn_length = self.lengths[slots] - self.turn_start[slots]
        for k in np.flatnonzero(~turn_ended & ((turn_length >= self.max_turn_tokens)
                                               | (self.lengths[slots] >= self.task.max_new_tokens))):
            reasons[k] = "max_turn_tokens" if turn_length[k] >= self.max_turn_tokens else "max_conversation_tokens"
            self._close_agent_turn(int(slots[k]), ended=False)
        return reasons

    def _turn_outcome(self, slot: int, text: str, rewards: np.ndarray, row: int) -> str | None:
        """Whether the agent's finished turn ``text`` ends the conversation (its end reason) or waits for the user
        (None); v1's per-turn reward for newly booked goal slots is added to ``rewards[row]``."""
        metadata = self._metadata(slot)
        if self.parsed_goal_check:
            check = check_booking(text, metadata["intent"], metadata["goal"])
            if check.affirmative and self.turn_reward:
                new = set(check.correct_slots) - self.confirmed[slot]
                self.confirmed[slot] |= new
                rewards[row] += self.turn_reward * len(new) / len(metadata["goal"])
            goal_met = check.complete
        else:
            goal_met = "slots" in metadata and booking_slot_accuracy(text, metadata["slots"]) == (True, 1.0)
        if goal_met:
            return "goal_met"
        return "max_turns" if self.turns[slot] >= self.max_turns else None

    def _append_user_replies(self, slots: np.ndarray, waiting: list[int], rewards: np.ndarray, infos: list[dict],
                             reasons: dict[int, str]) -> None:
        """Ask the user for the conversations of rows ``waiting`` (one batched call) and append each reply, or end
        the conversation when the user gives up or the reply does not fit."""
        for k, reply in zip(waiting, self._user_replies([int(slots[k]) for k in waiting])):
            slot = int(slots[k])
            infos[k]["user_reply"] = reply.text
            if self.parsed_goal_check:
                self.violations[slot] += reply.violation is not None
                if self.turn_reward and reply.new_slots:
                    rewards[k] += self.turn_reward * reply.new_slots / len(self._metadata(slot)["goal"])
            if reply.gives_up:
                reasons[k] = "user_gave_up"
                continue
            ids = self.format.user_turn_ids(reply.text)
            start = int(self.lengths[slot])
            if start + len(ids) >= self.task.max_new_tokens:  # no room for the reply and one agent token
                reasons[k] = "max_conversation_tokens"
                continue
            self.generated_ids[slot, start:start + len(ids)] = ids
            self.generated_mask[slot, start:start + len(ids)] = 1
            self.lengths[slot] = self.turn_start[slot] = start + len(ids)
            self.messages[slot].append({"role": "user", "content": reply.text})

    def _score_finished(self, slots: np.ndarray, done: np.ndarray, reasons: dict[int, str], rewards: np.ndarray,
                        infos: list[dict]) -> None:
        """Score the agent's final turn of each finished conversation (rows ``done``) and fill its last-step info."""
        if not len(done):
            return
        # Every end follows an agent token, so the last message is the agent's final (possibly cut) turn.
        predictions = [self.messages[int(slots[k])][-1]["content"] for k in done]
        scores = self._score(self.task.scorer, slots[done], predictions)
        rewards[done] += scores[self.task.scorer.primary]
        for row, k in enumerate(done):
            slot = int(slots[k])
            example = self.task.dataset[int(self.example_index[slot])]
            infos[k].update({
                "prediction": predictions[row], "conversation": [dict(m) for m in self.messages[slot]],
                "end_reason": reasons[k], "finish_reason": FINISH_REASONS[reasons[k]],
                "turns": int(self.turns[slot]), "prompt": example.prompt, "references": list(example.references),
                "example_id": example.id, "example_index": int(self.example_index[slot]),
                "metrics": {key: float(values[row]) for key, values in scores.items()},
            })
            if self.parsed_goal_check:
                infos[k]["metrics"].update({"turns": float(self.turns[slot]),
                                            "format_violations": float(self.violations[slot])})

    def render_text(self, slot: int) -> str:
        lines = [f"{m['role']}: {m['content']}" for m in self.messages[slot]]
        if not self.finished[slot] and self.lengths[slot] > self.turn_start[slot]:
            lines.append(f"assistant (writing): {self._turn_text(slot, self.lengths[slot])}")
        return "\n".join(lines)

    def _turn_text(self, slot: int, end: int) -> str:
        return self.task.tokenizer.decode(self.generated_ids[slot, self.turn_start[slot]:end].tolist(),
                                          skip_special_tokens=True)

    def _close_agent_turn(self, slot: int, ended: bool) -> str:
        """Record the agent's turn (without its end token) as a message; returns its text."""
        text = self._turn_text(slot, self.lengths[slot] - 1 if ended else self.lengths[slot])
        self.messages[slot].append({"role": "assistant", "content": text})
        self.turns[slot] += 1
        return text

    def _metadata(self, slot: int) -> dict[str, Any]:
        """The example's metadata, with the goal the user holds now where it changed its mind (v1)."""
        metadata = self.task.dataset[int(self.example_index[slot])].metadata
        goal = self.user.current_goal(slot) if self.parsed_goal_check else None
        if goal is None:
            return metadata
        intent = metadata["intent"]
        return {**metadata, "goal": goal, "slots": [_canonical(intent, name, tuple(value) if isinstance(value, list)
                                                               else value) for name, value in goal.items()]}

    def _score(self, scorer: Scorer, slots: np.ndarray, predictions: list[str]) -> dict[str, np.ndarray]:
        examples = [self.task.dataset[int(self.example_index[slot])] for slot in slots]
        return scorer.score(predictions, [e.references for e in examples], [e.prompt for e in examples],
                            [self._metadata(int(slot)) for slot in slots])

    def _user_replies(self, slots: list[int]) -> list[UserReply]:
        if not slots:
            return []
        name = type(self.user).__name__
        try:
            replies = self.user.respond(slots, [[dict(m) for m in self.messages[slot]] for slot in slots])
        except Exception as error:
            raise RuntimeError(f"User simulator {name} raised while answering sub-env(s) {slots}: {error!r}") \
                from error
        if not isinstance(replies, (list, tuple)) or len(replies) != len(slots):
            raise TypeError(f"User simulator {name} must return a list of {len(slots)} replies (one per "
                            f"conversation), got {type(replies).__name__} {replies!r:.100}.")
        checked = []
        for slot, reply in zip(slots, replies):
            reply = UserReply(reply) if isinstance(reply, str) else reply
            if not isinstance(reply, UserReply) or not isinstance(reply.text, str):
                raise TypeError(f"User simulator {name} replied {reply!r:.100} ({type(reply).__name__}) to sub-env "
                                f"{slot}; a reply must be a str or a UserReply(text: str, gives_up: bool).")
            checked.append(reply)
        return checked
