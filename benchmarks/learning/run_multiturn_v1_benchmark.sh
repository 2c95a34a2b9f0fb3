#!/usr/bin/env bash
# Multi-turn dialogue v1 benchmark (issue 25): the v1 warm start (agents/checkpoints/multiturn_dialogue-v1) and RL
# from it, 3 seeds, 20,000 env steps (agent tokens), greedy goal score on the 200 test goals, and on 100 validation
# goals during training (steps to half the gap, curve AUC). With the rule user in the benchmark setting
# (change_of_mind 0.5, tell_corrections false; PPO and GRPO, an eval point every 5,000 env steps:
# configs/multiturn-v1-rule.json) and with the LM user agents/checkpoints/multiturn_user-v1 (PPO and GRPO, every 10,000:
# configs/multiturn-v1-lm-user.json). Then the results files, and turns,
# format violations and the compositional split of every kept policy. Run from the repository root:
#   nohup bash benchmarks/learning/run_multiturn_v1_benchmark.sh > runs/multiturn-v1.log 2>&1 &
#   STEPS="rule" bash benchmarks/learning/run_multiturn_v1_benchmark.sh      # some parts only
#   STEPS="lm-user" TURN_SPLITS=test bash benchmarks/learning/run_multiturn_v1_benchmark.sh   # turns on test only
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
here=benchmarks/learning
NOTE=${NOTE:-"2 CPU cores shared with other jobs; bench --workers 2, 1 torch thread per run: wall times are loaded"}
for step in ${STEPS:-rule lm-user}; do
  config=$here/configs/multiturn-v1-$step.json
  out=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['out'])" "$config")
  kwargs=$(python -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))['env_kwargs']))" "$config")
  python -m textenvs bench --config "$config" --no-progress
  python $here/from_bench.py "$out" --prefix multiturn-v1-$step --config "$config" --note "$NOTE"
  python $here/multiturn_v1_turns.py agents/checkpoints/multiturn_dialogue-v1 "$out"/policies/* \
    $(for split in ${TURN_SPLITS:-test test_compositional}; do echo --split $split; done) --env-kwargs "$kwargs" \
    --out $here/results/multiturn-v1-$step-turns.json
done
