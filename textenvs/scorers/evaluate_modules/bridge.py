"""The ``evaluate.Metric`` behind every shipped module: it builds the registered scorer and runs it."""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

INPUTS_DESCRIPTION = """
Args:
    predictions (list of str): generated texts.
    references (list of str, or list of list of str): one or more references per prediction (modules of
        reference-free scorers take none).
    prompts (list of str, optional): the prompt of each prediction (prompt-aware scorers).
    metadata (list of dict, optional): per-example task facts, e.g. {"key_facts": [...]} or {"slots": {...}}.
    per_example (bool, default False): return per-example lists instead of corpus values.
    Any other keyword is an option of the textenvs scorer (see its docstring).
Returns:
    dict of float (corpus values, as textenvs.scorers.Scorer.corpus_score), or of lists with per_example=True.
"""


class ScorerMetric(evaluate.Metric):
    """Runs the textenvs scorer registered as :attr:`scorer_name`; subclasses set the class attributes."""

    scorer_name: str = ""
    uses_references: bool = True
    citation: str = ""

    def _info(self) -> evaluate.MetricInfo:
        prediction = {"predictions": datasets.Value("string")}
        if self.uses_references:
            several = datasets.Sequence(datasets.Value("string"))
            features = [datasets.Features({**prediction, "references": several}),
                        datasets.Features({**prediction, "references": datasets.Value("string")})]
        else:
            features = datasets.Features(prediction)
        return evaluate.MetricInfo(description=type(self).__doc__ or "", citation=self.citation,
                                   inputs_description=INPUTS_DESCRIPTION, features=features)

    def _compute(self, predictions: list[str], references: list[Any] | None = None,
                 prompts: list[str] | None = None, metadata: list[dict] | None = None,
                 per_example: bool = False, **scorer_options: Any) -> dict[str, Any]:
        from textenvs.scorers import get

        scorer = get(self.scorer_name, **scorer_options)
        if per_example:
            return {key: values.tolist()
                    for key, values in scorer.score(predictions, references, prompts, metadata).items()}
        return scorer.corpus_score(predictions, references, prompts, metadata)
