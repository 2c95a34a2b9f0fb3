#!/usr/bin/env bash
# Fallback for the built-in tasks while the shipped warm starts (agents/checkpoints/) are missing: a short SFT warm
# start trained here (built-in tokenizer, ~1M-parameter GPT-2, 400 steps), then PPO vs that warm start, 3 seeds.
# Run from the repository root: nohup bash benchmarks/learning/run_builtin_own_sft.sh > benchmarks/learning/logs/builtin_own_sft.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PPO='{"num_envs": 32, "num_minibatches": 4, "update_epochs": 4, "learning_rate": 2e-4, "kl_coef": 0.02, "temperature": 0.7}'
SFT='{"max_steps": 400, "learning_rate": 3e-3, "warmup_steps": 30, "eval_every": 0, "eval_examples": 50}'
for task in ${TASKS:-translation dialogue summarization}; do  # the env of task "x" is textenvs/X-v0
  python benchmarks/learning/ppo_vs_warm_start.py --name "builtin-own-sft-$task" --env "textenvs/${task^}-v0" \
    --train-tokenizer 0 --sft "$SFT" --ppo "$PPO" --iterations "${ITERATIONS:-20}" --eval-split test --eval-examples 200
done
