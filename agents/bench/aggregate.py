"""Across seeds: mean and 95% confidence interval of every metric per env × agent, agents ranked per env by the
mean of the env's primary metric, rendered as terminal tables (rich), markdown and CSV.

The interval is Student's t: ``mean ± t(0.975, n-1) · s / √n`` with ``s`` the sample standard deviation over the
``n`` seeds; with one seed there is no interval (shown as ``—``, empty in the CSV).

Where the env's reward ceiling is known (:func:`textenvs.env_reward_ceiling`: the v1 tasks, 1.0) and the warm start
(agent ``greedy``) ran, each agent's *gap closed* is ``(score - warm start) / (ceiling - warm start)`` per seed, with
its interval the same way: 0 is the warm start, 1 the ceiling, below 0 worse than the warm start.
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


def mean_ranks(summaries: Sequence[GroupSummary]) -> list[tuple[str, float, int]]:
    """``(agent, mean rank over envs, envs)`` sorted best first: the overall ranking across envs."""
    ranks: dict[str, list[int]] = defaultdict(list)
    for summary in summaries:
        ranks[summary.agent].append(summary.rank)
    return sorted(((agent, float(np.mean(values)), len(values)) for agent, values in ranks.items()),
                  key=lambda row: (row[1], -row[2], row[0]))


def _columns(summary: GroupSummary) -> list[str]:
    """Metrics shown in tables: the primary metric, its corpus value, the gap closed (where known) and the episode
    length (the mean reward equals the mean primary metric, so it is left to the CSV)."""
    primary = summary.primary_metric
    return [key for key in (primary, CORPUS_PREFIX + primary, GAP_CLOSED, "length") if key in summary.metrics]


def _format(key: str, value: Estimate) -> str:
    if key == GAP_CLOSED:
        return value.format_percent()
    return value.format(1 if key == "length" else 4)


def _rows(summaries: Sequence[GroupSummary], env_id: str) -> tuple[list[str], list[list[str]]]:
    in_env = [summary for summary in summaries if summary.env_id == env_id]
    columns = _columns(next((s for s in in_env if GAP_CLOSED in s.metrics), in_env[0]))
    header = ["rank", "agent", *[key.replace("_", " ") if key == GAP_CLOSED else key for key in columns],
              "seeds", "env steps", "wall s"]
    rows = [[str(s.rank), s.agent,
             *[_format(key, s.metrics[key]) if key in s.metrics else "—" for key in columns],
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
