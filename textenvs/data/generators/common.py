"""What every built-in generator shares: the example tuple it returns and small English helpers."""

from __future__ import annotations

from typing import Any

Generated = tuple[str, tuple[str, ...], dict[str, Any]]
"""What a generator returns for one example: prompt, references, metadata."""


def article(word: str) -> str:
    """The indefinite article before ``word`` (by its first letter, as the built-in vocabulary needs)."""
    return "an" if word[0] in "aeiou" else "a"
