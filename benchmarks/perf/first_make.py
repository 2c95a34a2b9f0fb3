"""Time of the first ``gymnasium.make`` of each env family in a fresh Python process: what a newcomer waits for
before the first ``reset``. Each measurement is its own process (nothing imported or cached in memory beforehand),
split into ``import textenvs`` and the first ``gymnasium.make`` (imports it triggers, the built-in split, the
scorer, the tokenizer); the median over ``--repeats`` processes is reported.

    python -m benchmarks.perf.first_make --repeats 5 --out benchmarks/perf/results/first_make.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.perf.common import write_results

ENV_IDS = ("textenvs/Translation-v0", "textenvs/Summarization-v0", "textenvs/Dialogue-v0",
           "textenvs/MultiTurnDialogue-v0", "textenvs/Translation-v1", "textenvs/Summarization-v1",
           "textenvs/Dialogue-v1")
_PROBE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import gymnasium as gym
import textenvs
imported = time.perf_counter()
env = gym.make(sys.argv[1])
made = time.perf_counter()
env.reset(seed=0)
print(json.dumps({"import_s": imported - start, "make_s": made - imported, "reset_s": time.perf_counter() - made}))
"""


def measure(env_id: str) -> dict[str, float]:
    """One fresh process: seconds to import textenvs, to make ``env_id`` the first time, and to reset it."""
    done = subprocess.run([sys.executable, "-c", _PROBE, env_id], capture_output=True, text=True, check=True,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                               **os.environ})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per env (median reported)")
    parser.add_argument("--envs", default=",".join(ENV_IDS), help="comma-separated env ids")
    parser.add_argument("--out", default="benchmarks/perf/results/first_make.json")
    parser.add_argument("--label", default="", help="a name for this measurement (e.g. before / after)")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for env_id in args.envs.split(","):
        runs = [measure(env_id) for _ in range(args.repeats)]
        figures[env_id] = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
        figures[env_id]["first_make_total_s"] = round(figures[env_id]["import_s"] + figures[env_id]["make_s"], 3)
        print(f"{env_id:<32} import {figures[env_id]['import_s']:.2f} s  first make {figures[env_id]['make_s']:.2f} s"
              f"  reset {figures[env_id]['reset_s']:.3f} s", flush=True)
    print(f"results: {write_results(args.out, {'label': args.label, 'repeats': args.repeats, 'envs': figures})}")


if __name__ == "__main__":
    main()
