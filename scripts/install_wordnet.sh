#!/usr/bin/env bash
# Install WordNet 3.0 for METEOR from Debian's packages (no PyPI package ships it; NLTK's downloader needs the
# network). Idempotent: does nothing when the data is already there. textenvs builds what NLTK needs from
# /usr/share/wordnet on first use (textenvs/scorers/wordnet.py).
set -euo pipefail

if [[ -e /usr/share/wordnet/data.noun && -e /usr/share/wordnet/index.sense ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_wordnet.sh: apt-get not found; install WordNet 3.0 and set WNSEARCHDIR to its dict directory." >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base wordnet-sense-index
