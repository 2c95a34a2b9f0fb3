"""Iteration time of ``textenvs train ppo|grpo`` on 1 and on N processes, side by side in one run.

Each configuration runs the real command line (one process: ``python -m textenvs train ...``; N processes:
``accelerate launch --multi_gpu --num_processes N -m textenvs train ...``, which on a machine without GPUs starts N
CPU processes in a gloo group) on the same global batch and seed, alternating 1 and N processes ``--repeats`` times.
The figure is the median iteration time (``time/iteration_seconds`` in metrics.jsonl, the first iteration left out
as warm-up) and its ratio to one process's; each run's iterations compute the same parameters whatever N is.

    python benchmarks/scaling/processes.py --processes 2 --out benchmarks/scaling/results/ppo_cpu.json
    python benchmarks/scaling/processes.py --algorithm grpo --processes 2 --out benchmarks/scaling/results/grpo_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.perf.common import write_results  # noqa: E402

SETTINGS = {
    "ppo": ["--num-envs", "64", "--num-minibatches", "2", "--update-epochs", "2", "--samples-per-prompt", "4",
            "--reward-normalization", "group"],
    "grpo": ["--num-envs", "64", "--num-minibatches", "2", "--num-generations", "4"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(algorithm: str, processes: int, out: Path, arguments: list[str], threads: int) -> dict:
    """One training run; returns its per-iteration times and wall time."""
    launcher = [sys.executable, "-m", "textenvs"] if processes == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
        str(free_port()), "-m", "textenvs"]
    command = [*launcher, "train", algorithm, "--out", str(out), "--no-progress", "--no-tensorboard", *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    iterations = [json.loads(line)["time/iteration_seconds"]
                  for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"iteration_seconds": iterations, "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", choices=sorted(SETTINGS), default="ppo")
    parser.add_argument("--processes", type=int, default=2, help="N, compared with 1 process")
    parser.add_argument("--env", default="textenvs/Translation-v0")
    parser.add_argument("--model", default="default", help="model directory, or the task's shipped warm start")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="alternating 1 / N process runs of each")
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    parser.add_argument("--out", default="benchmarks/scaling/results/ppo_cpu.json")
    options = parser.parse_args()

    arguments = ["--env", options.env, "--model", options.model, "--iterations", str(options.iterations),
                 "--seed", "0", *SETTINGS[options.algorithm]]
    runs: dict[int, list[dict]] = {1: [], options.processes: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(options.repeats):
            for processes in runs:
                result = run(options.algorithm, processes, Path(scratch, f"{processes}-{repeat}"), arguments,
                             options.threads)
                runs[processes].append(result)
                print(f"{processes} process(es), repeat {repeat}: iterations "
                      f"{[round(s, 2) for s in result['iteration_seconds']]} s", flush=True)
    median = {processes: statistics.median(s for r in results for s in r["iteration_seconds"][1:])
              for processes, results in runs.items()}
    figures = {
        "algorithm": options.algorithm, "arguments": arguments, "threads_per_process": options.threads,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "median_iteration_seconds": {str(p): m for p, m in median.items()},
        "speedup": median[1] / median[options.processes],
        "runs": {str(p): r for p, r in runs.items()},
    }
    path = write_results(options.out, figures)
    print(f"median iteration: 1 process {median[1]:.2f} s, {options.processes} processes "
          f"{median[options.processes]:.2f} s, speedup {figures['speedup']:.2f}x  -> {path}")


if __name__ == "__main__":
    main()
