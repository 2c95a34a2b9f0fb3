"""Reward scorers: a registry of batch-first scorers that know nothing about environments.

>>> from textenvs import scorers
>>> scorer = scorers.get("chrf")
>>> scorer(["a cat sits"], [["a cat sits"]])["chrf"]
array([1.])
"""

from textenvs.scorers.base import Scorer, Scores
from textenvs.scorers.registry import CallableScorer, ScorerSpec, available, get, make_scorer, register
from textenvs.scorers.rouge import RougeScorer
from textenvs.scorers.sacrebleu_metrics import ChrFScorer
from textenvs.scorers.token_f1 import TokenF1Scorer

register("chrf", ChrFScorer)
register("rouge", RougeScorer)
register("rougeL", lambda **kw: RougeScorer(primary="rougeL", **kw))
register("token_f1", TokenF1Scorer)

__all__ = [
    "Scorer", "Scores", "CallableScorer", "ScorerSpec", "available", "get", "make_scorer", "register",
    "RougeScorer", "ChrFScorer", "TokenF1Scorer",
]
