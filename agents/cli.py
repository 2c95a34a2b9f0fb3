"""``textenvs train <algorithm> ...``: dispatch to the algorithm's own command-line module."""

from __future__ import annotations

import importlib
import os
import sys

ALGORITHMS: dict[str, str] = {
    "sft": "agents.sft.cli",
    "ppo": "agents.ppo.cli",
    "grpo": "agents.grpo.cli",
}


def quiet_library_progress_bars() -> None:
    """Silence Hugging Face's own progress bars ("Loading weights", "Writing model shards", downloads) for this
    process and the processes it starts: our commands show their own bars, and these landed in logs and in the
    middle of ours. ``HF_HUB_DISABLE_PROGRESS_BARS=0`` in the environment keeps them."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] != "0" and "transformers" in sys.modules:
        # transformers reads the variable once, at import: an already imported one is told directly.
        from transformers.utils import logging

        logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_library_progress_bars()
    if not argv or argv[0] not in ALGORITHMS:
        print(f"usage: textenvs train {{{','.join(ALGORITHMS)}}} --env ID [options]  (add --help for options)")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return int(importlib.import_module(ALGORITHMS[argv[0]]).main(argv[1:]) or 0)
