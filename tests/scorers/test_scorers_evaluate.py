"""The shipped ``evaluate`` modules (offline) and ``EvaluateScorer``.

Each shipped module is checked against its scorer here, and each scorer against its reference library
(rouge_score, sacrebleu, nltk METEOR, bert_score) in test_scorers.py and test_scorers_models.py, so no comparison
with evaluate's own modules on the Hub is needed (they cannot load offline)."""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from textenvs import scorers
from textenvs.scorers import EvaluateScorer, evaluate_module_path, wordnet

PREDICTIONS = ["the cat sat on the mat .", "hello there , general kenobi", "a quick brown fox", " "]
REFERENCES = [["the cat is sitting on the mat .", "a cat sat on a mat"], ["hello there !", "general kenobi"],
              ["the quick brown fox jumped"], ["nothing"]]
METADATA = [{"key_facts": ["cat", "mat"], "slots": ["mat"]}, {"key_facts": ["kenobi"], "slots": ["hello"]},
            {"key_facts": ["fox"], "slots": {"colour": ["brown", "red"]}}, {"key_facts": ["x"], "slots": ["y"]}]
METRIC_SCORERS = ["bertscore", "bleu", "chrf", "dialogue_goal", "distinct_n", "exact_match", "key_fact_recall", "length_penalty",
                  "meteor", "repetition_penalty", "reward_model", "rouge", "semantic_similarity", "slot_coverage",
                  "ter", "token_f1"]


def _forget_dynamic_modules() -> None:
    """Drop evaluate's imported dynamic-module package, so the next load imports from the current cache dir."""
    for name in [name for name in sys.modules if name == "evaluate_modules" or name.startswith("evaluate_modules.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@contextlib.contextmanager
def evaluate_offline(home: Path):
    """``evaluate`` with every cache under ``home`` (it copies modules into ``home/modules`` and writes lock files
    there) and no network."""
    import evaluate.config

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_EVALUATE_OFFLINE", "1")
        # evaluate resolves these from HF_HOME when first imported; point them at ``home`` as well
        patch.setattr(evaluate.config, "HF_MODULES_CACHE", home / "modules")
        patch.setattr(evaluate.config, "HF_METRICS_CACHE", home / "metrics")
        patch.setattr(evaluate.config, "HF_EVALUATE_CACHE", home / "evaluate")
        patch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        patch.setattr(sys, "path", list(sys.path))
        _forget_dynamic_modules()
        yield home
        _forget_dynamic_modules()


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    with evaluate_offline(tmp_path_factory.mktemp("hf_home")) as home:
        yield home


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory) -> str:
    from transformers import BertConfig, BertForSequenceClassification

    from textenvs.data.tokenizer import train_tokenizer

    path = tmp_path_factory.mktemp("classifier")
    tokenizer = train_tokenizer(PREDICTIONS * 3, vocab_size=100, min_frequency=1)
    BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, num_labels=2, pad_token_id=tokenizer.pad_token_id)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def load(name: str):
    import evaluate

    return evaluate.load(evaluate_module_path(name))


def test_every_metric_scorer_ships_a_module_with_a_card():
    assert scorers.available_modules() == METRIC_SCORERS
    for name in METRIC_SCORERS:
        directory = Path(evaluate_module_path(name))
        assert (directory / f"{name}.py").is_file() and (directory / "README.md").is_file()
    with pytest.raises(KeyError, match="No evaluate module 'rogue' ships with textenvs. Available: bertscore, bleu"):
        evaluate_module_path("rogue")


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.skipif(
    name == "meteor" and not (wordnet.source_dir() / "data.noun").is_file(),
    reason="WordNet not installed: scripts/install_wordnet.sh")) for name in METRIC_SCORERS])
def test_shipped_module_loads_offline_and_equals_the_scorer(name, hf_home, tiny_classifier):
    options = {"reward_model": {"model_path": tiny_classifier, "device": "cpu"},
               "semantic_similarity": {"device": "cpu"}, "bertscore": {"device": "cpu"}}.get(name, {})
    module = load(name)
    assert module.name == name
    scorer = scorers.get(name, **options)
    references = REFERENCES if scorer.requires_references else None
    expected = scorer.corpus_score(PREDICTIONS, references, metadata=METADATA)
    inputs = {"predictions": PREDICTIONS, "metadata": METADATA, **options}
    if scorer.requires_references:
        inputs["references"] = REFERENCES
    assert module.compute(**inputs) == pytest.approx(expected, abs=1e-6)
    per_example = module.compute(**inputs, per_example=True)
    actual = scorer(PREDICTIONS, references, metadata=METADATA)
    assert per_example.keys() == actual.keys()
    for key, values in actual.items():
        np.testing.assert_allclose(per_example[key], values, atol=1e-6)
    assert any((hf_home / "modules" / "evaluate_modules").rglob(f"{name}.py"))  # copied into the temp HF_HOME


