"""benchmarks/learning/ppo_vs_warm_start.py scores a split with the same metrics as the benchmark runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agents.ppo.agent import PPOAgent

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning" / "ppo_vs_warm_start.py"


def load_script():
    spec = importlib.util.spec_from_file_location("ppo_vs_warm_start", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_passes_example_metadata_to_the_scorer() -> None:
    # The v1 rewards (like key_fact_recall and slot_coverage) read each example's metadata: scoring predictions
    # with references alone raised there. The score must equal the mean reward the env paid for the same episodes.
    script = load_script()
    args = script.build_parser().parse_args(["--name", "test", "--env", "textenvs/Summarization-v1",
                                             "--eval-examples", "6", "--eval-batch", "6"])
    agent = PPOAgent("textenvs/Summarization-v1", {}, seed=0, model="default", iterations=0, progress=False,
                     tensorboard=False)
    scores = script.evaluate(agent, args, {})
    assert scores["examples"] == 6
    assert 0.0 < scores["mean_reward"] < 1.0  # the warm start is imperfect: a score of 0 would hide a broken scorer
    assert scores["corpus_summary_facts"] == pytest.approx(scores["mean_reward"])
