"""METEOR from NLTK (``nltk.translate.meteor_score``) with WordNet 3.0 from Debian's packages."""

from __future__ import annotations

import numpy as np

from textenvs.scorers.base import Scorer
from textenvs.scorers.wordnet import load_wordnet


def meteor_tokenize(text: str) -> list[str]:
    """Split into word and punctuation runs (``nltk.wordpunct_tokenize``: needs no downloaded model)."""
    from nltk.tokenize import wordpunct_tokenize

    return wordpunct_tokenize(text)


class MeteorScorer(Scorer):
    """Per-example METEOR (exact, Porter-stem and WordNet-synonym matches; lower-cased) against all references,
    taking the best one as NLTK does.

    Texts are tokenized with :func:`meteor_tokenize`. WordNet is prepared on construction
    (:func:`textenvs.scorers.wordnet.load_wordnet`), which raises a clear error when the data is not installed.

    :param alpha: relative weight of precision and recall in the F-mean (NLTK default 0.9).
    :param beta: shape of the fragmentation penalty (default 3).
    :param gamma: maximum fragmentation penalty (default 0.5).
    """

    name = "meteor"
    primary = "meteor"

    def __init__(self, alpha: float = 0.9, beta: float = 3.0, gamma: float = 0.5) -> None:
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self._wordnet = load_wordnet()

    def compute(self, predictions, references, prompts, metadata):
        from nltk.translate.meteor_score import meteor_score

        return {"meteor": np.array([
            meteor_score([meteor_tokenize(ref) for ref in refs], meteor_tokenize(prediction),
                         alpha=self.alpha, beta=self.beta, gamma=self.gamma, wordnet=self._wordnet)
            for prediction, refs in zip(predictions, references)])}

    def config(self):
        return {"name": self.name, "primary": self.primary, "alpha": self.alpha, "beta": self.beta,
                "gamma": self.gamma}
