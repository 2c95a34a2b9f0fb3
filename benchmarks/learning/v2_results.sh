#!/usr/bin/env bash
# v2 learning benchmark (issue 23), after run_v2.sh: the results files (results/v2-<level>-<task>-<agent>.json, the
# proxy files results/v2-medium-proxy-<task>-ppo.json, SB3 at 20,000 env steps and at 2,048 beside the LM agents at
# the same budget: results/v2-medium-sb3-2048-translation-sb3-maskable-ppo.json), the bench tables
# and plots of every directory re-rendered (textenvs bench --aggregate), the key figures copied to figures/, and the
# README's generated tables. Run from the repository root:
#   bash benchmarks/learning/run_v2.sh && bash benchmarks/learning/v2_results.sh
#   NOTE="..." bash benchmarks/learning/v2_results.sh     # the machine note recorded in every results file
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
here=benchmarks/learning
configs=$here/configs
NOTE=${NOTE:-"2 CPU cores shared with other jobs; bench --workers 2, 1 torch thread per run: wall times are loaded"}
for level in easy hard; do
  python $here/from_bench.py runs/v2-$level --prefix v2-$level --note "$NOTE" \
    --config $configs/v2-$level-translation.json --config $configs/v2-$level-summarization-dialogue.json
done
python $here/from_bench.py runs/v2-medium --prefix v2-medium --config $configs/v2-medium.json --note "$NOTE"
python $here/from_bench.py runs/v2-medium-proxy --prefix v2-medium-proxy --warm-start-dir runs/v2-medium \
  --config $configs/v2-medium-proxy.json --note "$NOTE"
# SB3 MaskablePPO: at the LM agents' budget (20,000 env steps) in the main tables, and at 2,048 env steps beside the LM
# agents' eval curves at the nearest env steps
python $here/from_bench.py runs/v2-medium-sb3-20k --prefix v2-medium --warm-start-dir runs/v2-medium \
  --config $configs/v2-medium-sb3-20k.json --note "$NOTE"
python $here/from_bench.py runs/v2-medium-sb3 --prefix v2-medium-sb3-2048 --warm-start-dir runs/v2-medium \
  --same-budget-dir runs/v2-medium --config $configs/v2-medium-sb3.json --note "$NOTE"
# Translation medium with 10 seeds (STEPS=translation-10seeds run_v2.sh), where it ran: rows of their own
if [ -d runs/v2-medium-translation-10seeds ]; then
  python $here/from_bench.py runs/v2-medium-translation-10seeds --prefix v2-medium-10seeds \
    --config $configs/v2-medium-translation-10seeds.json \
    --note "${NOTE_10SEEDS:-2 CPU cores shared with other jobs; bench --workers 1, 1 torch thread: wall times are loaded}"
fi
mkdir -p $here/figures
for dir in v2-easy v2-medium v2-hard v2-medium-proxy v2-medium-sb3 v2-medium-sb3-20k; do
  python -m textenvs bench --aggregate runs/$dir > /dev/null
  for plot in runs/$dir/plots/eval_curve_*.png; do
    task=$(basename "$plot" .png | sed -e 's/^eval_curve_Synthetic//' -e 's/-v2$//' | tr '[:upper:]' '[:lower:]')
    cp "$plot" "$here/figures/$dir-eval-curve-$task.png"
  done
done
python -m benchmarks.learning.summarize --update-readme > /dev/null
