"""One benchmark run: what it is (:class:`RunSpec`) and how it executes (:func:`execute`): build the agent, let it
learn for a budget of env steps, evaluate it with ``agent.generate`` on the env's test split, and return the result
and predictions instead of writing them (the driver, :mod:`agents.bench.runner`, writes every file, so runs on other
machines still land in the driver's results directory). A spec is plain strings, numbers and JSON, so it travels to
worker processes and Ray workers unchanged; the backends (:mod:`agents.bench.backends`,
:mod:`agents.bench.ray_backend`) only decide where :func:`execute` runs.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import gymnasium as gym
import numpy as np
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
from agents.bench.policies import PolicyDestination, SavedPolicy, save_run_policy
from agents.registry import agent_class
from textenvs import load_env_dataset, summarize
from textenvs.metrics import prediction_metrics
from textenvs.rescoring import AGENT_TURNS, scored_answers
from textenvs.scorers import make_scorer

Report = Callable[[str, str, int, int], None]
"""Progress events ``(run, phase, done, total)``; phases are ``start``, ``learn`` (env steps), ``eval curve``
(episodes of an evaluation during learning, with ``eval_every``) and ``evaluate`` (episodes)."""
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
    :param train_env_kwargs: kwargs for the agent's (training) env only, merged over ``env_kwargs``: training-only
        settings such as a shaping reward, which the evaluation envs (final test, eval curve) never get, so the
        run is scored like a run without them.
    :param agent_config: keyword arguments for the agent's constructor.
    :param eval_every: with a positive number of env steps, also evaluate the policy greedily during learning (the
        *eval curve*, :class:`EvalCurve`): before learning (env step 0, the warm start), each time training crosses
        a multiple of it, and at the end. None or 0: off (the default).
    :param eval_curve_examples: the eval curve's examples: the first N of ``eval_curve_split``.
    :param eval_curve_split: the split the eval curve is measured on (held out from training; ``"validation"``, so
        the test split stays untouched until the final evaluation).
    :param extra_scorers: registered scorer names also computed on the final test predictions against the test
        split's references, recorded in the metrics as ``<scorer>/<metric>`` (a second measure beside the reward).
    :param policy: where to save the trained policy after the final evaluation (:mod:`agents.bench.policies`);
        None: not kept.
    """

    env_id: str
    agent: str
    seed: int
    budget: int
    eval_examples: int | None = None
    eval_batch: int = 16
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_config: dict[str, Any] = field(default_factory=dict)
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_every: int | None = None
    eval_curve_examples: int = 100
    eval_curve_split: str = "validation"
    extra_scorers: list[str] = field(default_factory=list)
    policy: PolicyDestination | None = None

    @property
    def name(self) -> str:
        return run_name(self.env_id, self.agent, self.seed)


