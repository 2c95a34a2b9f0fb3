"""BLEU, chrF and TER from ``sacrebleu``, sentence level for rewards and corpus level for evaluation.

Values are sacrebleu's own (``sentence_bleu``/``corpus_bleu``, ...) divided by 100, so BLEU and chrF lie in
[0, 1]. Every example may have several references; sacrebleu uses all of them.
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_right
from collections import Counter, OrderedDict
from itertools import compress
from typing import Any, Sequence

import numpy as np

from textenvs.scorers.base import Scorer


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Transpose per-example reference lists into sacrebleu's reference streams, padding with ``None``."""
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def character_matches(characters: str, reference_ngrams: list[tuple[Counter, int]]) -> list[int]:
    """sacrebleu's chrF statistics ``[hypothesis n-grams, reference n-grams, matches]`` of each character order
    (``reference_ngrams``: the reference's counts and total per order, from 1 up), for the hypothesis
    ``characters`` (preprocessed, whitespace removed as the metric does).

    The same integers as sacrebleu's ``_get_match_statistics`` over the hypothesis's full n-gram counts, with far
    fewer lookups: a hypothesis n-gram can only be in the reference when its first ``n - 1`` characters are (every
    prefix of a reference n-gram is a reference (n-1)-gram), so order ``n`` looks only at the positions whose
    (n-1)-gram matched, and counts only the n-grams that match. The hypothesis's n-gram total is its number of
    positions, ``len - n + 1``."""
    length = len(characters)
    positions: Sequence[int] = range(length)
    stats: list[int] = []
    for n, (ref_counts, ref_total) in enumerate(reference_ngrams, start=1):
        matches = 0
        if positions:
            if positions[-1] > length - n:  # an n-gram starting there would run past the end
                positions = positions[:bisect_right(positions, length - n)]
            grams = list(characters) if n == 1 else [characters[i:i + n] for i in positions]
            found = list(map(ref_counts.__contains__, grams))
            positions = list(compress(positions, found))
            for gram, count in Counter(compress(grams, found)).items():
                reference_count = ref_counts[gram]
                matches += count if count < reference_count else reference_count
        # As sacrebleu: the hypothesis's n-grams count only against a non-empty reference order.
        stats.extend((max(length - n + 1, 0) if ref_total else 0, ref_total, matches))
    return stats


class _SacreBLEUScorer(Scorer):
    """Shared sentence/corpus plumbing: subclasses set ``_sentence_metric``, ``_corpus_metric`` and ``_values``."""

    _sentence_metric: Any
    _corpus_metric: Any

    @abstractmethod
    def _values(self, score: Any) -> dict[str, float]:
        """Named values (0-1 scale) of one sacrebleu score object."""

    def compute(self, predictions, references, prompts, metadata):
        rows = [self._values(self._sentence_metric.sentence_score(prediction, refs))
                for prediction, refs in zip(predictions, references)]
        return {key: np.array([row[key] for row in rows]) for key in self.score_names()}

    def compute_corpus(self, predictions, references, prompts, metadata):
        return self._values(self._corpus_metric.corpus_score(predictions, reference_streams(references)))

    # sacrebleu's corpus score is its aggregate of per-segment statistics; these are its own two steps.
    def corpus_statistics(self, predictions, references=None, prompts=None, metadata=None):
        predictions, references, _, _ = self._validate(predictions, references, prompts, metadata)
        return list(self._corpus_metric._extract_corpus_statistics(predictions, reference_streams(references)))

    def corpus_from_statistics(self, statistics):
        values = self._values(self._corpus_metric._aggregate_and_compute(statistics))
        return {key: float(value) for key, value in values.items()}


class BLEUScorer(_SacreBLEUScorer):
    """BLEU: sentence BLEU with effective n-gram order (``sacrebleu.sentence_bleu``) per example, and standard
    corpus BLEU (``sacrebleu.corpus_bleu``) from :meth:`corpus_score`.

    :param lowercase: lower-case before scoring.
    :param tokenize: sacrebleu tokenizer name (``"13a"``, ``"intl"``, ``"char"``, ``"none"``, ...).
    :param smooth_method: ``"exp"`` (sacrebleu default), ``"floor"``, ``"add-k"`` or ``"none"``.
    :param smooth_value: the smoothing constant for ``"floor"``/``"add-k"``.
    """

    name = "bleu"
    primary = "bleu"

    def __init__(self, lowercase: bool = False, tokenize: str = "13a", smooth_method: str = "exp",
                 smooth_value: float | None = None) -> None:
        from sacrebleu.metrics import BLEU

        self.options = {"lowercase": lowercase, "tokenize": tokenize, "smooth_method": smooth_method,
                        "smooth_value": smooth_value}
        self._sentence_metric = BLEU(effective_order=True, **self.options)
        self._corpus_metric = BLEU(**self.options)

    def _values(self, score):
        return {"bleu": score.score / 100.0}

    def config(self):
        return {"name": self.name, "primary": self.primary, **self.options}


