"""Run envs × agents × seeds: build each agent, let it learn for a budget of env steps, evaluate it with
``agent.generate`` on the env's test split, and write one results JSON and one predictions file per run.

A run is described by a :class:`RunSpec` (plain strings, numbers and JSON, so it travels to worker processes and Ray
workers unchanged) and executed by :func:`execute`, which returns the result instead of writing it: the driver
writes every file, so runs on other machines still land in the driver's results directory. Backends only decide
where :func:`execute` runs: in this process one run after another, in a local process pool, or as Ray tasks
(:mod:`agents.bench.ray_backend`).
"""

from __future__ import annotations

import concurrent.futures
import difflib
import importlib
import math
import multiprocessing
import queue as queue_module
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
from gymnasium.vector import AutoresetMode
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.base import Agent
from agents.bench.results import (
    CORPUS_PREFIX,
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
    write_run,
)
from textenvs import load_env_dataset, summarize

Report = Callable[[str, str, int, int], None]
"""Progress events ``(run, phase, done, total)``; phases are ``start``, ``learn`` (env steps) and ``evaluate``
(episodes)."""
OnDone = Callable[["RunSpec", "RunOutput | None", "str | None"], None]
"""Called in the driver when a run ends: ``(spec, output, None)`` or ``(spec, None, formatted traceback)``."""

BACKENDS = ("local", "ray")


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


@dataclass
class BenchmarkOutcome:
    """Paths of the results JSON written per finished run, and the error of each failed run."""

    written: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def check_env_ids(env_ids: Sequence[str]) -> None:
    """Raise ``ValueError`` naming every unknown id, with close matches and the registered ids."""
    from textenvs import ENV_IDS

    unknown = [env_id for env_id in env_ids if env_id not in ENV_IDS]
    if unknown:
        hints = "".join(f" {env_id!r}: did you mean {close[0]!r}?" for env_id in unknown
                        if (close := difflib.get_close_matches(env_id, ENV_IDS, n=1)))
        raise ValueError(f"Unknown env id(s) {', '.join(map(repr, unknown))}.{hints} "
                         f"Available: {', '.join(ENV_IDS)}.")


def agent_class(agent: str) -> type[Agent]:
    """The class behind a benchmark agent name (registry name or ``module:Class``).

    :raises KeyError: an unknown registry name (the message lists the registered ones).
    :raises ImportError: the agent's module or one of its dependencies cannot be imported.
    """
    from agents import registry

    if ":" not in agent:
        return registry.agent_class(agent)
    module, _, attribute = agent.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except AttributeError as error:
        raise ImportError(f"Agent {agent!r}: module {module!r} has no attribute {attribute!r}.") from error
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"Agent {agent!r} is {cls!r}, not a subclass of agents.base.Agent.")
    return cls


def unavailable_agents(agents: Sequence[str]) -> dict[str, str]:
    """Agents whose code cannot be imported here, each with the reason (unknown names still raise ``KeyError``)."""
    reasons = {}
    for agent in agents:
        try:
            agent_class(agent)
        except ImportError as error:
            reasons[agent] = f"{type(error).__name__}: {error}"
    return reasons


def plan(env_ids: Sequence[str], agents: Sequence[str], seeds: Sequence[int], budget: int,
         eval_examples: int | None = None, eval_batch: int = 16,
         env_kwargs: Mapping[str, Any] | None = None,
         agent_config: Mapping[str, Mapping[str, Any]] | None = None) -> list[RunSpec]:
    """Every (env, agent, seed) combination as a :class:`RunSpec`, envs outermost.

    :param env_kwargs: kwargs for every env; a key that is a registered env id instead holds kwargs for that env
        only, merged over the shared ones (``{"max_new_tokens": 16, "textenvs/Translation-v0": {"dataset": ...}}``).
    :param agent_config: constructor kwargs per agent name (``{"ppo": {"num_envs": 8}}``).
    """
    from textenvs import ENV_IDS

    check_env_ids(env_ids)
    if not agents:
        raise ValueError("No agents to run.")
    if not seeds:
        raise ValueError("No seeds to run.")
    if budget < 0:
        raise ValueError(f"budget must be >= 0 env steps, got {budget}.")
    if eval_examples is not None and eval_examples < 1:
        raise ValueError(f"eval_examples must be >= 1 (or None for the whole test split), got {eval_examples}.")
    if eval_batch < 1:
        raise ValueError(f"eval_batch must be >= 1, got {eval_batch}.")
    for agent in agents:
        agent_class(agent)  # unknown names fail here, before anything runs
    env_kwargs = dict(env_kwargs or {})
    shared = {key: value for key, value in env_kwargs.items() if key not in ENV_IDS}
    agent_config = dict(agent_config or {})
    stray = sorted(set(agent_config) - set(agents))
    if stray:
        raise ValueError(f"agent_config names agent(s) {stray} that are not benchmarked ({', '.join(agents)}); "
                         "it maps agent names to their constructor kwargs.")
    return [RunSpec(env_id=env_id, agent=agent, seed=int(seed), budget=int(budget), eval_examples=eval_examples,
                    eval_batch=eval_batch, env_kwargs={**shared, **env_kwargs.get(env_id, {})},
                    agent_config=dict(agent_config.get(agent, {})))
            for env_id in env_ids for agent in agents for seed in seeds]


