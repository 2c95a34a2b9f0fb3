"""PNG plots of a benchmark (matplotlib, Agg backend): learning curves and the primary metric per env."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)
import numpy as np  # noqa: E402

from agents.bench.aggregate import CONFIDENCE, GroupSummary  # noqa: E402

CURVE_KEY = "reward"
"""Curve value plotted against env steps (the agents' callbacks report the mean training reward under this name)."""
GRID_POINTS = 100
GOLD_KEY = "synthetic_gold/synthetic_gold"
"""The gold score inside a proxy scorer's metrics (:func:`textenvs.scorers.proxy_scorer`)."""


def _env_ids(summaries: Sequence[GroupSummary]) -> list[str]:
    return list(dict.fromkeys(summary.env_id for summary in summaries))


def _agent_colors(summaries: Sequence[GroupSummary]) -> dict[str, str]:
    """One color per agent, the same in every panel and plot."""
    agents = list(dict.fromkeys(summary.agent for summary in summaries))
    return {agent: f"C{i % 10}" for i, agent in enumerate(agents)}


def _panels(count: int, width: float = 5.0, height: float = 3.6):
    figure, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
    return figure, axes[0]


def _curve(points: Sequence[dict[str, float]], key: str = CURVE_KEY, x: str = "env_steps"
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(x values, key values)`` of the points that have both, sorted by x; None when none do."""
    usable = [(p[x], p[key]) for p in points if x in p and key in p]
    if not usable:
        return None
    steps, values = np.asarray(sorted(usable)).T
    return steps, values


def _mean_with_band(axis, curves: Sequence[tuple[np.ndarray, np.ndarray]], color: str, label: str) -> None:
    """The mean of per-seed curves on a shared grid (between the latest first x and the earliest last x), with a ±
    one standard error band when there are several."""
    end = min(steps[-1] for steps, _ in curves)
    start = max(steps[0] for steps, _ in curves)
    grid = np.linspace(start, end, GRID_POINTS) if end > start else np.asarray([end])
    values = np.stack([np.interp(grid, steps, curve) for steps, curve in curves])
    mean = values.mean(axis=0)
    axis.plot(grid, mean, color=color, label=f"{label} (n={len(curves)})", marker="o" if grid.size == 1 else None)
    if len(curves) > 1:
        error = values.std(axis=0, ddof=1) / np.sqrt(len(curves))
        axis.fill_between(grid, mean - error, mean + error, color=color, alpha=0.2, linewidth=0)


def plot_learning_curves(summaries: Sequence[GroupSummary], path: str | Path) -> Path:
    """One panel per env; per learning agent the mean curve over seeds with a ± one standard error band.

    The band is the standard error rather than the 95% interval of the bar chart: with two or three seeds the
    t-quantile (12.7 for two) would make the band as tall as the panel at every step. Each seed's curve is
    interpolated onto a common grid of env steps between the latest first point and the earliest last point, so
    seeds that report at different steps still average. Agents that report no curve (non-learning baselines) are
    left out of the panel.
    """
    env_ids = _env_ids(summaries)
    colors = _agent_colors(summaries)
    figure, axes = _panels(len(env_ids))
    for axis, env_id in zip(axes, env_ids):
        drawn = False
        for summary in (s for s in summaries if s.env_id == env_id):
            curves = [curve for run in summary.runs if (curve := _curve(run.learning_curve)) is not None]
            if not curves:
                continue
            _mean_with_band(axis, curves, colors[summary.agent], summary.agent)
            drawn = True
        axis.set_title(env_id)
        _label_panel(axis, "env steps (tokens)", f"training {CURVE_KEY}", drawn,
                     empty="no learning curves\n(non-learning agents only)")
    figure.suptitle("Learning curves: mean over seeds ± standard error")
    return _save(figure, path)


def plot_eval_curves(summaries: Sequence[GroupSummary], directory: str | Path) -> list[Path]:
    """Per env whose runs have eval curves (``--eval-every``), ``directory/eval_curve_<env>.png``: the held-out
    primary metric against env steps, per agent the mean over seeds ± one standard error (as
    :func:`plot_learning_curves`). When the runs' scorer is a proxy whose metrics include the gold score
    (:data:`GOLD_KEY`), two more panels: gold against env steps, and gold against the policy's KL to its reference
    (one line per seed: KL is not shared across seeds, so there is no grid to average on), which is where
    over-optimization of the proxy shows. Returns the paths written (none without eval curves)."""
    colors = _agent_colors(summaries)
    written = []
    for env_id in _env_ids(summaries):
        in_env = [s for s in summaries if s.env_id == env_id and any(len(run.eval_curve) > 1 for run in s.runs)]
        if not in_env:
            continue
        primary = in_env[0].primary_metric
        proxy = any(GOLD_KEY in point for s in in_env for run in s.runs for point in run.eval_curve)
        figure, axes = _panels(3 if proxy else 1)
        _eval_panel(axes[0], in_env, colors, primary)
        if proxy:
            _eval_panel(axes[1], in_env, colors, GOLD_KEY)
            _gold_against_kl(axes[2], in_env, colors)
        figure.suptitle(f"{env_id}\ngreedy evaluation on held-out examples during learning\n"
                        "mean over seeds ± standard error", fontsize="medium")
        written.append(_save(figure, Path(directory) / f"eval_curve_{env_id.rsplit('/', 1)[-1]}.png"))
    return written


def _eval_panel(axis, in_env: Sequence[GroupSummary], colors: dict[str, str], key: str) -> None:
    for summary in in_env:
        curves = [curve for run in summary.runs if (curve := _curve(run.eval_curve, key)) is not None]
        if curves:
            _mean_with_band(axis, curves, colors[summary.agent], summary.agent)
    _label_panel(axis, "env steps (tokens)", f"held-out {key}")


def _gold_against_kl(axis, in_env: Sequence[GroupSummary], colors: dict[str, str]) -> None:
    drawn = False
    for summary in in_env:
        for i, run in enumerate(summary.runs):
            points = [(p["kl"], p[GOLD_KEY]) for p in run.eval_curve if "kl" in p and GOLD_KEY in p]
            if len(points) > 1:
                kl, gold = np.asarray(points).T  # in training order: the path the policy took
                axis.plot(kl, gold, marker="o", color=colors[summary.agent],
                          label=summary.agent if i == 0 else None)
                drawn = True
    _label_panel(axis, "KL to the reference (as the trainer reports it)", f"held-out {GOLD_KEY}", drawn,
                 empty="no KL reported\nby these trainers")


def plot_primary_bars(summaries: Sequence[GroupSummary], path: str | Path) -> Path:
    """One panel per env: the mean primary metric of each agent (in rank order) with 95% CI error bars."""
    env_ids = _env_ids(summaries)
    colors = _agent_colors(summaries)
    figure, axes = _panels(len(env_ids))
    for axis, env_id in zip(axes, env_ids):
        in_env = sorted((s for s in summaries if s.env_id == env_id), key=lambda s: s.rank)
        means = [s.primary.mean for s in in_env]
        errors = [s.primary.half_width or 0.0 for s in in_env]
        positions = np.arange(len(in_env))
        axis.bar(positions, means, yerr=errors, capsize=4, color=[colors[s.agent] for s in in_env])
        axis.set_xticks(positions, [f"{s.agent}\n(n={len(s.seeds)})" for s in in_env], fontsize="small")
        axis.set_title(env_id)
        axis.set_ylabel(f"test {in_env[0].primary_metric} (mean)")
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(f"Primary metric on the test split: mean over seeds, {CONFIDENCE:.0%} CI")
    return _save(figure, path)


def _label_panel(axis, xlabel: str, ylabel: str, drawn: bool = True, empty: str = "") -> None:
    """Label and grid a panel; then its legend when lines were drawn, else the ``empty`` note in its middle."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if drawn:
        axis.legend(fontsize="small")
    else:
        axis.text(0.5, 0.5, empty, ha="center", va="center", transform=axis.transAxes, color="gray")


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
