"""Greedy goal completion, turns per goal and format violations of a checkpoint on ``textenvs/MultiTurnDialogue-v1``
(the bench reports the scorer's metrics only; the env's ``turns`` and ``format_violations`` come from here).

    python benchmarks/learning/multiturn_v1_turns.py agents/checkpoints/multiturn_dialogue [--split test]
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

import textenvs
from agents.models import load_pretrained
from textenvs.decoding import DecodingPolicy


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args(argv)
    env = gym.make_vec("textenvs/MultiTurnDialogue-v1", num_envs=args.batch, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, tokenizer=args.checkpoint, split=args.split)
    records = textenvs.generate_split(env, DecodingPolicy(load_pretrained(args.checkpoint).eval()))
    keys = records[0].metrics.keys()
    summary = {key: float(np.mean([record.metrics[key] for record in records])) for key in keys}
    summary["goals"] = len(records)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
