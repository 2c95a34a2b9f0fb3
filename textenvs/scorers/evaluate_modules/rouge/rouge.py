"""evaluate module `rouge`: the textenvs scorer of that name (offline)."""

from textenvs.scorers.evaluate_modules import bridge

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    pages = "74--81",
}
"""


class Rouge(bridge.ScorerMetric):
    """ROUGE-1/2/L/Lsum F-measures from Google's rouge-score; with several references the best counts."""

    scorer_name = "rouge"
    citation = _CITATION
