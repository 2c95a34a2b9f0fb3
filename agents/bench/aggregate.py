"""Across seeds: mean and 95% confidence interval of every metric per env × agent, agents ranked per env by the
mean of the env's primary metric, rendered as terminal tables (rich), markdown and CSV.

The interval is Student's t: ``mean ± t(0.975, n-1) · s / √n`` with ``s`` the sample standard deviation over the
``n`` seeds; with one seed there is no interval (shown as ``—``, empty in the CSV).

Where the env's reward ceiling is known (:func:`textenvs.env_reward_ceiling`: the v1 tasks, 1.0) and the warm start
(agent ``greedy``) ran, each agent's *gap closed* is ``(score - warm start) / (ceiling - warm start)`` per seed, with
its interval the same way: 0 is the warm start, 1 the ceiling, below 0 worse than the warm start.

Runs with an eval curve (``textenvs bench --eval-every``: the policy evaluated greedily on held-out examples at env
step 0 and during learning, :attr:`RunResult.eval_curve`) on an env with a known ceiling add two measures of how fast
the agent learns, each from one seed's curve of the env's primary metric ``v(s)`` at env steps ``s``, with ``warm =
v(0)`` (that seed's own step-0 point, so the same examples and split) and ``gap = ceiling - warm``:

* ``steps_to_half_gap``: the env steps at which ``v`` first reaches ``warm + gap / 2``, linearly interpolated between
  the last point below and the first point at or above it (the curve is only known at its points). A seed whose curve
  never reaches it has no value: none is invented. The estimate over seeds is given only when every seed reached it;
  otherwise the tables say ``not reached (k/n)`` with ``k`` the seeds that reached it, and the CSV records ``k`` as
  ``seeds_reaching_half_gap``.
* ``curve_auc``: the normalized area under the curve of gap closed, ``(v(s) - warm) / gap``, by the trapezoid rule
  over env steps from 0 to the curve's last point, divided by that span: 0 = never left the warm start (or as much
  below it as above), 1 = at the ceiling from step 0; below 0 = worse than the warm start on average.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table
from scipy import stats

from agents.bench.results import RunResult
from textenvs.metrics import CORPUS_PREFIX

CONFIDENCE = 0.95
WARM_START_AGENT = "greedy"
"""The agent whose score is the warm start: the shipped checkpoint, greedy decoding."""
GAP_CLOSED = "gap_closed"
"""Name of the gap-closed fraction among the summary's metrics (tables, CSV)."""
STEPS_TO_HALF_GAP = "steps_to_half_gap"
CURVE_AUC = "curve_auc"
HALF_GAP_REACHED = "seeds_reaching_half_gap"
"""Names of the eval-curve measures among the summary's metrics (see the module docstring)."""
HEADERS = {GAP_CLOSED: "gap closed", STEPS_TO_HALF_GAP: "steps to ½ gap", CURVE_AUC: "curve AUC"}


