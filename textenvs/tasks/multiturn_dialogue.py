"""Multi-turn dialogue: hold a whole task-oriented conversation with a simulated user, token by token."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from textenvs.chat import Message
from textenvs.conversation import ConversationBatch
from textenvs.core import TextGenerationEnv
from textenvs.scorers import ScorerSpec, make_scorer
from textenvs.tasks.specs import MULTITURN_DIALOGUE, MULTITURN_DIALOGUE_V1
from textenvs.users import BookingUser, BookingUserV1, UserSimulator, UserSimulatorSpec, make_user_simulator
from textenvs.vector import TextGenerationVectorEnv


def _conversation_builder(user_simulator: UserSimulatorSpec,
                          user_simulator_kwargs: Mapping[str, Any] | None, max_turns: int, max_turn_tokens: int,
                          turn_scorer: ScorerSpec | None, turn_scorer_kwargs: Mapping[str, Any] | None,
                          v1: bool = False, turn_reward: float = 0.0, turn_penalty: float = 0.0):
    """A function building the env's :class:`ConversationBatch` for its task (``v1``: the v1 user, goal check and
    per-turn options)."""

    def build(task, size: int) -> ConversationBatch:
        user = make_user_simulator(user_simulator, task.tokenizer, builtin=BookingUserV1 if v1 else None,
                                   model_defaults={"persona": True} if v1 else None, **(user_simulator_kwargs or {}))
        scorer = make_scorer(turn_scorer, **(turn_scorer_kwargs or {})) if turn_scorer is not None else None
        return ConversationBatch(task, size, user, max_turns, max_turn_tokens, scorer, parsed_goal_check=v1,
                                 turn_reward=turn_reward, turn_penalty=turn_penalty)

    return build


class ReplayMismatch(ValueError):
    """A conversation's agent turns do not replay to the episode they claim (:meth:`MultiTurnDialogueEnv.replay`)."""


