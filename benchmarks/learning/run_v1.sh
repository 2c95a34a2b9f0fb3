#!/usr/bin/env bash
# v1 learning benchmarks: PPO, GRPO, RLOO (10k env steps) and SB3 MaskablePPO (2k env steps) from the shipped v1 warm
# starts (agents/checkpoints/<task>-v1), seeds 0, 1, 2, greedy test score on the whole test split (500 examples);
# then results/v1-<task>-<agent>.json (from_bench.py) and the practitioner's figures of one PPO and one GRPO run
# (runs/v1-diag-*/metrics.jsonl). Run from the repository root:
#   nohup bash benchmarks/learning/run_v1.sh > benchmarks/learning/logs/v1.log 2>&1 &
#   STEPS="sb3" bash benchmarks/learning/run_v1.sh        # one part: rl, sb3 or diag
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
NOTE=${NOTE:-"2 CPU cores shared with other jobs"}
for step in ${STEPS:-rl sb3 diag}; do
  case $step in
    rl)
      python -m textenvs bench --config benchmarks/learning/configs/v1-rl.json --no-progress
      python benchmarks/learning/from_bench.py runs/v1-rl --config benchmarks/learning/configs/v1-rl.json --note "$NOTE" ;;
    sb3)
      python -m textenvs bench --config benchmarks/learning/configs/v1-sb3.json --no-progress
      python benchmarks/learning/from_bench.py runs/v1-sb3 --config benchmarks/learning/configs/v1-sb3.json \
        --warm-start-dir runs/v1-rl --note "$NOTE" ;;
    diag)
      # Same settings as the bench's ppo and grpo on Dialogue-v1, ~10k env steps, with metrics.jsonl per iteration.
      python -m textenvs train ppo --env textenvs/Dialogue-v1 --model default --out runs/v1-diag-ppo-dialogue --seed 0 \
        --iterations 10 --num-envs 64 --samples-per-prompt 4 --reward-normalization group --num-minibatches 2 \
        --update-epochs 2 --learning-rate 1e-4 --temperature 1.0 --kl-coef 0.01 --no-progress --no-tensorboard
      python -m textenvs train grpo --env textenvs/Dialogue-v1 --model default --out runs/v1-diag-grpo-dialogue --seed 0 \
        --iterations 10 --num-envs 64 --num-generations 4 --num-iterations 2 --num-minibatches 2 \
        --learning-rate 1e-4 --temperature 1.0 --no-progress --no-tensorboard ;;
  esac
done
python benchmarks/learning/summarize.py