class ChrFScorer(_SacreBLEUScorer):
    """chrF against all references, scaled to [0, 1] (``word_order=2`` gives chrF++).

    :param char_order: character n-gram order (sacrebleu default 6).
    :param word_order: word n-gram order (0 = chrF, 2 = chrF++).
    :param beta: recall weight (sacrebleu default 2).
    """

    name = "chrf"
    primary = "chrf"
    REFERENCE_CACHE_SIZE = 4096
    """References whose n-gram counts are kept (least recently used dropped): a reward scores the same references
    again and again (every sample of a GRPO group, every epoch over a data set), and extracting them was a third
    of sacrebleu's sentence score."""

    def __init__(self, char_order: int = 6, word_order: int = 0, beta: int = 2) -> None:
        from sacrebleu.metrics import CHRF

        self.char_order, self.word_order, self.beta = char_order, word_order, beta
        self._sentence_metric = self._corpus_metric = CHRF(char_order=char_order, word_order=word_order, beta=beta)
        self._references: OrderedDict[str, list[tuple[Counter, int]]] = OrderedDict()

    def _values(self, score):
        return {"chrf": score.score / 100.0}

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes (ParallelScorer) start with an empty cache.
        return {**self.__dict__, "_references": OrderedDict()}

    def _ngrams(self, text: str) -> list[tuple[Counter, int]]:
        """Each order's n-gram counts of ``text`` and their total: character orders, then word orders (chrF++),
        extracted as sacrebleu does."""
        from sacrebleu.metrics.helpers import extract_all_char_ngrams, extract_word_ngrams

        metric = self._sentence_metric
        text = metric._preprocess_segment(text)
        counts = extract_all_char_ngrams(text, metric.char_order, metric.whitespace)
        if metric.word_order > 0:
            words = metric._remove_punctuation(text)
            counts.extend(extract_word_ngrams(words, n) for n in range(1, metric.word_order + 1))
        return [(count, sum(count.values())) for count in counts]

    def _reference_ngrams(self, reference: str) -> list[tuple[Counter, int]]:
        cached = self._references.get(reference)
        if cached is None:
            cached = self._references[reference] = self._ngrams(reference)
            if len(self._references) > self.REFERENCE_CACHE_SIZE:
                self._references.popitem(last=False)
        else:
            self._references.move_to_end(reference)
        return cached

    def compute(self, predictions, references, prompts, metadata):
        """sacrebleu's ``sentence_score`` for each prediction, to the last bit (tested), computed faster: each
        reference's n-grams come from a cache, the hypothesis's character n-grams are looked up only where they can
        match (:func:`character_matches`) and its word n-grams are extracted once for all its references, and the
        score is the best reference's f-score itself (what sacrebleu's score object holds)."""
        from sacrebleu.metrics.helpers import extract_word_ngrams

        metric = self._sentence_metric
        char_order, word_order = metric.char_order, metric.word_order
        scores = np.empty(len(predictions))
        for row, (prediction, refs) in enumerate(zip(predictions, references)):
            text = metric._preprocess_segment(prediction)
            characters = text if metric.whitespace else "".join(text.split())
            hypothesis_words = []
            if word_order > 0:
                words = metric._remove_punctuation(text)
                hypothesis_words = [(counts, sum(counts.values()))
                                    for counts in (extract_word_ngrams(words, n) for n in range(1, word_order + 1))]
            best_f_score = -1.0
            for reference in refs:
                reference_ngrams = self._reference_ngrams(reference)
                stats = character_matches(characters, reference_ngrams[:char_order])
                for (hyp_counts, hyp_total), (ref_counts, ref_total) in zip(hypothesis_words,
                                                                            reference_ngrams[char_order:]):
                    matches = 0
                    in_reference = ref_counts.get
                    for ngram, count in hyp_counts.items():
                        reference_count = in_reference(ngram)
                        if reference_count:
                            matches += count if count < reference_count else reference_count
                    # sacrebleu's _get_match_statistics: hypothesis n-grams count only against a non-empty order.
                    stats.extend((hyp_total if ref_total else 0, ref_total, matches))
                f_score = metric._compute_f_score(stats)
                if f_score > best_f_score:
                    best_f_score = f_score
            # sacrebleu's sentence score is _compute_f_score of the best reference's statistics: this very value.
            scores[row] = best_f_score / 100.0
        return {"chrf": scores}

    def config(self):
        return {"name": self.name, "primary": self.primary, "char_order": self.char_order,
                "word_order": self.word_order, "beta": self.beta}


class TERScorer(_SacreBLEUScorer):
    """Translation edit rate: ``ter`` is sacrebleu's TER / 100 (edits per reference word, lower is better, may
    exceed 1); the reward ``neg_ter`` is its negation.

    :param normalized: apply sacrebleu's general tokenization/normalization.
    :param no_punct: remove punctuation.
    :param asian_support: Asian-language tokenization (with ``normalized``).
    :param case_sensitive: keep case (sacrebleu default: lower-case).
    """

    name = "ter"
    primary = "neg_ter"

    def __init__(self, normalized: bool = False, no_punct: bool = False, asian_support: bool = False,
                 case_sensitive: bool = False) -> None:
        from sacrebleu.metrics import TER

        self.options = {"normalized": normalized, "no_punct": no_punct, "asian_support": asian_support,
                        "case_sensitive": case_sensitive}
        self._sentence_metric = self._corpus_metric = TER(**self.options)

    def _values(self, score):
        ter = score.score / 100.0
        return {"ter": ter, "neg_ter": -ter}

    def score_names(self):
        return ["ter", "neg_ter"]

    def config(self):
        return {"name": self.name, "primary": self.primary, **self.options}