class MultiTurnDialogueEnv(TextGenerationEnv):
    """Hold a booking conversation with a simulated user, one token per action.

    ## Description
    An episode is a conversation. The user opens with a request (the prompt); the agent (the booking assistant)
    writes its turn token by token and ends it with the end-of-turn token; the env then asks the user simulator for
    its reply and appends it, and the agent writes its next turn. The built-in user (:class:`textenvs.users.
    BookingUser`) has a hidden goal from ``synthetic-booking-goals`` (a restaurant, taxi or hotel booking; the
    opening request names only some slots): it answers questions about its slots, says ``"i do not mind ."`` to
    questions outside its goal, corrects wrong bookings, and gives up after ``patience`` (3) useless agent turns.
    The goal is met when an agent turn confirms a booking ("booked") stating every slot value as the
    ``synthetic-dialogue`` confirmations do (``"4 people"``, ``"7 pm"``, ``"monday"``, ...). Any local Hugging
    Face causal LM (``user_simulator="path"`` or a model object) or a plain function ``f(messages) -> str`` can
    play the user instead; replies of all sub-envs that need one on a step are produced in one batched call.

    Token-in, token-out: the conversation's ids only grow. An agent token is one array write; a user reply is
    tokenized once, alone, and appended; the history is never re-tokenized. The ids equal the tokenized rendering
    of the conversation (:meth:`conversation_ids` of :meth:`messages`) whenever the agent's tokens are the
    tokenizer's own tokenization of its text (:meth:`encode_agent_turn`; what the text wrapper feeds):

    - plain layout: the rendering is *defined* turn by turn: opening request + separator (sep token, else EOS),
      then each agent turn + EOS and each user turn tokenized alone + separator;
    - ``chat_template=True``: the rendering is the tokenizer's chat template of the messages, tokenized in one
      piece. After the agent's end-of-turn token (the special token that closes an assistant message, e.g.
      ``<|im_end|>``) the env appends the template's text up to the next assistant header with the user's reply in
      it, tokenized as one string starting with that special token. Special tokens split the input before
      pre-tokenization, so the piece has the ids it has in the whole rendering. A probe conversation checks this
      when the env is made; a template that renders differently (e.g. one that rewrites past turns) is refused
      with a ``ValueError`` saying where the ids differ.

    ## Action Space
    ``Discrete(V)``, ``V = len(tokenizer)``: the id of the agent's next token. ``env.unwrapped.
    end_of_turn_token_id`` ends the agent's turn (EOS in the plain layout). With ``action_mask=...``,
    ``env.action_masks()`` gives the legal tokens (the provider sees the observation arrays below; EOS and the
    end-of-turn token are always legal).

    ## Observation Space
    ``Dict`` of fixed-shape integer arrays (P = ``max_prompt_length``, N = ``max_new_tokens``, the budget of the
    whole conversation after the opening request):

    | key | shape | dtype | min | max | meaning |
    |---|---|---|---|---|---|
    | ``prompt_ids`` | (P,) | int64 | 0 | V-1 | opening request, left-padded, ending with the separator |
    | ``prompt_mask`` | (P,) | int8 | 0 | 1 | 1 where ``prompt_ids`` holds a real token |
    | ``generated_ids`` | (N,) | int64 | 0 | V-1 | agent tokens and appended user turns, right-padded |
    | ``generated_mask`` | (N,) | int8 | 0 | 1 | 1 where ``generated_ids`` holds a real token |
    | ``agent_mask`` | (N,) | int8 | 0 | 1 | 1 where the agent wrote the token (end-of-turn included) |

    With ``chat_template=True`` the prompt is the template's system and user messages and the assistant header.
    ``agent_mask`` is 0 on user turns, template tokens and padding.

    Learners put only ``agent_mask == 1`` positions in the policy loss, the entropy and the KL: the causal
    model's input is ``prompt_ids ++ generated_ids`` (attention ``prompt_mask ++ generated_mask``), and the
    logits at position t predict token t+1, whose mask is ``agent_mask``.

    ## Rewards
    At the last step: the scorer's primary score of the agent's final turn with the example's metadata (default
    ``dialogue_goal``: ``goal_score = (goal_completion + slot_accuracy) / 2``, also reporting both parts). With
    ``turn_scorer=...`` (any registered scorer, object or callable) each finished agent turn adds that scorer's
    primary score of the turn's text (per-turn shaping; e.g. ``"repetition_penalty"``). 0 otherwise.

    ## Starting State
    ``reset(seed=...)`` draws a goal of the split uniformly; ``reset(options={"example_index": k})`` picks goal k.
    The built-in user's wording is seeded by the example id, so the same goal and agent turns give the same
    conversation. Reset info: ``example_id``, ``example_index``.

    ## Episode End
    Every end is a termination (``terminated=True``; ``truncated`` is never set by the env and stays free for
    wrappers such as ``TimeLimit``): the limits are part of the task, as the token budget of the other envs, so the
    conversation is final and fully scored and learners must not bootstrap past it. ``info["end_reason"]`` says why,
    ``info["finish_reason"]`` sums it up as the other envs do:

    - ``"goal_met"`` (``"stop"``): an agent turn meets the goal;
    - ``"user_gave_up"`` (``"stop"``): its last words are in ``info["user_reply"]`` and are not appended;
    - ``"max_turns"`` (``"length"``): ``max_turns`` agent turns without either;
    - ``"max_turn_tokens"`` (``"length"``): an agent turn reached ``max_turn_tokens`` tokens without the
      end-of-turn token (a turn that never ends);
    - ``"max_conversation_tokens"`` (``"length"``): the N-token budget is full, or too full for the user's reply
      plus one agent token.

    The last step's info: ``prediction`` (the agent's final turn, cut short if truncated mid-turn),
    ``conversation`` (messages), ``end_reason``, ``finish_reason``, ``turns``, ``metrics``, ``prompt``, ``references``,
    ``example_id``, ``example_index``. A step that appends a user reply has ``info["user_reply"]``.
    :func:`textenvs.generate_split` records the agent's turns as ``agent_turns``; :meth:`replay` plays them again
    (the built-in users are deterministic), which is how ``textenvs bench`` and the leaderboard re-score an episode
    whose user may have changed its goal (:mod:`textenvs.rescoring`).

    An empty agent turn (end-of-turn right away) is a turn like any other: the built-in user answers
    ``"hello ? are you still there ?"`` and counts it useless. A user simulator that raises stops the step with a
    ``RuntimeError`` naming the sub-env; one that returns anything but a ``str`` or
    :class:`~textenvs.users.UserReply` raises ``TypeError``; an empty string is an empty user turn.

    ## Arguments
    The arguments of :class:`textenvs.core.TextGenerationEnv` (``tokenizer``, ``dataset`` — default
    ``synthetic-booking-goals``, whose metadata the built-in user and the goal check need —, ``split``,
    ``scorer``, ``max_prompt_length`` (64), ``max_new_tokens`` (256, the whole conversation), ``action_mask``,
    ``chat_template``, ``system_prompt``, ...; ``observation_mode`` must be ``"causal"`` and ``reward_mode``
    ``"terminal"``), and:

    :param user_simulator: ``None``/``"builtin"``, a :class:`~textenvs.users.UserSimulator`, a local causal LM
        (path or object; an object uses ``user_simulator_kwargs["tokenizer"]``, else the env's tokenizer) or a
        callable ``f(messages) -> str``.
    :param user_simulator_kwargs: options: ``patience`` (built-in); ``tokenizer``, ``max_new_tokens``,
        ``do_sample``, ``seed`` (model).
    :param max_turns: agent turns per episode (6).
    :param max_turn_tokens: tokens per agent turn, end-of-turn included (32).
    :param turn_scorer: optional per-turn shaping scorer (name, Scorer or callable); ``turn_scorer_kwargs`` its
        options.

    ``gymnasium.make_vec("textenvs/MultiTurnDialogue-v0", num_envs=B)`` builds the native vector env.

    ## Version History
    * v0: initial release.
    """

    task_spec = MULTITURN_DIALOGUE
    builtin_user: ClassVar[type[UserSimulator]] = BookingUser
    """The user ``user_simulator=None`` makes."""

    def __init__(self, render_mode: str | None = None, user_simulator: UserSimulatorSpec = None,
                 user_simulator_kwargs: Mapping[str, Any] | None = None, max_turns: int = 6, max_turn_tokens: int = 32,
                 turn_scorer: ScorerSpec | None = None, turn_scorer_kwargs: Mapping[str, Any] | None = None,
                 **task_kwargs: Any) -> None:
        build = _conversation_builder(user_simulator, user_simulator_kwargs, max_turns, max_turn_tokens, turn_scorer,
                                      turn_scorer_kwargs)
        super().__init__(render_mode=render_mode, **task_kwargs)
        self._episodes = build(self.task, 1)
        self.observation_space = self._episodes.observation_space

    @classmethod
    def user_goal_can_change(cls, user_simulator: UserSimulatorSpec = None,
                             user_simulator_kwargs: Mapping[str, Any] | None = None) -> bool:
        """Whether the user these env arguments make can change its goal during a conversation
        (:attr:`~textenvs.users.UserSimulator.goal_can_change`), without loading a model user: a model
        (:class:`~textenvs.users.ModelUser`) or a function (:class:`~textenvs.users.CallableUser`) never does."""
        if user_simulator is None or user_simulator == "builtin":
            return cls.builtin_user(**(user_simulator_kwargs or {})).goal_can_change
        if isinstance(user_simulator, UserSimulator):
            return user_simulator.goal_can_change
        return False

    @property
    def end_of_turn_token_id(self) -> int:
        """The action that ends the agent's turn and hands the floor to the user."""
        return self._episodes.format.end_of_turn_token_id

    @property
    def max_turn_tokens(self) -> int:
        return self._episodes.max_turn_tokens

    def messages(self) -> list[Message]:
        """The conversation's finished turns as chat messages (roles ``system``/``user``/``assistant``)."""
        return [dict(message) for message in self._episodes.messages[0]]

    def current_goal(self) -> dict[str, Any]:
        """The goal the episode is scored against now: the example's, or the one a v1 user changed its mind to."""
        return dict(self._episodes._metadata(0)["goal"])

    def scored_metadata(self) -> dict[str, Any]:
        """The metadata the scorer reads for the episode now: the example's, with :meth:`current_goal` (and its
        slot phrases) where the user changed its mind."""
        return dict(self._episodes._metadata(0))

    @property
    def user_simulator(self) -> UserSimulator:
        """Who plays the user (its :attr:`~textenvs.users.UserSimulator.goal_can_change` and
        :attr:`~textenvs.users.UserSimulator.replayable` say how a finished episode can be re-scored)."""
        return self._episodes.user

    def replay(self, example_index: int, agent_turns: Sequence[str]) -> dict[str, Any]:
        """Play the conversation on example ``example_index`` whose agent turns are ``agent_turns`` (each fed as
        :meth:`encode_agent_turn` + the end-of-turn token; a turn cut by a token limit ends the episode before its
        end token), the user answering as it does; returns the last step's info (``prediction``, ``conversation``,
        ``metrics``, ...) with ``scored_metadata`` (:meth:`scored_metadata` at the end) added. Only meaningful
        with a :attr:`~textenvs.users.UserSimulator.replayable` user.

        :raises ReplayMismatch: the env ends the conversation before the last turn, has not ended it after the last
            one, or records a turn with another text than the one given (a text whose tokens decode differently).
        """
        if not agent_turns:
            raise ReplayMismatch("no agent turns were given; a conversation has at least one")
        self.reset(options={"example_index": int(example_index)})
        info: dict[str, Any] = {}
        terminated, number = False, 0
        while not terminated and number < len(agent_turns):
            for token in self.encode_agent_turn(agent_turns[number]) + [self.end_of_turn_token_id]:
                _, _, terminated, _, info = self.step(token)
                if terminated:
                    break
            number += 1
        recorded = [message["content"] for message in self.messages() if message["role"] == "assistant"]
        differing = next((k for k, (mine, given) in enumerate(zip(recorded, agent_turns)) if mine != given), None)
        if differing is not None:
            raise ReplayMismatch(f"agent turn {differing + 1} is recorded as {recorded[differing]!r:.120}, not as the "
                                 f"given {agent_turns[differing]!r:.120} (its tokens decode to another text)")
        if number < len(agent_turns):
            raise ReplayMismatch(f"the conversation ends after agent turn {number} of {len(agent_turns)} "
                                 f"({info['end_reason']}); the later turns were never asked for")
        if not terminated:
            raise ReplayMismatch(f"the conversation has not ended after the last of the {len(agent_turns)} agent "
                                 f"turns (the user replied {info.get('user_reply', '')!r:.120})")
        return {**info, "scored_metadata": self.scored_metadata()}

    def encode_agent_turn(self, text: str) -> list[int]:
        """The ids of ``text`` as an agent turn in the rendered conversation (without the end-of-turn token)."""
        return self._episodes.format.agent_turn_ids(text)

    def conversation_ids(self, messages: list[Message]) -> list[int]:
        """The tokenized rendering of ``messages``; equals the prompt and generated ids of a conversation with those
        turns (see the class docstring)."""
        return self._episodes.format.conversation_ids(messages)


