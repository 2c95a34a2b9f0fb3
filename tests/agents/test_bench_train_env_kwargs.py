"""``train_env_kwargs``: env settings the bench gives the agents' training envs only (a shaping reward such as
``MultiTurnDialogue-v1``'s ``turn_reward``), never the evaluation envs, so a run is scored like one without them and
the results file says what the agent trained with."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import pytest
from gymnasium.vector import AutoresetMode

from agents.bench import cli
from agents.bench.execution import RunSpec, execute
from agents.bench.runner import plan
from tests.scripted_booking import CurrentGoalAgent

ENV = "textenvs/MultiTurnDialogue-v1"
TRAINING_EPISODES = 4


class TrainingRewardAgent(CurrentGoalAgent):
    """Meets every goal; ``learn`` plays a few training conversations in the env built from the kwargs the agent
    was given and reports their mean episode reward (the goal score plus any turn rewards)."""

    name = "training-reward"

    def learn(self, total_env_steps: int, callback: Callable[[dict[str, Any]], None] | None = None):
        env = gym.make_vec(self.env_id, num_envs=TRAINING_EPISODES, vectorization_mode="vector_entry_point",
                           autoreset_mode=AutoresetMode.DISABLED, **self.env_kwargs)
        records = self.generate(env, list(range(TRAINING_EPISODES)))
        env.close()
        point = {"env_steps": total_env_steps, "reward": sum(record.reward for record in records) / len(records)}
        if callback is not None:
            callback(point)
        return [point]


AGENT = f"{__name__}:TrainingRewardAgent"


def run(train_env_kwargs: dict[str, Any]):
    return execute(RunSpec(ENV, AGENT, seed=0, budget=10, eval_examples=8, eval_batch=8,
                           train_env_kwargs=train_env_kwargs))


def test_the_agent_trains_with_them_and_is_evaluated_without_them():
    plain, shaped = run({}), run({"turn_reward": 0.1})
    # Every goal met: the terminal goal score is 1.0; the turn rewards come on top of it in training only.
    assert plain.result.learning_curve[-1]["reward"] == pytest.approx(1.0)
    assert 1.0 < shaped.result.learning_curve[-1]["reward"] <= 1.2 + 1e-9
    assert shaped.result.metrics == plain.result.metrics
    assert shaped.result.metrics["reward"] == pytest.approx(shaped.result.metrics["goal_score"], abs=1e-12)
    assert shaped.predictions == plain.predictions
    assert shaped.result.env.kwargs == plain.result.env.kwargs == {}
    assert shaped.result.env.train_kwargs == {"turn_reward": 0.1} and plain.result.env.train_kwargs == {}
    assert shaped.result.submission_metadata()["config"]["train_env_kwargs"] == {"turn_reward": 0.1}
    assert "train_env_kwargs" not in plain.result.submission_metadata()["config"]


def test_plan_merges_them_per_env_over_env_kwargs():
    translation = "textenvs/Translation-v0"
    specs = plan([ENV, translation], ["random"], [0], 10, env_kwargs={"max_new_tokens": 12},
                 train_env_kwargs={ENV: {"turn_reward": 0.1}})
    by_env = {spec.env_id: spec for spec in specs}
    assert by_env[ENV].env_kwargs == by_env[translation].env_kwargs == {"max_new_tokens": 12}
    assert by_env[ENV].train_env_kwargs == {"turn_reward": 0.1}
    assert by_env[translation].train_env_kwargs == {}


def test_a_bad_training_setting_stops_the_bench_before_any_run(tmp_path, capsys):
    with pytest.raises(ValueError, match=f"train_env_kwargs of {ENV}: .*turn_rewrd"):
        plan([ENV], ["random"], [0], 10, train_env_kwargs={"turn_rewrd": 0.1})
    assert cli.main(["--envs", ENV, "--agents", "random", "--train-env-kwargs", '{"turn_rewrd": 0.1}',
                     "--out", str(tmp_path), "--no-progress"]) == 2
    assert f"train_env_kwargs of {ENV}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
