#!/usr/bin/env bash
# Every GPU figure of benchmarks/README.md in one go: GPT-2 small (124M) built from config, bf16, prompt 64 + 64 new
# tokens, 4 PPO epochs. Results go to $RESULTS (default benchmarks/perf/results).
#   bash benchmarks/perf/run_gpu.sh            # needs CUDA and the perf extra (trl==1.12.0)
set -euo pipefail
cd "$(dirname "$0")/../.."
RESULTS=${RESULTS:-benchmarks/perf/results}
GPU="--size gpt2-small --device cuda --dtype bf16 --prompt-tokens 64 --new-tokens 64"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -m benchmarks.perf.rollout_throughput $GPU --batch 64,256 --scorer-workers 8 --backends eager,compiled,cudagraphs \
  --skip-reforward --out "$RESULTS/rollout_throughput_gpu.json"
python -m benchmarks.perf.ppo_vs_trl $GPU --batch 64 --minibatches 4 --out "$RESULTS/ppo_vs_trl_gpu_b64.json"
python -m benchmarks.perf.ppo_vs_trl $GPU --batch 256 --minibatches 4 --out "$RESULTS/ppo_vs_trl_gpu_b256.json"
python -m benchmarks.perf.ppo_vs_trl $GPU --batch 256 --minibatches 1 --iterations 2 \
  --out "$RESULTS/ppo_vs_trl_gpu_b256_one_minibatch.json"
# GRPO vs TRL's current GRPOTrainer (TRL_1_16: a directory holding trl==1.16.0, see benchmarks/README.md)
python -m benchmarks.perf.grpo_vs_trl $GPU --trl-path "${TRL_1_16:-/tmp/trl_1_16}" --batch 64 --rounds 2 \
  --out "$RESULTS/grpo_vs_trl_gpu_b64.json"
python -m benchmarks.perf.grpo_vs_trl $GPU --trl-path "${TRL_1_16:-/tmp/trl_1_16}" --batch 256 --rounds 2 \
  --decoding-backend cudagraphs --out "$RESULTS/grpo_vs_trl_gpu_b256_cudagraphs.json"