def execute(spec: RunSpec, report: Report | None = None, backend: str = "local") -> RunOutput:
    """Run one benchmark run in this process and return its result (nothing is written)."""
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
    return RunOutput(result, [{"id": record.example_id, "prediction": record.prediction} for record in records])


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
    """Per-example means (``summarize``) and the scorer's corpus-level scores as ``corpus_<name>``."""
    metrics = summarize(records)
    examples = [task.dataset[record.example_index] for record in records]
    corpus = task.scorer.corpus_score([record.prediction for record in records],
                                      [list(example.references) for example in examples],
                                      [example.prompt for example in examples],
                                      [example.metadata for example in examples])
    metrics.update({CORPUS_PREFIX + key: value for key, value in corpus.items() if not key.startswith("_")})
    return metrics


# ----------------------------------------------------------------------------------------------------------------
# Backends: where execute() runs. Each calls on_event for progress and on_done per run, both in the driver.


def run_local(specs: Sequence[RunSpec], on_event: Report, on_done: OnDone) -> None:
    """One run after another in this process."""
    for spec in specs:
        try:
            output = execute(spec, on_event, backend="local")
        except Exception:  # one failed run must not end the sweep; it is reported with its traceback
            on_done(spec, None, traceback.format_exc())
        else:
            on_done(spec, output, None)


def run_pool(specs: Sequence[RunSpec], workers: int, on_event: Report, on_done: OnDone,
             threads_per_run: int = 1) -> None:
    """Up to ``workers`` runs at a time in fresh (spawned) processes of this machine."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        events = manager.Queue()
        pending = {pool.submit(_execute_in_worker, spec, events, threads_per_run, "local-pool"): spec
                   for spec in specs}
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.25,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            _drain(events, on_event)
            for future in done:
                spec = pending.pop(future)
                error = future.exception()
                if error is None:
                    on_done(spec, future.result(), None)
                else:
                    on_done(spec, None, "".join(traceback.format_exception(error)))
        _drain(events, on_event)


def _execute_in_worker(spec: RunSpec, events: Any, threads: int, backend: str) -> RunOutput:
    """Entry point of a worker process or Ray task: limit torch's threads, run, and send progress to ``events``."""
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:
        pass
    return execute(spec, lambda *event: events.put(event), backend=backend)


def _drain(events: Any, on_event: Report) -> None:
    while True:
        try:
            on_event(*events.get_nowait())
        except queue_module.Empty:
            return


# ----------------------------------------------------------------------------------------------------------------
# The driver: progress bars, files, and the choice of backend.


class ProgressDisplay:
    """One overall bar (runs finished) and one bar per run in flight (env steps while learning, episodes while
    evaluating)."""

    def __init__(self, total_runs: int, console: Console, enabled: bool = True) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, disable=not enabled)
        self.overall = self.progress.add_task("[bold]runs", total=total_runs)
        self.runs: dict[str, Any] = {}

    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def event(self, run: str, phase: str, done: int, total: int) -> None:
        description = f"  {run} [dim]{phase}"
        if run not in self.runs:  # the first event of a run ("start") shows an indeterminate bar
            self.runs[run] = self.progress.add_task(description, total=None)
        elif phase != "start":
            self.progress.update(self.runs[run], description=description, completed=done, total=total)

    def finished(self, run: str) -> None:
        task = self.runs.pop(run, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)


def run_benchmark(specs: Sequence[RunSpec], out_dir: str | Path, backend: str = "local", workers: int = 1,
                  address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                  console: Console | None = None, progress: bool = True) -> BenchmarkOutcome:
    """Execute ``specs`` on ``backend`` and write each finished run under ``out_dir`` (see
    :mod:`agents.bench.results`); a failed run is reported and the others go on.

    :param backend: ``"local"`` (this process, or a pool of ``workers`` processes when ``workers > 1``) or
        ``"ray"`` (one Ray task per run).
    :param address: Ray cluster address (``ray.init(address=...)``); None starts a local Ray instance unless
        this process is already connected.
    :param cpus_per_run: CPUs reserved per Ray task, and torch threads per run in a pool or Ray worker.
    :param gpus_per_run: GPUs reserved per Ray task (fractions share a GPU).
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; available: {', '.join(BACKENDS)}.")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}.")
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Runs {repeated} appear more than once; each (env, agent, seed) may run once per directory.")
    console = console or Console()
    outcome = BenchmarkOutcome()
    out_dir = Path(out_dir)

    with ProgressDisplay(len(specs), console, enabled=progress) as display:
        def on_done(spec: RunSpec, output: RunOutput | None, error: str | None) -> None:
            display.finished(spec.name)
            if output is None:
                outcome.failures[spec.name] = error or "unknown error"
                last_line = (error or "").strip().splitlines()[-1:] or ["unknown error"]
                console.print(f"[red]✗ {spec.name} failed:[/red] {last_line[0]}")
                return
            outcome.written[spec.name] = write_run(out_dir, output.result, output.predictions)
            result = output.result
            console.print(f"[green]✓[/green] {spec.name}: {result.primary_metric}="
                          f"{result.metrics[result.primary_metric]:.4f} ({result.wall_time_s.total:.1f}s)")

        if backend == "ray":
            from agents.bench.ray_backend import run_ray

            run_ray(specs, display.event, on_done, address=address, cpus_per_run=cpus_per_run,
                    gpus_per_run=gpus_per_run)
        elif workers > 1:
            run_pool(specs, workers, display.event, on_done, threads_per_run=max(1, int(cpus_per_run)))
        else:
            run_local(specs, display.event, on_done)
    return outcome
