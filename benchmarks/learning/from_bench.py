"""Turn a ``textenvs bench`` results directory into this folder's results files: one ``results/<prefix>-<task>-<agent>.json``
per env and learning agent, with the warm start (the ``greedy`` agent of the same directory, or of ``--warm-start-dir``)
as the baseline and the task's ceiling for the gap closed.

    python -m textenvs bench --config benchmarks/learning/configs/v1-rl.json
    python benchmarks/learning/from_bench.py runs/v1-rl --config benchmarks/learning/configs/v1-rl.json

Each file holds the bench config, every run's exact agent config, the per-seed scores (greedy decoding on the test
split), the warm start's score, the mean with its 95% Student-t interval over seeds, the gain, the fraction of the
warm-start-to-ceiling gap closed (``(mean - warm start) / (ceiling - warm start)``) and how many seeds beat the warm
start. ``summarize.py`` prints the table from them.

Runs with an eval curve (``textenvs bench --eval-every``; the v2 benchmark, ``run_v2.sh``) give a *v2* results file
instead (:func:`v2_experiment`): per seed the test gold score, the extra scorers' metrics (BLEU, chrF against the
split's valid outputs), the length, steps to half the gap, the curve AUC and the eval curve itself; the warm start's;
and mean ± 95% CI of each, all estimated by :func:`agents.bench.aggregate.summarize_runs` (the one aggregation the
bench tables use). Runs trained on a proxy reward (scorer ``proxy_*``) give a proxy file (:func:`proxy_experiment`):
proxy and gold per eval point against env steps and KL, and the test gold against the warm start's. With
``--same-budget-dir`` (SB3 at 2,048 env steps) the file also holds the LM agents' eval-curve gold at the nearest env
steps (:func:`same_budget`)::

    python benchmarks/learning/from_bench.py runs/v2-medium --prefix v2-medium \\
        --config benchmarks/learning/configs/v2-medium.json
    python benchmarks/learning/from_bench.py runs/v2-medium-proxy --prefix v2-medium-proxy \\
        --warm-start-dir runs/v2-medium --config benchmarks/learning/configs/v2-medium-proxy.json
    python benchmarks/learning/from_bench.py runs/v2-medium-sb3 --prefix v2-medium --warm-start-dir runs/v2-medium \\
        --same-budget-dir runs/v2-medium --config benchmarks/learning/configs/v2-medium-sb3.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from agents.bench.aggregate import (CURVE_AUC, GAP_CLOSED, HALF_GAP_REACHED, STEPS_TO_HALF_GAP, Estimate,
                                    GroupSummary, _primary_curve, curve_auc, estimate, steps_to_half_gap,
                                    summarize_runs)
from agents.bench.plots import GOLD_KEY
from agents.bench.results import RunResult, load_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WARM_START_AGENT = "greedy"
PROXY_PREFIX = "proxy_"
"""Scorers whose name starts so are proxy rewards (:mod:`textenvs.scorers.proxy`): the gold score is in their
metrics as :data:`agents.bench.plots.GOLD_KEY`."""


CONVERSATION_METRICS = ("goal_completion", "turns", "format_violations")
"""What a multi-turn run's file records beside its primary score (``goal_score``), where the run has them."""


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


def interval(value: Estimate | None) -> dict[str, Any] | None:
    """An estimate over seeds as the results files record it: the mean, the half-width of its 95% Student-t
    interval (None with one seed), the interval's ends and the number of seeds."""
    if value is None:
        return None
    return {"mean": value.mean, "ci95": value.half_width, "low": value.low, "high": value.high, "n": value.n}


def reported_metrics(run: RunResult) -> list[str]:
    """The test metrics a v2 file records: the primary score, each extra scorer's corpus score (its mean where it
    has none), the gold score inside a proxy scorer's metrics, and the mean length in tokens."""
    keys = [run.primary_metric]
    for name, metric in run.extra_scorers.items():
        corpus = f"{name}/corpus_{metric}"
        keys.append(corpus if corpus in run.metrics else f"{name}/{metric}")
    if GOLD_KEY in run.metrics:
        keys.append(GOLD_KEY)
    keys += list(CONVERSATION_METRICS)
    return [key for key in dict.fromkeys(keys + ["length"]) if key in run.metrics]


