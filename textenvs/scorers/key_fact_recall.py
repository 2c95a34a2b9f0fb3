"""Key-fact recall for summarization: how many of the document's key facts the summary states."""

from __future__ import annotations

from typing import Any

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import contains_span, normalize_tokens, phrase_tokens


class KeyFactRecallScorer(Scorer):
    """Fraction of ``metadata["key_facts"]`` (a non-empty list of strings) that occur in the prediction as
    contiguous token spans, after lower-casing and dropping punctuation and articles. References are not used.
    """

    name = "key_fact_recall"
    primary = "key_fact_recall"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        all_facts = metadata_field(metadata, "key_facts", self.name, fact_spans)
        recall = [sum(contains_span(normalize_tokens(prediction), fact) for fact in facts) / len(facts)
                  for prediction, facts in zip(predictions, all_facts)]
        return {"key_fact_recall": np.array(recall, dtype=np.float64)}


def fact_spans(facts: Any, where: str) -> list[list[str]]:
    """The normalized token spans of a non-empty list of key facts (strings); an error naming ``where`` otherwise."""
    if isinstance(facts, str) or not isinstance(facts, (list, tuple)) or not facts:
        raise ValueError(f"{where} must be a non-empty list of strings, got {facts!r:.80}")
    return [phrase_tokens(fact, f"{where}[{k}]") for k, fact in enumerate(facts)]
