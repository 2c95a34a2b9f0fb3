"""Run logs shared by the trainers (PPO, and any trainer that logs per-iteration metrics): ``config.json``,
``metrics.jsonl``, ``samples.jsonl``, TensorBoard event files and ``learning_curve.png`` in the run directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from textenvs.evaluation import EpisodeRecord


class RunLogger:
    """Metrics to ``metrics.jsonl`` and TensorBoard, sample generations to ``samples.jsonl``, the learning curve to
    ``learning_curve.png``. On resume, lines after the checkpoint's iteration are dropped so the logs continue
    exactly where the checkpoint left off.

    :param out: the run directory (created).
    :param config: the run's settings, written to ``config.json``.
    :param iteration: the iteration the run starts after (0, or the resumed checkpoint's).
    :param tensorboard: also write TensorBoard event files to ``out/tensorboard``.
    """

    def __init__(self, out: Path, config: dict[str, Any], iteration: int, tensorboard: bool = True) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        (out / "config.json").write_text(json.dumps(config, indent=2, default=repr))
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = out / name
            if path.exists():
                kept = [line for line in path.read_text().splitlines()
                        if line.strip() and json.loads(line)["iteration"] <= iteration]
                path.write_text("".join(line + "\n" for line in kept))
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=iteration + 1 if iteration else None)

    def log(self, metrics: dict[str, float], sample: EpisodeRecord | None = None) -> None:
        """Append one iteration's ``metrics`` (with an ``"iteration"`` key) and, if given, one sample episode."""
        iteration = int(metrics["iteration"])
        with open(self.out / "metrics.jsonl", "a") as file:
            file.write(json.dumps(metrics) + "\n")
        if sample is not None:
            with open(self.out / "samples.jsonl", "a") as file:
                file.write(json.dumps({"iteration": iteration, "prompt": sample.prompt, "prediction": sample.prediction,
                                       "references": sample.references, "reward": sample.reward}) + "\n")
        if self.writer is not None:
            for key, value in metrics.items():
                if key != "iteration" and value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(key, value, iteration)
            self.writer.flush()

    def plot(self, history: list[dict[str, float]], panels: tuple[tuple[str, str], ...] | None = None) -> Path:
        return plot_learning_curve(history, self.out / "learning_curve.png", panels or PPO_PANELS)


PPO_PANELS = (("charts/reward", "mean episode reward"), ("objective/kl", "KL to reference (per episode)"),
              ("policy/entropy", "entropy (per token)"))


def plot_learning_curve(history: list[dict[str, float]], path: Path,
                        panels: tuple[tuple[str, str], ...] = PPO_PANELS) -> Path:
    """One panel per ``(metric, title)`` (by default PPO's reward, KL and entropy) against the iteration, side by
    side: the panels whose metric the history holds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [m["iteration"] for m in history]
    panels = [(key, title) for key, title in panels if history and key in history[0]]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, (key, title) in zip(axes[0], panels):
        axis.plot(iterations, [m[key] for m in history])
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
