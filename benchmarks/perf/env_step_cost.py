"""Env per-step cost as episodes grow: the native vector env must stay flat (O(1) per token).

For each generation budget N, B episodes run to N tokens (no EOS) and the step time is split into the first and
last quarter of the episode. ``reward_mode="incremental"`` decodes and scores the whole prefix every step, which is
what a cache-less text env does, and is shown for contrast: its cost grows with the position.

    python -m benchmarks.perf.env_step_cost [--batch 64] [--lengths 16,64,256] [--out benchmarks/perf/results/env_step_cost.json]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import textenvs  # noqa: F401  (registers the envs)
from benchmarks.perf.common import write_results


def time_episode(env, n_steps: int, token: int) -> np.ndarray:
    env.reset(seed=0)
    actions = np.full(env.num_envs, token)
    durations = np.empty(n_steps)
    for step in range(n_steps):
        start = time.perf_counter()
        env.step(actions)
        durations[step] = time.perf_counter() - start
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lengths", default="16,64,256")
    parser.add_argument("--env", default="textenvs/Translation-v0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/perf/results/env_step_cost.json")
    args = parser.parse_args()

    rows = []
    print(f"{'mode':<12} {'N':>5} {'first quarter us/step':>22} {'last quarter us/step':>21} {'last/first':>10}")
    for mode in ("terminal", "incremental"):
        for length in map(int, args.lengths.split(",")):
            env = gym.make_vec(args.env, num_envs=args.batch, max_new_tokens=length, reward_mode=mode).unwrapped
            token = 5 if env.task.eos_token_id != 5 else 6
            # The last step ends every episode and scores it: excluded, it is the same work at any length.
            runs = np.stack([time_episode(env, length, token)[:-1] for _ in range(args.repeats)])
            per_step = np.median(runs, axis=0)
            quarter = max(1, len(per_step) // 4)
            first, last = float(per_step[:quarter].mean()), float(per_step[-quarter:].mean())
            rows.append({"reward_mode": mode, "max_new_tokens": length, "batch": args.batch,
                         "first_quarter_us": first * 1e6, "last_quarter_us": last * 1e6, "ratio_last_first": last / first})
            print(f"{mode:<12} {length:>5} {first * 1e6:>22.1f} {last * 1e6:>21.1f} {last / first:>10.2f}")
    path = write_results(args.out, {"benchmark": "env_step_cost", "env": args.env, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