def group_of(summaries: Sequence[GroupSummary], env_id: str, agent: str) -> GroupSummary:
    return next(summary for summary in summaries if summary.env_id == env_id and summary.agent == agent)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def warm_start_checkpoint(run: RunResult) -> dict[str, Any]:
    """The warm start a run began from: the model its agent loaded (``model_source``, recorded by the greedy
    agent), the SHA-256 of its weights and the hash of the train split it was fit to (its training_config.json)."""
    source = run.agent.config.get("model_source")
    record: dict[str, Any] = {"model": run.agent.config.get("model"), "path": source}
    if not isinstance(source, str) or not (Path(source) / "model.safetensors").is_file():
        return record
    path = Path(source)
    record["path"] = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else source
    record["model_sha256"] = file_sha256(path / "model.safetensors")
    training = path / "training_config.json"
    if training.is_file():
        record["train_dataset_hash"] = json.loads(training.read_text()).get("task", {}).get("dataset_hash")
    return record


def eval_curve_data(run: RunResult, bench_config: dict[str, Any]) -> dict[str, Any]:
    """Which examples the eval curve scored: the split, how many of its first examples, and the split's hash."""
    from textenvs.registration import load_env_dataset

    split = bench_config.get("eval_curve_split", "validation")
    kwargs = {key: value for key, value in run.env.kwargs.items() if key != "split"}
    dataset = load_env_dataset(run.env.id, split, **kwargs)
    return {"split": split, "examples": min(int(bench_config.get("eval_curve_examples") or len(dataset)),
                                            len(dataset)),
            "content_hash": dataset.content_hash, "size": len(dataset),
            "every_env_steps": bench_config.get("eval_every")}


def common_fields(name: str, runs: Sequence[RunResult], bench_config: dict[str, Any], command: str,
                  note: str) -> dict[str, Any]:
    """What every v2 file records about how it was made: command, config, data (with hashes), machine, versions."""
    first = runs[0]
    level = (first.env.kwargs.get("dataset_options") or {}).get("level")
    return {"name": name, "command": command, "bench_config": bench_config, "env": first.env.id,
            "env_kwargs": first.env.kwargs, "level": level, "task": task_name(first.env.id),
            "agent": first.agent.name, "budget_env_steps": first.budget_env_steps,
            "data": {"test": first.dataset.model_dump(), "eval_curve": eval_curve_data(first, bench_config)},
            "eval": {"split": first.dataset.split, "examples": first.dataset.evaluated, "scorer": first.scorer,
                     "decoding": "greedy"},
            "note": note, "hardware": first.hardware.model_dump(), "versions": first.versions,
            "dates": [min(run.date for run in runs).isoformat(), max(run.date for run in runs).isoformat()]}


def seed_record(run: RunResult, keys: Sequence[str], ceiling: float | None, warm: float) -> dict[str, Any]:
    """One seed of a v2 file: its test metrics, gap closed, steps to half the gap and curve AUC (the functions of
    :mod:`agents.bench.aggregate`, on the curve it reads), and its eval curve."""
    curve = _primary_curve(run)
    half = auc = None
    if curve is not None and ceiling is not None and ceiling > curve[1][0]:
        half, auc = steps_to_half_gap(*curve, ceiling), curve_auc(*curve, ceiling)
    gold = run.metrics[run.primary_metric]
    rewards = [point["reward"] for point in run.learning_curve if "reward" in point]
    return {"seed": run.seed, "test": {key: run.metrics[key] for key in keys},
            GAP_CLOSED: None if ceiling is None or ceiling <= warm else (gold - warm) / (ceiling - warm),
            STEPS_TO_HALF_GAP: half, CURVE_AUC: auc, "env_steps": run.env_steps,
            "train_reward_first": rewards[0] if rewards else None,
            "train_reward_last": rewards[-1] if rewards else None,
            "wall_s": round(run.wall_time_s.total, 1), "eval_curve": run.eval_curve,
            "agent_config": run.agent.config}


