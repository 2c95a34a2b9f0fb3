#!/usr/bin/env bash
# Multi-turn dialogue: PPO and GRPO from the shipped warm start (agents/checkpoints/multiturn_dialogue) vs the warm
# start alone (greedy), 3 seeds, 30k env steps (agent tokens) per RL run, greedy decoding on the 200 test goals.
# About 8 CPU-minutes in all (results and cost: benchmarks/learning/README.md, "Multi-turn dialogue"); WORKERS=1 on
# a loaded machine.
# Run from the repository root: bash benchmarks/learning/run_multiturn.sh  (results: runs/multiturn-bench/)
set -euo pipefail
cd "$(dirname "$0")/../.."
CFG='{"ppo": {"num_envs": 64, "samples_per_prompt": 4, "reward_normalization": "group", "num_minibatches": 2,
  "update_epochs": 2, "learning_rate": 1e-4, "lr_schedule": "constant", "temperature": 1.0, "kl_coef": 0.01,
  "progress": false, "tensorboard": false},
 "grpo": {"num_envs": 64, "num_generations": 4, "num_minibatches": 2, "num_iterations": 2, "learning_rate": 1e-4,
  "temperature": 1.0, "progress": false, "tensorboard": false}}'
OMP_NUM_THREADS=1 python -m textenvs bench --envs textenvs/MultiTurnDialogue-v0 --agents greedy,ppo,grpo \
  --seeds 0,1,2 --budget 30000 --eval-examples 200 --eval-batch 100 --workers "${WORKERS:-2}" --no-progress \
  --agent-config "$CFG" --out "${OUT:-runs/multiturn-bench}"
