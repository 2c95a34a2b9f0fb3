"""benchmarks/learning/multiturn_v1_env_scores.py (issue 25): the env scores of bench runs are read from ``reward``,
with gap closed, steps to half the gap and curve AUC over seeds, grouped by the training-only ``turn_reward`` (the
bench's ``train_env_kwargs``; tests/agents/test_bench_train_env_kwargs.py checks evaluations never get it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import BENCH_RUN_PROVENANCE, write_bench_runs as write

from benchmarks.learning import multiturn_v1_env_scores as env_scores

ENV = "textenvs/MultiTurnDialogue-v1"
SETTING = {"user_simulator_kwargs": {"change_of_mind": 0.5, "tell_corrections": False}}


def run_json(agent: str, seed: int, reward: float, curve: list[tuple[float, float]], kwargs: dict | None = None,
             train_kwargs: dict | None = None) -> dict:
    """A RunResult as textenvs bench writes it; ``goal_score`` deliberately differs from ``reward``."""
    points = [{"env_steps": step, "reward": value, "goal_score": value - 0.05} for step, value in curve]
    return {
        "run": f"MultiTurnDialogue-v1__{agent}__seed{seed}",
        "env": {"id": ENV, "version": 1, "kwargs": SETTING if kwargs is None else kwargs, "task": {},
                "train_kwargs": train_kwargs or {}},
        "dataset": {"name": "multiturn", "split": "test", "content_hash": "abc", "size": 200, "evaluated": 200,
                    "complete": True},
        "scorer": {"name": "booking_goal", "primary": "goal_score"},
        "agent": {"name": agent, "config": {"name": agent}},
        "seed": seed, "budget_env_steps": int(curve[-1][0]), "env_steps": int(curve[-1][0]),
        "primary_metric": "goal_score", "metrics": {"reward": reward, "goal_score": reward + 0.03},
        "learning_curve": [], "eval_curve": points, "extra_scorers": {},
        "predictions_path": f"predictions/{agent}{seed}.jsonl",
        **BENCH_RUN_PROVENANCE}


def test_env_scores_read_the_reward_per_seed_and_over_seeds(tmp_path: Path) -> None:
    warm = write(tmp_path / "warm", [run_json("greedy", 0, 0.6, [(0.0, 0.6)])])
    turn = {"turn_reward": 0.5}
    runs = write(tmp_path / "turn", [
        run_json("ppo", 0, 0.8, [(0.0, 0.6), (1000.0, 0.7), (2000.0, 0.9)], train_kwargs=turn),
        run_json("ppo", 1, 0.7, [(0.0, 0.6), (1000.0, 0.7), (2000.0, 0.75)], train_kwargs=turn)])
    collected = env_scores.collect([runs], warm)
    group = collected["groups"][f"{runs}/ppo turn_reward=0.5"]
    assert collected["warm_start_test_score"] == pytest.approx(0.6)
    assert [seed["test_score"] for seed in group["seeds"]] == pytest.approx([0.8, 0.7])
    assert [seed["gap_closed"] for seed in group["seeds"]] == pytest.approx([0.5, 0.25])
    # Half the gap from 0.6 is 0.8, crossed halfway between 1000 (0.7) and 2000 (0.9); seed 1 never reaches it.
    assert [seed["steps_to_half_gap"] for seed in group["seeds"]] == pytest.approx([1500.0, None])
    assert group["summary"]["gap_closed"]["mean"] == pytest.approx(0.375)
    assert group["summary"]["seeds_reaching_half_gap"] == 1


def test_env_scores_refuse_runs_evaluated_with_turn_rewards(tmp_path: Path) -> None:
    warm = write(tmp_path / "warm", [run_json("greedy", 0, 0.6, [(0.0, 0.6)])])
    runs = write(tmp_path / "turn", [run_json("ppo", 0, 1.4, [(0.0, 0.6), (1000.0, 1.5)],
                                              kwargs={**SETTING, "turn_reward": 0.5})])
    with pytest.raises(ValueError, match="not the goal score"):
        env_scores.collect([runs], warm)
