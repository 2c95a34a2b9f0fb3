"""User simulators for the multi-turn dialogue env: whoever answers the agent's turns.

A simulator sees the conversation as chat messages from the env's side (``"user"`` = the simulator,
``"assistant"`` = the agent, plus a leading ``"system"`` message when the env has a system prompt) and returns one
:class:`UserReply` per conversation. Replies of all sub-envs whose agent ended a turn on the same step are asked
for in one :meth:`UserSimulator.respond` call, so a model-backed user decodes them as one batch.

- :class:`BookingUser` (built in): a task-oriented user with a hidden booking goal, rule-based and deterministic.
- :class:`ModelUser`: any local Hugging Face causal LM (a path or a model object) plays the user.
- :class:`CallableUser`: a plain function ``f(messages) -> str``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence, Union

from textenvs.chat import Message
from textenvs.data.generators.dialogue import _answer, _canonical, _fragment
from textenvs.data.dataset import Example
from textenvs.scorers.text import contains_span, normalize_tokens


class UserReply(NamedTuple):
    """A simulated user's turn: its text, and whether the user ends the conversation without its goal met.

    A user may also say what the agent's turn did (the built-in v1 user does; other users may leave the defaults):
    ``violation`` names a malformed agent turn (:data:`VIOLATIONS`), reported as the ``format_violations``
    metric; ``new_slots`` counts goal slots this reply tells the agent for the first time (the per-turn reward's
    "question answered" part).
    """

    text: str
    gives_up: bool = False
    violation: str | None = None
    new_slots: int = 0


VIOLATIONS = ("empty", "repeated", "overlong", "several_questions", "not_a_question", "irrelevant")
"""Kinds of malformed agent turns the built-in v1 user names in :attr:`UserReply.violation`."""


class UserSimulator(ABC):
    """Plays the user of a multi-turn dialogue; one instance serves all sub-envs of an env (``slot`` = sub-env)."""

    def start(self, slot: int, example: Example) -> None:
        """A new conversation begins in ``slot`` on ``example`` (whose prompt is the user's opening turn)."""

    @abstractmethod
    def respond(self, slots: Sequence[int], conversations: Sequence[list[Message]]) -> list[UserReply | str]:
        """The user's next turn in each conversation (whose last message is the agent's turn); a plain string
        is a reply that does not give up."""

    def config(self) -> dict[str, Any]:
        """JSON-serializable description recorded with results."""
        return {"name": type(self).__name__}

    def current_goal(self, slot: int) -> dict[str, Any] | None:
        """The goal the user holds now in conversation ``slot`` (``{slot: value}``), when it can have changed
        since the example's ``metadata["goal"]`` (a user that changes its mind); None: the example's goal."""
        return None

    replayable: bool = False
    """Whether the user's replies are a function of the example and the agent's turns alone (no model, no outside
    state), so a conversation can be replayed from its agent turns to learn the goal it ended with
    (:meth:`textenvs.tasks.multiturn_dialogue.MultiTurnDialogueEnv.replay`)."""

    @property
    def goal_can_change(self) -> bool:
        """Whether :meth:`current_goal` can ever differ from the example's goal; then an episode's final turn can
        only be scored against the goal it ended with, which a replay of the conversation gives. A subclass that
        overrides :meth:`current_goal` is assumed to change its mind unless it says otherwise here."""
        return type(self).current_goal is not UserSimulator.current_goal


# --- the built-in task-oriented user ------------------------------------------------------------------------------

_SLOT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "food": ("food", "cuisine"), "people": ("people", "party", "guests"), "day": ("day", "date"),
    "time": ("time", "when"), "departure": ("departing", "departure", "leaving", "pick"),
    "destination": ("destination", "going"), "nights": ("nights", "long"), "area": ("area", "part"),
    "stars": ("stars", "star", "rating"), "parking": ("parking",),
}
"""Words by which the user recognizes a question about a slot (the built-in questions use the first)."""

GIVE_UP = "never mind , i will book it myself . goodbye ."
DONT_KNOW = "i do not mind ."
SILENCE = "hello ? are you still there ?"
REPEATED = "you already said that ."
UNCLEAR = "sorry , i do not understand . can you help me with my booking ?"