class MultiTurnDialogueVectorEnv(TextGenerationVectorEnv):
    """Native batched :class:`MultiTurnDialogueEnv` (``gymnasium.make_vec("textenvs/MultiTurnDialogue-v0",
    num_envs=B)``); user replies of all sub-envs that need one on a step are produced in one batched call."""

    task_spec = MULTITURN_DIALOGUE

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, user_simulator: UserSimulatorSpec = None,
                 user_simulator_kwargs: Mapping[str, Any] | None = None, max_turns: int = 6, max_turn_tokens: int = 32,
                 turn_scorer: ScorerSpec | None = None, turn_scorer_kwargs: Mapping[str, Any] | None = None,
                 **task_kwargs: Any) -> None:
        from gymnasium.vector.utils import batch_space

        build = _conversation_builder(user_simulator, user_simulator_kwargs, max_turns, max_turn_tokens, turn_scorer,
                                      turn_scorer_kwargs)
        super().__init__(num_envs=num_envs, render_mode=render_mode, **task_kwargs)
        self._episodes = build(self.task, self.num_envs)
        self.single_observation_space = self._episodes.observation_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    @property
    def end_of_turn_token_id(self) -> int:
        return self._episodes.format.end_of_turn_token_id

    def messages(self, index: int) -> list[Message]:
        """Sub-env ``index``'s finished turns as chat messages."""
        return [dict(message) for message in self._episodes.messages[index]]

    def current_goal(self, index: int) -> dict[str, Any]:
        """The goal sub-env ``index``'s episode is scored against now (see :meth:`MultiTurnDialogueEnv.current_goal`)."""
        return dict(self._episodes._metadata(index)["goal"])