def v2_experiment(name: str, runs: Sequence[RunResult], warm_runs: Sequence[RunResult],
                  bench_config: dict[str, Any], command: str, note: str) -> dict[str, Any]:
    """One v2 results file: an agent's seeds on one env (and level) against the warm start, with every measure
    estimated over seeds by :func:`agents.bench.aggregate.summarize_runs`."""
    from textenvs import env_reward_ceiling

    first = runs[0]
    summaries = summarize_runs([*runs, *warm_runs])
    group, warm = group_of(summaries, first.env.id, first.agent.name), group_of(summaries, first.env.id,
                                                                                 WARM_START_AGENT)
    ceiling = env_reward_ceiling(first.env.id, **first.env.kwargs)
    keys = reported_metrics(first)
    warm_gold = warm.primary.mean
    summary: dict[str, Any] = {key: interval(group.metrics.get(key))
                               for key in [*keys, GAP_CLOSED, CURVE_AUC, STEPS_TO_HALF_GAP]}
    reached = group.half_gap_reached
    summary[HALF_GAP_REACHED] = None if reached is None else {"seeds": reached[0], "of": reached[1]}
    summary.update(metric=first.primary_metric, warm_start=warm_gold,
                   seeds_won=sum(run.metrics[first.primary_metric] > warm_gold for run in group.runs),
                   seeds=len(group.runs))
    return {
        "kind": "v2", **common_fields(name, runs, bench_config, command, note),
        "metric": first.primary_metric, "ceiling": ceiling,
        "warm_start": {"agent": WARM_START_AGENT, "checkpoint": warm_start_checkpoint(warm.runs[0]),
                       "seeds": warm.seeds,
                       "test": {key: warm.metrics[key].mean for key in keys if key in warm.metrics},
                       "eval_curve_step0": next((run.eval_curve[0] for run in group.runs if run.eval_curve), None)},
        "runs": [seed_record(run, keys, ceiling, warm_gold) for run in group.runs],
        "summary": summary,
    }


def proxy_curve(run: RunResult) -> list[dict[str, float | None]]:
    """The eval points of a proxy-trained run: env steps, KL to the reference, the training reward (the proxy on the
    train split against the flawed demonstrations, sampled: the mean of the rollouts since the previous point; at
    step 0 the first rollout, drawn from the warm start before any update), the held-out proxy (against every valid
    output) and the held-out gold score."""
    training = [entry for entry in run.learning_curve if "reward" in entry]
    points, previous = [], None
    for point in run.eval_curve:
        steps = point["env_steps"]
        rollouts = ([entry["reward"] for entry in training[:1]] if previous is None else
                    [entry["reward"] for entry in training if previous < entry["env_steps"] <= steps])
        points.append({"env_steps": steps, "kl": point.get("kl"),
                       "train_proxy_reward": sum(rollouts) / len(rollouts) if rollouts else None,
                       "heldout_proxy": point[run.primary_metric], "gold": point[GOLD_KEY]})
        previous = steps
    return points


def _curve_estimates(curves: Sequence[Sequence[dict[str, float | None]]]) -> list[dict[str, Any]]:
    """The seeds' curves point by point (the i-th eval of every seed, which lands at the same multiple of the eval
    interval): the mean env steps and each value's estimate over the seeds that have it."""
    rows = []
    for points in zip(*curves):
        row: dict[str, Any] = {"env_steps": estimate([point["env_steps"] for point in points]).mean}
        for key in ("kl", "train_proxy_reward", "heldout_proxy", "gold"):
            values = [point[key] for point in points if point[key] is not None]
            row[key] = interval(estimate(values)) if values else None
        rows.append(row)
    return rows


