"""The env's own goal score of ``textenvs bench`` runs on ``textenvs/MultiTurnDialogue-v1``, per seed and as mean ±
95% Student-t half-width: the final test score, the gap closed, the eval curve, steps to half the gap and the curve
AUC, all read from the runs' ``reward`` (the mean episode reward, which is the env's goal score when the evaluation
env has no per-turn reward), grouped by directory, agent and training-only ``turn_reward``.

Runs with per-turn credit get ``turn_reward`` in their training env only (the bench's ``train_env_kwargs``), so
their ``reward`` is the goal score too; a run whose evaluation ``env_kwargs`` hold a ``turn_reward`` is refused::

    python benchmarks/learning/multiturn_v1_env_scores.py runs/multiturn-v1-rule \\
        runs/multiturn-v1-rule-turn0.5-train-kwargs --warm-start-dir runs/multiturn-v1-rule \\
        --out benchmarks/learning/results/multiturn-v1-rule-env-scores.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from agents.bench.aggregate import curve_auc, estimate, steps_to_half_gap
from agents.bench.results import RunResult, load_results

CEILING = 1.0
"""The env's goal score of the scripted oracle (every goal booked right)."""
WARM_START_AGENT = "greedy"


def env_score_runs(run: RunResult, warm_start: float) -> dict[str, Any]:
    """One run's env scores: test ``reward``, gap closed against ``warm_start``, and its eval curve's ``reward``
    (steps to half the gap and AUC measured from the curve's own first point, the warm start on validation)."""
    if run.env.kwargs.get("turn_reward"):
        raise ValueError(f"{run.run}: the evaluation env has turn_reward, so reward is not the goal score.")
    score = float(run.metrics["reward"])
    steps = [float(point["env_steps"]) for point in run.eval_curve]
    curve = [float(point["reward"]) for point in run.eval_curve]
    return {"seed": run.seed, "test_score": score, "gap_closed": (score - warm_start) / (CEILING - warm_start),
            "env_steps": run.env_steps, "wall_s": round(run.wall_time_s.total, 1),
            "steps_to_half_gap": steps_to_half_gap(steps, curve, CEILING) if len(curve) > 1 else None,
            "curve_auc": curve_auc(steps, curve, CEILING) if curve else None,
            "eval_curve": [[step, value] for step, value in zip(steps, curve)]}


def summary(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% half-width over seeds of the test score, gap closed and curve AUC; seeds reaching half the gap."""
    out: dict[str, Any] = {}
    for key in ("test_score", "gap_closed", "curve_auc"):
        value = estimate([seed[key] for seed in seeds])
        out[key] = {"mean": value.mean, "half_width": value.half_width, "n": value.n}
    out["seeds_reaching_half_gap"] = sum(seed["steps_to_half_gap"] is not None for seed in seeds)
    return out


def collect(run_dirs: Sequence[Path], warm_start_dir: Path) -> dict[str, Any]:
    """Every learning agent of every directory, keyed ``<directory>/<agent>``, with the warm start's test score."""
    warm = [float(run.metrics["reward"]) for run in load_results(warm_start_dir) if run.agent.name == WARM_START_AGENT]
    if not warm:
        raise ValueError(f"No {WARM_START_AGENT} run in {warm_start_dir}.")
    warm_start = sum(warm) / len(warm)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for directory in run_dirs:
        for run in load_results(directory):
            if run.agent.name != WARM_START_AGENT:
                groups[f"{directory}/{run.agent.config.get('name', run.agent.name)}"
                       f"{_turn_suffix(run)}"].append(env_score_runs(run, warm_start))
    return {"warm_start_test_score": warm_start, "ceiling": CEILING,
            "groups": {name: {"seeds": sorted(seeds, key=lambda seed: seed["seed"]), "summary": summary(seeds)}
                       for name, seeds in groups.items()}}


def _turn_suffix(run: RunResult) -> str:
    weight = run.env.train_kwargs.get("turn_reward")
    return f" turn_reward={weight}" if weight is not None else ""


def _print(collected: dict[str, Any]) -> None:
    print(f"warm start (test): {collected['warm_start_test_score']:.3f}")
    for name, group in collected["groups"].items():
        total = group["summary"]
        cells = [f"{key} {total[key]['mean']:.3f} ± {total[key]['half_width'] or 0:.3f}"
                 for key in ("test_score", "gap_closed", "curve_auc")]
        print(f"{name}: " + "; ".join(cells) + f"; seeds reaching half the gap {total['seeds_reaching_half_gap']}")
        for seed in group["seeds"]:
            curve = ", ".join(f"{step:.0f}:{value:.3f}" for step, value in seed["eval_curve"])
            print(f"  seed {seed['seed']}: test {seed['test_score']:.3f} gap {seed['gap_closed']:.3f} "
                  f"half-gap step {seed['steps_to_half_gap']} wall {seed['wall_s']} s; curve {curve}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="textenvs bench output directories")
    parser.add_argument("--warm-start-dir", type=Path, required=True, help="the directory with the greedy runs")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    collected = collect(args.run_dirs, args.warm_start_dir)
    _print(collected)
    if args.out is not None:
        collected["command"] = " ".join(["python", *sys.argv])
        args.out.write_text(json.dumps(collected, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
