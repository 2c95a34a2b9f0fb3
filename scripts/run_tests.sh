#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
# Used verbatim by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: WordNet for METEOR, PostgreSQL for the store test, Chromium for the browser test.
need=()
[[ -e /usr/share/wordnet/data.noun && -e /usr/share/wordnet/index.sense ]] || need+=(wordnet-base wordnet-sense-index)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})) && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "warning: could not install ${need[*]}; the tests that need them will skip and say why"
fi

# torch is pinned in the same pip call so nothing resolves to a multi-GB CUDA build.
python -m pip install -q torch==2.13.0 -e ".[dev]"

# TRL 1.12.0, the last release with PPO, for the PPO cross-check in tests/agents/test_trl_crosscheck.py: it conflicts with
# the dev extra's TRL 1.16, so it goes into a directory of its own that only that test's child process puts on its path.
trl_ppo_dir=${TEXTENVS_TRL_1_12_PATH:-${XDG_CACHE_HOME:-$HOME/.cache}/textenvs/trl-1.12.0}
if [[ -f "$trl_ppo_dir/trl/experimental/ppo/ppo_trainer.py" ]] \
   || python -m pip install -q --no-deps --target "$trl_ppo_dir" trl==1.12.0; then
  export TEXTENVS_TRL_1_12_PATH="$trl_ppo_dir"
else
  echo "warning: could not install trl==1.12.0 into $trl_ppo_dir; the PPO cross-check against TRL will skip"
fi

# A throwaway PostgreSQL cluster on loopback for the store tests (they skip with the reason if none starts).
pg_dir=$(mktemp -u "${TMPDIR:-/tmp}/textenvs-ci-postgres.XXXXXX")
if pg_url=$(bash scripts/start_postgres.sh --dir "$pg_dir"); then
  export TEXTENVS_TEST_POSTGRES_URL="$pg_url"
  trap 'bash scripts/start_postgres.sh --stop "$pg_dir"' EXIT
else
  echo "PostgreSQL could not be started; the PostgreSQL tests will skip"
fi

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_AUTH_MODE=disabled
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
# The compiled decoding backend is tested in CI too (about a minute of compiling on 2 cores).
export TEXTENVS_COMPILE_TESTS=${TEXTENVS_COMPILE_TESTS:-1}
python -m pytest -q "$@"