def _booking_goal(example: Example, user: str) -> tuple[str, dict[str, Any], set[str]]:
    """A ``synthetic-booking-goals`` example's intent, goal (times as tuples) and the slots its opening names.

    :raises KeyError: the example lacks one of them (naming the ``user`` that needs it and the keys it has).
    """
    metadata = example.metadata
    for key in ("intent", "goal", "opening"):
        if key not in metadata:
            raise KeyError(f"{user} needs metadata[{key!r}] (a synthetic-booking-goals example); example "
                           f"{example.id!r} has {sorted(metadata)}.")
    goal = {name: tuple(value) if isinstance(value, list) else value for name, value in metadata["goal"].items()}
    return metadata["intent"], goal, set(metadata["opening"])


@dataclass
class _BookingState:
    example: Example
    intent: str
    goal: dict[str, Any]
    told: set[str]
    rng: random.Random
    useless_turns: int = 0
    previous_agent_turn: list[str] | None = None


class BookingUser(UserSimulator):
    """A user who wants one booking (``metadata["goal"]`` of ``synthetic-booking-goals``) and answers consistently
    with it. Its wording is drawn from a generator seeded by the example id, so the same example and the same
    agent turns always give the same conversation.

    How it answers an agent turn (the first rule that applies):

    1. empty turn: ``"hello ? are you still there ?"`` (useless turn);
    2. the same words as the agent's previous turn: ``"you already said that ."`` (useless);
    3. a booking confirmation (contains "booked") that misses or misstates a goal slot: corrects the first such
       slot, ``"no , i wanted it <slot> ."`` (useless). (A confirmation stating every slot meets the goal; the env
       ends the conversation before asking the user.)
    4. a question about goal slots (recognized by keywords: "food", "people", "day", "time", "departing",
       "destination", "nights", ...): answers each asked slot with its goal value, the way ``synthetic-dialogue``
       users answer; a turn that reveals a slot the user had not told yet is useful, one that only asks again
       for told slots gets the answer again and is useless;
    5. a question about something outside the goal (e.g. the area when the user has no preference):
       ``"i do not mind ."`` (useless);
    6. anything else: ``"sorry , i do not understand . can you help me with my booking ?"`` (useless).

    After ``patience`` useless turns in a conversation the user gives up: ``"never mind , i will book it myself .
    goodbye ."`` and the episode ends with the goal unmet.

    :param patience: useless agent turns the user tolerates; the ``patience``-th one makes it give up.
    """

    replayable = True

    def __init__(self, patience: int = 3) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}.")
        self.patience = patience
        self._states: dict[int, _BookingState] = {}

    def start(self, slot: int, example: Example) -> None:
        intent, goal, opening = _booking_goal(example, type(self).__name__)
        self._states[slot] = _BookingState(example, intent, goal, opening, random.Random(example.id))

    def respond(self, slots: Sequence[int], conversations: Sequence[list[Message]]) -> list[UserReply]:
        return [self._respond(self._states[slot], conversation[-1]["content"])
                for slot, conversation in zip(slots, conversations)]

    def _respond(self, state: _BookingState, agent_turn: str) -> UserReply:
        words = normalize_tokens(agent_turn)
        reply, useful = self._answer(state, words)
        state.previous_agent_turn = words
        if not useful:
            state.useless_turns += 1
            if state.useless_turns >= self.patience:
                return UserReply(GIVE_UP, gives_up=True)
        return UserReply(reply)

    def _answer(self, state: _BookingState, words: list[str]) -> tuple[str, bool]:
        if not words:
            return SILENCE, False
        if words == state.previous_agent_turn:
            return REPEATED, False
        wrong = next((slot for slot, value in state.goal.items()
                      if not contains_span(words, normalize_tokens(_canonical(state.intent, slot, value)))), None)
        if "booked" in words and wrong is not None:
            state.told.add(wrong)
            return f"no , i wanted it {_fragment(state.rng, state.intent, wrong, state.goal[wrong])} .", False
        asked = [slot for slot, keywords in _SLOT_KEYWORDS.items() if any(word in words for word in keywords)]
        known = [slot for slot in asked if slot in state.goal]
        if known:
            useful = any(slot not in state.told for slot in known)
            state.told.update(known)
            answers = [_answer(state.rng, state.intent, slot, state.goal[slot]) for slot in known]
            return " ".join(answers), useful
        if asked:
            return DONT_KNOW, False
        return UNCLEAR, False

    def config(self) -> dict[str, Any]:
        return {"name": "builtin", "patience": self.patience}


