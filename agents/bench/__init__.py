"""Benchmark runner: envs × agents × seeds with budgets, one results JSON per run, tables with confidence
intervals over seeds, plots, and local or Ray backends. Command line: ``textenvs bench`` (:mod:`agents.bench.cli`).

>>> from agents.bench import plan, run_benchmark
>>> specs = plan(["textenvs/Translation-v0"], ["random", "greedy"], seeds=[0, 1], budget=0, eval_examples=50)
>>> outcome = run_benchmark(specs, "results/example")
"""

from agents.bench.results import RunResult, load_results
from agents.bench.execution import RunSpec, execute
from agents.bench.runner import plan, run_benchmark

__all__ = ["RunResult", "RunSpec", "execute", "load_results", "plan", "run_benchmark"]
