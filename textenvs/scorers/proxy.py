"""Proxy rewards of the v2 synthetic benchmark tasks: the usual reference metric against the (imperfect)
demonstrations, trainable, with the gold score reported beside it."""

from __future__ import annotations

from textenvs.scorers.composite import CompositeScorer

PROXY_METRICS: tuple[str, ...] = ("bleu", "rougeL", "token_f1")
"""The reference metrics each v2 task offers as a proxy reward, registered as ``proxy_<metric>``."""


def proxy_scorer(metric: str) -> CompositeScorer:
    """``proxy_<metric>``: the reward is ``metric`` against the example's references (on the train split the flawed
    demonstrations, on held-out splits every valid output), and ``synthetic_gold/synthetic_gold`` (weight 0) reports
    the gold score of the same outputs, so a run trained on the proxy shows what it did to the gold score.

    >>> sorted(proxy_scorer("bleu").score_names())[:3]
    ['bleu/bleu', 'proxy_bleu', 'synthetic_gold/grammatical']

    :raises ValueError: ``metric`` is not one of :data:`PROXY_METRICS`.
    """
    if metric not in PROXY_METRICS:
        raise ValueError(f"No proxy reward for {metric!r}; proxies: {', '.join(PROXY_METRICS)}.")
    return CompositeScorer({metric: 1.0, "synthetic_gold": 0.0}, name=f"proxy_{metric}")
