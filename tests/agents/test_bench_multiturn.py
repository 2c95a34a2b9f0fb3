"""The bench's metrics of multi-turn episodes are the env's own scores (issue 25 defect): with a user that changes
its mind (``MultiTurnDialogue-v1``, ``change_of_mind > 0``) each conversation is replayed from its agent turns and
its final turn scored against the goal it ended with, not the example's original goal."""

from __future__ import annotations

import pytest

from agents.bench.execution import RunSpec, execute
from textenvs import load_env_dataset, load_env_scorer
from textenvs.metrics import prediction_metrics
from textenvs.rescoring import RescoringError, scored_answers

ENV = "textenvs/MultiTurnDialogue-v1"
CURRENT = "tests.scripted_booking:CurrentGoalAgent"
ORIGINAL = "tests.scripted_booking:OriginalGoalAgent"
CHANGING = {"user_simulator_kwargs": {"change_of_mind": 1.0, "tell_corrections": False}}
EXAMPLES = 24


def run(agent: str, env_kwargs: dict, examples: int = EXAMPLES):
    return execute(RunSpec(ENV, agent, seed=0, budget=0, eval_examples=examples, eval_batch=8,
                           env_kwargs=env_kwargs))


@pytest.mark.parametrize("agent, completion", [(CURRENT, 1.0), (ORIGINAL, 0.0)])
def test_bench_goal_score_is_the_env_reward_when_users_change_their_minds(agent, completion):
    output = run(agent, CHANGING)
    metrics = output.result.metrics
    # Scorer metrics are means of the per-episode scores; the env's reward is the same score, summed per episode.
    assert metrics["goal_score"] == pytest.approx(metrics["reward"], abs=1e-12)
    assert metrics["goal_completion"] == completion
    assert all(len(row["agent_turns"]) >= 2 and row["agent_turns"][-1] == row["prediction"]
               for row in output.predictions)


def test_scoring_against_the_original_goal_would_reward_the_stale_booking():
    """What the bench reported before the fix: the stale booking scored as a met goal, the right one as a miss."""
    split = load_env_dataset(ENV, "test")
    scorer = load_env_scorer(ENV)
    for agent, original_completion in ((CURRENT, 0.0), (ORIGINAL, 1.0)):
        output = run(agent, CHANGING, examples=8)
        by_id = {example.id: example for example in split}
        naive = prediction_metrics(scorer, [by_id[row["id"]] for row in output.predictions],
                                   [row["prediction"] for row in output.predictions])
        assert naive["goal_completion"] == original_completion
        assert output.result.metrics["goal_completion"] == 1.0 - original_completion


def test_without_a_change_of_mind_the_metrics_are_those_of_the_original_goal():
    """change_of_mind=0 (the env's default): no replay; the metrics are exactly the original-goal scoring."""
    output = run(ORIGINAL, {})
    split = load_env_dataset(ENV, "test")
    naive = prediction_metrics(load_env_scorer(ENV), list(split)[:EXAMPLES],
                               [row["prediction"] for row in output.predictions])
    assert {key: output.result.metrics[key] for key in naive} == naive
    assert naive["goal_score"] == pytest.approx(output.result.metrics["reward"], abs=1e-12)


def test_turns_that_do_not_replay_are_refused():
    """A claimed conversation must be the one the env and its user produce from those turns."""
    dataset = load_env_dataset(ENV, "test")
    rows = run(ORIGINAL, CHANGING, examples=4).predictions
    predictions, turns = [row["prediction"] for row in rows], [row["agent_turns"] for row in rows]
    examples, texts = scored_answers(ENV, CHANGING, "test", dataset, range(4), predictions, turns)
    assert texts == predictions
    assert all(example.metadata["goal"] != dataset[k].metadata["goal"] for k, example in enumerate(examples))

    def claimed(first_turns: list[str]) -> tuple[list[str], list[list[str]]]:
        return [first_turns[-1], *predictions[1:]], [first_turns, *turns[1:]]

    # Cut after the stale booking, as if it had ended the conversation: the user refused it and went on.
    first_booking = next(k for k, text in enumerate(turns[0]) if "booked" in text)
    with pytest.raises(RescoringError, match="do not replay: the conversation has not ended"):
        scored_answers(ENV, CHANGING, "test", dataset, range(4), *claimed(turns[0][:first_booking + 1]))
    # A turn after the user gave up was never asked for.
    with pytest.raises(RescoringError, match="do not replay: the conversation ends after agent turn"):
        scored_answers(ENV, CHANGING, "test", dataset, range(4), *claimed(turns[0] + ["i have booked it ."]))
    with pytest.raises(RescoringError, match="have none"):
        scored_answers(ENV, CHANGING, "test", dataset, range(4), predictions)
    with pytest.raises(RescoringError, match="not its prediction"):
        scored_answers(ENV, CHANGING, "test", dataset, range(4), ["i have booked it ."] + predictions[1:], turns)
    with pytest.raises(RescoringError, match="single-turn env"):
        scored_answers("textenvs/Dialogue-v0", {}, "test", load_env_dataset("textenvs/Dialogue-v0", "test"),
                       [0], ["hello ."], [["hello ."]])
