"""ParallelScorer: the wrapped scorer's exact values, computed in worker processes for large batches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from textenvs import scorers
from textenvs.scorers import ParallelScorer

PREDICTIONS = [f"a cat number {i} sat on the mat" if i % 3 else f"dog {i}" for i in range(23)]
REFERENCES = [[f"the cat number {i} sat on a mat", "a cat sat"] for i in range(23)]


@pytest.mark.parametrize("name,kwargs", [("chrf", {}), ("rouge", {}), ("bleu", {"tokenize": "13a"})])
def test_parallel_scores_equal_the_wrapped_scorer(name, kwargs):
    parallel = scorers.get("parallel", scorer=name, workers=3, min_batch=4, **kwargs)
    try:
        inner = scorers.get(name, **kwargs)
        expected, got = inner(PREDICTIONS, REFERENCES), parallel(PREDICTIONS, REFERENCES)
        assert parallel._pool is not None, "a batch above min_batch goes to the workers"
        assert set(got) == set(expected) and parallel.primary == inner.primary
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
        assert parallel.corpus_score(PREDICTIONS, REFERENCES) == inner.corpus_score(PREDICTIONS, REFERENCES)
        # Small batches stay in-process; a pickled copy leaves the pool behind.
        np.testing.assert_array_equal(parallel(PREDICTIONS[:2], REFERENCES[:2])[inner.primary],
                                      expected[inner.primary][:2])
        assert pickle.loads(pickle.dumps(parallel))._pool is None
        assert parallel.config()["scorer"] == inner.config()
    finally:
        parallel.close()


def test_parallel_scorer_rejects_what_cannot_reach_a_worker():
    with pytest.raises(TypeError, match="cannot be pickled"):
        ParallelScorer(lambda predictions, references: [1.0] * len(predictions))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ParallelScorer("chrf", workers=0)


def test_a_composite_scorer_closes_its_parallel_components():
    parallel = ParallelScorer("chrf", workers=2, min_batch=1)
    composite = scorers.CompositeScorer({parallel: 1.0, "exact_match": 1.0})
    composite(PREDICTIONS, REFERENCES)
    workers = list(parallel._pool._processes.values())
    composite.close()
    assert len(workers) == 2 and parallel._pool is None and not any(worker.is_alive() for worker in workers)
