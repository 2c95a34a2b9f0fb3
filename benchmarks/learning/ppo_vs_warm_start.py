"""Learning benchmark: does PPO (or a GRPO-family agent, ``--agent``) after a supervised warm start beat the warm
start alone on held-out data?

Protocol (one experiment = one env + dataset):
1. warm start: a given checkpoint directory (``--warm-start``), or trained here: a BPE tokenizer fit on the train
   split (``--train-tokenizer VOCAB``) and a small GPT-2 trained with ``agents.sft.train_sft`` (``--sft JSON``);
2. evaluate the warm start with greedy decoding on the first ``--eval-examples`` examples of ``--eval-split``;
3. for each seed: RL from the warm start on the train split (the env's reward scorer), then the same evaluation;
4. write ``results/<name>.json``: command, settings, the warm start's and every seed's scores, mean and gain (the
   keys say ``ppo`` whichever agent trained; ``agent`` names it).

The evaluation metric is the corpus-level value of ``--eval-scorer`` (e.g. corpus BLEU), defaulting to the env's
reward scorer; the mean per-episode reward is recorded too.

    python benchmarks/learning/ppo_vs_warm_start.py --name translation --env textenvs/Translation-v0 \\
        --warm-start default --iterations 30
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

HERE = Path(__file__).resolve().parent
# Student-t 0.975 quantiles for 1..10 degrees of freedom (95% two-sided interval of a mean over up to 11 seeds).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
# Per-iteration training metrics kept in the results (one value per iteration), by trainer: PPO's names, and the
# GRPO family's (TRL's names; "kl", the per-token KL to the reference, only with beta > 0).
HISTORY_KEYS = ("charts/reward", "objective/kl", "losses/approx_kl", "losses/clipfrac", "charts/episode_length",
                "time/iteration_seconds", "reward", "kl", "clip_ratio/region_mean", "completions/mean_length")
# The training reward and KL of each trainer's history: (reward key, KL key).
REWARD_AND_KL = {"ppo": ("charts/reward", "objective/kl"), "grpo": ("reward", "kl")}
RL_AGENTS = ("ppo", "grpo", "dr-grpo", "rloo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="experiment name (results/<name>.json, runs/<name>/)")
    parser.add_argument("--env", required=True, help="textenvs env id")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="env keyword arguments (JSON)")
    parser.add_argument("--warm-start", default=None,
                        help="warm-start checkpoint directory or 'default'; omit to train tokenizer + SFT here")
    parser.add_argument("--train-tokenizer", type=int, default=8000,
                        help="BPE vocabulary when training one here; 0 = use the built-in tokenizer")
    parser.add_argument("--tokenizer-texts", type=int, default=20000, help="train examples the tokenizer reads")
    parser.add_argument("--model-size", default="tiny", help="agents.models.CAUSAL_SIZES key of the SFT model")
    parser.add_argument("--sft", type=json.loads, default={}, help="SFTConfig overrides (JSON)")
    parser.add_argument("--agent", default="ppo", choices=RL_AGENTS, help="the RL agent trained from the warm start")
    parser.add_argument("--ppo", type=json.loads, default={},
                        help="the agent's config overrides (JSON): PPOConfig, or GRPOConfig for the GRPO family")
    parser.add_argument("--iterations", type=int, default=30, help="RL iterations per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-split", default="test")
    parser.add_argument("--eval-examples", type=int, default=200)
    parser.add_argument("--eval-scorer", default=None, help="scorer name for the corpus metric (default: reward)")
    parser.add_argument("--eval-batch", type=int, default=50, help="episodes decoded together at evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--runs", default=str(HERE / "runs"), help="where models and logs go (not committed)")
    parser.add_argument("--results", default=str(HERE / "results"), help="where <name>.json goes")
    return parser


def warm_start(args: argparse.Namespace, run_dir: Path) -> str:
    """The warm-start checkpoint directory (trained here unless one was given)."""
    if args.warm_start is not None:
        return args.warm_start
    target = run_dir / "warm_start"
    if (target / "config.json").is_file():
        return str(target)
    from agents.models import build_causal_lm
    from agents.sft import SFTConfig, train_sft
    from textenvs.data.tokenizer import load_builtin_tokenizer, train_tokenizer
    from textenvs.registration import load_env_dataset

    if args.train_tokenizer:
        train = load_env_dataset(args.env, split="train", **args.env_kwargs)
        texts = [text for example in list(train)[:args.tokenizer_texts] for text in (example.prompt, *example.references)]
        tokenizer = train_tokenizer(texts, vocab_size=args.train_tokenizer)
    else:
        tokenizer = load_builtin_tokenizer()
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, args.model_size)
    config = SFTConfig(**{"output_dir": str(target), "eval_examples": 100, **args.sft})
    env_kwargs = {key: value for key, value in args.env_kwargs.items() if key != "tokenizer"}
    train_sft(model, tokenizer, args.env, env_kwargs, config,
              callback=lambda record: print(json.dumps(record), flush=True))
    return str(target)


def evaluate(agent: Any, args: argparse.Namespace, env_kwargs: dict[str, Any]) -> dict[str, float]:
    """Greedy decoding on the fixed evaluation subset: corpus metric and mean reward."""
    from textenvs.metrics import CORPUS_PREFIX, prediction_metrics
    from textenvs.scorers import make_scorer

    # The evaluation env reads the model's own tokenizer (the one the warm start was trained with).
    env = gym.make_vec(args.env, num_envs=args.eval_batch, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED,
                       **{**env_kwargs, "split": args.eval_split, "tokenizer": agent.trainer.tokenizer}).unwrapped
    dataset = env.task.dataset
    indices = list(range(min(args.eval_examples, len(dataset))))
    records = agent.generate(env, indices)
    scorer = make_scorer(args.eval_scorer) if args.eval_scorer else env.task.scorer
    # Scored from the examples themselves: metadata scorers (the v1 rewards, key_fact_recall, slot_coverage) read
    # each example's metadata and prompt, not only its references.
    metrics = prediction_metrics(scorer, [dataset[r.example_index] for r in records], [r.prediction for r in records])
    primary = CORPUS_PREFIX + scorer.primary
    return {primary: metrics[primary],
            "mean_reward": float(np.mean([r.reward for r in records])),
            "mean_length": float(np.mean([r.length for r in records])),
            "examples": len(records), "sample": records[0].prediction}


def seed_summary(metric: str, warm_start: float, values: list[float]) -> dict[str, Any]:
    """Mean over seeds, its 95% Student-t half-width (sample std, n - 1 degrees of freedom; None for one seed or
    more than 11), the gain over the warm start and how many seeds beat it."""
    half_width = (float(T975[len(values) - 1] * np.std(values, ddof=1) / np.sqrt(len(values)))
                  if len(values) - 1 in T975 else None)
    return {"metric": metric, "warm_start": warm_start,
            "ppo_mean": float(np.mean(values)), "ppo_std": float(np.std(values)), "ppo_ci95_half_width": half_width,
            "gain": float(np.mean(values) - warm_start),
            "seeds_above_warm_start": int(sum(value > warm_start for value in values)),
            "ppo_beats_warm_start": bool(np.mean(values) > warm_start)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    from agents.registry import agent_class

    agent_type = agent_class(args.agent)
    run_dir = Path(args.runs) / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    model_dir = warm_start(args, run_dir)
    sft_seconds = time.time() - started
    settings = {"iterations": args.iterations, "progress": False, "checkpoint_every": 0, **args.ppo}
    env_kwargs = {key: value for key, value in args.env_kwargs.items() if key != "split"}

    baseline = agent_type(args.env, env_kwargs, seed=0, model=model_dir, **{**settings, "iterations": 0})
    trainer_config = baseline.ppo_config if args.agent == "ppo" else baseline.grpo_config
    reward_key, kl_key = REWARD_AND_KL["ppo" if args.agent == "ppo" else "grpo"]
    results: dict[str, Any] = {
        "name": args.name, "command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "agent": args.agent,
        "env": args.env, "env_kwargs": env_kwargs, "warm_start_model": model_dir,
        "model_parameters": sum(p.numel() for p in baseline.model.parameters()),
        "ppo_config": {k: v for k, v in trainer_config.to_dict().items() if k not in ("env_kwargs",)},
        "eval": {"split": args.eval_split, "examples": args.eval_examples,
                 "scorer": args.eval_scorer or baseline.trainer.task.scorer.name, "decoding": "greedy"},
        "seeds": args.seeds, "sft_seconds": round(sft_seconds, 1),
    }
    results["warm_start"] = evaluate(baseline, args, env_kwargs)
    print("warm start:", json.dumps(results["warm_start"]), flush=True)
    del baseline

    results["ppo"] = []
    for seed in args.seeds:
        seed_started, seed_cpu_started = time.time(), time.process_time()
        agent = agent_type(args.env, env_kwargs, seed=seed, model=model_dir, out=str(run_dir / f"ppo_seed{seed}"),
                           **settings)
        history = agent.trainer.train()
        scores = evaluate(agent, args, env_kwargs)
        scores.update({"seed": seed, "train_reward_first": history[0][reward_key],
                       "train_reward_last": history[-1][reward_key], "final_kl": history[-1].get(kl_key),
                       "seconds": round(time.time() - seed_started, 1),
                       "cpu_seconds": round(time.process_time() - seed_cpu_started, 1),
                       "history": {key: [round(float(record[key]), 5) for record in history]
                                   for key in HISTORY_KEYS if all(key in record for record in history)}})
        results["ppo"].append(scores)
        print(f"seed {seed}:", json.dumps(scores), flush=True)

    metric = next(key for key in results["warm_start"] if key.startswith("corpus_"))
    results["summary"] = seed_summary(metric, results["warm_start"][metric], [run[metric] for run in results["ppo"]])
    results["total_seconds"] = round(time.time() - started, 1)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / f"{args.name}.json").write_text(json.dumps(results, indent=2, default=repr) + "\n")
    print(json.dumps(results["summary"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
