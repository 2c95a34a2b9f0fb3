"""benchmarks/learning/ppo_vs_warm_start.py scores a split with the same metrics as the benchmark runner."""

from __future__ import annotations

import importlib.util
import json
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


def test_seed_summary_student_t_half_width() -> None:
    # Three seeds: half-width = t(0.975, 2) * sample std / sqrt(3), with t = 4.303; one seed has no interval.
    script = load_script()
    summary = script.seed_summary("corpus_bleu", 0.20, [0.21, 0.215, 0.19])
    std = ((0.005 ** 2 + 0.015 ** 2 + 0.01 ** 2) / 2) ** 0.5  # deviations from the mean 0.205
    assert summary["ppo_mean"] == pytest.approx(0.205)
    assert summary["ppo_ci95_half_width"] == pytest.approx(4.303 * std / 3 ** 0.5)
    assert summary["gain"] == pytest.approx(0.005)
    assert summary["seeds_above_warm_start"] == 2
    assert script.seed_summary("corpus_bleu", 0.20, [0.21])["ppo_ci95_half_width"] is None


def test_grpo_agent_trains_from_the_warm_start_and_records_its_metrics(tmp_path) -> None:
    # --agent grpo: the same protocol with the GRPO trainer; its reward and KL (TRL's names) fill the per-seed fields.
    script = load_script()
    assert script.main(["--name", "grpo-smoke", "--agent", "grpo", "--env", "textenvs/Translation-v0",
                        "--warm-start", "default", "--ppo", '{"num_envs": 8, "num_generations": 4, "beta": 0.04}',
                        "--iterations", "2", "--seeds", "0", "--eval-examples", "8", "--eval-batch", "8",
                        "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "grpo-smoke.json").read_text())
    assert results["agent"] == "grpo" and results["ppo_config"]["num_generations"] == 4
    run = results["ppo"][0]
    # (the history is rounded to 5 decimals)
    assert run["train_reward_first"] == pytest.approx(run["history"]["reward"][0], abs=1e-5)
    assert run["final_kl"] == pytest.approx(run["history"]["kl"][-1], abs=1e-5) and run["final_kl"] >= 0
    assert len(run["history"]["completions/mean_length"]) == 2
    assert results["summary"]["metric"] == "corpus_chrf" and run["examples"] == 8