SEVERAL_QUESTIONS = "please ask me one thing at a time ."
TOO_LONG = "sorry , that is too much for me . what do you need to know ?"
WRONG_BOOKING = "no , please book exactly what i asked for ."
THANKS = "thank you , goodbye ."
_QUESTION_WORDS = frozenset("what which how when where who whom whose would could can do does did is are will may "
                            "shall should any".split())


@dataclass
class _BookingStateV1:
    example: Example
    intent: str
    goal: dict[str, Any]
    told: set[str]
    rng: random.Random
    changes_mind: bool
    useless_turns: int = 0
    previous_agent_turn: list[str] | None = None
    changed: bool = False


class BookingUserV1(UserSimulator):
    """The built-in user of ``textenvs/MultiTurnDialogue-v1``: one booking goal (``synthetic-booking-goals-v1``),
    one question answered at a time, malformed turns refused. Deterministic: its draws come from a generator seeded
    by the example id, so the same goal and agent turns give the same conversation.

    How it answers an agent turn (the first rule that applies; *useless* turns count towards ``patience``):

    1. empty turn: ``"hello ? are you still there ?"`` (useless; violation ``empty``);
    2. the same words as the agent's previous turn: ``"you already said that ."`` (useless; ``repeated``);
    3. more than ``max_turn_words`` words: ``"sorry , that is too much for me . what do you need to know ?"``
       (useless; ``overlong``);
    4. a booking confirmation (contains "booked") that does not book exactly the goal (the check of
       :func:`textenvs.scorers.booking_goal.check_booking`): corrects the first goal slot it misses or misstates,
       ``"no , i wanted it <slot> ."``, or, when every goal slot is right but the turn adds values, negates or
       hedges, ``"no , please book exactly what i asked for ."`` (useless). With ``tell_corrections=False`` every
       wrong booking gets that vague refusal, which names no slot: the agent has to find its mistake in what the
       user already said (or ask again). A booking of exactly the goal ends the conversation in the env before
       the user is asked;
    5. a turn asking about more than one slot (slot keywords: "food", "people", "day", "time", "departing",
       "destination", "nights", ...) or with more than one question mark: ``"please ask me one thing at a time ."``
       (useless; ``several_questions``). This is what a list of questions gets: no answer at all;
    6. a turn stating a value that contradicts the goal (``"a table for 5 people ?"`` when the user wants 4):
       corrects it, ``"no , <the goal value> ."`` (useful when it tells the slot for the first time);
    7. one question (exactly one question mark, at the end, and a question word such as "what", "how", "which",
       "could") about one goal slot: answers it with the goal value, as ``synthetic-dialogue`` users answer
       (useful when the slot was not told yet; asking again gets the answer again and is useless). With
       probability ``volunteer_rate`` it adds, unasked, the next goal slot it has not told (``"... , and on
       monday ."``);
    8. the same question about a slot outside the goal: ``"i do not mind ."`` (useless);
    9. a slot keyword without a well-formed question: ``"sorry , i do not understand . can you help me with my
       booking ?"`` (useless; ``not_a_question``); anything else gets the same reply (useless; ``irrelevant``).

    Changing its mind: with probability ``change_of_mind`` per conversation (drawn when it starts), the user's
    first answer to a question is followed by ``"actually , make that <new value> ."`` for one slot it had already
    told (from the opening request, else the one just answered): the goal changes there, the env's goal check and
    score use the new goal (:meth:`current_goal`), and an agent that books the old value is corrected.

    After ``patience`` useless turns the user gives up: ``"never mind , i will book it myself . goodbye ."``.

    :param patience: useless agent turns tolerated; the ``patience``-th one makes the user give up (3).
    :param volunteer_rate: probability that an answer also volunteers one more untold goal slot (0.2).
    :param change_of_mind: probability that a conversation's user changes one slot value once (0.0).
    :param max_turn_words: longest agent turn, in words, the user reads (25).
    :param tell_corrections: whether a wrong booking is corrected with the goal value of the first slot it gets
        wrong (True) or refused without naming one (False).
    """

    replayable = True

    def __init__(self, patience: int = 3, volunteer_rate: float = 0.2, change_of_mind: float = 0.0,
                 max_turn_words: int = 25, tell_corrections: bool = True) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}.")
        for name, value in (("volunteer_rate", volunteer_rate), ("change_of_mind", change_of_mind)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}.")
        if max_turn_words < 1:
            raise ValueError(f"max_turn_words must be >= 1, got {max_turn_words}.")
        self.patience, self.volunteer_rate, self.change_of_mind = patience, volunteer_rate, change_of_mind
        self.max_turn_words, self.tell_corrections = max_turn_words, tell_corrections
        self._states: dict[int, _BookingStateV1] = {}

    def start(self, slot: int, example: Example) -> None:
        intent, goal, opening = _booking_goal(example, type(self).__name__)
        rng = random.Random(example.id)
        changes_mind = rng.random() < self.change_of_mind
        self._states[slot] = _BookingStateV1(example, intent, goal, opening, rng, changes_mind)

    @property
    def goal_can_change(self) -> bool:
        return self.change_of_mind > 0

    def current_goal(self, slot: int) -> dict[str, Any] | None:
        state = self._states.get(slot)
        if state is None or not state.changed:
            return None
        return {name: list(value) if isinstance(value, tuple) else value for name, value in state.goal.items()}

    def respond(self, slots: Sequence[int], conversations: Sequence[list[Message]]) -> list[UserReply]:
        return [self._respond(self._states[slot], conversation[-1]["content"])
                for slot, conversation in zip(slots, conversations)]

    def _respond(self, state: _BookingStateV1, agent_turn: str) -> UserReply:
        words = normalize_tokens(agent_turn)
        told_before = len(state.told)
        text, useful, violation = self._answer(state, agent_turn, words)
        state.previous_agent_turn = words
        if not useful:
            state.useless_turns += 1
            if state.useless_turns >= self.patience:
                return UserReply(GIVE_UP, gives_up=True, violation=violation)
        return UserReply(text, violation=violation, new_slots=len(state.told) - told_before)

    def _answer(self, state: _BookingStateV1, text: str, words: list[str]) -> tuple[str, bool, str | None]:
        from textenvs.scorers.booking_goal import check_booking, parse_booking

        if not words:
            return SILENCE, False, "empty"
        if words == state.previous_agent_turn:
            return REPEATED, False, "repeated"
        if len(words) > self.max_turn_words:
            return TOO_LONG, False, "overlong"
        parsed = parse_booking(text)
        if parsed.booked:
            check = check_booking(parsed, state.intent, state.goal)
            if check.complete:
                return THANKS, True, None
            if check.wrong_slots and self.tell_corrections:
                wrong = check.wrong_slots[0]
                state.told.add(wrong)
                return f"no , i wanted it {_fragment(state.rng, state.intent, wrong, state.goal[wrong])} .", False, None
            return WRONG_BOOKING, False, None
        asked = [name for name, keywords in _SLOT_KEYWORDS.items() if any(word in words for word in keywords)]
        if len(asked) > 1 or text.count("?") > 1:
            return SEVERAL_QUESTIONS, False, "several_questions"
        check = check_booking(parsed, state.intent, state.goal)
        contradicted = [name for name in check.wrong_slots if parsed.slot_values(name)]
        if contradicted:
            name = contradicted[0]
            useful = name not in state.told
            state.told.add(name)
            return f"no , {_answer(state.rng, state.intent, name, state.goal[name])}", useful, None
        question = text.rstrip().endswith("?") and any(word in _QUESTION_WORDS for word in words)
        if asked and question:
            name = asked[0]
            if name not in state.goal:
                return DONT_KNOW, False, None
            useful = name not in state.told
            state.told.add(name)
            reply = _answer(state.rng, state.intent, name, state.goal[name])
            untold = [other for other in state.goal if other not in state.told]
            if untold and state.rng.random() < self.volunteer_rate:
                other = untold[0]
                state.told.add(other)
                reply = reply[:-2] + f" , and {_fragment(state.rng, state.intent, other, state.goal[other])} ."
            if state.changes_mind and not state.changed:
                reply += " " + self._change_mind(state, name)
            return reply, useful, None
        return UNCLEAR, False, "not_a_question" if asked else "irrelevant"

    @staticmethod
    def _change_mind(state: _BookingStateV1, answered: str) -> str:
        """Change one told slot's value (an opening slot when there is one) and say so."""
        from textenvs.data.generators.dialogue import _sample_slot

        opening = [name for name in state.example.metadata["opening"] if name != "parking"]
        name = opening[0] if opening else answered
        old = state.goal[name]
        others = {other: value for other, value in state.goal.items() if other != name}
        while state.goal[name] == old:
            state.goal[name] = _sample_slot(state.rng, state.intent, name, others)
            if name == "time" and state.intent != "book_restaurant":  # keep the direction: only the hour changes
                state.goal[name] = (state.goal[name][0], state.goal[name][1], old[2])
        state.changed = True
        return f"actually , make that {_fragment(state.rng, state.intent, name, state.goal[name])} ."

    def config(self) -> dict[str, Any]:
        return {"name": "builtin-v1", "patience": self.patience, "volunteer_rate": self.volunteer_rate,
                "change_of_mind": self.change_of_mind, "max_turn_words": self.max_turn_words,
                "tell_corrections": self.tell_corrections}