def test_shipped_module_accepts_single_string_references_and_options(hf_home):
    bleu = load("bleu")
    single = [refs[0] for refs in REFERENCES]
    assert bleu.compute(predictions=PREDICTIONS, references=single) == {
        "bleu": sacrebleu.corpus_bleu(PREDICTIONS, [single]).score / 100}
    chrf = load("chrf").compute(predictions=PREDICTIONS, references=single, word_order=2)
    assert chrf == {"chrf": sacrebleu.corpus_chrf(PREDICTIONS, [single], word_order=2).score / 100}


# --- EvaluateScorer ----------------------------------------------------------------------------------------------

def test_evaluate_scorer_wraps_a_per_example_module(hf_home):
    wrapped = scorers.get("evaluate", module=evaluate_module_path("rouge"), primary="rougeL", per_example=True)
    assert (wrapped.name, wrapped.primary, wrapped.requires_references) == ("rouge", "rougeL", True)
    direct = scorers.get("rouge")(PREDICTIONS, REFERENCES)
    scores = wrapped(PREDICTIONS, REFERENCES)
    assert scores.keys() == direct.keys()
    for key in direct:
        np.testing.assert_allclose(scores[key], direct[key], atol=1e-12)
    free = EvaluateScorer(load("distinct_n"), primary="distinct_2", per_example=True)
    assert not free.requires_references
    np.testing.assert_allclose(free(PREDICTIONS)["distinct_2"], scorers.get("distinct_n")(PREDICTIONS)["distinct_2"])


def test_evaluate_scorer_follows_the_scorer_contract(hf_home):
    wrapped = scorers.get("evaluate", module=evaluate_module_path("chrf"), primary="chrf", per_example=True)
    assert wrapped(["", "  "], [["a cat"], ["a dog"]])["chrf"].tolist() == [0.0, 0.0]
    assert wrapped([], [])["chrf"].shape == (0,)
    with pytest.raises(ValueError, match="Got 2 predictions but 1 references"):
        wrapped(["a", "b"], [["a"]])
    with pytest.raises(TypeError, match=r"predictions\[0\] must be str"):
        wrapped([None], [["a"]])
    with pytest.raises(ValueError, match="needs references, got None"):
        wrapped(["a"])


def test_evaluate_scorer_calls_corpus_modules_per_example(hf_home):
    wrapped = EvaluateScorer(evaluate_module_path("bleu"))  # returns one corpus number per call
    scores = wrapped(PREDICTIONS, REFERENCES)["bleu"]
    expected = [sacrebleu.corpus_bleu([p], [[r] for r in refs]).score / 100 for p, refs in zip(PREDICTIONS, REFERENCES)]
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    assert wrapped.corpus_score(PREDICTIONS, REFERENCES) == scorers.get("bleu").corpus_score(PREDICTIONS, REFERENCES)


SINGLE_REFERENCE_MODULE = '''
import datasets
import evaluate


class CharOverlap(evaluate.Metric):
    """Share of the reference's characters found in the prediction; one reference per prediction."""

    def _info(self):
        return evaluate.MetricInfo(description="", citation="", inputs_description="", features=datasets.Features(
            {"predictions": datasets.Value("string"), "references": datasets.Value("string")}))

    def _compute(self, predictions, references):
        overlap = [len(set(p) & set(r)) / max(len(set(r)), 1) for p, r in zip(predictions, references)]
        return {"overlap": overlap, "mean": sum(overlap) / len(overlap), "label": "chars"}
'''


def test_evaluate_scorer_scores_single_reference_modules_against_the_best_reference(hf_home, tmp_path):
    (tmp_path / "char_overlap").mkdir()
    (tmp_path / "char_overlap" / "char_overlap.py").write_text(SINGLE_REFERENCE_MODULE)
    wrapped = EvaluateScorer(str(tmp_path / "char_overlap"), primary="overlap")
    assert not wrapped.multi_reference
    scores = wrapped(["abc", "xyz"], [["abd", "abc"], ["qqq"]])
    assert scores == {"overlap": pytest.approx(np.array([1.0, 0.0]))}
    assert wrapped.corpus_score(["abc"], [["abd"]]) == pytest.approx({"overlap": 2 / 3, "mean": 2 / 3})
    with pytest.raises(ValueError, match="one reference per prediction"):
        wrapped.corpus_score(["abc"], [["abd", "abc"]])
    with pytest.raises(KeyError, match=r"returned \['label', 'mean', 'overlap'\], not the primary 'char_overlap'"):
        EvaluateScorer(str(tmp_path / "char_overlap"))(["a"], [["b"]])
    with pytest.raises(TypeError, match="module must be an evaluate module"):
        EvaluateScorer(42)
