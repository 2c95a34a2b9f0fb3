"""``textenvs train <algorithm> ...``: dispatch to the algorithm's own command-line module."""

from __future__ import annotations

import importlib
import sys

ALGORITHMS: dict[str, str] = {
    "sft": "agents.sft.cli",
    "ppo": "agents.ppo.cli",
    "grpo": "agents.grpo.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ALGORITHMS:
        print(f"usage: textenvs train {{{','.join(ALGORITHMS)}}} --env ID [options]  (add --help for options)")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return int(importlib.import_module(ALGORITHMS[argv[0]]).main(argv[1:]) or 0)
