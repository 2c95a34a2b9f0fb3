"""Replaying a multi-turn conversation from its agent turns (``MultiTurnDialogueEnv.replay``) gives the episode the
env ran, and which users need a replay to be re-scored (``goal_can_change``, ``replayable``)."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest

from agents.sft.conversations import BookingDemonstratorV1
from textenvs import load_env_dataset
from textenvs.rescoring import RescoringError, scored_answers
from textenvs.tasks.multiturn_dialogue import MultiTurnDialogueEnv, MultiTurnDialogueV1Env, ReplayMismatch
from textenvs.users import BookingUserV1, CallableUser

ENV = "textenvs/MultiTurnDialogue-v1"
CHANGING = {"change_of_mind": 1.0, "tell_corrections": False}


def play(env, index: int, stale_rate: float) -> dict:
    """One conversation of a v1 demonstrator (stale_rate 1.0: it books the values told first); the last info."""
    demonstrator = BookingDemonstratorV1(generic_rate=0.0, missed_volunteer_rate=0.0, stale_rate=stale_rate,
                                         binding_rate=0.0, omission_rate=0.0)
    rng = random.Random(index)
    env.reset(options={"example_index": index})
    example = env.task.dataset[index]
    while True:
        text = demonstrator(example, env.messages(), rng, env.current_goal())
        for token in env.encode_agent_turn(text) + [env.end_of_turn_token_id]:
            _, reward, terminated, _, info = env.step(token)
            if terminated:
                return {**info, "reward": reward, "goal": env.current_goal()}


@pytest.mark.parametrize("stale_rate", [0.0, 1.0])
def test_a_replay_is_the_episode_the_env_ran(stale_rate):
    env = gym.make(ENV, user_simulator_kwargs=CHANGING).unwrapped
    for index in range(4):
        episode = play(env, index, stale_rate)
        turns = [m["content"] for m in episode["conversation"] if m["role"] == "assistant"]
        replayed = env.replay(index, turns)
        assert replayed["conversation"] == episode["conversation"] and replayed["metrics"] == episode["metrics"]
        assert replayed["scored_metadata"]["goal"] == episode["goal"] != env.task.dataset[index].metadata["goal"]
    with pytest.raises(ReplayMismatch, match="no agent turns"):
        env.replay(0, [])
    env.close()


def test_which_users_can_change_their_goal():
    assert not MultiTurnDialogueEnv.user_goal_can_change()
    assert not MultiTurnDialogueV1Env.user_goal_can_change()
    assert MultiTurnDialogueV1Env.user_goal_can_change(None, {"change_of_mind": 0.5})
    assert not MultiTurnDialogueV1Env.user_goal_can_change(lambda messages: "ok .")
    assert not MultiTurnDialogueV1Env.user_goal_can_change("path/to/a/user/model")  # a model user: never loaded
    assert not CallableUser(lambda messages: "ok .").goal_can_change
    assert BookingUserV1(change_of_mind=0.5).replayable and not CallableUser(print).replayable


class UnrecordedUser(BookingUserV1):
    """A user that changes its mind but is declared not replayable (as a user with outside state would be)."""

    replayable = False


def test_a_user_that_changes_its_goal_but_cannot_be_replayed_is_not_rescored():
    dataset = load_env_dataset(ENV, "test")
    with pytest.raises(RescoringError, match="not replayable"):
        scored_answers(ENV, {"user_simulator": UnrecordedUser(**CHANGING)}, "test", dataset, [0], ["hello ."],
                       [["hello ."]])
    # The same user that never changes its mind is scored against the example's goal, without a replay.
    examples, texts = scored_answers(ENV, {"user_simulator": UnrecordedUser()}, "test", dataset, [0], ["hello ."])
    assert examples == [dataset[0]] and texts == ["hello ."]