# --- model-backed and callable users ------------------------------------------------------------------------------

class ModelUser(UserSimulator):
    """A local Hugging Face causal LM plays the user; the replies of all sub-envs are decoded as one batch.

    The model reads the conversation from its own side (the agent's turns as ``"user"``, its own as
    ``"assistant"``): rendered with its tokenizer's chat template when it has one, else as one line per turn (the
    DailyDialog layout) followed by a newline. Its reply is the decoded continuation cut at the first newline and
    stripped (it may be empty: an empty user turn is appended). It never gives up: the env's goal check and limits
    end the conversation.

    With ``persona=True`` (the default of ``textenvs/MultiTurnDialogue-v1``) the model is told its goal: when a
    conversation starts, :func:`persona_prompt` builds a persona from the example's metadata (every goal value with its
    role, e.g. ``"my goal : i want a taxi from the zoo to the stadium , leaving at 5 pm ."``); it
    is the system message of the chat template where the tokenizer has one (replacing the agent's system prompt,
    which is not the user's), else the first line of the plain layout. Without it (the v0 behaviour) the model sees
    only the conversation and cannot know the goal the env scores against.

    :param model: a causal LM object, or a local path / id for ``AutoModelForCausalLM.from_pretrained``.
    :param tokenizer: its tokenizer (object or path); defaults to the model path's tokenizer.
    :param max_new_tokens: longest reply in the model's tokens.
    :param do_sample: sample (seeded by ``seed``) instead of greedy decoding.
    :param seed: torch seed set before each sampled batch, so sampled replies are reproducible.
    :param persona: tell the model its goal (see above).
    :param history_turns: show the model only the conversation's last ``history_turns`` messages (after the persona);
        None: the whole conversation. A small user model trained on short contexts needs the same at inference.
    """

    def __init__(self, model: Any, tokenizer: Any = None, max_new_tokens: int = 32, do_sample: bool = False,
                 seed: int = 0, persona: bool = False, history_turns: int | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, str):
            tokenizer = tokenizer if tokenizer is not None else model
            model = AutoModelForCausalLM.from_pretrained(model)
        if tokenizer is None:
            raise ValueError("ModelUser needs the model's tokenizer (tokenizer=...) when the model is an object.")
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer) if isinstance(tokenizer, str) else tokenizer
        if self.tokenizer.pad_token_id is None:
            raise ValueError("The user model's tokenizer has no pad token, which batched decoding needs; add one.")
        self.model = model.eval()
        self.max_new_tokens, self.do_sample, self.seed = max_new_tokens, do_sample, seed
        if history_turns is not None and history_turns < 1:
            raise ValueError(f"history_turns must be >= 1 or None, got {history_turns}.")
        self.persona, self.history_turns = persona, history_turns
        self._personas: dict[int, str] = {}

    def start(self, slot: int, example: Example) -> None:
        if self.persona:
            self._personas[slot] = persona_prompt(example.metadata)

    def respond(self, slots: Sequence[int], conversations: Sequence[list[Message]]) -> list[UserReply]:
        import torch

        prompts = [self.prompt(conversation, self._personas.get(slot) if self.persona else None)
                   for slot, conversation in zip(slots, conversations)]
        encoded = [self.tokenizer.encode(prompt, add_special_tokens=False) for prompt in prompts]
        width = max(map(len, encoded))
        device = next(self.model.parameters()).device
        # Left padding: every row's continuation starts at the same position.
        input_ids = torch.tensor([[self.tokenizer.pad_token_id] * (width - len(ids)) + ids for ids in encoded],
                                 device=device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
        if self.do_sample:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            output = self.model.generate(input_ids=input_ids, attention_mask=attention, do_sample=self.do_sample,
                                         max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                                         eos_token_id=self.tokenizer.eos_token_id)
        texts = self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return [UserReply(text.split("\n", 1)[0].strip()) for text in texts]

    def prompt(self, conversation: list[Message], persona: str | None = None) -> str:
        """The text the model continues for ``conversation`` (env's side), told ``persona`` when given."""
        return user_prompt(self.tokenizer, conversation, persona, self.history_turns)

    def config(self) -> dict[str, Any]:
        return {"name": "model", "model": getattr(self.model, "name_or_path", type(self.model).__name__),
                "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample, "seed": self.seed,
                "persona": self.persona, "history_turns": self.history_turns}


def user_prompt(tokenizer: Any, conversation: list[Message], persona: str | None = None,
                history_turns: int | None = None) -> str:
    """The text a model user continues (see :class:`ModelUser`): ``conversation`` from the user's side (its last
    ``history_turns`` messages when given), through ``tokenizer``'s chat template where it has one, else one line per
    turn; ``persona`` first when given."""
    if history_turns is not None:
        conversation = [m for m in conversation if m["role"] != "system"][-history_turns:]
    flipped = [{"role": {"assistant": "user", "user": "assistant"}.get(m["role"], m["role"]),
                "content": m["content"]} for m in conversation]
    if persona is not None:
        flipped = [{"role": "system", "content": persona}] + [m for m in flipped if m["role"] != "system"]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(flipped, add_generation_prompt=True, tokenize=False)
    return "".join(m["content"] + "\n" for m in flipped if m["role"] != "system" or persona is not None)


def persona_prompt(metadata: Mapping[str, Any]) -> str:
    """The user's goal as a persona for a model user, from a ``synthetic-booking-goals`` example's metadata: the whole
    booking in the words of the confirmations, e.g. ``"my goal : i want a taxi from the zoo to the stadium , leaving
    at 5 pm ."`` (every value, with its role; the built-in tokenizer knows every word of it)."""
    from textenvs.data.generators.dialogue import _confirmations

    for key in ("intent", "goal"):
        if key not in metadata:
            raise KeyError(f"A persona needs metadata[{key!r}] (a synthetic-booking-goals example); got "
                           f"{sorted(metadata)}.")
    goal = {name: tuple(value) if isinstance(value, list) else value for name, value in metadata["goal"].items()}
    booking = _confirmations(metadata["intent"], goal)[0]
    return "my goal : i want " + booking.removeprefix("i have booked ")


class CallableUser(UserSimulator):
    """A plain function ``f(messages) -> str`` (or -> :class:`UserReply`) called once per conversation."""

    def __init__(self, function: Callable[[list[Message]], str | UserReply]) -> None:
        self.function = function

    def respond(self, slots: Sequence[int], conversations: Sequence[list[Message]]) -> list[UserReply | str]:
        return [self.function(conversation) for conversation in conversations]

    def config(self) -> dict[str, Any]:
        return {"name": "callable", "callable": repr(self.function)}


UserSimulatorSpec = Union[None, str, UserSimulator, Callable[[list[Message]], str | UserReply], Any]
"""``None``/``"builtin"``, a :class:`UserSimulator`, a causal LM (object or local path), or a plain callable."""


def make_user_simulator(spec: UserSimulatorSpec, tokenizer: Any = None, builtin: type[UserSimulator] | None = None,
                        model_defaults: Mapping[str, Any] | None = None, **kwargs: Any) -> UserSimulator:
    """Turn the env's ``user_simulator`` argument into a :class:`UserSimulator`.

    :param spec: ``None`` or ``"builtin"`` (:class:`BookingUser`), a :class:`UserSimulator`, a path to a local
        causal LM, a model object (anything with ``generate``; ``tokenizer`` is then its tokenizer, by default the
        env's), or a callable ``f(messages) -> str``.
    :param tokenizer: the env's tokenizer, the default for a model object.
    :param builtin: the class ``None``/``"builtin"`` makes (default :class:`BookingUser`; v1 envs pass
        :class:`BookingUserV1`).
    :param model_defaults: defaults for a model user's options under ``kwargs`` (v1 envs: ``persona=True``).
    :param kwargs: constructor options (``patience`` for the built-in user; ``max_new_tokens``, ``do_sample``,
        ``seed``, ``tokenizer`` for a model).
    """
    if spec is None or spec == "builtin":
        return (builtin or BookingUser)(**kwargs)
    if isinstance(spec, UserSimulator):
        if kwargs:
            raise TypeError("user_simulator_kwargs can only be given with a name, path or model, not an instance.")
        return spec
    if isinstance(spec, str):
        return _model_user_from_name(spec, {**(model_defaults or {}), **kwargs})
    if hasattr(spec, "generate") and hasattr(spec, "config"):
        return ModelUser(spec, **{"tokenizer": tokenizer, **(model_defaults or {}), **kwargs})
    if callable(spec):
        return CallableUser(spec)
    raise TypeError("user_simulator must be None/'builtin', a UserSimulator, a causal LM (object or path) or a "
                    f"callable f(messages) -> str; got {type(spec).__name__}.")


def _model_user_from_name(name: str, kwargs: dict[str, Any]) -> ModelUser:
    """``ModelUser(name)`` with errors of our own: a path that does not exist, or a name that is neither a
    directory nor a loadable hub id, is named with what was tried (not Hugging Face's "Repo id must be in the form
    ..." about a string it never was meant to read as a repo id)."""
    import os
    from pathlib import Path

    from textenvs.validation import did_you_mean

    path = Path(name).expanduser()
    # A hub id is "name" or "org/name"; anything else that does not exist is a mistyped local path.
    looks_like_path = name.startswith(("/", ".", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)
    if not path.is_dir() and looks_like_path:
        raise FileNotFoundError(f"user_simulator={name!r}: no such directory"
                                + (" (it is a file; pass the directory that holds the model)" if path.exists() else "")
                                + ". Pass a local causal LM directory (save_pretrained), a model object, a function, "
                                "or None/'builtin' for the built-in booking user.")
    try:
        return ModelUser(str(path) if path.is_dir() else name, **kwargs)
    except (OSError, ValueError) as error:
        if path.is_dir():
            raise OSError(f"user_simulator={name!r}: cannot load a causal LM and its tokenizer from this directory "
                          f"({type(error).__name__}: {error})") from error
        raise OSError(f"user_simulator={name!r}: not a local directory, and loading it as a Hugging Face hub id "
                      f"failed ({type(error).__name__}).{did_you_mean(name, ['builtin'])} Pass a local causal LM "
                      "directory, a model object, a function, or None/'builtin' for the built-in booking user.") \
            from error
