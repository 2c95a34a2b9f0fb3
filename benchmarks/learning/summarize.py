"""Print the Markdown table of every results/*.json (warm start vs PPO, mean ± std over seeds)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    print("| experiment | metric (eval split, examples) | warm start | PPO mean ± std (seeds) | gain | PPO wins | minutes |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted((HERE / "results").glob("*.json")):
        result = json.loads(path.read_text())
        summary, evaluation = result["summary"], result["eval"]
        per_seed = ", ".join(f"{run[summary['metric']]:.4f}" for run in result["ppo"])
        print(f"| {result['name']} | {summary['metric']} ({evaluation['split']}, {evaluation['examples']}) | "
              f"{summary['warm_start']:.4f} | {summary['ppo_mean']:.4f} ± {summary['ppo_std']:.4f} ({per_seed}) | "
              f"{summary['gain']:+.4f} | {'yes' if summary['ppo_beats_warm_start'] else 'no'} | "
              f"{result['total_seconds'] / 60:.0f} |")


if __name__ == "__main__":
    main()
