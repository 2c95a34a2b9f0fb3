"""Regenerate ``textenvs/data/builtin/tokenizer.json``, the tokenizer shared by the built-in datasets.

It is a BPE tokenizer (``textenvs.data.tokenizer.train_tokenizer``) trained on the prompts and references of
the train splits of every built-in dataset, with a 2048-token budget; the built-in text needs fewer, so every
built-in word ends up a single token. Training is deterministic: running this twice writes identical bytes.

    python scripts/train_builtin_tokenizer.py          # write the file
    python scripts/train_builtin_tokenizer.py --check  # exit 1 if the shipped file is not what this produces

Run it (and commit the file) after any change to the generators in ``textenvs/data/builtin.py``.
"""

from __future__ import annotations

import argparse
import sys

from textenvs.data.builtin import V0_DATASETS, load_builtin
from textenvs.data.tokenizer import BUILTIN_TOKENIZER_PATH, train_tokenizer

VOCAB_SIZE = 2048
"""Upper bound on the vocabulary (special tokens included): keeps action masks and output layers small."""


def build() -> str:
    """The tokenizer.json text for the current built-in datasets."""
    texts = [
        text
        for name in V0_DATASETS
        for example in load_builtin(name, "train")
        for text in (example.prompt, *example.references)
    ]
    tokenizer = train_tokenizer(texts, vocab_size=VOCAB_SIZE, min_frequency=2)
    return tokenizer.backend_tokenizer.to_str(pretty=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the shipped file instead of writing it"
    )
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        shipped = (
            BUILTIN_TOKENIZER_PATH.read_text(encoding="utf-8") if BUILTIN_TOKENIZER_PATH.is_file() else ""
        )
        if shipped != text:
            print(f"{BUILTIN_TOKENIZER_PATH} is out of date; run python scripts/train_builtin_tokenizer.py")
            return 1
        print(f"{BUILTIN_TOKENIZER_PATH} is up to date.")
        return 0
    BUILTIN_TOKENIZER_PATH.parent.mkdir(parents=True, exist_ok=True)
    BUILTIN_TOKENIZER_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {BUILTIN_TOKENIZER_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