@dataclass
class RunOutput:
    """What :func:`execute` hands back to the driver: the result and the predictions to write beside it."""

    result: RunResult
    predictions: list[dict[str, Any]]
    policy: SavedPolicy | None = None
    """the saved policy; its files still to write when shipped back from a Ray worker"""


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
    agent = cls(env_id=spec.env_id, env_kwargs={**spec.env_kwargs, **spec.train_env_kwargs}, seed=spec.seed,
                **spec.agent_config)
    reported: list[dict[str, float]] = []
    eval_curve = EvalCurve(spec, agent, report) if spec.eval_every else None

    def on_curve_point(point: Mapping[str, Any]) -> None:
        reported.append(_curve_point(point))
        if eval_curve is not None:
            eval_curve.after_training_point(reported[-1])
        report(spec.name, "learn", min(int(point.get("env_steps", 0)), spec.budget), spec.budget)

    returned = agent.learn(spec.budget, on_curve_point) if spec.budget > 0 else []
    curve = [_curve_point(point) for point in returned] if returned else reported
    eval_points = eval_curve.finish(curve) if eval_curve is not None else []
    learned = time.perf_counter()
    eval_curve_seconds = eval_curve.seconds if eval_curve is not None else 0.0

    env, size, count = evaluation_env(spec, "test", spec.eval_examples)
    task = env.unwrapped.task
    records = agent.generate(env, list(range(count)), lambda done: report(spec.name, "evaluate", done, count))
    env.close()
    evaluated = time.perf_counter()

    metrics = _metrics(spec, task, records, spec.extra_scorers)
    task_config = to_json_value(task.config())
    result = RunResult(
        run=spec.name,
        env=EnvInfo(id=spec.env_id, version=gym.spec(spec.env_id).version, kwargs=to_json_value(spec.env_kwargs),
                    train_kwargs=to_json_value(spec.train_env_kwargs),
                    task={key: value for key, value in task_config.items()
                          if key not in ("dataset", "split", "dataset_hash", "dataset_size", "scorer")}),
        dataset=DatasetInfo(name=task.dataset.name, split=task.split, content_hash=task.dataset.content_hash,
                            size=size, evaluated=count, complete=count == size),
        scorer=task_config["scorer"],
        agent=AgentInfo(name=spec.agent, config=to_json_value(agent.config())),
        seed=spec.seed, budget_env_steps=spec.budget,
        env_steps=int(curve[-1].get("env_steps", 0)) if curve else 0,
        primary_metric=task.scorer.primary, metrics=metrics, learning_curve=curve, eval_curve=eval_points,
        extra_scorers={name: make_scorer(name).primary for name in spec.extra_scorers},
        predictions_path=f"{PREDICTIONS_DIR}/{spec.name}.jsonl",
        wall_time_s=WallTime(learn=learned - started - eval_curve_seconds, evaluate=evaluated - learned,
                             eval_curve=eval_curve_seconds, total=evaluated - started),
        hardware=current_hardware(), versions=package_versions(), backend=backend, date=utc_now())
    policy = save_run_policy(agent, spec.policy)  # the policy the predictions came from, for verification
    if policy is not None:
        result.policy_path, result.policy_bytes = policy.relative_path, policy.size_bytes
    return RunOutput(result, [prediction_row(record, task.dataset.content_hash) for record in records], policy)


def prediction_row(record: Any, dataset_hash: str) -> dict[str, Any]:
    """A line of the predictions file, the leaderboard's record format: the example id, the text and the split it
    answers (``dataset_hash``: the leaderboard refuses predictions for another env's split), and a multi-turn
    episode's ``agent_turns``, from which its score is replayed (:mod:`textenvs.rescoring`)."""
    row: dict[str, Any] = {"id": record.example_id, "prediction": record.prediction, "dataset_hash": dataset_hash}
    if record.get(AGENT_TURNS) is not None:
        row[AGENT_TURNS] = list(record[AGENT_TURNS])
    return row


def evaluation_env(spec: RunSpec, split: str, limit: int | None) -> tuple[Any, int, int]:
    """The greedy-evaluation vector env on ``split`` with the run's env kwargs (its own ``split`` dropped), the
    split's size and how many of its first examples to evaluate (``limit``; None: all of them)."""
    kwargs = {key: value for key, value in spec.env_kwargs.items() if key != "split"}
    size = len(load_env_dataset(spec.env_id, split, **kwargs))
    count = size if limit is None else min(limit, size)
    env = gym.make_vec(spec.env_id, num_envs=min(spec.eval_batch, count), vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, split=split, **kwargs)
    return env, size, count


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


def _metrics(spec: RunSpec, task: Any, records: Sequence[Any], extra_scorers: Sequence[str] = ()) -> dict[str, float]:
    """The predictions' metrics as the leaderboard computes them (:func:`textenvs.metrics.prediction_metrics` of
    :func:`textenvs.rescoring.scored_answers`: a multi-turn episode whose user can change its goal is replayed from
    its agent turns and scored against the goal it ended with, as the env scored it), the episodes' mean ``reward``
    and ``length``, and each extra scorer's metrics as ``<scorer>/<metric>`` (scored the same way, against the same
    references).

    :raises ValueError: an extra scorer's name collides with a different value of the env's scorer (a composite
        scorer records its parts as ``<part>/<metric>`` too; an equal value is the same measure and is kept once).
    """
    examples, predictions = scored_answers(spec.env_id, spec.env_kwargs, task.split, task.dataset,
                                           [record.example_index for record in records],
                                           [record.prediction for record in records],
                                           [record.get(AGENT_TURNS) for record in records])
    metrics = prediction_metrics(task.scorer, examples, predictions)
    episodes = summarize(records)
    metrics.update(reward=episodes["reward"], length=episodes["length"])
    for name in extra_scorers:
        for metric, value in prediction_metrics(make_scorer(name), examples, predictions).items():
            key = f"{name}/{metric}"
            if key in metrics and not math.isclose(metrics[key], value, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"Extra scorer {name!r} gives {key}={value!r}, but the env's scorer already "
                                 f"records {key}={metrics[key]!r}; drop {name!r} from extra_scorers.")
            metrics[key] = value
    return metrics


