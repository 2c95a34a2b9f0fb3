"""The benchmark driver: plan envs × agents × seeds, run them on a backend (:mod:`agents.bench.backends`: this
process or a local process pool; :mod:`agents.bench.ray_backend`: Ray tasks), show progress and write one results
JSON and one predictions file per run. What one run does is :mod:`agents.bench.execution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.bench.backends import run_local, run_pool
from agents.bench.execution import RunOutput, RunSpec
from agents.bench.policies import destination, megabytes, write_shipped_policy
from agents.bench.results import RunResult, write_run
from agents.registry import agent_class, check_agent_config
from textenvs.validation import close_matches

BACKENDS = ("local", "ray")


@dataclass
class BenchmarkOutcome:
    """Paths of the results JSON written per finished run, and the error of each failed run."""

    written: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def check_env_ids(env_ids: Sequence[str]) -> None:
    """Raise ``ValueError`` naming every unknown id, with close matches and the registered ids (old ids in
    ``textenvs.ENV_ALIASES`` are known: recorded benchmarks re-run under the names they were recorded with)."""
    from textenvs import ENV_ALIASES, ENV_IDS

    unknown = [env_id for env_id in env_ids if env_id not in ENV_IDS and env_id not in ENV_ALIASES]
    if unknown:
        hints = "".join(f" {env_id!r}: did you mean {close[0]!r}?" for env_id in unknown
                        if (close := close_matches(env_id, ENV_IDS, n=1)))
        raise ValueError(f"Unknown env id(s) {', '.join(map(repr, unknown))}.{hints} "
                         f"Available: {', '.join(ENV_IDS)}.")


def unavailable_agents(agents: Sequence[str]) -> dict[str, str]:
    """Agents whose code cannot be imported here, each with the reason (unknown names still raise ``KeyError``)."""
    reasons = {}
    for agent in agents:
        try:
            agent_class(agent)
        except ImportError as error:
            reasons[agent] = f"{type(error).__name__}: {error}"
    return reasons


def plan(env_ids: Sequence[str], agents: Sequence[str], seeds: Sequence[int], budget: int | Mapping[str, int],
         eval_examples: int | None = None, eval_batch: int = 16,
         env_kwargs: Mapping[str, Any] | None = None,
         agent_config: Mapping[str, Mapping[str, Any]] | None = None, eval_curve: EvalCurveSettings | None = None,
         extra_scorers: Sequence[str] = (), train_env_kwargs: Mapping[str, Any] | None = None) -> list[RunSpec]:
    """Every (env, agent, seed) combination as a :class:`RunSpec`, envs outermost.

    :param budget: env steps each run learns for; or one budget per env id (every benchmarked env named), for a
        benchmark whose tasks learn at different speeds.
    :param env_kwargs: kwargs for every env; a key that is a registered env id instead holds kwargs for that env
        only, merged over the shared ones (``{"max_new_tokens": 16, "textenvs/Translation-v0": {"dataset": ...}}``).
    :param agent_config: constructor kwargs per agent name (``{"ppo": {"num_envs": 8}}``).
    :param eval_curve: evaluate during learning (:class:`EvalCurveSettings`; None: off).
    :param extra_scorers: registered scorer names computed on the test predictions beside the env's scorer.
    :param train_env_kwargs: kwargs for the agents' training envs only, merged over ``env_kwargs`` (same form: a
        key that is an env id holds kwargs for that env only); the evaluation envs never get them. For training-only
        reward shaping, e.g. ``{"turn_reward": 0.1}`` on ``textenvs/MultiTurnDialogue-v1``, whose test score stays
        the env's goal score.
    """
    check_env_ids(env_ids)
    if not agents:
        raise ValueError("No agents to run.")
    if not seeds:
        raise ValueError("No seeds to run.")
    budgets = per_env_budget(env_ids, budget)
    if eval_examples is not None and eval_examples < 1:
        raise ValueError(f"eval_examples must be >= 1 (or None for the whole test split), got {eval_examples}.")
    if eval_batch < 1:
        raise ValueError(f"eval_batch must be >= 1, got {eval_batch}.")
    eval_curve = eval_curve or EvalCurveSettings()
    eval_curve.check()
    check_extra_scorers(extra_scorers)
    for agent in agents:
        agent_class(agent)  # unknown names fail here, before anything runs
    per_env = per_env_kwargs(env_ids, env_kwargs)
    per_env_train = per_env_kwargs(env_ids, train_env_kwargs)
    agent_config = dict(agent_config or {})
    stray = sorted(set(agent_config) - set(agents))
    if stray:
        raise ValueError(f"agent_config names agent(s) {stray} that are not benchmarked ({', '.join(agents)}); "
                         "it maps agent names to their constructor kwargs.")
    check_run_settings(per_env, {agent: agent_config.get(agent, {}) for agent in agents})
    check_run_settings({env_id: {**per_env[env_id], **per_env_train[env_id]} for env_id in env_ids if
                        per_env_train[env_id]}, {}, label="train_env_kwargs")
    return [RunSpec(env_id=env_id, agent=agent, seed=int(seed), budget=budgets[env_id], eval_examples=eval_examples,
                    eval_batch=eval_batch, env_kwargs=dict(per_env[env_id]),
                    train_env_kwargs=dict(per_env_train[env_id]),
                    agent_config=dict(agent_config.get(agent, {})), eval_every=eval_curve.every or None,
                    eval_curve_examples=eval_curve.examples, eval_curve_split=eval_curve.split,
                    extra_scorers=list(extra_scorers))
            for env_id in env_ids for agent in agents for seed in seeds]


def per_env_budget(env_ids: Sequence[str], budget: int | Mapping[str, int]) -> dict[str, int]:
    """Each env's budget from one budget for all, or from a mapping that names every env id and nothing else.

    :raises ValueError: a negative or non-integer budget, an env without one, or one for an env not benchmarked.
    """
    budgets = dict(budget) if isinstance(budget, Mapping) else {env_id: budget for env_id in env_ids}
    missing = [env_id for env_id in env_ids if env_id not in budgets]
    stray = sorted(set(budgets) - set(env_ids))
    if missing or stray:
        raise ValueError(f"A budget per env must name every benchmarked env and only those: "
                         f"missing {missing}, not benchmarked {stray}.")
    for env_id, steps in budgets.items():
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"budget must be >= 0 env steps (a whole number), got {steps!r} for {env_id}.")
    return budgets


def per_env_kwargs(env_ids: Sequence[str], kwargs: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each env's kwargs from the bench's form: shared keys, and keys that are env ids holding that env's own
    (merged over the shared ones)."""
    from textenvs import ENV_ALIASES, ENV_IDS

    kwargs = dict(kwargs or {})
    shared = {key: value for key, value in kwargs.items() if key not in ENV_IDS and key not in ENV_ALIASES}
    return {env_id: {**shared, **(kwargs.get(env_id) or {})} for env_id in env_ids}


