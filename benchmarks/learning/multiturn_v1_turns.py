"""Greedy goal completion, turns per goal and format violations of checkpoints on ``textenvs/MultiTurnDialogue-v1``
(the bench reports the scorer's metrics only; the env's ``turns`` and ``format_violations`` come from here), on
one or more splits, with the user the bench ran (``--env-kwargs``, e.g. the benchmark setting).

    python benchmarks/learning/multiturn_v1_turns.py agents/checkpoints/multiturn_dialogue [--split test]
    python benchmarks/learning/multiturn_v1_turns.py agents/checkpoints/multiturn_dialogue-v1 \\
        runs/multiturn-v1-rule/policies/* --split test --split test_compositional \\
        --env-kwargs '{"user_simulator_kwargs": {"change_of_mind": 0.5, "tell_corrections": false}}' \\
        --out benchmarks/learning/results/multiturn-v1-rule-turns.json

A policy directory of ``textenvs bench`` (``<out>/policies/<env>__<agent>__seed<k>``) is scored like a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

import textenvs
from agents.models import load_pretrained
from textenvs.decoding import DecodingPolicy


def score(checkpoint: str, split: str, env_kwargs: dict[str, Any], batch: int = 100) -> dict[str, float]:
    """Means of the env's final metrics over ``split`` (greedy), and the number of goals."""
    env = gym.make_vec("textenvs/MultiTurnDialogue-v1", num_envs=batch, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, tokenizer=checkpoint, split=split, **env_kwargs)
    records = textenvs.generate_split(env, DecodingPolicy(load_pretrained(checkpoint).eval()))
    env.close()
    summary = {key: float(np.mean([record.metrics[key] for record in records])) for key in records[0].metrics}
    summary["goals"] = len(records)
    return summary


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--split", action="append", help="split(s) to score (default: test)")
    parser.add_argument("--env-kwargs", default="{}", help="the env's keyword arguments as JSON (the user's settings)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="write {checkpoint: {split: metrics}} as JSON here")
    args = parser.parse_args(argv)
    env_kwargs = json.loads(args.env_kwargs)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for checkpoint in args.checkpoints:
        for split in args.split or ["test"]:
            results.setdefault(checkpoint, {})[split] = score(checkpoint, split, env_kwargs, args.batch)
            print(json.dumps({"checkpoint": checkpoint, "split": split, **results[checkpoint][split]}), flush=True)
    if args.out is not None:
        arguments = sys.argv[1:] if argv is None else argv
        record = {"command": "python benchmarks/learning/multiturn_v1_turns.py " + " ".join(arguments),
                  "env_kwargs": env_kwargs, "versions": {"textenvs": textenvs.__version__}, "results": results}
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