_V1_MANUAL = """Hold a booking conversation with a user who behaves like one; the goal check reads the booking.

    ## Description
    As ``textenvs/MultiTurnDialogue-v0`` (same observation and action spaces, token-in/token-out layout, chat
    templates, limits and end reasons), with a task that tests dialogue:

    - **Goals** (``synthetic-booking-goals-v1``): a restaurant, taxi or hotel booking. The opening request names
      at most ``len(required) - 2`` required slots, so at least two must be asked for. Splits are disjoint by
      goal (no test goal equals a train goal); ``split="test_compositional"`` holds goals whose pair of values
      (a restaurant's food and day, a taxi's two places, a hotel's people and nights) never occurs in
      train/validation/test, though each value does.
    - **User** (:class:`textenvs.users.BookingUserV1`): answers one well-formed question about one slot at a
      time; a list of questions gets ``"please ask me one thing at a time ."`` and no answer; empty, repeated,
      overlong (> 25 words) and irrelevant turns get a refusal; a wrong value is corrected; answers volunteer the
      next untold slot at ``volunteer_rate`` (0.2); ``change_of_mind`` (0.0) is the per-conversation chance the
      user changes one told value once (the goal check then uses the new goal); a wrong booking is corrected
      with the value of the first slot it gets wrong, or, with ``tell_corrections=False``, refused without naming
      one. Every refused or corrected turn is useless; the third useless turn makes the user give up. Its rules,
      in order, are in its docstring.
    - **Benchmark setting** (:data:`BENCHMARK_USER_V1`, ``user_simulator_kwargs={"change_of_mind": 0.5,
      "tell_corrections": False}``): what ``benchmarks/learning`` runs and the warm start
      ``agents/checkpoints/multiturn_dialogue-v1`` was trained for. Half the users change their mind once and no
      wrong booking is corrected with its value, so the agent must track the conversation's state itself.
    - **Goal check** (:func:`textenvs.scorers.booking_goal.check_booking`): an agent turn meets the goal when it
      is a booking ("booked"), not negated ("not", "cancelled", "couldn't", ...), not hedged ("or", "maybe",
      ...), names the goal's booking kind only, and states every goal slot with its value *in its role*
      (``from the X`` = departure, ``to the X`` = destination, ``leaving at`` / ``arriving by`` times, counts by
      their unit) and nothing else: a slot outside the goal, a second value, or an unplaced value (a place with
      neither from nor to, a bare number) fails. The confirmations of ``references`` meet it.

    A fixed script (one first turn listing every question, then a confirmation copying the values a regex finds)
    meets no test goal: the list gets no answer, so at least two slots stay unknown.

    ## Rewards
    At the last step: the scorer's primary score of the agent's final turn (default ``booking_goal``, ceiling 1.0:
    ``goal_score = (goal_completion + slot_accuracy * slot_precision) / 2``; slot credit only for an affirmative
    booking of the goal's kind, so a hedge listing every value or a negated booking earns none). Options, each
    added at the step of the agent's end-of-turn token:

    - ``turn_reward=w`` (per-turn credit): ``w * (slots the user newly tells in reply + goal slots the turn
      newly books right) / goal slots``; an episode's turn rewards sum to at most ``2 w``. Only users that report
      ``UserReply.new_slots`` (the built-in one) give the "question answered" part; the "newly booked" part is
      computed by the env for any user. Measured (``benchmarks/learning/README.md``, PPO, 10k env steps, 3
      seeds): ``turn_reward=0.5`` made learning worse than the terminal reward alone (goal completion 0.975 / 0.455
      / 0.235 against 0.990 / 0.985 / 0.990), since a partial booking already collects the per-slot credit;
      In ``textenvs bench``, pass it as ``train_env_kwargs`` (``--train-env-kwargs '{"turn_reward": 0.1}'``): the
      agents train with it while the test and eval-curve scores stay the goal score;
    - ``turn_penalty=c``: ``-c`` for every agent turn (a turn cut by a limit too);
    - ``turn_scorer``: as in v0.

    How turn-level rewards reach tokens: every reward lands on the step of one agent token (the end-of-turn token
    of the turn that earned it; the terminal reward on the last agent token). PPO's GAE runs over agent positions
    only (``agents/ppo/buffer.py: agent_gae``): a turn's reward enters the TD error of its end-of-turn token, whose
    next value is that of the agent's next token after the user's reply, so the credit flows back through the
    turn's earlier tokens (and earlier turns) by ``gamma * lambda`` per agent token. GRPO sums an episode's rewards
    into one return per conversation and compares it within the group: per-turn rewards change which conversations
    rank higher, not which tokens in a conversation get the credit.

    ## Metrics
    ``info["metrics"]`` at the end: ``goal_score``, ``goal_completion``, ``slot_accuracy``, ``slot_precision``,
    ``turns`` (agent turns) and ``format_violations`` (agent turns the user refused as empty, repeated, overlong,
    several questions, not a question or irrelevant; :data:`textenvs.users.VIOLATIONS`).

    Re-scored (``textenvs bench``, the leaderboard: :mod:`textenvs.rescoring`), an episode gets exactly its env
    score: its final agent turn is scored against the goal the conversation ended with. With ``change_of_mind >
    0`` that goal is not in the dataset, so the conversation is replayed from its recorded ``agent_turns``
    through the env and its deterministic user; records without them, or whose turns do not replay, are refused.
    Otherwise (``change_of_mind=0``, a model or a function as the user, which never change the goal) the final turn
    is scored against the example's goal, without a replay.

    ## LM user
    ``user_simulator=<causal LM>`` plays the user with ``persona=True`` by default: it is told the goal
    (:func:`textenvs.users.persona_prompt`) as the system message of its chat template, or the first line of the
    plain layout. ``scripts/train_user_model.py`` trains a small user model on the rule user's turns and
    measures how often their replies state the same values; the one it made ships as
    ``agents/checkpoints/multiturn_user-v1`` (use it with ``user_simulator_kwargs={"history_turns": 3}``, the
    context it was trained on). Its greedy answers state the rule user's values on 61% of the answer turns of
    held-out goals (59% on ``test_compositional``); most misses are a taxi's places. Its replies are not checked
    for consistency with the goal, and it never gives up, so goal completion against it measures the agent with
    an imperfect user, not the agent alone.

    ## Arguments
    Those of v0 (``user_simulator_kwargs`` of the built-in user: ``patience``, ``volunteer_rate``,
    ``change_of_mind``, ``max_turn_words``, ``tell_corrections``; of a model user also ``persona`` (True) and
    ``history_turns``), and:

    :param turn_reward: weight of the per-turn reward (0.0: terminal reward only).
    :param turn_penalty: cost of each agent turn (0.0).

    ``gymnasium.make_vec("textenvs/MultiTurnDialogue-v1", num_envs=B)`` builds the native vector env.

    ## Version History
    * v1: user v1 (one question at a time, refusals, corrections, volunteering, change of mind), the goal check
      that reads the booking (roles, extra values, negation, hedging), goals disjoint across splits, a
      compositional test split, per-turn reward and penalty options, ``turns`` and ``format_violations`` metrics,
      a model user told its goal.
    * v0: initial release (:class:`MultiTurnDialogueEnv`), unchanged.
    """


