#!/usr/bin/env bash
# Built-in tasks: PPO after the shipped warm start (agents/checkpoints/<task>) vs the warm start alone, on the whole
# test split (500 examples), 3 seeds, greedy decoding. PPO settings: see "PPO settings" in README.md.
# Run from the repository root: nohup bash benchmarks/learning/run_builtin.sh > benchmarks/learning/logs/builtin.log 2>&1 &
# TASKS="translation" ITERATIONS=80 bash benchmarks/learning/run_builtin.sh   # one task, other length
set -euo pipefail
cd "$(dirname "$0")/../.."
PPO=${PPO:-'{"num_envs": 128, "samples_per_prompt": 4, "reward_normalization": "group", "num_minibatches": 2, "update_epochs": 2, "learning_rate": 3e-5, "lr_schedule": "constant", "temperature": 0.7, "kl_coef": 0.05}'}
for task in ${TASKS:-translation summarization dialogue}; do  # the env of task "x" is textenvs/X-v0
  python benchmarks/learning/ppo_vs_warm_start.py --name "builtin-$task" --env "textenvs/${task^}-v0" \
    --warm-start default --ppo "$PPO" --iterations "${ITERATIONS:-60}" --eval-split test --eval-examples 500
done
