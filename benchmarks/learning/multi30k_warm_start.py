"""A Multi30k de→en warm start and its corpus BLEU on test_2016_flickr, no RL: the tokenizer + SFT step of
``ppo_vs_warm_start.py`` (its ``warm_start`` and ``evaluate``) with more SFT steps than ``run_real_data.sh multi30k``.

    python benchmarks/learning/multi30k_warm_start.py --steps 1600   # runs/multi30k-sft1600/warm_start, ~6 CPU-min SFT
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1600, help="SFT steps of 32 pairs (29,000 pairs = 906 steps)")
    parser.add_argument("--dataset", default="../shared/data/multi30k", help="the Multi30k directory")
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("ppo_vs_warm_start", HERE / "ppo_vs_warm_start.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    env_kwargs = {"dataset": args.dataset, "dataset_languages": ["de", "en"], "scorer": "chrf",
                  "max_prompt_length": 48, "max_new_tokens": 40}
    sft = {"max_steps": args.steps, "learning_rate": 3e-3, "warmup_steps": 100, "eval_every": 0, "eval_examples": 50,
           "log_every": 100}
    options = script.build_parser().parse_args([
        "--name", f"multi30k-sft{args.steps}", "--env", "textenvs/Translation-v0", "--env-kwargs", json.dumps(env_kwargs),
        "--train-tokenizer", "3000", "--tokenizer-texts", "29000", "--sft", json.dumps(sft), "--eval-split", "test",
        "--eval-examples", "1000", "--eval-scorer", "bleu", "--eval-batch", "100"])
    import torch
    from agents.ppo.agent import PPOAgent

    torch.set_num_threads(options.threads)
    run_dir = Path(options.runs) / options.name
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    model_dir = script.warm_start(options, run_dir)
    print(f"tokenizer + SFT: {time.process_time() - started:.0f} CPU-s", flush=True)
    agent = PPOAgent(options.env, env_kwargs, seed=0, model=model_dir, iterations=0, progress=False, tensorboard=False)
    print("warm start:", json.dumps(script.evaluate(agent, options, env_kwargs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
