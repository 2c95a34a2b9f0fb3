#!/usr/bin/env bash
# Built-in tasks: PPO after the shipped warm start (agents/checkpoints/<task>) vs the warm start alone, on the
# first 200 examples of each test split, 3 seeds, greedy decoding. Sized for 2 shared CPU cores.
# Run from the repository root: nohup bash benchmarks/learning/run_builtin.sh > benchmarks/learning/logs/builtin.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PPO='{"num_envs": 32, "num_minibatches": 4, "update_epochs": 2, "learning_rate": 1e-4, "kl_coef": 0.02, "lr_schedule": "constant"}'
for task in ${TASKS:-translation summarization dialogue}; do
  case $task in
    translation) env=textenvs/Translation-v0 ;;
    summarization) env=textenvs/Summarization-v0 ;;
    dialogue) env=textenvs/Dialogue-v0 ;;
  esac
  python benchmarks/learning/ppo_vs_warm_start.py --name "builtin-$task" --env $env --warm-start default \
    --ppo "$PPO" --iterations "${ITERATIONS:-15}" --eval-split test --eval-examples 200
done
