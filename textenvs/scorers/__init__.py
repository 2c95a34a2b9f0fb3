"""Reward scorers: a registry of batch-first scorers that know nothing about environments.

>>> from textenvs import scorers
>>> scorer = scorers.get("chrf")
>>> scorer(["a cat sits"], [["a cat sits"]])["chrf"]
array([1.])

Registered names (``available()``), with the key of the reward (``primary``):

- ``rouge`` / ``rougeL`` (``rougeL``), ``rouge1``, ``rouge2``, ``rougeLsum``: ROUGE F-measures (rouge-score);
  every name returns all four and rewards the one it names (``rouge`` rewards rougeL).
- ``bleu`` (``bleu``), ``chrf`` (``chrf``), ``ter`` (``neg_ter`` = -``ter``): sacrebleu, divided by 100.
- ``meteor`` (``meteor``): nltk with WordNet 3.0 from Debian's packages.
- ``token_f1`` (``token_f1``), ``exact_match`` (``exact_match``): SQuAD-normalized tokens.
- ``semantic_similarity`` (``semantic_similarity``): cosine of all-MiniLM-L6-v2 embeddings.
- ``bertscore`` (``bertscore_f1``): bert-score with all-MiniLM-L6-v2, layer 6.
- ``reward_model`` (``reward_model``): a local Hugging Face sequence-classification model.
- ``key_fact_recall`` (``key_fact_recall``), ``slot_coverage`` (``slot_coverage``): task facts in metadata;
  ``dialogue_goal`` (``goal_score``): booking goal completion and slot accuracy (multi-turn dialogue).
- ``translation_agreement``, ``summary_facts``, ``dialogue_slots``: the v1 built-in tasks' rewards, computed
  from the canonical output and facts in metadata (1.0 exactly for the canonical output; no pay for length).
- ``synthetic_gold``: the v2 synthetic tasks' gold reward (the output parsed with the task's frame grammar, every
  role checked; 1.0 for every valid output, 0.0 outside the grammar); ``proxy_bleu``, ``proxy_rougeL``,
  ``proxy_token_f1``: BLEU / ROUGE-L / token F1 against the references as the reward, the gold score reported beside.
- ``length_penalty``, ``repetition_penalty``, ``distinct_n`` (``distinct_{n}``): shaping terms.
- ``composite`` (``composite``): weighted sum of other scorers; ``evaluate``: any ``evaluate`` module;
  ``parallel``: any other scorer, large batches split across worker processes.

Every scorer gives per-example scores (``score``) and corpus values (``corpus_score``); dense per-token rewards
are the env's ``reward_mode="incremental"``. Every metric also ships as an offline ``evaluate`` module:
``evaluate.load(evaluate_module_path(name))``.
"""

from functools import partial

from textenvs.scorers.base import MissingMetadataError, Scorer, Scores
from textenvs.scorers.booking_goal import BookingGoalScorer
from textenvs.scorers.bertscore import BERTScoreScorer
from textenvs.scorers.composite import CompositeScorer
from textenvs.scorers.dialogue_goal import DialogueGoalScorer
from textenvs.scorers.dialogue_slots import DialogueSlotsScorer
from textenvs.scorers.distinct_n import DistinctNScorer
from textenvs.scorers.evaluate_modules import available_modules, evaluate_module_path
from textenvs.scorers.evaluate_scorer import EvaluateScorer
from textenvs.scorers.exact_match import ExactMatchScorer
from textenvs.scorers.key_fact_recall import KeyFactRecallScorer
from textenvs.scorers.length_penalty import LengthPenaltyScorer
from textenvs.scorers.meteor import MeteorScorer
from textenvs.scorers.parallel import ParallelScorer
from textenvs.scorers.proxy import PROXY_METRICS, proxy_scorer
from textenvs.scorers.registry import (CallableScorer, ScorerSpec, available, check_scorer, get, make_scorer,
                                      register)
from textenvs.scorers.repetition_penalty import RepetitionPenaltyScorer
from textenvs.scorers.reward_model import RewardModelScorer
from textenvs.scorers.rouge import RougeScorer
from textenvs.scorers.sacrebleu_metrics import BLEUScorer, ChrFScorer, TERScorer
from textenvs.scorers.semantic_similarity import SemanticSimilarityScorer
from textenvs.scorers.slot_coverage import SlotCoverageScorer
from textenvs.scorers.summary_facts import SummaryFactsScorer
from textenvs.scorers.synthetic_gold import SyntheticGoldScorer
from textenvs.scorers.token_f1 import TokenF1Scorer
from textenvs.scorers.translation_agreement import TranslationAgreementScorer

register("chrf", ChrFScorer)
register("rouge", RougeScorer)
register("rougeL", lambda **kw: RougeScorer(primary="rougeL", **kw))
register("rouge1", lambda **kw: RougeScorer(primary="rouge1", **kw))
register("rouge2", lambda **kw: RougeScorer(primary="rouge2", **kw))
register("rougeLsum", lambda **kw: RougeScorer(primary="rougeLsum", **kw))
register("token_f1", TokenF1Scorer)
register("bleu", BLEUScorer)
register("ter", TERScorer)
register("meteor", MeteorScorer)
register("exact_match", ExactMatchScorer)
register("semantic_similarity", SemanticSimilarityScorer)
register("bertscore", BERTScoreScorer)
register("reward_model", RewardModelScorer)
register("key_fact_recall", KeyFactRecallScorer)
register("slot_coverage", SlotCoverageScorer)
register("dialogue_goal", DialogueGoalScorer)
register("booking_goal", BookingGoalScorer)
register("translation_agreement", TranslationAgreementScorer)
register("summary_facts", SummaryFactsScorer)
register("dialogue_slots", DialogueSlotsScorer)
register("synthetic_gold", SyntheticGoldScorer)
for _metric in PROXY_METRICS:
    register(f"proxy_{_metric}", partial(proxy_scorer, _metric))
register("length_penalty", LengthPenaltyScorer)
register("repetition_penalty", RepetitionPenaltyScorer)
register("distinct_n", DistinctNScorer)
register("composite", CompositeScorer)
register("evaluate", EvaluateScorer)
register("parallel", ParallelScorer)

__all__ = [
    "Scorer", "Scores", "CallableScorer", "ScorerSpec", "MissingMetadataError", "available", "check_scorer", "get",
    "make_scorer", "register", "evaluate_module_path", "available_modules",
    "RougeScorer", "BLEUScorer", "ChrFScorer", "TERScorer", "MeteorScorer", "TokenF1Scorer",
    "ExactMatchScorer", "SemanticSimilarityScorer", "BERTScoreScorer", "RewardModelScorer", "KeyFactRecallScorer",
    "SlotCoverageScorer", "DialogueGoalScorer", "BookingGoalScorer",
    "LengthPenaltyScorer", "RepetitionPenaltyScorer", "DistinctNScorer",
    "CompositeScorer", "EvaluateScorer", "ParallelScorer", "TranslationAgreementScorer", "SummaryFactsScorer",
    "DialogueSlotsScorer", "SyntheticGoldScorer", "proxy_scorer",
]
