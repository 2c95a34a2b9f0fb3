"""Text normalization shared by the lexical scorers (token F1, exact match, key facts, slots, shaping terms)."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = frozenset({"a", "an", "the"})


def normalize_tokens(text: str) -> list[str]:
    """Lower-case, drop punctuation and articles, split on whitespace (SQuAD/ParlAI normalization)."""
    text = _PUNCTUATION.sub(" ", text.lower())
    return [token for token in text.split() if token not in _ARTICLES]


def phrase_tokens(phrase: object, where: str) -> list[str]:
    """Normalized tokens of a phrase from metadata; a non-string or a phrase with no tokens is an error."""
    if not isinstance(phrase, str):
        raise TypeError(f"{where} must be str, got {type(phrase).__name__}: {phrase!r:.80}")
    tokens = normalize_tokens(phrase)
    if not tokens:
        raise ValueError(f"{where} = {phrase!r} has no words after normalization, so it can never be matched.")
    return tokens


def nonempty_text(value: object, where: str) -> str:
    """``value`` when it is a string with at least one word (a canonical output from metadata); else an error naming
    ``where``."""
    if not isinstance(value, str) or not value.split():
        raise ValueError(f"{where} must be a non-empty string, got {value!r:.80}")
    return value


def contains_span(tokens: Sequence[str], span: Sequence[str]) -> bool:
    """Whether ``span`` occurs as a contiguous run of ``tokens`` (an empty span never matches)."""
    width = len(span)
    if width == 0 or width > len(tokens):
        return False
    span = list(span)
    return any(list(tokens[start:start + width]) == span for start in range(len(tokens) - width + 1))


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous ``n``-grams of ``tokens`` in order (empty when there are fewer than ``n`` tokens)."""
    return [tuple(tokens[start:start + n]) for start in range(len(tokens) - n + 1)]


def ngram_counts(tokens: Sequence[str], n: int) -> tuple[int, int]:
    """How many distinct ``n``-grams ``tokens`` has, and how many in all."""
    grams = ngrams(tokens, n)
    return len(set(grams)), len(grams)


def canonical_precision(prediction: str, canonical: str) -> float:
    """Fraction of the prediction's whitespace tokens (lower-cased, punctuation kept) that the canonical output
    accounts for, each canonical token usable as often as it occurs there (clipped counts, as in BLEU).

    Invented words, repeats and padding all lower it; the canonical output itself scores 1.0, an empty
    prediction 0.0.
    """
    tokens = prediction.lower().split()
    if not tokens:
        return 0.0
    available = Counter(canonical.lower().split())
    matched = 0
    for token in tokens:
        if available[token] > 0:
            available[token] -= 1
            matched += 1
    return matched / len(tokens)


def longest_common_subsequence(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (dynamic programming, O(len·len))."""
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]
