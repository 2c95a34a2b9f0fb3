#!/usr/bin/env bash
# Multi-turn dialogue v1 (issue 25): PPO from the v0 warm start (agents/checkpoints/multiturn_dialogue; v1 has no warm
# start of its own yet) vs that warm start alone (greedy), with the rule-based v1 user, 3 seeds, 30k env steps (agent
# tokens; BUDGET=...) per RL run, greedy decoding on the 200 test goals. TURN_REWARD=0.5 adds the per-turn reward to
# the terminal one (results: benchmarks/learning/README.md, "Multi-turn dialogue v1"). WORKERS=1 on a loaded machine.
# Run from the repository root: bash benchmarks/learning/run_multiturn_v1.sh  (results: runs/multiturn-v1-bench/)
set -euo pipefail
cd "$(dirname "$0")/../.."
WARM=agents/checkpoints/multiturn_dialogue
CFG="{\"greedy\": {\"model\": \"$WARM\"},
 \"ppo\": {\"model\": \"$WARM\", \"num_envs\": 64, \"samples_per_prompt\": 4, \"reward_normalization\": \"group\",
  \"num_minibatches\": 2, \"update_epochs\": 2, \"learning_rate\": 1e-4, \"lr_schedule\": \"constant\",
  \"temperature\": 1.0, \"kl_coef\": 0.01, \"progress\": false, \"tensorboard\": false}}"
OMP_NUM_THREADS=1 python -m textenvs bench --envs textenvs/MultiTurnDialogue-v1 --agents "${AGENTS:-greedy,ppo}" \
  --seeds 0,1,2 --budget "${BUDGET:-30000}" --eval-examples 200 --eval-batch 100 --workers "${WORKERS:-1}" --no-progress \
  --agent-config "$CFG" --env-kwargs "{\"turn_reward\": ${TURN_REWARD:-0.0}}" --out "${OUT:-runs/multiturn-v1-bench}"