@dataclass
class EvalCurveSettings:
    """How runs evaluate during learning (:class:`agents.bench.execution.EvalCurve`).

    :param every: env steps between evaluations; None or 0: no eval curve.
    :param examples: evaluate on the first N examples of ``split``.
    :param split: a held-out split of every env (``validation``; the synthetic tasks also have
        ``test_compositional``).
    """

    every: int | None = None
    examples: int = 100
    split: str = "validation"

    def check(self) -> None:
        """:raises ValueError: naming the bad setting and what it may be."""
        if self.every is not None and (isinstance(self.every, bool) or not isinstance(self.every, int)
                                       or self.every < 0):
            raise ValueError(f"eval_every must be a whole number of env steps >= 0 (0 or None: off), got "
                             f"{self.every!r}.")
        if isinstance(self.examples, bool) or not isinstance(self.examples, int) or self.examples < 1:
            raise ValueError(f"eval_curve_examples must be a whole number >= 1, got {self.examples!r}.")
        if not isinstance(self.split, str) or not self.split or self.split == "train":
            raise ValueError(f"eval_curve_split must name a held-out split (e.g. 'validation', 'test', "
                             f"'test_compositional'), got {self.split!r}; 'train' is what the agents learn on.")


def check_extra_scorers(names: Sequence[str]) -> None:
    """:raises ValueError: for a name that is not a registered scorer, with the closest names and all of them, or
    a name given twice."""
    from textenvs import scorers

    available = scorers.available()
    for name in names:
        if name not in available:
            close = close_matches(name, available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown extra scorer {name!r}.{hint} Registered scorers: {', '.join(available)}.")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise ValueError(f"extra_scorers names {repeated} more than once.")


def check_run_settings(env_kwargs: Mapping[str, Mapping[str, Any]],
                       agent_config: Mapping[str, Mapping[str, Any]], label: str = "env_kwargs") -> None:
    """Check every env's kwargs (argument names and types, the scorer's name and kwargs) and every agent's config
    (setting names and values) before any run starts, so one typo is one error naming the env or agent it belongs
    to, not one failed run per seed. Loads no data or model.

    :raises ValueError: the first bad setting, prefixed with the env id or agent name it belongs to.
    """
    from textenvs import check_env_arguments

    for env_id, kwargs in env_kwargs.items():
        try:
            check_env_arguments(env_id, kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{label} of {env_id}: {error}") from error
    for agent, config in agent_config.items():
        try:
            check_agent_config(agent, config)
        except TypeError as error:
            raise ValueError(str(error)) from error


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


def finished_line(result: RunResult) -> str:
    """The console line of a finished run: its primary metric, time, budget overshoot and kept policy's size."""
    # Agents that learn in whole rollouts (PPO/GRPO batches, SB3's n_steps x num_envs) finish the one the budget
    # ends in; the results JSON records both figures, and the run's line says so where it is watched.
    overshoot = result.env_steps > result.budget_env_steps > 0
    note = (f"; [yellow]{result.env_steps} env steps for a budget of {result.budget_env_steps}: whole "
            "rollouts[/yellow]") if overshoot else ""
    kept = f"; policy {megabytes(result.policy_bytes)}" if result.policy_bytes is not None else ""
    return (f"[green]✓[/green] {result.run}: {result.primary_metric}="
            f"{result.metrics[result.primary_metric]:.4f} ({result.wall_time_s.total:.1f}s{note}{kept})")


def run_benchmark(specs: Sequence[RunSpec], out_dir: str | Path, backend: str = "local", workers: int = 1,
                  address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                  console: Console | None = None, progress: bool = True,
                  save_policies: bool = True) -> BenchmarkOutcome:
    """Execute ``specs`` on ``backend`` and write each finished run under ``out_dir`` (see
    :mod:`agents.bench.results`); a failed run is reported and the others go on.

    :param backend: ``"local"`` (this process, or a pool of ``workers`` processes when ``workers > 1``) or
        ``"ray"`` (one Ray task per run).
    :param address: Ray cluster address (``ray.init(address=...)``); None starts a local Ray instance unless
        this process is already connected.
    :param cpus_per_run: CPUs reserved per Ray task, and torch threads per run in a pool or Ray worker.
    :param gpus_per_run: GPUs reserved per Ray task (fractions share a GPU).
    :param save_policies: keep each trained policy under ``out_dir/policies/<run>/`` (agents that have one: PPO,
        the GRPO family), so a submitted run can be verified; Ray tasks ship the files back to this process
        (:mod:`agents.bench.policies`).
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
    if save_policies:
        specs = [replace(spec, policy=destination(out_dir, spec.name, ship_bytes=backend == "ray")) for spec in specs]

    with ProgressDisplay(len(specs), console, enabled=progress) as display:
        def on_done(spec: RunSpec, output: RunOutput | None, error: str | None) -> None:
            display.finished(spec.name)
            if output is None:
                outcome.failures[spec.name] = error or "unknown error"
                last_line = (error or "").strip().splitlines()[-1:] or ["unknown error"]
                console.print(f"[red]✗ {spec.name} failed:[/red] {last_line[0]}")
                return
            if output.policy is not None:
                write_shipped_policy(out_dir, output.policy)
            outcome.written[spec.name] = write_run(out_dir, output.result, output.predictions)
            console.print(finished_line(output.result))

        if backend == "ray":
            from agents.bench.ray_backend import run_ray

            run_ray(specs, display.event, on_done, address=address, cpus_per_run=cpus_per_run,
                    gpus_per_run=gpus_per_run)
        elif workers > 1:
            run_pool(specs, workers, display.event, on_done, threads_per_run=max(1, int(cpus_per_run)))
        else:
            run_local(specs, display.event, on_done)
    return outcome
