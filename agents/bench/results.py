"""The benchmark's results format in one place: one JSON file per run (env × agent × seed) and one predictions
file beside it, plus the facts about the machine and software that produced them.

Layout of a results directory (``textenvs bench --out DIR``)::

    DIR/runs/<run>.json                 a RunResult (this module's schema)
    DIR/predictions/<run>.jsonl         {"id", "prediction", "dataset_hash"} per line: what the leaderboard accepts
    DIR/predictions/<run>.metadata.json the run as leaderboard submission metadata (agent, config, seeds, ...)
    DIR/policies/<run>/                 the trained policy (save_pretrained: safetensors, config, tokenizer) of an
                                        agent that has one (PPO, GRPO family), for verified submissions
    DIR/summary.md, DIR/summary.csv     ranked tables over seeds (agents.bench.aggregate)
    DIR/plots/*.png                     learning curves and per-env bars (agents.bench.plots)

``<run>`` is ``<env name>__<agent>__seed<k>``, e.g. ``Translation-v0__greedy__seed0``. Paths inside a RunResult are
relative to DIR, so a results directory can be moved or archived whole.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, JsonValue

SCHEMA_VERSION = 1
RUNS_DIR = "runs"
PREDICTIONS_DIR = "predictions"

VERSIONED_PACKAGES = ("textenvs", "torch", "transformers", "gymnasium", "numpy", "stable-baselines3", "sb3-contrib",
                      "peft", "ray")
"""Packages whose versions are recorded with every run (those not installed are left out)."""


class EnvInfo(BaseModel):
    """The environment a run was evaluated on.

    :ivar id: registered id, e.g. ``textenvs/Translation-v0``.
    :ivar version: the id's version number (``-v0`` → 0); bumped whenever results would change.
    :ivar kwargs: the env kwargs given to the agent and the evaluation env (JSON as passed on the command line).
    :ivar train_kwargs: the kwargs the agent's training env got on top of ``kwargs`` (the bench's
        ``train_env_kwargs``, e.g. a shaping reward); the evaluation env did not get them. Empty: none.
    :ivar task: the evaluation env's ``task.config()`` (tokenizer, lengths, observation and reward modes).
    """

    id: str
    version: int | None
    kwargs: dict[str, JsonValue]
    task: dict[str, JsonValue]
    train_kwargs: dict[str, JsonValue] = Field(default_factory=dict)


class DatasetInfo(BaseModel):
    """The split the metrics were computed on.

    :ivar complete: every example of the split was evaluated (needed for a leaderboard submission).
    """

    name: str
    split: str
    content_hash: str
    size: int
    evaluated: int
    complete: bool


class AgentInfo(BaseModel):
    """Which agent ran: its benchmark name (registry name or ``module:Class``) and its own ``config()``."""

    name: str
    config: dict[str, JsonValue]


class WallTime(BaseModel):
    """Seconds spent building and training the agent, generating on the test split, evaluating during learning (the
    eval curve; 0 without one, and not counted in ``learn``), and in total."""

    learn: float
    evaluate: float
    eval_curve: float = 0.0
    total: float


class Hardware(BaseModel):
    """The machine a run executed on (a Ray worker's, with ``--backend ray``)."""

    hostname: str
    platform: str
    cpu: str
    cpu_cores: int
    memory_gb: float | None
    gpus: list[str]
    torch_threads: int | None


class RunResult(BaseModel):
    """One benchmark run: ``agent`` trained for ``budget_env_steps`` on ``env`` with ``seed``, then evaluated with
    ``agent.generate`` on the env's test split.

    :ivar metrics: on the evaluated examples: the mean of every per-example score, ``reward`` and ``length`` (mean
        episode length in tokens), and ``corpus_<name>`` for each corpus-level score of the scorer.
    :ivar primary_metric: the scorer's primary score (the env's reward); tables rank agents by its mean.
    :ivar env_steps: environment steps the agent actually trained for (last curve point; 0 for non-learning agents).
    :ivar learning_curve: the points the agent reported during ``learn`` (``env_steps`` plus named values).
    :ivar eval_curve: greedy evaluations on held-out examples during ``learn`` (``textenvs bench --eval-every``;
        empty without): ``env_steps``, the metrics as in ``metrics`` and ``kl`` where the trainer reports one; the
        first point is env step 0 (the warm start). See :class:`agents.bench.execution.EvalCurve`.
    :ivar extra_scorers: each extra scorer's name and its primary metric; its metrics are in ``metrics`` as
        ``<scorer>/<metric>``.
    :ivar predictions_path: the predictions JSONL, relative to the results directory.
    :ivar policy_path: the trained policy's ``save_pretrained`` directory, relative to the results directory
        (:mod:`agents.bench.policies`); None when the agent has none or policies were not kept.
    :ivar policy_bytes: the policy directory's size.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    schema_version: int = SCHEMA_VERSION
    run: str
    env: EnvInfo
    dataset: DatasetInfo
    scorer: dict[str, JsonValue]
    agent: AgentInfo
    seed: int
    budget_env_steps: int
    env_steps: int
    primary_metric: str
    metrics: dict[str, float]
    learning_curve: list[dict[str, float]] = Field(default_factory=list)
    eval_curve: list[dict[str, float]] = Field(default_factory=list)
    extra_scorers: dict[str, str] = Field(default_factory=dict)
    predictions_path: str
    policy_path: str | None = None
    policy_bytes: int | None = None
    wall_time_s: WallTime
    hardware: Hardware
    versions: dict[str, str]
    backend: str
    date: datetime

    def submission_metadata(self) -> dict[str, Any]:
        """This run as the leaderboard's submission metadata (``textenvs leaderboard submit PREDICTIONS --env ID
        --metadata @<run>.metadata.json``); the server re-scores the predictions, the metrics here are only claimed."""
        return {
            "agent": self.agent.name,
            "config": {**self.agent.config, "budget_env_steps": self.budget_env_steps, "env_kwargs": self.env.kwargs,
                       **({"train_env_kwargs": self.env.train_kwargs} if self.env.train_kwargs else {})},
            "seeds": [self.seed],
            "versions": {name: version for name, version in self.versions.items() if len(version) <= 100},
            "curve": [{**point, "env_steps": int(point.get("env_steps", 0))} for point in self.learning_curve],
            "claimed_metrics": self.metrics,
        }


def run_name(env_id: str, agent: str, seed: int) -> str:
    """File-name-safe name of one run: ``Translation-v0__greedy__seed0``."""
    env = env_id.rsplit("/", 1)[-1]
    return f"{_safe(env)}__{_safe(agent)}__seed{seed}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def write_run(out_dir: str | os.PathLike, result: RunResult, predictions: Iterable[dict[str, str]]) -> Path:
    """Write ``result`` to ``out_dir/runs/<run>.json``, the predictions to ``result.predictions_path`` and the
    submission metadata beside them; returns the JSON path. Each file is written to a temporary name first, so a
    killed sweep leaves no half file."""
    out = Path(out_dir)
    prediction_file = out / result.predictions_path
    _atomic_write(prediction_file, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in predictions))
    _atomic_write(prediction_file.with_name(f"{result.run}.metadata.json"),
                  json.dumps(result.submission_metadata(), indent=2) + "\n")
    path = out / RUNS_DIR / f"{result.run}.json"
    _atomic_write(path, result.model_dump_json(indent=2) + "\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def load_results(out_dir: str | os.PathLike) -> list[RunResult]:
    """Every run of a results directory, sorted by run name; a file that is not a valid RunResult is an error
    naming the file."""
    runs = Path(out_dir) / RUNS_DIR
    if not runs.is_dir():
        raise FileNotFoundError(f"No {RUNS_DIR}/ folder in {out_dir}; is it a `textenvs bench --out` directory?")
    results = []
    for path in sorted(runs.glob("*.json")):
        try:
            results.append(RunResult.model_validate_json(path.read_text(encoding="utf-8")))
        except ValueError as error:
            raise ValueError(f"{path} is not a valid benchmark result: {error}") from error
    if not results:
        raise FileNotFoundError(f"{runs} holds no run results (*.json).")
    return results


def current_hardware() -> Hardware:
    """CPU model and cores, memory, visible GPUs and torch's thread count of this process's machine."""
    gpus: list[str] = []
    threads = None
    try:
        import torch

        threads = torch.get_num_threads()
        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return Hardware(hostname=platform.node(), platform=platform.platform(), cpu=_cpu_model(),
                    cpu_cores=os.cpu_count() or 0, memory_gb=_memory_gb(), gpus=gpus, torch_threads=threads)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def package_versions() -> dict[str, str]:
    """Python, the installed :data:`VERSIONED_PACKAGES` and, in a git checkout, the textenvs commit."""
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    commit = _git_commit()
    if commit:
        versions["textenvs_commit"] = commit
    return versions


def _git_commit() -> str | None:
    """HEAD of the checkout textenvs is imported from (``+dirty`` with uncommitted changes); None when textenvs is
    not imported from the top of a git checkout (an installed wheel, even in a virtualenv inside someone's repo)."""
    import textenvs

    root = Path(textenvs.__file__).resolve().parents[1]
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        if Path(top).resolve() != root:
            return None
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_json_value(value: Any) -> JsonValue:
    """``value`` made JSON-safe for recording: numpy scalars become numbers, paths strings, other objects their
    ``repr`` (an env kwarg such as a tokenizer object is recorded as a description rather than failing the run)."""
    return json.loads(json.dumps(value, default=_describe))


def _describe(value: Any) -> Any:
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return repr(value)