def proxy_experiment(name: str, runs: Sequence[RunResult], warm_runs: Sequence[RunResult],
                     bench_config: dict[str, Any], command: str, note: str) -> dict[str, Any]:
    """One proxy file: PPO (or any agent) trained on a proxy reward, the gold score it earned on the way (per eval
    point, against env steps and KL: the over-optimization curve) and its test gold against the warm start's."""
    first = runs[0]
    proxy, gold_metric = first.primary_metric, GOLD_KEY.split("/", 1)[1]
    if any(run.primary_metric != gold_metric for run in warm_runs):
        raise ValueError(f"The warm-start runs of {first.env.id} are not scored with {gold_metric}.")
    warm_gold = estimate([run.metrics[gold_metric] for run in warm_runs]).mean
    keys = reported_metrics(first)
    seeds = []
    for run in sorted(runs, key=lambda run: run.seed):
        curve = proxy_curve(run)
        peak = max(curve, key=lambda point: point["gold"])
        seeds.append({"seed": run.seed, "test": {key: run.metrics[key] for key in keys},
                      "test_gold_change": run.metrics[GOLD_KEY] - warm_gold, "curve": curve, "peak_gold": peak,
                      "final_minus_peak_gold": curve[-1]["gold"] - peak["gold"], "env_steps": run.env_steps,
                      "wall_s": round(run.wall_time_s.total, 1), "agent_config": run.agent.config})
    golds = [seed["test"][GOLD_KEY] for seed in seeds]
    return {
        "kind": "v2_proxy", **common_fields(name, runs, bench_config, command, note),
        "proxy": proxy, "gold": GOLD_KEY,
        "warm_start": {"agent": WARM_START_AGENT, "checkpoint": warm_start_checkpoint(warm_runs[0]),
                       "test_gold": warm_gold, "seeds": sorted(run.seed for run in warm_runs)},
        "runs": seeds,
        "summary": {
            "test_gold": interval(estimate(golds)), "warm_start_test_gold": warm_gold,
            "test_gold_change": interval(estimate([seed["test_gold_change"] for seed in seeds])),
            "seeds_below_warm_start": sum(gold < warm_gold for gold in golds), "seeds": len(seeds),
            "test_proxy": interval(estimate([seed["test"][proxy] for seed in seeds])),
            "peak_gold": interval(estimate([seed["peak_gold"]["gold"] for seed in seeds])),
            "final_minus_peak_gold": interval(estimate([seed["final_minus_peak_gold"] for seed in seeds])),
            "curve": _curve_estimates([seed["curve"] for seed in seeds]),
        },
    }


