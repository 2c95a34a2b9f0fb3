"""Model-based scorers (MiniLM similarity, BERTScore, reward models) and METEOR against their reference
libraries, plus the bad-input and empty-text contract for every registered scorer."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from textenvs import scorers
from textenvs.scorers import wordnet
from textenvs.scorers.semantic_similarity import default_model_path, load_encoder

PREDICTIONS = ["a man is playing a guitar on stage", "the cat sleeps", "It rained all day in London.", "  "]
REFERENCES = [["a person plays the guitar", "a man is singing"], ["a kitten is sleeping"],
              ["london had rain the whole day"], ["anything"]]
WORDNET_MISSING = not (wordnet.source_dir() / "data.noun").is_file()


@pytest.fixture(scope="module")
def minilm_path() -> str:
    return default_model_path()


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random BERT (2 labels) and GPT-2 (1 output, tokenizer without a pad token) classifiers on disk."""
    from tokenizers import processors
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
    )

    from textenvs.data.tokenizer import train_tokenizer

    texts = PREDICTIONS + [ref for refs in REFERENCES for ref in refs] + ["what did the user ask for ?"]
    root = tmp_path_factory.mktemp("reward_models")
    tokenizer = train_tokenizer(texts * 3, vocab_size=200, min_frequency=1)
    bert = BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1}, pad_token_id=tokenizer.pad_token_id))
    bert.save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    gpt2 = GPT2ForSequenceClassification(GPT2Config(
        vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=64, num_labels=1))
    gpt2.save_pretrained(root / "gpt2")
    # GPT-2 style: no pad token and no special tokens appended (the scorer pads with EOS)
    tokenizer.pad_token = None
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B")
    tokenizer.save_pretrained(root / "gpt2")
    return {"bert": root / "bert", "gpt2": root / "gpt2"}


def make(name: str, reward_models: dict[str, Path]) -> scorers.Scorer:
    """Every registered scorer with the options it needs."""
    options = {
        "reward_model": {"model_path": str(reward_models["bert"])},
        "composite": {"weights": {"rougeL": 1.0, "semantic_similarity": 1.0, "repetition_penalty": 0.5}},
    }
    return scorers.get(name, **options.get(name, {}))


def metadata_for(batch: int) -> list[dict]:
    """What every metadata scorer reads, in one dict: the v1 tasks' facts, slots and canonical answer, a v2 task's
    grammar and gold roles (``synthetic_gold`` and the proxies), a booking goal (``booking_goal``)."""
    from textenvs.data.booking_goals import load_booking_goals_v1
    from textenvs.data.builtin import load_builtin

    v2 = load_builtin("synthetic-translation-v2", "test")[0].metadata
    booking = load_booking_goals_v1("test")[0].metadata
    return [{"key_facts": ["cat"], "slots": ["london"], "canonical": "a cat in london .",
             **{key: v2[key] for key in ("grammar", "roles", "valid", "combination")},
             "intent": booking["intent"], "goal": booking["goal"]}] * batch


def registered():
    """Every registered name but ``evaluate`` (tested with its temporary HF_HOME in test_scorers_evaluate.py)."""
    return [pytest.param(name, marks=pytest.mark.skipif(WORDNET_MISSING and name == "meteor",
                                                        reason="WordNet not installed: scripts/install_wordnet.sh"))
            for name in scorers.available() if name != "evaluate"]


# --- contract for every registered scorer -------------------------------------------------------------------------

@pytest.mark.parametrize("name", registered())
def test_every_scorer_handles_empty_and_whitespace_predictions(name, reward_models):
    scorer = make(name, reward_models)
    scores = scorer(["", "  "], [["a cat sat"], ["a dog ran"]], ["prompt one", "prompt two"], metadata_for(2))
    assert scorer.primary in scores and set(scores) == set(scorer.score_names()) | set(scores)
    for values in scores.values():
        assert values.shape == (2,) and np.isfinite(values).all()
    if name not in ("length_penalty", "ter", "composite", "exact_match"):
        assert scores[scorer.primary].tolist() == [0.0, 0.0], "no text, no reward"


@pytest.mark.parametrize("name", registered())
def test_every_scorer_reports_bad_input_clearly(name, reward_models):
    scorer = make(name, reward_models)
    with pytest.raises(ValueError, match="Got 2 predictions but 1 references"):
        scorer(["a", "b"], [["a"]], metadata=metadata_for(2))
    with pytest.raises(TypeError, match=r"predictions\[0\] must be str, got NoneType"):
        scorer([None], [["a"]], metadata=metadata_for(1))
    with pytest.raises(ValueError, match="Got 1 predictions but 2 prompts"):
        scorer(["a"], [["a"]], ["p", "q"], metadata_for(1))
    if scorer.requires_references:
        with pytest.raises(ValueError, match="needs references, got None"):
            scorer(["a"], None, metadata=metadata_for(1))
        with pytest.raises(TypeError, match=r"references\[0\]\[0\] must be str"):
            scorer(["a"], [[1]], metadata=metadata_for(1))


