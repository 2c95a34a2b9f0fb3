"""Turn a ``textenvs bench`` results directory into this folder's results files: one ``results/<prefix>-<task>-<agent>.json``
per env and learning agent, with the warm start (the ``greedy`` agent of the same directory, or of ``--warm-start-dir``)
as the baseline and the task's ceiling for the gap closed.

    python -m textenvs bench --config benchmarks/learning/configs/v1-rl.json
    python benchmarks/learning/from_bench.py runs/v1-rl --config benchmarks/learning/configs/v1-rl.json

Each file holds the bench config, every run's exact agent config, the per-seed scores (greedy decoding on the test
split), the warm start's score, the mean with its 95% Student-t interval over seeds, the gain, the fraction of the
warm-start-to-ceiling gap closed (``(mean - warm start) / (ceiling - warm start)``) and how many seeds beat the warm
start. ``summarize.py`` prints the table from them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.bench.aggregate import estimate
from agents.bench.results import RunResult, load_results

HERE = Path(__file__).resolve().parent
WARM_START_AGENT = "greedy"


def task_name(env_id: str) -> str:
    """``textenvs/SyntheticTranslation-v1`` (or its old id ``textenvs/Translation-v1``) → ``translation``: the
    results files of one task keep one name across the rename of the benchmark ids."""
    return env_id.split("/")[-1].rsplit("-", 1)[0].lower().removeprefix("synthetic")


def experiment(name: str, runs: list[RunResult], warm_start: RunResult, ceiling: float,
               bench_config: dict[str, Any], command: str, note: str) -> dict[str, Any]:
    """One results file: an agent's seeds on one env against the warm start."""
    first = runs[0]
    metric = "corpus_" + first.primary_metric
    baseline = warm_start.metrics[metric]
    per_seed = []
    for run in sorted(runs, key=lambda run: run.seed):
        # The sampled training reward of each rollout, as every agent's learning curve names it.
        rewards = [point["reward"] for point in run.learning_curve if "reward" in point]
        per_seed.append({"seed": run.seed, metric: run.metrics[metric], "mean_length": run.metrics.get("length"),
                         "env_steps": run.env_steps, "train_reward_first": rewards[0] if rewards else None,
                         "train_reward_last": rewards[-1] if rewards else None,
                         "wall_s": round(run.wall_time_s.total, 1), "agent_config": run.agent.config})
    scores = [seed[metric] for seed in per_seed]
    mean = estimate(scores)
    return {
        "name": name, "command": command, "bench_config": bench_config,
        "env": first.env.id, "env_kwargs": first.env.kwargs, "agent": first.agent.name,
        "budget_env_steps": first.budget_env_steps,
        "eval": {"split": first.dataset.split, "examples": first.dataset.evaluated, "scorer": first.scorer,
                 "decoding": "greedy"},
        "metric": metric, "ceiling": ceiling, "warm_start": baseline, "runs": per_seed,
        "summary": {"metric": metric, "warm_start": baseline, "mean": mean.mean, "ci95": mean.half_width,
                    "gain": mean.mean - baseline, "gap_closed": (mean.mean - baseline) / (ceiling - baseline),
                    "seeds_won": sum(score > baseline for score in scores), "seeds": len(scores)},
        "note": note, "hardware": first.hardware.model_dump(), "versions": first.versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_dir", help="a textenvs bench --out directory")
    parser.add_argument("--config", required=True, help="the bench --config file the directory was made with")
    parser.add_argument("--warm-start-dir", default=None,
                        help="directory holding the greedy (warm-start) runs, when bench_dir has none")
    parser.add_argument("--prefix", default="v1", help="results/<prefix>-<task>-<agent>.json")
    parser.add_argument("--ceiling", type=float, default=1.0, help="the task reward's maximum (v1 tasks: 1.0)")
    parser.add_argument("--note", default="", help="recorded with the results, e.g. the machine's load")
    args = parser.parse_args(argv)

    config_path = Path(args.config)
    bench_config = json.loads(config_path.read_text())
    command = (f"python -m textenvs bench --config {config_path.as_posix()} && python benchmarks/learning/from_bench.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    runs = load_results(args.bench_dir)
    warm_starts = {run.env.id: run for run in load_results(args.warm_start_dir or args.bench_dir)
                   if run.agent.name == WARM_START_AGENT}
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.agent.name != WARM_START_AGENT:
            groups[run.env.id, run.agent.name].append(run)
    if not groups:
        parser.error(f"{args.bench_dir} has no runs of a learning agent (only {WARM_START_AGENT!r} or none).")
    (HERE / "results").mkdir(exist_ok=True)
    for (env_id, agent), group in sorted(groups.items()):
        if env_id not in warm_starts:
            parser.error(f"No {WARM_START_AGENT!r} run of {env_id} in {args.warm_start_dir or args.bench_dir}: "
                         "it is the warm-start baseline (add it to the bench agents or pass --warm-start-dir).")
        name = f"{args.prefix}-{task_name(env_id)}-{agent}"
        result = experiment(name, group, warm_starts[env_id], args.ceiling, bench_config, command, args.note)
        path = HERE / "results" / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        summary = result["summary"]
        print(f"{path.name}: warm start {summary['warm_start']:.4f}, mean {summary['mean']:.4f} ± "
              f"{summary['ci95'] or 0:.4f}, gap closed {summary['gap_closed']:.0%}, "
              f"seeds won {summary['seeds_won']}/{summary['seeds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