BENCHMARK_USER_V1: dict[str, Any] = {"change_of_mind": 0.5, "tell_corrections": False}
"""The built-in user's settings in the multi-turn v1 benchmark (``user_simulator_kwargs``; the warm start
``agents/checkpoints/multiturn_dialogue-v1`` is trained with them): half the users change one value once, and a wrong
booking is refused without naming the slot, so an agent has to keep the conversation's state itself."""


class MultiTurnDialogueV1Env(MultiTurnDialogueEnv):
    __doc__ = _V1_MANUAL
    task_spec = MULTITURN_DIALOGUE_V1
    builtin_user = BookingUserV1

    def __init__(self, render_mode: str | None = None, user_simulator: UserSimulatorSpec = None,
                 user_simulator_kwargs: Mapping[str, Any] | None = None, max_turns: int = 8, max_turn_tokens: int = 32,
                 turn_scorer: ScorerSpec | None = None, turn_scorer_kwargs: Mapping[str, Any] | None = None,
                 turn_reward: float = 0.0, turn_penalty: float = 0.0, **task_kwargs: Any) -> None:
        build = _conversation_builder(user_simulator, user_simulator_kwargs, max_turns, max_turn_tokens, turn_scorer,
                                      turn_scorer_kwargs, v1=True, turn_reward=turn_reward,
                                      turn_penalty=turn_penalty)
        TextGenerationEnv.__init__(self, render_mode=render_mode, **task_kwargs)
        self._episodes = build(self.task, 1)
        self.observation_space = self._episodes.observation_space