@dataclass
class Estimate:
    """Mean over seeds and the half-width of its confidence interval (None with a single seed)."""

    mean: float
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def format_percent(self, digits: int = 1) -> str:
        if self.half_width is None:
            return f"{100 * self.mean:.{digits}f}%"
        return f"{100 * self.mean:.{digits}f}% ± {100 * self.half_width:.{digits}f}"

    def format(self, digits: int = 4) -> str:
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def estimate(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and Student-t confidence half-width of ``values`` (one value per seed)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("Cannot estimate a mean from no values.")
    mean = float(array.mean())
    if array.size == 1:
        return Estimate(mean, None, 1)
    sem = float(array.std(ddof=1)) / math.sqrt(array.size)
    return Estimate(mean, float(stats.t.ppf((1 + confidence) / 2, array.size - 1)) * sem, int(array.size))


@dataclass
class GroupSummary:
    """All seeds of one agent on one env.

    :ivar rank: 1 = best mean primary metric within the env (ties keep agent-name order).
    :ivar metrics: every metric present in all of the group's runs, estimated over seeds.
    :ivar half_gap_reached: with eval curves on an env with a known ceiling, ``(seeds whose curve reached half the
        gap, seeds with a curve)``; None otherwise.
    """

    env_id: str
    agent: str
    primary_metric: str
    seeds: list[int]
    metrics: dict[str, Estimate]
    wall_time: Estimate
    env_steps: Estimate
    runs: list[RunResult] = field(repr=False)
    rank: int = 0
    half_gap_reached: tuple[int, int] | None = None

    @property
    def primary(self) -> Estimate:
        return self.metrics[self.primary_metric]


def summarize_runs(results: Sequence[RunResult]) -> list[GroupSummary]:
    """Group ``results`` by (env, agent), estimate each metric over seeds and rank agents within each env.

    Returns groups ordered by env (registration order of the textenvs ids) then rank.
    """
    from textenvs import ENV_IDS

    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for result in results:
        groups[(result.env.id, result.agent.name)].append(result)
    summaries = []
    for (env_id, agent), runs in groups.items():
        runs = sorted(runs, key=lambda run: run.seed)
        seeds = [run.seed for run in runs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{agent} on {env_id} has several results for one seed ({seeds}); "
                             "keep one results directory per benchmark.")
        primaries = {run.primary_metric for run in runs}
        if len(primaries) != 1:
            raise ValueError(f"{agent} on {env_id}: runs disagree on the primary metric ({sorted(primaries)}).")
        shared = set.intersection(*(set(run.metrics) for run in runs))
        summaries.append(GroupSummary(
            env_id=env_id, agent=agent, primary_metric=primaries.pop(), seeds=seeds,
            metrics={key: estimate([run.metrics[key] for run in runs]) for key in sorted(shared)},
            wall_time=estimate([run.wall_time_s.total for run in runs]),
            env_steps=estimate([run.env_steps for run in runs]), runs=runs))
    _add_gap_closed(summaries)
    _add_curve_measures(summaries)
    registered = list(ENV_IDS)

    def env_position(env_id: str) -> tuple[int, str]:
        return (registered.index(env_id) if env_id in registered else len(registered), env_id)

    env_order = sorted({summary.env_id for summary in summaries}, key=env_position)
    ranked: list[GroupSummary] = []
    for env_id in env_order:
        in_env = sorted((s for s in summaries if s.env_id == env_id), key=lambda s: (-s.primary.mean, s.agent))
        for rank, summary in enumerate(in_env, start=1):
            summary.rank = rank
        ranked.extend(in_env)
    return ranked


def _add_gap_closed(summaries: Sequence[GroupSummary]) -> None:
    """Add :data:`GAP_CLOSED` to the metrics of every group whose env has a known ceiling and a warm-start group."""
    from textenvs import env_reward_ceiling

    warm = {s.env_id: s.primary.mean for s in summaries if s.agent == WARM_START_AGENT}
    for summary in summaries:
        if summary.env_id not in warm:
            continue
        ceiling = env_reward_ceiling(summary.env_id, **summary.runs[0].env.kwargs)
        if ceiling is None or ceiling <= warm[summary.env_id]:
            continue
        gap = ceiling - warm[summary.env_id]
        summary.metrics[GAP_CLOSED] = estimate(
            [(run.metrics[summary.primary_metric] - warm[summary.env_id]) / gap for run in summary.runs])


def _add_curve_measures(summaries: Sequence[GroupSummary]) -> None:
    """Add :data:`CURVE_AUC` and :data:`STEPS_TO_HALF_GAP` (and ``half_gap_reached``) to every group with eval
    curves on an env with a known ceiling above each curve's warm start."""
    from textenvs import env_reward_ceiling

    for summary in summaries:
        curves = [_primary_curve(run) for run in summary.runs]
        curves = [curve for curve in curves if curve is not None]
        ceiling = env_reward_ceiling(summary.env_id, **summary.runs[0].env.kwargs) if curves else None
        if ceiling is None or any(ceiling <= values[0] for _, values in curves):
            continue
        summary.metrics[CURVE_AUC] = estimate([curve_auc(steps, values, ceiling) for steps, values in curves])
        reached = [steps_to_half_gap(steps, values, ceiling) for steps, values in curves]
        summary.half_gap_reached = (sum(value is not None for value in reached), len(reached))
        summary.metrics[HALF_GAP_REACHED] = Estimate(float(summary.half_gap_reached[0]), None, len(reached))
        if all(value is not None for value in reached):
            summary.metrics[STEPS_TO_HALF_GAP] = estimate(reached)


def _primary_curve(run: RunResult) -> tuple[np.ndarray, np.ndarray] | None:
    """``(env steps, primary metric)`` of a run's eval curve, sorted by steps, starting at step 0; None without one
    or with only the step-0 point (a non-learning agent)."""
    points = sorted((point["env_steps"], point[run.primary_metric]) for point in run.eval_curve
                    if "env_steps" in point and run.primary_metric in point)
    if len(points) < 2 or points[0][0] != 0:
        return None
    steps, values = np.asarray(points, dtype=np.float64).T
    return steps, values


def steps_to_half_gap(steps: Sequence[float], values: Sequence[float], ceiling: float) -> float | None:
    """Env steps at which ``values`` (at ``steps``, the first being the warm start) first reach half the gap to
    ``ceiling``, interpolated linearly from the point before; None if they never do."""
    warm = values[0]
    target = warm + 0.5 * (ceiling - warm)
    for i in range(1, len(values)):
        if values[i] >= target:
            fraction = (target - values[i - 1]) / (values[i] - values[i - 1])
            return float(steps[i - 1] + fraction * (steps[i] - steps[i - 1]))
    return None


def curve_auc(steps: Sequence[float], values: Sequence[float], ceiling: float) -> float:
    """Mean gap closed over the curve's span of env steps (trapezoid rule), the first value being the warm start;
    a one-point curve (nothing learned) is 0."""
    steps, values = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    closed = (values - values[0]) / (ceiling - values[0])
    span = steps[-1] - steps[0]
    if span <= 0:
        return 0.0
    return float(np.sum((closed[1:] + closed[:-1]) / 2 * np.diff(steps)) / span)


def mean_ranks(summaries: Sequence[GroupSummary]) -> list[tuple[str, float, int]]:
    """``(agent, mean rank over envs, envs)`` sorted best first: the overall ranking across envs."""
    ranks: dict[str, list[int]] = defaultdict(list)
    for summary in summaries:
        ranks[summary.agent].append(summary.rank)
    return sorted(((agent, float(np.mean(values)), len(values)) for agent, values in ranks.items()),
                  key=lambda row: (row[1], -row[2], row[0]))


def _columns(in_env: Sequence[GroupSummary]) -> list[str]:
    """Metrics shown in an env's table, each where any agent has it: the primary metric, its corpus value, the gap
    closed (where known), each extra scorer's corpus value (its mean where it has none), the eval-curve measures and
    the episode length (the mean reward equals the mean primary metric, so it is left to the CSV)."""
    primary = in_env[0].primary_metric
    extra = [f"{name}/{CORPUS_PREFIX}{metric}" if f"{name}/{CORPUS_PREFIX}{metric}" in s.metrics else
             f"{name}/{metric}" for s in in_env for name, metric in s.runs[0].extra_scorers.items()]
    candidates = [primary, CORPUS_PREFIX + primary, GAP_CLOSED, *extra, STEPS_TO_HALF_GAP, CURVE_AUC, "length"]
    return [key for key in dict.fromkeys(candidates)
            if any(key in s.metrics or (key == STEPS_TO_HALF_GAP and s.half_gap_reached) for s in in_env)]


def _cell(summary: GroupSummary, key: str) -> str:
    if key == STEPS_TO_HALF_GAP and key not in summary.metrics and summary.half_gap_reached:
        reached, seeds = summary.half_gap_reached
        return f"not reached ({reached}/{seeds})"
    if key not in summary.metrics:
        return "—"
    value = summary.metrics[key]
    if key == GAP_CLOSED:
        return value.format_percent()
    return value.format({"length": 1, STEPS_TO_HALF_GAP: 0, CURVE_AUC: 3}.get(key, 4))


def _rows(summaries: Sequence[GroupSummary], env_id: str) -> tuple[list[str], list[list[str]]]:
    in_env = [summary for summary in summaries if summary.env_id == env_id]
    columns = _columns(in_env)
    header = ["rank", "agent", *[HEADERS.get(key, key) for key in columns], "seeds", "env steps", "wall s"]
    rows = [[str(s.rank), s.agent, *[_cell(s, key) for key in columns],
             str(len(s.seeds)), f"{s.env_steps.mean:.0f}", f"{s.wall_time.mean:.1f}"] for s in in_env]
    return header, rows


def _env_ids(summaries: Sequence[GroupSummary]) -> list[str]:
    return list(dict.fromkeys(summary.env_id for summary in summaries))


def print_tables(summaries: Sequence[GroupSummary], console: Console) -> None:
    """One ranked table per env, then the mean rank across envs when there are several envs."""
    for env_id in _env_ids(summaries):
        header, rows = _rows(summaries, env_id)
        primary = next(s.primary_metric for s in summaries if s.env_id == env_id)
        table = Table(title=f"{env_id} — ranked by mean {primary}; mean ± 95% CI over seeds",
                      title_justify="left", box=box.SIMPLE_HEAD)
        for name in header:
            table.add_column(name, justify="left" if name == "agent" else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if len(_env_ids(summaries)) > 1:
        table = Table(title="Overall: mean rank over envs", title_justify="left", box=box.SIMPLE_HEAD)
        for name in ("agent", "mean rank", "envs"):
            table.add_column(name)
        for agent, rank, envs in mean_ranks(summaries):
            table.add_row(agent, f"{rank:.2f}", str(envs))
        console.print(table)


def write_markdown(summaries: Sequence[GroupSummary], path: str | Path) -> Path:
    """The tables of :func:`print_tables` as markdown."""
    lines = ["# Benchmark results", "",
             f"Mean over seeds ± half-width of the {CONFIDENCE:.0%} Student-t confidence interval; "
             "agents ranked per env by the mean of the env's primary metric.", ""]
    for env_id in _env_ids(summaries):
        header, rows = _rows(summaries, env_id)
        lines += [f"## {env_id}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---:" if name != "agent" else ":---" for name in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if len(_env_ids(summaries)) > 1:
        lines += ["## Overall (mean rank across envs)", "", "| agent | mean rank | envs |", "|:---|---:|---:|"]
        lines += [f"| {agent} | {rank:.2f} | {envs} |" for agent, rank, envs in mean_ranks(summaries)]
        lines.append("")
    path = Path(path)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


CSV_FIELDS = ("env_id", "rank", "agent", "primary_metric", "metric", "mean", "ci95_low", "ci95_high", "n_seeds",
              "seeds")


def write_csv(summaries: Sequence[GroupSummary], path: str | Path) -> Path:
    """Every metric of every env × agent, one row each (long format), plus ``wall_time_s`` and ``env_steps``."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for summary in summaries:
            values = {**summary.metrics, "wall_time_s": summary.wall_time, "env_steps": summary.env_steps}
            for metric, value in values.items():
                writer.writerow({
                    "env_id": summary.env_id, "rank": summary.rank, "agent": summary.agent,
                    "primary_metric": summary.primary_metric, "metric": metric, "mean": repr(value.mean),
                    "ci95_low": "" if value.low is None else repr(value.low),
                    "ci95_high": "" if value.high is None else repr(value.high),
                    "n_seeds": value.n, "seeds": " ".join(map(str, summary.seeds))})
    return path
