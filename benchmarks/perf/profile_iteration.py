"""Where one training iteration's CPU time goes: our GRPO or PPO trainer on the ``grpo_vs_trl`` / ``ppo_vs_trl``
setup, CPU seconds per phase (rollout and inside it the decoding steps, the prompt pass, the env step and its scorer;
the scoring pass; the update), medians over the timed iterations, and optionally the torch profiler's top operators.

The phases are timed by wrapping the trainer's own functions (nothing else changes); the first iteration (compiles,
warms caches) is left out.

    python -m benchmarks.perf.profile_iteration grpo --decoding-backend compiled --fused-reward-model --ops 25
    python -m benchmarks.perf.profile_iteration ppo --value-model separate
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections import defaultdict
from typing import Any, Callable

import numpy as np
import torch

import agents.grpo.trainer as grpo_trainer
import agents.lm.trainer as lm_trainer
import agents.ppo.trainer as ppo_trainer
from benchmarks.perf import grpo_vs_trl, ppo_vs_trl
from benchmarks.perf.models import benchmark_model
from benchmarks.perf.ppo_vs_trl import Clock, save_reward_model
from textenvs.decoding import CachedDecoder
from textenvs.scorers.reward_model import RewardModelScorer
from textenvs.vector import TextGenerationVectorEnv


class PhaseClock:
    """CPU seconds spent inside wrapped functions, per iteration (the calls between two :meth:`stamp` calls)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.iterations: list[dict[str, float]] = []
        self.labels: list[str] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[label] += time.process_time() - start

        setattr(owner, name, timed)
        self.labels.append(label)

    def stamp(self) -> None:
        self.iterations.append(dict(self.current))
        self.current.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algorithm", choices=("grpo", "ppo"))
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--group", type=int, default=4, help="GRPO generations per prompt")
    parser.add_argument("--minibatches", type=int, default=4, help="PPO minibatches")
    parser.add_argument("--epochs", type=int, default=4, help="PPO epochs")
    parser.add_argument("--value-model", default="separate", choices=("shared", "separate"))
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=4, help="timed iterations (after one warm-up)")
    parser.add_argument("--decoding-backend", default="eager")
    parser.add_argument("--fused-reward-model", action="store_true")
    parser.add_argument("--ops", type=int, default=0, help="also print the torch profiler's top N operators")
    args = parser.parse_args()
    args.device, args.trl_no_gradient_checkpointing = "cpu", False
    warnings.filterwarnings("ignore")

    phases = PhaseClock()
    trainer = grpo_trainer if args.algorithm == "grpo" else ppo_trainer
    trainer_class = trainer.GRPOTrainer if args.algorithm == "grpo" else trainer.PPOTrainer
    phases.wrap(lm_trainer, "collect_rollout", "rollout")  # (printed in this order; the shared loop decodes)
    phases.wrap(CachedDecoder, "__init__", "  prompt pass")
    phases.wrap(CachedDecoder, "advance", "  decoding steps")
    phases.wrap(TextGenerationVectorEnv, "step", "  env step")
    phases.wrap(RewardModelScorer, "compute", "    reward model")
    phases.wrap(trainer_class, "score_tokens", "scoring pass")
    phases.wrap(trainer_class, "update", "update")
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.ops else None
    stamp: Callable[[Clock], None] = Clock.stamp

    def stamp_both(clock: Clock) -> None:
        stamp(clock)
        phases.stamp()
        if len(clock.stamps) == 2 and profiler is not None:
            profiler.start()

    Clock.stamp = stamp_both  # type: ignore[method-assign]
    tokenizer, _ = benchmark_model(args.size, torch.device("cpu"))
    with tempfile.TemporaryDirectory() as reward_dir:
        save_reward_model(tokenizer, args.size, reward_dir)
        if args.algorithm == "grpo":
            seconds = grpo_vs_trl.run_ours(args, tokenizer, reward_dir)
        else:
            model = benchmark_model(args.size, torch.device("cpu"))[1].train()
            seconds = ppo_vs_trl.run_ours(args, tokenizer, model, reward_dir, args.value_model)
    if profiler is not None:
        profiler.stop()
    timed = phases.iterations[1:]
    print(f"{args.algorithm.upper()}, GPT-2 {args.size}, batch {args.batch}, prompt {args.prompt_tokens} + "
          f"{args.new_tokens}, decoding {args.decoding_backend}"
          + (f", value model {args.value_model}" if args.algorithm == "ppo" else "")
          + f": {np.median(seconds['cpu']) * 1e3:.0f} ms CPU per iteration (median of {len(timed)})")
    for label in phases.labels:
        print(f"  {label:<20} {np.median([iteration.get(label, 0.0) for iteration in timed]) * 1e3:7.1f} ms")
    if profiler is not None:
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))


if __name__ == "__main__":
    main()
