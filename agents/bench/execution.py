"""One benchmark run: what it is (:class:`RunSpec`) and how it executes (:func:`execute`): build the agent, let it
learn for a budget of env steps, evaluate it with ``agent.generate`` on the env's test split, and return the result
and predictions instead of writing them (the driver, :mod:`agents.bench.runner`, writes every file, so runs on other
machines still land in the driver's results directory). A spec is plain strings, numbers and JSON, so it travels to
worker processes and Ray workers unchanged; the backends (:mod:`agents.bench.backends`,
:mod:`agents.bench.ray_backend`) only decide where :func:`execute` runs.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from agents.bench.results import (
    PREDICTIONS_DIR,
    AgentInfo,
    DatasetInfo,
    EnvInfo,
    RunResult,
    WallTime,
    current_hardware,
    package_versions,
    run_name,
    to_json_value,
    utc_now,
)
from agents.registry import agent_class
from textenvs import load_env_dataset, summarize
from textenvs.metrics import prediction_metrics

Report = Callable[[str, str, int, int], None]
"""Progress events ``(run, phase, done, total)``; phases are ``start``, ``learn`` (env steps) and ``evaluate``
(episodes)."""
OnDone = Callable[["RunSpec", "RunOutput | None", "str | None"], None]
"""Called in the driver when a run ends: ``(spec, output, None)`` or ``(spec, None, formatted traceback)``."""

@dataclass
class RunSpec:
    """One run of the benchmark.

    :param env_id: registered textenvs id.
    :param agent: a name from :mod:`agents.registry` or ``"package.module:AgentClass"`` (an :class:`Agent`
        subclass outside the registry).
    :param seed: the agent's seed.
    :param budget: ``total_env_steps`` passed to ``agent.learn`` (0: evaluate the agent as built).
    :param eval_examples: evaluate on the first N examples of the test split (None: all of it).
    :param eval_batch: sub-envs of the evaluation vector env (episodes generated together).
    :param env_kwargs: kwargs for the agent's env and the evaluation env (``split`` is set to ``"test"`` for the
        latter).
    :param agent_config: keyword arguments for the agent's constructor.
    """

    env_id: str
    agent: str
    seed: int
    budget: int
    eval_examples: int | None = None
    eval_batch: int = 16
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return run_name(self.env_id, self.agent, self.seed)


@dataclass
class RunOutput:
    """What :func:`execute` hands back to the driver: the result and the predictions to write beside it."""

    result: RunResult
    predictions: list[dict[str, str]]


OUT_OF_DATE_WARNING = r".*The environment \S+ is out of date\. You should consider upgrading to version"
"""Gymnasium's notice, on every make of a versioned id whose family has a newer version."""


def quiet_version_notices() -> None:
    """Silence Gymnasium's "out of date" notice in this process: a bench names each env's version on purpose, and
    says once at its start which have a newer one (:func:`newer_versions`), instead of every worker on every make."""
    warnings.filterwarnings("ignore", message=OUT_OF_DATE_WARNING, category=DeprecationWarning)


def newer_versions(env_ids: Sequence[str]) -> dict[str, str]:
    """The ids among ``env_ids`` whose family has a newer registered version, each with the newest id."""
    from gymnasium.envs.registration import find_highest_version, get_env_id, parse_env_id

    newer = {}
    for env_id in env_ids:
        namespace, name, version = parse_env_id(env_id)
        highest = find_highest_version(namespace, name)
        if version is not None and highest is not None and highest > version:
            newer[env_id] = get_env_id(namespace, name, highest)
    return newer


def execute(spec: RunSpec, report: Report | None = None, backend: str = "local") -> RunOutput:
    """Run one benchmark run in this process and return its result (nothing is written)."""
    quiet_version_notices()
    report = report or (lambda *event: None)
    started = time.perf_counter()
    report(spec.name, "start", 0, 1)

    cls = agent_class(spec.agent)
    agent = cls(env_id=spec.env_id, env_kwargs=spec.env_kwargs, seed=spec.seed, **spec.agent_config)
    reported: list[dict[str, float]] = []

    def on_curve_point(point: Mapping[str, Any]) -> None:
        reported.append(_curve_point(point))
        report(spec.name, "learn", min(int(point.get("env_steps", 0)), spec.budget), spec.budget)

    returned = agent.learn(spec.budget, on_curve_point) if spec.budget > 0 else []
    curve = [_curve_point(point) for point in returned] if returned else reported
    learned = time.perf_counter()

    test_kwargs = {key: value for key, value in spec.env_kwargs.items() if key != "split"}
    size = len(load_env_dataset(spec.env_id, "test", **test_kwargs))
    count = size if spec.eval_examples is None else min(spec.eval_examples, size)
    env = gym.make_vec(spec.env_id, num_envs=min(spec.eval_batch, count), vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, split="test", **test_kwargs)
    task = env.unwrapped.task
    records = agent.generate(env, list(range(count)), lambda done: report(spec.name, "evaluate", done, count))
    env.close()
    evaluated = time.perf_counter()

    metrics = _metrics(task, records)
    task_config = to_json_value(task.config())
    result = RunResult(
        run=spec.name,
        env=EnvInfo(id=spec.env_id, version=gym.spec(spec.env_id).version, kwargs=to_json_value(spec.env_kwargs),
                    task={key: value for key, value in task_config.items()
                          if key not in ("dataset", "split", "dataset_hash", "dataset_size", "scorer")}),
        dataset=DatasetInfo(name=task.dataset.name, split=task.split, content_hash=task.dataset.content_hash,
                            size=size, evaluated=count, complete=count == size),
        scorer=task_config["scorer"],
        agent=AgentInfo(name=spec.agent, config=to_json_value(agent.config())),
        seed=spec.seed, budget_env_steps=spec.budget,
        env_steps=int(curve[-1].get("env_steps", 0)) if curve else 0,
        primary_metric=task.scorer.primary, metrics=metrics, learning_curve=curve,
        predictions_path=f"{PREDICTIONS_DIR}/{spec.name}.jsonl",
        wall_time_s=WallTime(learn=learned - started, evaluate=evaluated - learned, total=evaluated - started),
        hardware=current_hardware(), versions=package_versions(), backend=backend, date=utc_now())
    # Each record names the split it answers: the leaderboard refuses predictions for another env's split.
    return RunOutput(result, [{"id": record.example_id, "prediction": record.prediction,
                               "dataset_hash": task.dataset.content_hash} for record in records])


def _curve_point(point: Mapping[str, Any]) -> dict[str, float]:
    """A learning-curve point with only its finite numeric values (what the results and leaderboard store)."""
    clean = {}
    for key, value in point.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            clean[str(key)] = number
    return clean


def _metrics(task: Any, records: Sequence[Any]) -> dict[str, float]:
    """The predictions' metrics as the leaderboard computes them (:func:`textenvs.metrics.prediction_metrics`), and
    the episodes' mean ``reward`` and ``length``."""
    metrics = prediction_metrics(task.scorer, [task.dataset[record.example_index] for record in records],
                                 [record.prediction for record in records])
    episodes = summarize(records)
    metrics.update(reward=episodes["reward"], length=episodes["length"])
    return metrics


def execute_in_worker(spec: RunSpec, events: Any, threads: int, backend: str) -> RunOutput:
    """Entry point of a worker process or Ray task: limit torch's threads, run, and send progress to ``events``."""
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:
        pass
    return execute(spec, lambda *event: events.put(event), backend=backend)
