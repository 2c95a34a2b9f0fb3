"""Print the Markdown tables of every results/*.json: the v1 experiments (``from_bench.py``: warm start, mean ± 95% CI
over seeds, seeds won, gain, gap closed) and the earlier ones (``ppo_vs_warm_start.py``: warm start vs PPO, mean ±
std over seeds).

    python benchmarks/learning/summarize.py                                              # the results tables
    python benchmarks/learning/summarize.py --metrics runs/v1-diag-ppo-dialogue/metrics.jsonl  # one run's figures
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGENT_ORDER = ("ppo", "grpo", "rloo", "dr-grpo", "sb3-maskable-ppo")
# The figures a practitioner reads per iteration, under the PPO trainer's (CleanRL) and the GRPO trainer's (TRL) names.
RUN_FIGURES = {"reward": ("charts/reward", "reward"), "reward std in group": ("reward_std",),
               "groups all equal": ("frac_reward_zero_std",),
               "length": ("charts/episode_length", "completions/mean_length"),
               "approx_kl": ("losses/approx_kl", "approx_kl"), "clipfrac": ("losses/clipfrac", "clipfrac"),
               "explained_variance": ("losses/explained_variance",), "entropy": ("policy/entropy", "entropy"),
               "KL to reference": ("objective/kl", "kl")}


def print_run_figures(metrics_path: Path) -> None:
    """One row per iteration of a trainer's metrics.jsonl: reward, approx_kl, clipfrac, explained variance, entropy."""
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    columns = [(name, next((key for key in keys if key in rows[0]), None)) for name, keys in RUN_FIGURES.items()]
    columns = [(name, key) for name, key in columns if key is not None]
    print("| iteration | env steps | " + " | ".join(name for name, _ in columns) + " |")
    print("|---" * (len(columns) + 2) + "|")
    for row in rows:
        steps = row.get("charts/env_steps", row.get("env_steps"))
        print(f"| {row['iteration']} | {steps} | " + " | ".join(f"{row[key]:.3f}" for _, key in columns) + " |")


def print_ceiling_table(results: list[dict]) -> None:
    """Experiments with a known ceiling (the v1 tasks), one row per task and agent."""
    print("| task | agent | budget (env steps) | metric (split, examples) | warm start | mean ± 95% CI (seeds 0, 1, 2) | "
          "seeds won | mean gain | gap closed |")
    print("|---|---|---|---|---|---|---|---|---|")
    order = {agent: position for position, agent in enumerate(AGENT_ORDER)}
    for result in sorted(results, key=lambda r: (r["env"], order.get(r["agent"], len(order)), r["name"])):
        summary, evaluation = result["summary"], result["eval"]
        per_seed = ", ".join(f"{run[summary['metric']]:.3f}" for run in result["runs"])
        ci = "" if summary["ci95"] is None else f" ± {summary['ci95']:.3f}"
        print(f"| {result['env'].split('/')[-1]} | {result['agent']} | {result['budget_env_steps']:,} | "
              f"{summary['metric']} ({evaluation['split']}, {evaluation['examples']}) | {summary['warm_start']:.3f} | "
              f"{summary['mean']:.3f}{ci} ({per_seed}) | {summary['seeds_won']}/{summary['seeds']} | "
              f"{summary['gain']:+.3f} | {summary['gap_closed']:.1%} |")


def print_warm_start_table(results: list[dict]) -> None:
    """The earlier PPO-vs-warm-start experiments (no known ceiling)."""
    print("| experiment | metric (eval split, examples) | warm start | PPO mean ± std (seeds) | gain | PPO wins | minutes |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        summary, evaluation = result["summary"], result["eval"]
        per_seed = ", ".join(f"{run[summary['metric']]:.4f}" for run in result["ppo"])
        print(f"| {result['name']} | {summary['metric']} ({evaluation['split']}, {evaluation['examples']}) | "
              f"{summary['warm_start']:.4f} | {summary['ppo_mean']:.4f} ± {summary['ppo_std']:.4f} ({per_seed}) | "
              f"{summary['gain']:+.4f} | {'yes' if summary['ppo_beats_warm_start'] else 'no'} | "
              f"{result['total_seconds'] / 60:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=Path, default=None, help="print one run's metrics.jsonl figures instead")
    args = parser.parse_args()
    if args.metrics is not None:
        print_run_figures(args.metrics)
        return
    results = [json.loads(path.read_text()) for path in sorted((HERE / "results").glob("*.json"))]
    with_ceiling = [result for result in results if "ceiling" in result]
    if with_ceiling:
        print_ceiling_table(with_ceiling)
        print()
    print_warm_start_table([result for result in results if "ceiling" not in result])


if __name__ == "__main__":
    main()
