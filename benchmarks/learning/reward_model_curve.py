"""The gold-vs-proxy curve of an RL run whose reward was a trained reward model (issue 24, item 4): for each seed's
evaluations during training (``ppo_vs_warm_start.py --eval-every``, warm start at iteration 0), the reward model's
mean score of the greedy test outputs (the proxy) beside corpus BLEU and chrF (the gold), the length and the KL to
the warm start; a Markdown table on stdout and a figure.

    python benchmarks/learning/reward_model_curve.py results/multi30k-sft1600-grpo-g8-reward-model.json \\
        --figure figures/multi30k-reward-model-curve.png [--merge OTHER_SEEDS.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def merge_seeds(results: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """``results`` with the seeds of ``others`` appended (runs of the same config and warm start made in parallel,
    each writing its own file, as ``--add-seeds`` appends them in sequence): their runs, commands and provenance are
    kept, the summary and ``beyond_reward`` recomputed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ppo_vs_warm_start", Path(__file__).with_name("ppo_vs_warm_start.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    merged = dict(results)
    for other in others:
        if other["ppo_config"] != results["ppo_config"] or other["warm_start_model"] != results["warm_start_model"]:
            raise ValueError(f"{other['name']}: another config or warm start; not merged.")
        clash = {run["seed"] for run in merged["ppo"]} & {run["seed"] for run in other["ppo"]}
        if clash:
            raise ValueError(f"seeds {sorted(clash)} are in both files.")
        merged = {**merged, "ppo": merged["ppo"] + other["ppo"], "seeds": merged["seeds"] + other["seeds"],
                  "commands": merged.get("commands", [merged["command"]]) + [other["command"]],
                  "added_runs": merged.get("added_runs", []) + [{key: other[key] for key in (
                      "command", "versions", "machine", "data", "warm_start")}]}
    metric = merged["summary"]["metric"]
    merged["summary"] = script.seed_summary(metric, merged["warm_start"][metric], [run[metric] for run in merged["ppo"]])
    merged["beyond_reward"] = script.beyond_reward(merged)
    return merged


def curve_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (seed, evaluation): iteration, proxy (mean reward-model score of the greedy outputs), BLEU, chrF,
    MiniLM similarity, tokens and sampled KL to the warm start; each seed's curve starts at the warm start."""
    warm = results["warm_start"]
    rows = []
    for run in results["ppo"]:
        points = [{"iteration": 0, **warm}] + run.get("curve", [{"iteration": len(run["history"]["reward"]), **run}])
        for point in points:
            kl = point.get("kl_to_warm_start", {})
            rows.append({"seed": run["seed"], "iteration": point["iteration"], "proxy": point["mean_reward"],
                         "bleu": point["corpus_bleu"], "chrf": point["measures"]["chrf"],
                         "minilm": point["measures"].get("semantic_similarity"), "tokens": point["mean_length"],
                         "kl": kl.get("mean", 0.0 if point["iteration"] == 0 else None)})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| seed | iteration | reward-model score (proxy) | corpus BLEU | chrF | MiniLM | tokens "
             "| KL to warm start |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        kl = "" if row["kl"] is None else f"{row['kl']:.2f}"
        lines.append(f"| {row['seed']} | {row['iteration']} | {row['proxy']:.3f} | {100 * row['bleu']:.2f} | "
                     f"{100 * row['chrf']:.2f} | {row['minilm']:.4f} | {row['tokens']:.2f} | {kl} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str, reference_proxy: float | None = None,
         extra: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """One panel per quantity, a line per seed; ``reference_proxy``: the reward model's mean score of the human
    references, drawn in the proxy panel; ``extra``: further runs' rows by label, dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("proxy", "reward-model score (proxy)"), ("bleu", "corpus BLEU (gold)"), ("chrf", "chrF (gold)"),
              ("tokens", "greedy length, tokens"), ("kl", "KL to warm start, nats/episode")]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    runs = [("", rows, "-")] + [(f"{label}, ", extra_rows, "--") for label, extra_rows in (extra or {}).items()]
    for axis, (key, label) in zip(axes, panels):
        for prefix, run_rows, style in runs:
            for seed in sorted({row["seed"] for row in run_rows}):
                points = [(row["iteration"], row[key]) for row in run_rows
                          if row["seed"] == seed and row[key] is not None]
                scale = 100 if key in ("bleu", "chrf") else 1
                axis.plot([x for x, _ in points], [scale * y for _, y in points], style, marker="o", markersize=4,
                          label=f"{prefix}seed {seed}")
        if key == "proxy" and reference_proxy is not None:
            axis.axhline(reference_proxy, color="gray", linestyle=":", label="human references")
        axis.set_xlabel("GRPO iteration")
        axis.set_title(label, fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--reward-model-results", type=Path, default=None,
                        help="the reward model's results file: its score of the test references is drawn")
    parser.add_argument("--extra", nargs=2, action="append", default=[], metavar=("LABEL", "RESULTS"),
                        help="another run's results drawn dashed in the figure and tabulated after (repeatable)")
    parser.add_argument("--merge", type=Path, nargs="*", default=[],
                        help="results files of further seeds run in parallel: appended to RESULTS, which is rewritten")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    if args.merge:
        results = merge_seeds(results, [json.loads(path.read_text()) for path in args.merge])
        args.results.write_text(json.dumps(results, indent=2, default=repr) + "\n")
    rows = curve_rows(results)
    print(markdown(rows))
    extra = {label: curve_rows(json.loads(Path(path).read_text())) for label, path in args.extra}
    for label, extra_rows in extra.items():
        print(f"\n{label}:\n" + markdown(extra_rows))
    if args.figure:
        reference = (json.loads(args.reward_model_results.read_text())["test_scores"]["reference_mean"]
                     if args.reward_model_results else None)
        plot(rows, args.figure, f"{results['name']}: test_2016_flickr ({results['eval']['examples']} sentences), "
                                f"greedy; warm start at iteration 0", reference, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
