#!/usr/bin/env bash
# v2 learning benchmark (issue 23): every level × agent × 3 seeds from the level's shipped warm start, 20,000 env steps,
# the gold score on 100 validation examples every 2,500 env steps (the eval curve: steps to half the gap, curve AUC),
# greedy test score on the whole test split with BLEU and chrF against the split's valid outputs beside it; PPO trained
# on each task's proxy reward (gold tracked on the eval curve); SB3 MaskablePPO on translation for 2,048 and 20,000 env steps. Then the results
# files and tables (from_bench.py, summarize.py). Run from the repository root:
#   nohup bash benchmarks/learning/run_v2.sh > benchmarks/learning/logs/v2.log 2>&1 &
#   STEPS="medium proxy" bash benchmarks/learning/run_v2.sh     # some parts only
#   STEPS=translation-10seeds bash benchmarks/learning/run_v2.sh   # translation medium, 5 agents x 10 seeds (not in
#                                                                  # the default steps: about 35 min with one worker)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
configs=benchmarks/learning/configs
for step in ${STEPS:-translation-levels medium proxy sb3 other-levels sb3-20k}; do
  case $step in
    translation-levels)
      python -m textenvs bench --config $configs/v2-hard-translation.json --no-progress
      python -m textenvs bench --config $configs/v2-easy-translation.json --no-progress ;;
    medium) python -m textenvs bench --config $configs/v2-medium.json --no-progress ;;
    proxy) python -m textenvs bench --config $configs/v2-medium-proxy.json --no-progress ;;
    sb3) python -m textenvs bench --config $configs/v2-medium-sb3.json --no-progress ;;
    sb3-20k) python -m textenvs bench --config $configs/v2-medium-sb3-20k.json --no-progress ;;
    translation-10seeds)
      python -m textenvs bench --config $configs/v2-medium-translation-10seeds.json --no-progress ;;
    other-levels)
      python -m textenvs bench --config $configs/v2-hard-summarization-dialogue.json --no-progress
      python -m textenvs bench --config $configs/v2-easy-summarization-dialogue.json --no-progress ;;
  esac
done