# --- sentence embeddings ---------------------------------------------------------------------------------------------

def test_embeddings_equal_sentence_transformers(minilm_path):
    from sentence_transformers import SentenceTransformer

    texts = [*PREDICTIONS, "", "word " * 400, *REFERENCES[0]]  # includes one past the 256-token limit
    expected = SentenceTransformer(minilm_path, device="cpu").encode(texts, convert_to_numpy=True)
    ours = load_encoder(minilm_path, "cpu").encode(texts, batch_size=3)
    np.testing.assert_allclose(ours, expected, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_semantic_similarity_is_the_best_cosine(minilm_path):
    scorer = scorers.get("semantic_similarity", device="cpu")
    scores = scorer(PREDICTIONS, REFERENCES)["semantic_similarity"]
    encoder = load_encoder(minilm_path, "cpu")
    for i, (prediction, refs) in enumerate(zip(PREDICTIONS[:3], REFERENCES[:3])):
        embeddings = encoder.encode([prediction, *refs])
        assert scores[i] == pytest.approx(max(embeddings[1:] @ embeddings[0]), abs=1e-6)
    assert scores[3] == 0.0
    assert scorer(["the same words"], [["the same words"]])["semantic_similarity"][0] == pytest.approx(1, abs=1e-6)
    assert scorers.get("semantic_similarity", device="cpu").encoder is scorer.encoder  # loaded once per process
    assert scorer.config()["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_reference_embeddings_are_cached_with_a_bound(minilm_path, monkeypatch):
    encoder = load_encoder(minilm_path, "cpu")
    texts = ["first reference", "second reference", "third reference"]
    np.testing.assert_allclose(encoder.encode_cached(texts), encoder.encode(texts), atol=2e-6)
    assert all(text in encoder._cache for text in texts)
    monkeypatch.setattr(encoder, "cache_size", 2)
    monkeypatch.setattr(encoder, "encode", None)  # everything asked for below must come from the cache
    assert encoder.encode_cached(texts[:2]).shape == (2, 384)
    assert list(encoder._cache) == texts[:2]  # least recently used evicted


def test_models_load_only_from_local_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local directory"):
        scorers.get("semantic_similarity", model_path=str(tmp_path / "missing"), device="cpu")
    with pytest.raises(FileNotFoundError, match="not a local directory"):
        scorers.get("reward_model", model_path="some-org/some-hub-model", device="cpu")


# --- BERTScore ---------------------------------------------------------------------------------------------------------

def test_bertscore_equals_bert_score_package(minilm_path):
    import bert_score

    scores = scorers.get("bertscore", device="cpu")(PREDICTIONS, REFERENCES)
    precision, recall, f1 = bert_score.score(PREDICTIONS[:3], REFERENCES[:3], model_type=minilm_path, num_layers=6,
                                             device="cpu")
    np.testing.assert_allclose(scores["bertscore_precision"][:3], precision.numpy(), atol=1e-6)
    np.testing.assert_allclose(scores["bertscore_recall"][:3], recall.numpy(), atol=1e-6)
    np.testing.assert_allclose(scores["bertscore_f1"][:3], f1.numpy(), atol=1e-6)
    assert [scores[key][3] for key in ("bertscore_precision", "bertscore_recall", "bertscore_f1")] == [0, 0, 0]
    # an empty reference is a zero pair, as bert_score defines; the other reference still counts
    mixed = scorers.get("bertscore", device="cpu")(["the cat sleeps"], [["", "a kitten is sleeping"]])
    assert mixed["bertscore_f1"][0] == pytest.approx(f1[1].item(), abs=1e-6)


# --- reward models -----------------------------------------------------------------------------------------------------

def _direct_scores(path: Path, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
    """The model applied to one text at a time (no padding), as a reference for the batched scorer."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    values = []
    with torch.no_grad():
        for k, text in enumerate(texts):
            inputs = tokenizer(*([pairs[k], text] if pairs else [text]), return_tensors="pt")
            logits = model(**inputs).logits[0]
            values.append(logits[0].item() if model.config.num_labels == 1 else logits.softmax(-1)[-1].item())
    return np.array(values)


def test_reward_model_classifier_gives_label_probability(reward_models):
    scorer = scorers.get("reward_model", model_path=str(reward_models["bert"]), batch_size=2, device="cpu")
    assert not scorer.requires_references
    scores = scorer(PREDICTIONS)["reward_model"]
    np.testing.assert_allclose(scores[:3], _direct_scores(reward_models["bert"], PREDICTIONS[:3]), atol=1e-5)
    assert scores[3] == 0.0
    negative = scorers.get("reward_model", model_path=str(reward_models["bert"]), label="NEGATIVE", device="cpu")
    np.testing.assert_allclose(negative(PREDICTIONS[:3])["reward_model"], 1 - scores[:3], atol=1e-6)
    with pytest.raises(ValueError, match="not one of the model's labels"):
        scorers.get("reward_model", model_path=str(reward_models["bert"]), label="NEUTRAL", device="cpu")
    with pytest.raises(ValueError, match="out of range for a model with 2 labels"):
        scorers.get("reward_model", model_path=str(reward_models["bert"]), label=2, device="cpu")


def test_reward_model_on_prompt_pairs_and_causal_lm_without_pad_token(reward_models):
    prompts = ["what did the user ask for ?"] * 3
    paired = scorers.get("reward_model", model_path=str(reward_models["bert"]), use_prompt=True, device="cpu")
    np.testing.assert_allclose(paired(PREDICTIONS[:3], prompts=prompts)["reward_model"],
                               _direct_scores(reward_models["bert"], PREDICTIONS[:3], prompts), atol=1e-5)
    with pytest.raises(ValueError, match="needs prompts"):
        paired(["a"])
    gpt2 = scorers.get("reward_model", model_path=str(reward_models["gpt2"]), batch_size=4, device="cpu")
    np.testing.assert_allclose(gpt2(PREDICTIONS[:3])["reward_model"],
                               _direct_scores(reward_models["gpt2"], PREDICTIONS[:3]), atol=1e-5)
    # The fused tanh GELU (textenvs.decoding.fuse_activations): the same rewards up to rounding, its own cached model.
    fused = scorers.get("reward_model", model_path=str(reward_models["gpt2"]), batch_size=4, device="cpu",
                        fused_activations=True)
    assert fused.model is not gpt2.model and fused.config()["fused_activations"]
    assert "fused_activations" not in gpt2.config()
    np.testing.assert_allclose(fused(PREDICTIONS[:3])["reward_model"], gpt2(PREDICTIONS[:3])["reward_model"],
                               atol=1e-5)


# --- METEOR ------------------------------------------------------------------------------------------------------------

needs_wordnet = pytest.mark.skipif(WORDNET_MISSING, reason="WordNet not installed: run scripts/install_wordnet.sh")


@needs_wordnet
def test_meteor_equals_nltk_meteor_score():
    from nltk import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    reader = wordnet.load_wordnet()
    for options in ({}, {"alpha": 0.8, "beta": 2.0, "gamma": 0.4}):
        scores = scorers.get("meteor", **options)(PREDICTIONS, REFERENCES)["meteor"]
        expected = [meteor_score([wordpunct_tokenize(r) for r in refs], wordpunct_tokenize(p), wordnet=reader,
                                 **options) for p, refs in zip(PREDICTIONS, REFERENCES)]
        assert scores.tolist() == expected
    # WordNet synonyms count: "hound" matches "dog" only through WordNet
    assert scorers.get("meteor")(["the hound barks"], [["the dog barks"]])["meteor"][0] > \
        scorers.get("meteor")(["the table barks"], [["the dog barks"]])["meteor"][0]


@needs_wordnet
def test_wordnet_build_has_lexnames_and_matches_the_debian_table(tmp_path):
    corpus = wordnet.build_wordnet_corpus(nltk_data=tmp_path)
    assert corpus == tmp_path / "corpora" / "wordnet"
    lines = (corpus / "lexnames").read_text().splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[5] == "05\tnoun.animal\t1"
    manual = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if manual.is_file():  # the table lexnames(5WN) documents
        rows = [line.split("\t") for line in gzip.open(manual, "rt") if line[:2].isdigit() and "\t" in line]
        assert [(number, name.strip()) for number, name, *_ in rows] == [tuple(line.split("\t")[:2]) for line in lines]
    stamp = (corpus / "SOURCE_STAMP").stat().st_mtime_ns
    assert wordnet.build_wordnet_corpus(nltk_data=tmp_path) == corpus
    assert (corpus / "SOURCE_STAMP").stat().st_mtime_ns == stamp  # built once
    reader = wordnet.load_wordnet()
    assert reader.synsets("dog")[0].lexname() == "noun.animal"
    assert reader.lemma_from_key("dog%1:05:00::").name() == "dog"


def test_missing_wordnet_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path / "no-wordnet"))
    monkeypatch.setenv("TEXTENVS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(wordnet.WordNetNotFoundError,
                       match="apt-get install -y wordnet-base wordnet-sense-index.*scripts/install_wordnet.sh"):
        scorers.get("meteor")