class EvalCurve:
    """The eval curve of one run (:attr:`RunSpec.eval_every`): the policy evaluated greedily with
    ``agent.generate`` and :func:`_metrics` (the final evaluation's path) on the first
    :attr:`RunSpec.eval_curve_examples` examples of :attr:`RunSpec.eval_curve_split`, at env step 0 (the warm
    start, when built), from the learn callback each time training crosses a multiple of ``eval_every``, and at the
    end (:meth:`finish`).

    The learn callback comes after each training iteration (LM agents) or each SB3 rollout + update, so points land
    at the first callback at or past each multiple: agents whose updates are large get coarser curves. Evaluating
    does not disturb training (:func:`undisturbed`). A point is ``env_steps``, every metric, and ``kl`` (the
    policy's KL to its reference as the trainer reported it at that point; 0 at step 0, where the policy is the
    reference, when any later point has one).
    """

    def __init__(self, spec: RunSpec, agent: Any, report: Report) -> None:
        self.spec, self.agent, self.report = spec, agent, report
        self.every = int(spec.eval_every or 0)
        self.env, _, self.count = evaluation_env(spec, spec.eval_curve_split, spec.eval_curve_examples)
        self.points: list[dict[str, float]] = []
        self.seconds = 0.0
        self.next_due = self.every
        self.evaluate(0, {})

    def evaluate(self, env_steps: float, training_point: Mapping[str, float]) -> None:
        """Add the point of the policy as it is now, after ``env_steps`` of training."""
        started = time.perf_counter()
        with undisturbed(self.agent):
            records = self.agent.generate(
                self.env, list(range(self.count)),
                lambda done: self.report(self.spec.name, "eval curve", done, self.count))
        point = {"env_steps": float(env_steps), **_metrics(self.spec, self.env.unwrapped.task, records)}
        if "kl" in training_point:
            point["kl"] = float(training_point["kl"])
        self.points.append(point)
        self.seconds += time.perf_counter() - started

    def after_training_point(self, point: Mapping[str, float]) -> None:
        """The learn callback's hook: evaluate when ``point`` is at or past the next multiple of ``eval_every``."""
        steps = point.get("env_steps", 0.0)
        if steps >= self.next_due:
            self.evaluate(steps, point)
            self.next_due = (int(steps) // self.every + 1) * self.every

    def finish(self, training_curve: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
        """Evaluate the final policy unless the last point already did, close the env and return the points."""
        last = training_curve[-1] if training_curve else {}
        if last.get("env_steps", 0.0) > self.points[-1]["env_steps"]:
            self.evaluate(last["env_steps"], last)
        self.env.close()
        if any("kl" in point for point in self.points[1:]):
            self.points[0]["kl"] = 0.0
        return self.points


@contextmanager
def undisturbed(agent: Any) -> Iterator[None]:
    """Run the body without changing what training does next: the python, numpy and torch (CPU and CUDA) global
    random states and the train/eval mode of every module of the agent are restored afterwards. (The LM trainers'
    own samplers are separate generators that greedy decoding never draws from.)"""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch = _torch()
    torch_state = torch.get_rng_state() if torch else None
    cuda_states = torch.cuda.get_rng_state_all() if torch and torch.cuda.is_initialized() else None
    modes = [(module, module.training) for model in _agent_modules(agent) for module in model.modules()]
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch_state is not None:
            torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        for module, training in modes:
            module.training = training


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _agent_modules(agent: Any) -> list[Any]:
    """The torch modules an agent holds, as attributes or attributes of its attributes (``agent.trainer.lm``,
    ``agent.algorithm.policy``)."""
    torch = _torch()
    if torch is None:
        return []
    found: dict[int, Any] = {}
    holders = [agent, *vars(agent).values()]
    for holder in holders:
        for value in getattr(holder, "__dict__", {}).values():
            if isinstance(value, torch.nn.Module):
                found[id(value)] = value
    return list(found.values())


def execute_in_worker(spec: RunSpec, events: Any, threads: int, backend: str) -> RunOutput:
    """Entry point of a worker process or Ray task: limit torch's threads, run, and send progress to ``events``."""
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:
        pass
    return execute(spec, lambda *event: events.put(event), backend=backend)
