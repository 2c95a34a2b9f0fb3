"""Benchmark runner: results files, aggregation over seeds (hand-checked intervals), ranking, plots, CLI and bad input.

Runs use a toy word-level tokenizer and a five-sentence dataset written to disk, so the env kwargs are plain JSON as
on the command line, and :class:`WordAgent` (defined here, run by its ``module:Class`` path) as the learning agent.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.base import Agent
from agents.bench import cli
from agents.bench.aggregate import estimate, mean_ranks, summarize_runs, write_csv, write_markdown
from agents.bench.plots import plot_learning_curves, plot_primary_bars
from agents.bench.results import AgentInfo, DatasetInfo, EnvInfo, Hardware, RunResult, WallTime, load_results
from agents.bench.runner import plan, run_benchmark, unavailable_agents
from tests.helpers import TOY_PAIRS, word_tokenizer
from textenvs import env_reward_ceiling, load_env_dataset
from textenvs.core import load_tokenizer

try:
    from leaderboard.schema import SubmissionMetadata
except ImportError:  # the leaderboard's extra dependencies are not installed
    SubmissionMetadata = None

TRANSLATION = "textenvs/Translation-v0"
WORD_AGENT = f"{__name__}:WordAgent"


class WordAgent(Agent):
    """Writes ``words`` then EOS. ``learn`` reports a curve every 10 env steps that rises faster for larger seeds."""

    name = "word"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 words: str = "a") -> None:
        super().__init__(env_id, env_kwargs, seed)
        tokenizer = load_tokenizer(self.env_kwargs.get("tokenizer"))
        self.words = words
        self.tokens = np.asarray(tokenizer.encode(words, add_special_tokens=False) + [tokenizer.eos_token_id])

    def learn(self, total_env_steps, callback=None):
        curve = []
        for steps in range(10, total_env_steps + 1, 10):
            point = {"env_steps": steps, "reward": steps / total_env_steps * (1 + self.seed) / 4}
            curve.append(point)
            if callback is not None:
                callback(point)
        return curve

    def act(self, observation):
        position = observation["generated_mask"].sum(axis=1)
        return self.tokens[np.minimum(position, len(self.tokens) - 1)]

    def config(self):
        return {"name": self.name, "words": self.words}


def write_toy_benchmark(root: Path) -> dict[str, Any]:
    """JSON env kwargs for a toy benchmark under ``root``: a saved word tokenizer and a dataset directory with
    train/test JSONL splits."""
    word_tokenizer().save_pretrained(str(root / "tokenizer"))
    rows = "".join(json.dumps({"id": f"toy-{i}", "source": source, "target": target}) + "\n"
                   for i, (source, target) in enumerate(TOY_PAIRS))
    (root / "data").mkdir()
    for split in ("train", "test"):
        (root / "data" / f"{split}.jsonl").write_text(rows, encoding="utf-8")
    return {"tokenizer": str(root / "tokenizer"), "dataset": str(root / "data"), "max_prompt_length": 10,
            "max_new_tokens": 6}


@pytest.fixture(scope="module")
def toy_env_kwargs(tmp_path_factory) -> dict[str, Any]:
    return write_toy_benchmark(tmp_path_factory.mktemp("bench-toy"))


def test_runner_writes_valid_results(tmp_path, toy_env_kwargs):
    specs = plan([TRANSLATION], [WORD_AGENT, "random"], seeds=[0, 1], budget=30, eval_examples=4, eval_batch=3,
                 env_kwargs=toy_env_kwargs, agent_config={WORD_AGENT: {"words": "a dog"}})
    outcome = run_benchmark(specs, tmp_path, progress=False)
    assert outcome.failures == {}
    word_runs = [spec.name for spec in specs if spec.agent == WORD_AGENT]
    assert sorted(outcome.written) == sorted(spec.name for spec in specs) and len(outcome.written) == 4
    test_split = load_env_dataset(TRANSLATION, "test", **toy_env_kwargs)
    for name, path in outcome.written.items():
        result = RunResult.model_validate_json(path.read_text())
        assert result.run == name and result.env.id == TRANSLATION and result.env.version == 0
        assert result.env.kwargs == toy_env_kwargs and result.env.task["max_new_tokens"] == 6
        assert (result.dataset.name, result.dataset.split) == ("data", "test")
        assert result.dataset.content_hash == test_split.content_hash
        assert (result.dataset.size, result.dataset.evaluated, result.dataset.complete) == (5, 4, False)
        assert result.scorer["name"] == "chrf" and result.primary_metric == "chrf"
        assert {"chrf", "corpus_chrf", "reward", "length"} <= set(result.metrics)
        assert result.metrics["reward"] == pytest.approx(result.metrics["chrf"])
        assert result.wall_time_s.total >= result.wall_time_s.evaluate > 0
        assert result.hardware.cpu_cores >= 1 and result.versions["textenvs"] and result.versions["torch"]
        assert result.backend == "local" and result.date.tzinfo is not None
        lines = (tmp_path / result.predictions_path).read_text().splitlines()
        predictions = [json.loads(line) for line in lines]
        assert [row["id"] for row in predictions] == [example.id for example in test_split][:4]
        # The leaderboard's record format, naming the split the predictions answer.
        assert all(set(row) == {"id", "prediction", "dataset_hash"} for row in predictions)
        assert {row["dataset_hash"] for row in predictions} == {test_split.content_hash}
        metadata = json.loads((tmp_path / "predictions" / f"{name}.metadata.json").read_text())
        assert metadata["agent"] == result.agent.name and metadata["seeds"] == [result.seed]
        if SubmissionMetadata is not None:
            SubmissionMetadata.model_validate(metadata)
    word = RunResult.model_validate_json(outcome.written[word_runs[1]].read_text())
    assert word.agent == AgentInfo(name=WORD_AGENT, config={"name": "word", "words": "a dog"})
    assert word.env_steps == 30 and [p["env_steps"] for p in word.learning_curve] == [10, 20, 30]
    assert word.learning_curve[-1]["reward"] == pytest.approx(0.5)
    first = json.loads((tmp_path / word.predictions_path).read_text().splitlines()[0])
    assert first["prediction"] == "a dog"
    random = RunResult.model_validate_json(outcome.written["Translation-v0__random__seed0"].read_text())
    assert random.learning_curve == [] and random.env_steps == 0 and random.budget_env_steps == 30
    assert len(load_results(tmp_path)) == 4


class WholeRolloutAgent(WordAgent):
    """Learns in whole rollouts of 64 env steps, as SB3 does: a budget of 100 ends after 128."""

    def learn(self, total_env_steps, callback=None):
        curve = [{"env_steps": steps, "reward": 0.1} for steps in range(64, total_env_steps + 64, 64)]
        for point in curve:
            if callback is not None:
                callback(point)
        return curve


def test_a_run_past_its_budget_is_reported_with_both_figures(tmp_path, toy_env_kwargs):
    import io

    from rich.console import Console

    specs = plan([TRANSLATION], [f"{__name__}:WholeRolloutAgent", WORD_AGENT], seeds=[0], budget=100,
                 eval_examples=2, env_kwargs=toy_env_kwargs)
    output = io.StringIO()
    outcome = run_benchmark(specs, tmp_path, progress=False, console=Console(file=output, width=300))
    assert len(outcome.written) == 2
    text = output.getvalue()
    lines = {line.split(":")[0].lstrip("✓ "): line for line in text.splitlines() if line.startswith("✓")}
    assert lines[specs[0].name].endswith("; 128 env steps for a budget of 100: whole rollouts)"), lines
    assert "budget" not in lines[specs[1].name], "a run within its budget gets no note"
    results = {run.run: run for run in load_results(tmp_path)}
    assert (results[specs[0].name].env_steps, results[specs[0].name].budget_env_steps) == (128, 100)


def test_a_failed_run_is_reported_and_the_others_still_run(tmp_path, toy_env_kwargs):
    specs = plan([TRANSLATION], [WORD_AGENT, "random"], seeds=[0], budget=0, eval_examples=2,
                 env_kwargs=toy_env_kwargs, agent_config={WORD_AGENT: {"words": 123}})  # fails when built
    outcome = run_benchmark(specs, tmp_path, progress=False)
    assert list(outcome.written) == [specs[1].name]
    assert list(outcome.failures) == [specs[0].name]
    assert "ValueError: text input must be of type `str`" in outcome.failures[specs[0].name]
    assert not (tmp_path / "runs" / f"{specs[0].name}.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# Aggregation, ranking and plots on hand-made results.


def fake_result(env_id: str, agent: str, seed: int, chrf: float, curve: list[dict[str, float]] = (),
                env_kwargs: dict[str, Any] | None = None) -> RunResult:
    return RunResult(
        run=f"{env_id.split('/')[-1]}__{agent}__seed{seed}",
        env=EnvInfo(id=env_id, version=0, kwargs=env_kwargs or {}, task={}),
        dataset=DatasetInfo(name="toy", split="test", content_hash="0" * 64, size=5, evaluated=5, complete=True),
        scorer={"name": "chrf", "primary": "chrf"}, agent=AgentInfo(name=agent, config={}), seed=seed,
        budget_env_steps=100, env_steps=int(curve[-1]["env_steps"]) if curve else 0, primary_metric="chrf",
        metrics={"chrf": chrf, "reward": chrf, "length": 4.0 + seed}, learning_curve=list(curve),
        predictions_path=f"predictions/{agent}-{seed}.jsonl", wall_time_s=WallTime(learn=1.0, evaluate=1.0, total=2.0),
        hardware=Hardware(hostname="h", platform="p", cpu="c", cpu_cores=2, memory_gb=None, gpus=[],
                          torch_threads=1),
        versions={"textenvs": "0.1.0"}, backend="local", date=datetime(2025, 1, 1, tzinfo=timezone.utc))


def test_confidence_intervals_are_student_t():
    # mean 0.4, s = 0.2, t(0.975, 2) = 4.302653 → 4.302653 * 0.2 / √3 = 0.496828
    three = estimate([0.2, 0.4, 0.6])
    assert three.mean == pytest.approx(0.4) and three.half_width == pytest.approx(0.496828, abs=1e-6)
    assert three.low == pytest.approx(-0.096828, abs=1e-6) and three.high == pytest.approx(0.896828, abs=1e-6)
    assert three.n == 3
    # mean 0.2, s = √0.02, t(0.975, 1) = 12.706205 → 12.706205 * 0.1 = 1.270620
    assert estimate([0.1, 0.3]).half_width == pytest.approx(1.270620, abs=1e-6)
    single = estimate([0.7])
    assert (single.mean, single.half_width, single.low, single.format()) == (0.7, None, None, "0.7000")
    assert estimate([0.5, 0.5]).half_width == 0.0
    with pytest.raises(ValueError):
        estimate([])


def test_summary_ranks_agents_per_env(tmp_path):
    results = [fake_result(TRANSLATION, "greedy", seed, value) for seed, value in enumerate([0.2, 0.4, 0.6])]
    results += [fake_result(TRANSLATION, "random", seed, value) for seed, value in enumerate([0.1, 0.3])]
    results += [fake_result(TRANSLATION, "ppo", 0, 0.7)]
    results += [fake_result("textenvs/Dialogue-v0", agent, 0, value)
                for agent, value in (("random", 0.5), ("greedy", 0.5), ("ppo", 0.1))]
    summaries = summarize_runs(results)
    ranked = [(s.env_id, s.rank, s.agent) for s in summaries]
    assert ranked == [(TRANSLATION, 1, "ppo"), (TRANSLATION, 2, "greedy"), (TRANSLATION, 3, "random"),
                      ("textenvs/Dialogue-v0", 1, "greedy"), ("textenvs/Dialogue-v0", 2, "random"),  # tie: by name
                      ("textenvs/Dialogue-v0", 3, "ppo")]
    greedy = summaries[1]
    assert greedy.seeds == [0, 1, 2] and greedy.primary.half_width == pytest.approx(0.496828, abs=1e-6)
    assert greedy.metrics["length"].mean == pytest.approx(5.0)
    assert mean_ranks(summaries) == [("greedy", 1.5, 2), ("ppo", 2.0, 2), ("random", 2.5, 2)]

    markdown = write_markdown(summaries, tmp_path / "summary.md").read_text()
    translation_part = markdown.split("## textenvs/Dialogue-v0")[0]
    assert translation_part.index("| 1 | ppo |") < translation_part.index("| 2 | greedy |") \
        < translation_part.index("| 3 | random |")
    assert "| 2 | greedy | 0.4000 ± 0.4968 |" in markdown and "| 1 | ppo | 0.7000 |" in markdown
    rows = write_csv(summaries, tmp_path / "summary.csv").read_text().splitlines()
    greedy_chrf = next(row for row in rows if row.startswith(f"{TRANSLATION},2,greedy,chrf,chrf,"))
    low, high = map(float, greedy_chrf.split(",")[6:8])
    assert (low, high) == (pytest.approx(0.4 - 0.496828, abs=1e-6), pytest.approx(0.4 + 0.496828, abs=1e-6))

    with pytest.raises(ValueError, match="several results for one seed"):
        summarize_runs(results + [fake_result(TRANSLATION, "ppo", 0, 0.1)])


def test_gap_closed_is_reported_where_the_env_has_a_ceiling(tmp_path):
    v1 = "textenvs/Translation-v1"  # reward ceiling 1.0 (TaskSpec.reward_ceiling); v0 has none
    results = [fake_result(v1, "greedy", seed, 0.6) for seed in range(3)]
    results += [fake_result(v1, "ppo", seed, value) for seed, value in enumerate([0.9, 1.0, 0.95])]
    results += [fake_result(v1, "random", seed, 0.0) for seed in range(3)]
    results += [fake_result(TRANSLATION, agent, 0, value) for agent, value in (("greedy", 0.5), ("ppo", 0.6))]
    summaries = {(s.env_id, s.agent): s for s in summarize_runs(results)}
    # per seed (x - 0.6) / (1 - 0.6) = 0.75, 1.0, 0.875: mean 0.875, s = 0.125, t(0.975, 2) * 0.125 / √3 = 0.310517
    gap = summaries[(v1, "ppo")].metrics["gap_closed"]
    assert gap.mean == pytest.approx(0.875) and gap.half_width == pytest.approx(0.310517, abs=1e-6)
    assert summaries[(v1, "greedy")].metrics["gap_closed"].mean == 0.0
    assert summaries[(v1, "random")].metrics["gap_closed"].mean == pytest.approx(-1.5)
    assert "gap_closed" not in summaries[(TRANSLATION, "ppo")].metrics

    markdown = write_markdown(list(summaries.values()), tmp_path / "summary.md").read_text()
    v0_part, v1_part = markdown.split(f"## {TRANSLATION}")[1].split(f"## {v1}")
    assert "| gap closed |" in v1_part and "| 87.5% ± 31.1 |" in v1_part and "gap closed" not in v0_part

    # Another dataset or scorer: the canonical outputs behind the ceiling are not what is scored.
    elsewhere = [fake_result(v1, agent, 0, value, env_kwargs={"dataset": "data/mine"})
                 for agent, value in (("greedy", 0.6), ("ppo", 0.9))]
    assert all("gap_closed" not in s.metrics for s in summarize_runs(elsewhere))


def test_plots_are_written(tmp_path):
    def curve(seed):  # seeds report at different steps; the plot interpolates onto a shared grid
        return [{"env_steps": steps, "reward": steps / 100 + seed / 10} for steps in range(10 + seed, 101, 20 + seed)]

    results = [fake_result(TRANSLATION, "ppo", seed, 0.5 + seed / 10, curve(seed)) for seed in range(3)]
    results += [fake_result(TRANSLATION, "greedy", seed, 0.4) for seed in range(2)]
    results += [fake_result("textenvs/Dialogue-v0", "greedy", 0, 0.3)]  # a panel with no learning agent
    summaries = summarize_runs(results)
    for path in (plot_learning_curves(summaries, tmp_path / "plots" / "curves.png"),
                 plot_primary_bars(summaries, tmp_path / "plots" / "bars.png")):
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


# ---------------------------------------------------------------------------------------------------------------
# Command line.


def test_cli_runs_skips_unavailable_agents_and_reaggregates(tmp_path, toy_env_kwargs, capsys):
    out = tmp_path / "bench"
    args = ["--envs", TRANSLATION, "--agents", f"{WORD_AGENT},random,no_such_module:Agent", "--seeds", "0,1",
            "--budget", "20", "--eval-examples", "3", "--env-kwargs", json.dumps(toy_env_kwargs), "--out", str(out),
            "--agent-config", json.dumps({WORD_AGENT: {"words": "the cat"}}), "--no-progress"]
    assert cli.main(args) == 2  # an agent that cannot be imported stops the run unless asked to skip it
    assert "no_such_module:Agent: ModuleNotFoundError" in capsys.readouterr().err

    assert cli.main(args + ["--skip-unavailable"]) == 0
    printed = capsys.readouterr().out
    assert "skipping agent no_such_module:Agent" in printed and "ranked by mean chrf" in printed
    assert len(list((out / "runs").glob("*.json"))) == 4
    for name in ("summary.md", "summary.csv", "plots/learning_curves.png", "plots/primary_metric.png"):
        assert (out / name).stat().st_size > 0
        assert str(out / name) in printed
    recorded = json.loads((out / "bench_config.json").read_text())
    assert recorded["agents"] == [WORD_AGENT, "random"] and "no_such_module:Agent" in recorded["skipped_agents"]

    # Three test examples of five: the closing line says the predictions cannot be submitted as they are.
    assert "a leaderboard takes whole test splits: rerun without --eval-examples" in printed

    (out / "summary.md").unlink()
    assert cli.main(["--aggregate", str(out)]) == 0
    assert (out / "summary.md").is_file() and WORD_AGENT in capsys.readouterr().out


def test_a_bench_on_whole_test_splits_closes_with_the_submit_command(tmp_path, toy_env_kwargs, capsys):
    """Issue 28: the quick start's predictions covered 200 of 500 test examples and every one was refused by the
    leaderboard; a bench on whole splits ends by printing the submit command for one of its runs."""
    out = tmp_path / "bench"
    args = ["--envs", TRANSLATION, "--agents", "random", "--seeds", "0", "--env-kwargs", json.dumps(toy_env_kwargs),
            "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    predictions = out / "predictions" / "Translation-v0__random__seed0.jsonl"
    assert (f"textenvs leaderboard submit {predictions} --env {TRANSLATION} --server URL --token TOKEN "
            f"--metadata @{predictions.with_suffix('.metadata.json')}") in printed
    run = json.loads((out / "runs" / "Translation-v0__random__seed0.json").read_text())
    assert run["dataset"]["complete"] is True


def test_config_file_and_command_line_override(tmp_path):
    config = tmp_path / "bench.json"
    config.write_text(json.dumps({"envs": [TRANSLATION], "agents": "random,greedy", "seeds": [3, 4],
                                  "eval-examples": 7, "budget": 50}))
    args = cli.build_parser().parse_args(["--config", str(config), "--budget", "10"])
    options = cli.resolve_options(args)
    assert options["envs"] == [TRANSLATION] and options["agents"] == ["random", "greedy"]
    assert (options["seeds"], options["eval_examples"], options["budget"]) == ([3, 4], 7, 10)
    quick = cli.resolve_options(cli.build_parser().parse_args(["--quick"]))
    assert quick["skip_unavailable"] and len(quick["envs"]) == 3 and "greedy" in quick["agents"]
    # The quick start shows the gap closed: its envs have a known ceiling and the warm start runs beside the RL
    # agents, each of which has its settings in the config.
    assert all(env_reward_ceiling(env_id) == 1.0 for env_id in quick["envs"])
    assert set(quick["agent_config"]) == set(quick["agents"]) - {"random", "greedy"}
    config.write_text(json.dumps({"env": TRANSLATION}))
    with pytest.raises(ValueError, match="Unknown option 'env'"):
        cli.resolve_options(args)


@pytest.mark.parametrize("args, message", [
    (["--envs", "textenvs/Translaton-v0", "--agents", "random"],
     "Unknown env id(s) 'textenvs/Translaton-v0'. 'textenvs/Translaton-v0': did you mean 'textenvs/Translation-v0'?"
     " Available: textenvs/Translation-v0, textenvs/Summarization-v0, textenvs/Dialogue-v0, textenvs/MultiTurnDialogue-v0,"
     " textenvs/MultiTurnDialogue-v1, textenvs/SyntheticTranslation-v1, textenvs/SyntheticSummarization-v1,"
     " textenvs/SyntheticDialogue-v1, textenvs/SyntheticTranslation-v2, textenvs/SyntheticSummarization-v2,"
     " textenvs/SyntheticDialogue-v2."),
    (["--envs", TRANSLATION, "--agents", "gredy"], "Unknown agent 'gredy'. Did you mean 'greedy'? Available: "),
    (["--envs", TRANSLATION, "--agents", "random", "--seeds", "0,x"], "seeds must be integers"),
    (["--envs", TRANSLATION, "--agents", "random", "--budget", "-5"], "budget must be >= 0"),
    (["--envs", TRANSLATION, "--agents", "random", "--agent-config", '{"ppoo": {}}'],
     "Unknown agent 'ppoo'. Did you mean 'ppo'?"),
    (["--agents", "random"], "No envs given"),
    (["--envs", TRANSLATION, "--agents", "random", "--env-kwargs", "[1]"], "expected a JSON object"),
    (["--envs", TRANSLATION, "--agents", "random", "--backend", "slurm"], "invalid choice: 'slurm'"),
])
def test_bad_input_names_what_exists(args, message, tmp_path, capsys):
    assert cli.main(args + ["--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, message", [
    (["--envs", f"{TRANSLATION},textenvs/Dialogue-v0", "--agents", "random,greedy", "--seeds", "0,1,2",
      "--env-kwargs", '{"max_new_tokns": 8}'],
     "env_kwargs of textenvs/Translation-v0: Unknown env argument(s): 'max_new_tokns' "
     "(did you mean 'max_new_tokens'?)"),
    (["--envs", f"{TRANSLATION},textenvs/Dialogue-v0", "--agents", "random", "--env-kwargs",
      '{"textenvs/Dialogue-v0": {"scorer": "BLEU"}}'],
     "env_kwargs of textenvs/Dialogue-v0: Unknown scorer 'BLEU'. Did you mean 'bleu'?"),
    (["--envs", TRANSLATION, "--agents", "random", "--env-kwargs", '{"scorer": "chrf", "scorer_kwargs": '
                                                                   '{"word_ordr": 2}}'],
     "Unknown scorer_kwargs for scorer 'chrf': 'word_ordr' (did you mean 'word_order'?)"),
    (["--envs", TRANSLATION, "--agents", "random,ppo", "--agent-config", '{"ppo": {"num_env": 8}}'],
     "Unknown agent_config key(s) for agent 'ppo': 'num_env' (did you mean 'num_envs'?)"),
    (["--envs", TRANSLATION, "--agents", "random,grpo", "--agent-config", '{"grpo": {"temperature": 0}}'],
     "agent_config for agent 'grpo': temperature must be > 0"),
    (["--envs", TRANSLATION, "--agents", "greedy", "--agent-config", '{"greedy": {"modle": "default"}}'],
     "Unknown agent_config key(s) for agent 'greedy': 'modle' (did you mean 'model'?)"),
])
def test_bad_env_kwargs_scorer_or_agent_config_stop_the_bench_before_any_run(args, message, tmp_path, capsys):
    assert cli.main(args + ["--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir()), "nothing ran and nothing was written"


def test_valid_agent_configs_pass_the_check_without_building_the_agent():
    from agents.registry import check_agent_config

    check_agent_config("ppo", {"num_envs": 8, "model": "default", "learning_rate": 3e-5})
    check_agent_config("rloo", {"num_generations": 2})
    check_agent_config("sb3-ppo", {"n_steps": 8, "num_envs": 2})
    check_agent_config(WORD_AGENT, {"words": "a cat"})  # a module:Class agent: its constructor's names
    with pytest.raises(TypeError, match="Unknown agent_config key.*'word' \\(did you mean 'words'\\?\\)"):
        check_agent_config(WORD_AGENT, {"word": "a cat"})


def test_unknown_agent_lists_registry_and_aggregate_needs_results(tmp_path, capsys):
    from agents.registry import available

    assert cli.main(["--envs", TRANSLATION, "--agents", "nope"]) == 2
    assert ", ".join(available()) in capsys.readouterr().err
    assert cli.main(["--aggregate", str(tmp_path)]) == 2
    assert "is it a `textenvs bench --out` directory?" in capsys.readouterr().err
    assert unavailable_agents(["random"]) == {}
    assert math.isfinite(estimate([1.0, 2.0]).half_width)


def test_bench_modules_import_each_other_without_cycles():
    """Execution, backends and driver are layered: no module of agents.bench imports one that imports it back
    (function-level imports included), so ``import agents.bench.ray_backend`` works on its own."""
    import ast
    import subprocess
    import sys

    package = Path(__file__).resolve().parents[2] / "agents" / "bench"
    graph = {}
    for path in package.glob("*.py"):
        if path.stem == "__init__":
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agents.bench."):
                imported.add(node.module.rsplit(".", 1)[1])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.rsplit(".", 1)[1] for alias in node.names
                                if alias.name.startswith("agents.bench."))
        graph[path.stem] = imported

    def reaches(start, target, seen=()):
        return any(module == target or (module not in seen and reaches(module, target, (*seen, module)))
                   for module in graph.get(start, ()))

    assert graph["ray_backend"] == {"execution"} and "runner" not in graph["backends"]
    assert [module for module in graph if reaches(module, module)] == []
    fresh = subprocess.run([sys.executable, "-c", "import agents.bench.ray_backend"], capture_output=True, text=True,
                           cwd=package.parents[1])
    assert fresh.returncode == 0, fresh.stderr


def test_bench_and_leaderboard_report_identical_metrics(tmp_path, toy_env_kwargs):
    from agents.bench.execution import RunSpec, execute
    from leaderboard.scoring import Benchmark
    from textenvs import load_env_scorer

    output = execute(RunSpec(TRANSLATION, WORD_AGENT, seed=0, budget=0, eval_batch=2, env_kwargs=toy_env_kwargs,
                             agent_config={"words": "a dog sees"}))
    split = load_env_dataset(TRANSLATION, "test", **toy_env_kwargs)
    benchmark = Benchmark(TRANSLATION, split, load_env_scorer(TRANSLATION, **toy_env_kwargs))
    by_id = {row["id"]: row["prediction"] for row in output.predictions}
    leaderboard = benchmark.score([by_id[example.id] for example in split])
    bench = output.result.metrics
    assert set(bench) - set(leaderboard) == {"reward", "length"}
    assert {key: bench[key] for key in leaderboard} == leaderboard  # exactly equal, not approximately
    assert leaderboard["corpus_chrf"] != leaderboard["chrf"]


def test_an_env_with_a_newer_version_is_noted_once_not_warned_on_every_make(tmp_path, capsys):
    """A bench names each env's version on purpose: Gymnasium's "out of date" notice on every make (in every worker)
    becomes one line at the start."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["--envs", "textenvs/SyntheticTranslation-v1", "--agents", "random", "--seeds", "0",
                         "--eval-examples", "2", "--out", str(tmp_path / "bench"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert ("note: textenvs/SyntheticTranslation-v1 has a newer version, textenvs/SyntheticTranslation-v2; these runs "
            "use the one named.") in printed
    assert not [warning for warning in caught if "out of date" in str(warning.message)]
