"""Translation agreement for ``textenvs/SyntheticTranslation-v1``: how much of the canonical translation the prediction
reproduces, in order, and nothing else."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field
from textenvs.scorers.text import longest_common_subsequence, nonempty_text


class TranslationAgreementScorer(Scorer):
    """``LCS(prediction, canonical) / max(len(prediction), len(canonical))`` over lower-cased whitespace tokens
    (punctuation included), with the canonical translation in ``metadata["canonical"]``. References are not used.

    1.0 exactly for the canonical translation; every wrong, missing, extra or out-of-order token costs
    ``1 / max(len(prediction), len(canonical))``, so neither padding nor repetition pays; 0.0 for an empty
    prediction. Example: canonical ``the big boy saw the car .`` (7 tokens), prediction ``the heavy child saw
    the car .``: LCS 5, score 5/7 = 0.714.
    """

    name = "translation_agreement"
    primary = "translation_agreement"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        canonicals = metadata_field(metadata, "canonical", self.name, nonempty_text)
        scores = []
        for prediction, canonical in zip(predictions, canonicals):
            predicted, target = prediction.lower().split(), canonical.lower().split()
            scores.append(longest_common_subsequence(predicted, target) / max(len(predicted), len(target)))
        return {"translation_agreement": np.array(scores, dtype=np.float64)}
