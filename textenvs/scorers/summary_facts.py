"""Summary facts for ``textenvs/SyntheticSummarization-v1``: key-fact recall times precision against the canonical
summary, so a summary gains by stating the facts and loses by adding anything else."""

from __future__ import annotations

from textenvs.scorers.canonical import CoverageTimesPrecisionScorer
from textenvs.scorers.key_fact_recall import KeyFactRecallScorer


class SummaryFactsScorer(CoverageTimesPrecisionScorer):
    """``key_fact_recall × precision``: the fraction of ``metadata["key_facts"]`` stated (as in
    ``key_fact_recall``) times :func:`~textenvs.scorers.text.canonical_precision` against
    ``metadata["canonical"]`` (the share of the summary's tokens the canonical summary accounts for). References
    are not used; all three values are returned, the product is the reward.

    The precision term is the length budget and the invention penalty in one: a fact not in the document, a
    repeated fact or padding adds tokens the canonical summary does not have. 1.0 exactly for the canonical
    summary, 0.0 for an empty one. Example with canonical ``maria bought 3 apples in paris on friday .``:
    ``maria bought 3 apples .`` scores 3/5 × 1 = 0.6; ``maria bought 3 apples in rome on friday .`` scores
    4/5 × 8/9 = 0.711.
    """

    name = "summary_facts"
    primary = "summary_facts"
    coverage = KeyFactRecallScorer