class MultiTurnDialogueV1VectorEnv(MultiTurnDialogueVectorEnv):
    """Native batched :class:`MultiTurnDialogueV1Env` (``gymnasium.make_vec("textenvs/MultiTurnDialogue-v1",
    num_envs=B)``)."""

    task_spec = MULTITURN_DIALOGUE_V1

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, user_simulator: UserSimulatorSpec = None,
                 user_simulator_kwargs: Mapping[str, Any] | None = None, max_turns: int = 8, max_turn_tokens: int = 32,
                 turn_scorer: ScorerSpec | None = None, turn_scorer_kwargs: Mapping[str, Any] | None = None,
                 turn_reward: float = 0.0, turn_penalty: float = 0.0, **task_kwargs: Any) -> None:
        from gymnasium.vector.utils import batch_space

        build = _conversation_builder(user_simulator, user_simulator_kwargs, max_turns, max_turn_tokens, turn_scorer,
                                      turn_scorer_kwargs, v1=True, turn_reward=turn_reward,
                                      turn_penalty=turn_penalty)
        TextGenerationVectorEnv.__init__(self, num_envs=num_envs, render_mode=render_mode, **task_kwargs)
        self._episodes = build(self.task, self.num_envs)
        self.single_observation_space = self._episodes.observation_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
