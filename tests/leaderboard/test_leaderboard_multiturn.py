"""Multi-turn submissions are scored as the env scored them (issue 25 defect): on a deployment whose
``MultiTurnDialogue-v1`` user changes its mind, the server replays each conversation from its ``agent_turns`` and
scores the final turn against the goal the replay ends with; conversations that do not replay are refused."""

from __future__ import annotations

import json

import pytest

from agents.bench.execution import RunSpec, execute
from leaderboard.schema import LeaderboardError
from leaderboard.scoring import Benchmarks
from leaderboard.service import Leaderboard
from leaderboard.store import Store
from textenvs.tasks.multiturn_dialogue import BENCHMARK_USER_V1

ENV = "textenvs/MultiTurnDialogue-v1"
SETTING = {"user_simulator_kwargs": dict(BENCHMARK_USER_V1)}


@pytest.fixture(scope="module")
def runs():
    """Bench outputs on the whole test split in the benchmark setting: the agent that books the user's current goal
    and the one that books the values told first."""
    return {name: execute(RunSpec(ENV, f"tests.scripted_booking:{name}", seed=0, budget=0, eval_batch=50,
                                  env_kwargs=SETTING))
            for name in ("CurrentGoalAgent", "OriginalGoalAgent")}


def submission(output, agent: str, with_turns: bool = True) -> bytes:
    rows = [{key: value for key, value in row.items() if key != "dataset_hash" and (with_turns or key == "id"
                                                                                     or key == "prediction")}
            for row in output.predictions]
    return json.dumps({"env_id": ENV, "dataset_hash": output.predictions[0]["dataset_hash"], "predictions": rows,
                       "metadata": {"agent": agent}}).encode()


def board(tmp_path, env_kwargs) -> Leaderboard:
    return Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db"), Benchmarks({ENV: env_kwargs}))


def test_the_server_scores_each_conversation_against_the_goal_it_ended_with(tmp_path, runs):
    leaderboard = board(tmp_path, SETTING)
    for name, output in runs.items():
        receipt = leaderboard.submit(submission(output, name), "tester")
        bench = output.result.metrics
        assert receipt.metrics == {key: bench[key] for key in receipt.metrics}  # the bench's figures, exactly
        assert receipt.primary_score == pytest.approx(bench["reward"], abs=1e-12)  # the env's mean episode reward
    ranking = leaderboard.rankings(ENV)
    assert [entry.agent for entry in ranking.entries] == ["CurrentGoalAgent", "OriginalGoalAgent"]
    assert ranking.entries[0].metrics["goal_completion"] == 1.0 > ranking.entries[1].metrics["goal_completion"]


def test_conversations_that_do_not_replay_or_are_missing_are_refused(tmp_path, runs):
    leaderboard = board(tmp_path, SETTING)
    output = runs["OriginalGoalAgent"]
    body = json.loads(submission(output, "tampered"))
    record = next(row for row in body["predictions"] if any("booked" in turn for turn in row["agent_turns"][:-1]))
    # Claim the stale booking ended the conversation: the user refused it and went on, so it does not replay.
    first_booking = next(k for k, turn in enumerate(record["agent_turns"]) if "booked" in turn)
    record["agent_turns"] = record["agent_turns"][:first_booking + 1]
    record["prediction"] = record["agent_turns"][-1]
    with pytest.raises(LeaderboardError, match="do not replay") as refused:
        leaderboard.submit(json.dumps(body).encode(), "tester")
    assert refused.value.status == 422 and record["id"] in refused.value.detail
    with pytest.raises(LeaderboardError, match="agent_turns") as missing:
        leaderboard.submit(submission(output, "no turns", with_turns=False), "tester")
    assert missing.value.status == 422


def test_without_a_change_of_mind_old_submissions_score_as_before(tmp_path, runs):
    """The default deployment (change_of_mind=0): no replay, records without agent turns are accepted, and the
    turns, when sent, change nothing but the content hash."""
    leaderboard = board(tmp_path, {})
    output = runs["OriginalGoalAgent"]
    plain = leaderboard.submit(submission(output, "plain", with_turns=False), "tester")
    with_turns = leaderboard.submit(submission(output, "with turns"), "tester")
    assert plain.metrics == with_turns.metrics and plain.id != with_turns.id
    assert plain.metrics["goal_completion"] > 0.5  # its stale bookings meet the original goals


def test_a_bench_predictions_file_submits_its_agent_turns(tmp_path, runs):
    from leaderboard.cli import read_predictions

    output = runs["CurrentGoalAgent"]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in output.predictions), encoding="utf-8")
    records, hashes = read_predictions(path)
    assert hashes == {output.predictions[0]["dataset_hash"]}
    assert [record["agent_turns"] for record in records] == [row["agent_turns"] for row in output.predictions]
    body = json.dumps({"env_id": ENV, "dataset_hash": hashes.pop(), "predictions": records,
                       "metadata": {"agent": "from file"}}).encode()
    receipt = board(tmp_path, SETTING).submit(body, "tester")
    assert receipt.primary_score == pytest.approx(output.result.metrics["reward"], abs=1e-12)