def same_budget(runs: Sequence[RunResult], others: Sequence[RunResult]) -> dict[str, Any]:
    """``runs`` (SB3 at its small budget) beside every learning agent of ``others`` on the same env at the same
    budget: each seed's eval-curve gold (same split, same examples) at its final point, and the others' at the eval
    point nearest to ``runs``' mean final env steps."""
    def at(run: RunResult, steps: float) -> dict[str, float]:
        point = min(run.eval_curve, key=lambda point: (abs(point["env_steps"] - steps), point["env_steps"]))
        return {"seed": run.seed, "env_steps": point["env_steps"], run.primary_metric: point[run.primary_metric]}

    first = runs[0]
    target = estimate([run.eval_curve[-1]["env_steps"] for run in runs]).mean
    agents: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        agents[run.agent.name].append(run)
    for run in others:
        if run.env.id == first.env.id and run.agent.name != WARM_START_AGENT and len(run.eval_curve) > 1:
            agents[run.agent.name].append(run)
    rows = {}
    for agent, group in agents.items():
        points = [at(run, target) for run in sorted(group, key=lambda run: run.seed)]
        rows[agent] = {"points": points,
                       first.primary_metric: interval(estimate([point[first.primary_metric] for point in points])),
                       "test_" + first.primary_metric: interval(estimate([run.metrics[first.primary_metric]
                                                                          for run in group])),
                       "budget_env_steps": group[0].budget_env_steps}
    return {"env_steps": target, "metric": first.primary_metric,
            "note": (f"Same budget: each agent's greedy {first.primary_metric} on the eval curve's examples at the "
                     f"eval point nearest {target:.0f} env steps (SB3's last point); the LM agents' points land at "
                     "the first training iteration past each eval interval, so they may have had more env steps. "
                     "test_* is each agent's test score at its own full budget."),
            "agents": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_dir", help="a textenvs bench --out directory")
    parser.add_argument("--config", required=True, action="append",
                        help="the bench --config file(s) the directory was made with (repeat when several wrote it; "
                             "each env's runs record the config that lists the env)")
    parser.add_argument("--warm-start-dir", default=None,
                        help="directory holding the greedy (warm-start) runs, when bench_dir has none")
    parser.add_argument("--same-budget-dir", default=None,
                        help="v2: a directory of LM agents' runs with eval curves, shown beside these runs at the "
                             "nearest env steps (SB3 at 2,048 env steps)")
    parser.add_argument("--prefix", default="v1", help="results/<prefix>-<task>-<agent>.json")
    parser.add_argument("--ceiling", type=float, default=1.0, help="the task reward's maximum (v1 tasks: 1.0)")
    parser.add_argument("--note", default="", help="recorded with the results, e.g. the machine's load")
    parser.add_argument("--variant", default=None,
                        help="names a configuration of an agent benchmarked beside its usual one (e.g. 'critic' "
                             "for PPO with a value baseline): recorded as the file's variant, a row of its own in "
                             "summarize.py's tables; add it to --prefix too, so the file names differ")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where the results files go")
    args = parser.parse_args(argv)

    configs = [(Path(path), json.loads(Path(path).read_text())) for path in args.config]
    command = " && ".join([f"python -m textenvs bench --config {path.as_posix()}" for path, _ in configs]
                          + ["python benchmarks/learning/from_bench.py "
                             + " ".join(argv if argv is not None else sys.argv[1:])])

    def config_for(env_id: str) -> dict[str, Any]:
        return next((config for _, config in configs if env_id in config.get("envs", ())), configs[0][1])

    runs = load_results(args.bench_dir)
    warm_runs: dict[str, list[RunResult]] = defaultdict(list)
    for run in load_results(args.warm_start_dir or args.bench_dir):
        if run.agent.name == WARM_START_AGENT:
            warm_runs[run.env.id].append(run)
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.agent.name != WARM_START_AGENT:
            groups[run.env.id, run.agent.name].append(run)
    if not groups:
        parser.error(f"{args.bench_dir} has no runs of a learning agent (only {WARM_START_AGENT!r} or none).")
    others = load_results(args.same_budget_dir) if args.same_budget_dir else []
    args.results.mkdir(parents=True, exist_ok=True)
    for (env_id, agent), group in sorted(groups.items()):
        if env_id not in warm_runs:
            parser.error(f"No {WARM_START_AGENT!r} run of {env_id} in {args.warm_start_dir or args.bench_dir}: "
                         "it is the warm-start baseline (add it to the bench agents or pass --warm-start-dir).")
        name = f"{args.prefix}-{task_name(env_id)}-{agent}"
        config = config_for(env_id)
        if str(group[0].scorer.get("name", "")).startswith(PROXY_PREFIX):
            result = proxy_experiment(name, group, warm_runs[env_id], config, command, args.note)
            line = proxy_line(result)
        elif any(len(run.eval_curve) > 1 for run in group):
            result = v2_experiment(name, group, warm_runs[env_id], config, command, args.note)
            if others:
                result["same_budget"] = same_budget(group, others)
            line = v2_line(result)
        else:
            result = experiment(name, group, warm_runs[env_id][-1], args.ceiling, config, command, args.note)
            summary = result["summary"]
            line = (f"warm start {summary['warm_start']:.4f}, mean {summary['mean']:.4f} ± "
                    f"{summary['ci95'] or 0:.4f}, gap closed {summary['gap_closed']:.0%}, "
                    f"seeds won {summary['seeds_won']}/{summary['seeds']}")
        if args.variant:
            result["variant"] = args.variant
        path = args.results / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{path.name}: {line}")
    return 0


def _ci(value: dict[str, Any] | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    return f"{value['mean']:.{digits}f}" + ("" if value["ci95"] is None else f" ± {value['ci95']:.{digits}f}")


def v2_line(result: dict[str, Any]) -> str:
    summary = result["summary"]
    reached = summary[HALF_GAP_REACHED]
    half = (_ci(summary[STEPS_TO_HALF_GAP], 0) if summary[STEPS_TO_HALF_GAP] is not None else
            "n/a" if reached is None else f"not reached ({reached['seeds']}/{reached['of']})")
    return (f"warm start {summary['warm_start']:.4f}, {summary['metric']} {_ci(summary[summary['metric']])}, "
            f"gap closed {_ci(summary[GAP_CLOSED], 3)}, steps to half gap {half}, AUC {_ci(summary[CURVE_AUC], 3)}")


def proxy_line(result: dict[str, Any]) -> str:
    summary = result["summary"]
    return (f"trained on {result['proxy']}: test gold {_ci(summary['test_gold'])} vs warm start "
            f"{summary['warm_start_test_gold']:.4f} (change {_ci(summary['test_gold_change'])}), peak gold on the "
            f"curve {_ci(summary['peak_gold'])}, final minus peak {_ci(summary['final_minus_peak_gold'])}")


if __name__ == "__main__":
    sys.exit(main())
