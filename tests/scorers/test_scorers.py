"""Scorer interface, registry, composite and dense rewards; lexical metrics against their reference libraries."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from textenvs import scorers
from textenvs.scorers import CompositeScorer, MissingMetadataError, Scorer

PREDICTIONS = [
    "the cat sat on the mat .",
    "a quick brown fox jumps over the lazy dog",
    "hello there , general kenobi",
    "it was raining in london on monday\nthe market was busy",
    "completely unrelated words here",
    "",
]
REFERENCES = [
    ["the cat is sitting on the mat .", "a cat sat on a mat"],
    ["the quick brown fox jumped over the lazy dog"],
    ["hello there !", "general kenobi , hello", "hi"],
    ["it rained in london on monday\nthe market was very busy"],
    ["the weather is nice today"],
    ["something"],
]
LEXICAL = ["rouge", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "ter", "token_f1", "exact_match",
           "length_penalty", "repetition_penalty", "distinct_n"]


# --- registry ------------------------------------------------------------------------------------------------

def test_registry_lists_every_shipped_scorer():
    assert set(scorers.available()) >= {
        "chrf", "rouge", "rougeL", "rouge1", "rouge2", "rougeLsum", "token_f1", "bleu", "ter", "meteor",
        "exact_match", "semantic_similarity", "bertscore", "reward_model", "key_fact_recall", "slot_coverage",
        "length_penalty", "repetition_penalty", "distinct_n", "composite", "evaluate"}


def test_unknown_name_lists_what_exists():
    with pytest.raises(ValueError, match="Unknown scorer 'rogue'.*Did you mean 'rouge'.*Available: bertscore, bleu"):
        scorers.get("rogue")


def test_unknown_name_is_a_value_error_printed_without_quotes_and_case_slips_get_a_suggestion():
    with pytest.raises(ValueError) as caught:
        scorers.get("bleu4")
    assert not isinstance(caught.value, KeyError), "a KeyError prints its message inside quotes"
    assert str(caught.value).startswith("Unknown scorer 'bleu4'. Did you mean 'bleu'?")
    with pytest.raises(ValueError, match=r"Unknown scorer 'BLEU'\. Did you mean 'bleu'\?"):
        scorers.get("BLEU")
    with pytest.raises(ValueError, match=r"Unknown scorer 'ROUGE2'\. Did you mean 'rouge2'"):
        scorers.make_scorer("ROUGE2")


def test_check_scorer_refuses_names_and_kwargs_without_building_the_scorer():
    scorers.check_scorer("rouge", {"primary": "rouge2"})
    with pytest.raises(ValueError, match="Unknown scorer 'Chrf'. Did you mean 'chrf'"):
        scorers.check_scorer("Chrf")
    with pytest.raises(TypeError, match="Unknown scorer_kwargs for scorer 'chrf': 'word_ordr' "
                                        r"\(did you mean 'word_order'\?\)"):
        scorers.check_scorer("chrf", {"word_ordr": 2})


def test_make_scorer_accepts_name_object_and_callable():
    chrf = scorers.ChrFScorer()
    assert scorers.make_scorer(chrf) is chrf
    assert isinstance(scorers.make_scorer("bleu"), scorers.BLEUScorer)
    wrapped = scorers.make_scorer(lambda predictions, references: [len(p) for p in predictions], name="length")
    assert wrapped(["ab", "c"], [["x"], ["y"]])["score"].tolist() == [2.0, 1.0]
    with pytest.raises(TypeError, match="registered name, a Scorer or a callable"):
        scorers.make_scorer(3)


def test_a_per_example_function_is_accepted_by_name_annotation_or_flag():
    def overlap(prediction, references):  # the form most people write first
        return float(prediction in references)

    def length(text: str, references) -> float:
        return float(len(text))

    predictions, references = ["a cat", "a dog", "x"], [["a cat"], ["the dog"], ["x", "y"]]
    assert scorers.make_scorer(overlap)(predictions, references)["score"].tolist() == [1.0, 0.0, 1.0]
    assert scorers.make_scorer(length)(predictions, references)["score"].tolist() == [5.0, 5.0, 1.0]
    flagged = scorers.make_scorer(lambda p, refs: {"hit": float(p in refs), "n": len(refs)}, primary="hit",
                                  per_example=True)
    assert {k: v.tolist() for k, v in flagged(predictions, references).items()} == {"hit": [1.0, 0.0, 1.0],
                                                                                    "n": [1.0, 1.0, 2.0]}
    with_prompt = scorers.make_scorer(lambda prediction, references, prompt: float(prompt in prediction),
                                      per_example=True)
    assert with_prompt(["a cat", "b"], [["r"], ["r"]], prompts=["cat", "cat"])["score"].tolist() == [1.0, 0.0]


def test_an_env_takes_a_per_example_function_as_its_scorer():
    import gymnasium as gym

    def exact(prediction, references):
        return float(prediction in references)

    env = gym.make("textenvs/Translation-v0", scorer=exact)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.unwrapped.task.eos_token_id)
    assert terminated and reward == 0.0 and info["metrics"] == {"score": 0.0}


def test_a_batch_function_returning_one_number_says_which_form_is_expected():
    batch_looking = scorers.make_scorer(lambda p, refs: 1.0, name="one")
    with pytest.raises(ValueError, match=r"Scorer function 'one' returned one number \('score': 1.0\) for a batch "
                                         r"of 2 prediction\(s\)\. It is called in batch form, f\(predictions: "
                                         r"list\[str\], references: list\[list\[str\]\]\).*pass per_example=True"):
        batch_looking(["a", "b"], [["a"], ["b"]])
    per_example = scorers.make_scorer(lambda prediction, references: [1.0, 2.0], name="two")
    with pytest.raises(ValueError, match=r"'two' is called per example.*returned \(2,\)-shaped 'score' for "
                                         "prediction 0"):
        per_example(["a"], [["a"]])


def test_existing_names_keep_their_meaning():
    chrf = scorers.get("chrf")(PREDICTIONS[:2], REFERENCES[:2])["chrf"]
    expected = [sacrebleu.sentence_chrf(p, refs).score / 100 for p, refs in zip(PREDICTIONS[:2], REFERENCES[:2])]
    np.testing.assert_allclose(chrf, expected, rtol=0, atol=1e-12)
    assert scorers.get("rouge").primary == scorers.get("rougeL").primary == "rougeL"
    assert scorers.get("token_f1").primary == "token_f1"


# --- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", LEXICAL)
def test_bad_input_is_a_clear_error(name):
    scorer = scorers.get(name)
    with pytest.raises(ValueError, match="Got 2 predictions but 1 references"):
        scorer(["a", "b"], [["a"]])
    with pytest.raises(TypeError, match=r"predictions\[1\] must be str, got int"):
        scorer(["a", 3], [["a"], ["b"]])
    with pytest.raises(TypeError, match="single str"):
        scorer("a cat", [["a cat"]])
    if scorer.requires_references:
        with pytest.raises(ValueError, match="needs references, got None"):
            scorer(["a"])
        with pytest.raises(ValueError, match=r"references\[0\] is empty"):
            scorer(["a"], [[]])
    with pytest.raises(ValueError, match="corpus_score needs at least one prediction"):
        scorer.corpus_score([], [])


@pytest.mark.parametrize("name", LEXICAL)
def test_empty_and_whitespace_predictions_score_without_crashing(name):
    scorer = scorers.get(name)
    scores = scorer(["", "  "], [["a cat sat"], ["a dog ran"]])
    assert scorer.primary in scores
    for values in scores.values():
        assert values.shape == (2,) and np.isfinite(values).all()
    assert scorer.corpus_score(["", "  "], [["a cat sat"], ["a dog ran"]]).keys() == scores.keys()
    assert {key: values.shape for key, values in scorer([], []).items()} == {key: (0,) for key in scores}


# --- reference libraries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score(use_stemmer):
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    reference = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
    scores = scorers.get("rouge", use_stemmer=use_stemmer)(PREDICTIONS, REFERENCES)
    for key in types:
        expected = [reference.score_multi(refs, p)[key].fmeasure for p, refs in zip(PREDICTIONS, REFERENCES)]
        assert scores[key].tolist() == expected
    corpus = scorers.get("rouge", use_stemmer=use_stemmer).corpus_score(PREDICTIONS, REFERENCES)
    assert corpus == pytest.approx({key: float(np.mean(scores[key])) for key in types}, abs=1e-15)


def test_rouge_variant_names_pick_the_reward():
    for name in ["rouge1", "rouge2", "rougeL", "rougeLsum"]:
        assert scorers.get(name).primary == name
    with pytest.raises(ValueError, match="Unknown rouge types"):
        scorers.get("rouge", rouge_types=["rouge9"])


def _streams(references):
    width = max(map(len, references))
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def test_bleu_equals_sacrebleu():
    scores = scorers.get("bleu")(PREDICTIONS, REFERENCES)["bleu"]
    expected = [sacrebleu.sentence_bleu(p, refs).score / 100 for p, refs in zip(PREDICTIONS, REFERENCES)]
    assert scores.tolist() == expected
    corpus = scorers.get("bleu").corpus_score(PREDICTIONS, REFERENCES)
    assert corpus == {"bleu": sacrebleu.corpus_bleu(PREDICTIONS, _streams(REFERENCES)).score / 100}
    lower = scorers.get("bleu", lowercase=True, tokenize="intl")(["The Cat"], [["the cat"]])["bleu"]
    assert lower[0] == sacrebleu.sentence_bleu("The Cat", ["the cat"], lowercase=True, tokenize="intl").score / 100


def test_chrf_equals_sacrebleu():
    for word_order in (0, 2):
        scorer = scorers.get("chrf", word_order=word_order)
        expected = [sacrebleu.sentence_chrf(p, refs, word_order=word_order).score / 100
                    for p, refs in zip(PREDICTIONS, REFERENCES)]
        assert scorer(PREDICTIONS, REFERENCES)["chrf"].tolist() == expected
        corpus = sacrebleu.corpus_chrf(PREDICTIONS, _streams(REFERENCES), word_order=word_order).score / 100
        assert scorer.corpus_score(PREDICTIONS, REFERENCES) == {"chrf": corpus}


def test_chrf_with_cached_references_is_sacrebleus_to_the_last_bit():
    # Random word salads (empty, punctuation, repeated words) against 1-3 references, chrF and chrF++, scored twice:
    # with the references' n-grams extracted, then from the cache; a cache of 2 drops the least recently used.
    import pickle
    import random

    rng = random.Random(0)
    words = [w for refs in REFERENCES for ref in refs for w in ref.split()] + ["(hi)", "x,", "!", "é", ".."]
    predictions = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(60)] + PREDICTIONS
    references = [[" ".join(rng.choice(words) for _ in range(rng.randint(1, 10)))
                   for _ in range(rng.randint(1, 3))] for _ in range(60)] + REFERENCES
    for word_order in (0, 2):
        scorer = scorers.get("chrf", word_order=word_order)
        expected = [sacrebleu.sentence_chrf(p, refs, word_order=word_order).score / 100
                    for p, refs in zip(predictions, references)]
        assert scorer(predictions, references)["chrf"].tolist() == expected
        assert scorer(predictions, references)["chrf"].tolist() == expected
        copy = pickle.loads(pickle.dumps(scorer))
        assert not copy._references and len(scorer._references) == len({r for refs in references for r in refs})
        assert copy(predictions, references)["chrf"].tolist() == expected
    small = scorers.get("chrf")
    small.REFERENCE_CACHE_SIZE = 2
    small(["a b", "c d", "e f"], [["a b"], ["c d"], ["e f"]])
    assert list(small._references) == ["c d", "e f"]


def test_ter_equals_sacrebleu_and_rewards_its_negation():
    scores = scorers.get("ter")(PREDICTIONS, REFERENCES)
    expected = [sacrebleu.sentence_ter(p, refs).score / 100 for p, refs in zip(PREDICTIONS, REFERENCES)]
    assert scores["ter"].tolist() == expected
    np.testing.assert_array_equal(scores["neg_ter"], -scores["ter"])
    corpus = sacrebleu.corpus_ter(PREDICTIONS, _streams(REFERENCES)).score / 100
    assert scorers.get("ter").corpus_score(PREDICTIONS, REFERENCES) == {"ter": corpus, "neg_ter": -corpus}
    assert scores["ter"][-1] == 1.0  # empty prediction: every reference word is an edit


# --- simple metrics ---------------------------------------------------------------------------------------------

def test_token_f1_and_exact_match():
    f1 = scorers.get("token_f1")(["The cat sat!", "dog"], [["a cat sat"], ["cat", "dog house"]])
    assert f1["token_f1"].tolist() == [1.0, pytest.approx(2 / 3)]
    exact = scorers.get("exact_match")(["The cat sat!", "cat", ""], [["a cat sat"], ["dog", "cat"], ["x"]])
    assert exact["exact_match"].tolist() == [1.0, 1.0, 0.0]
    strict = scorers.get("exact_match", normalize=False)(["The cat sat!", "cat"], [["a cat sat"], ["cat"]])
    assert strict["exact_match"].tolist() == [0.0, 1.0]


def test_length_penalty():
    fixed = scorers.get("length_penalty", target_length=4)
    assert fixed(["a b c d", "a b", ""])["length_penalty"].tolist() == [0.0, -0.5, -1.0]
    following = scorers.get("length_penalty")
    scores = following(["a b c", "a b c d e f"], [["x y z w", "x y"], ["x y z"]])
    assert scores["length_penalty"].tolist() == [-0.25, -1.0]  # closest reference lengths 4 and 3
    assert scores["length"].tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match="target_length must be >= 0"):
        scorers.get("length_penalty", target_length=-1)


def test_repetition_penalty_and_distinct_n():
    repetition = scorers.get("repetition_penalty", n=1)(["a a a a", "a b c", "x"])["repetition_penalty"]
    assert repetition.tolist() == [-0.75, 0.0, 0.0]
    bigram = scorers.get("repetition_penalty")(["the the the the", ""])["repetition_penalty"]
    assert bigram.tolist() == [-2 / 3, 0.0]
    distinct = scorers.get("distinct_n", n=2)
    scores = distinct(["a b a b", "a b c", ""])
    assert scores["distinct_1"].tolist() == [0.5, 1.0, 0.0]
    assert scores["distinct_2"].tolist() == [2 / 3, 1.0, 0.0]
    assert distinct.primary == "distinct_2"
    corpus = distinct.corpus_score(["a b a b", "a b c", ""])
    assert corpus == {"distinct_1": 3 / 7, "distinct_2": 3 / 5}  # pooled n-grams of the whole batch


# --- task scorers -------------------------------------------------------------------------------------------------

def test_key_fact_recall_counts_token_spans():
    metadata = [{"key_facts": ["ivan", "12 flowers", "sydney", "sunday"]}, {"key_facts": ["The Market"]}]
    scores = scorers.get("key_fact_recall")(["Ivan planted 12 flowers in Sydney.", "a market stall"],
                                            metadata=metadata)
    assert scores["key_fact_recall"].tolist() == [0.75, 1.0]
    # spans are whole tokens: "12 flower" is not "12 flowers", "sydneys" is not "sydney"
    assert scorers.get("key_fact_recall")(["12 flower in sydneys"], metadata=metadata[:1])["key_fact_recall"][0] == 0


def test_slot_coverage_accepts_lists_mappings_and_alternatives():
    scorer = scorers.get("slot_coverage")
    metadata = [{"slots": ["stadium", "4 am"]}, {"slots": {"time": ["4 am", "04:00"], "to": "university"}}]
    scores = scorer(["a taxi from the stadium at 4 am", "leaving at 04:00"], metadata=metadata)
    assert scores["slot_coverage"].tolist() == [1.0, 0.5]


@pytest.mark.parametrize("name, key", [("key_fact_recall", "key_facts"), ("slot_coverage", "slots")])
def test_task_scorers_name_missing_metadata(name, key):
    scorer = scorers.get(name)
    with pytest.raises(MissingMetadataError, match=f"needs per-example metadata with '{key}'"):
        scorer(["a"])
    with pytest.raises(MissingMetadataError, match=rf"needs metadata\[1\]\['{key}'\], which is missing"):
        scorer(["a", "b"], metadata=[{key: ["a"]}, {"other": 1}])
    with pytest.raises(ValueError, match="empty|non-empty"):
        scorer(["a"], metadata=[{key: []}])
    with pytest.raises(ValueError, match="no words after normalization"):
        scorer(["a"], metadata=[{key: ["the !"]}])
    with pytest.raises(ValueError, match="Got 1 predictions but 2 metadata"):
        scorer(["a"], metadata=[{key: ["a"]}, {key: ["a"]}])
    assert scorer(["", "  "], metadata=[{key: ["cat"]}, {key: ["dog"]}])[name].tolist() == [0.0, 0.0]


def test_task_scorers_reward_the_builtin_references():
    from textenvs.data.builtin import load_builtin

    for dataset, name in [("synthetic-summarization", "key_fact_recall"), ("synthetic-dialogue", "slot_coverage")]:
        examples = list(load_builtin(dataset, "validation"))[:50]
        scores = scorers.get(name)([e.references[0] for e in examples], metadata=[e.metadata for e in examples])
        assert scores[name].min() == 1.0


# --- composite ----------------------------------------------------------------------------------------------------

def test_composite_is_the_weighted_sum_and_keeps_components():
    length = scorers.get("length_penalty", target_length=5)
    composite = CompositeScorer({"rouge1": 0.5, "chrf": 2.0, length: -1.0})
    scores = composite(PREDICTIONS, REFERENCES)
    rouge = scorers.get("rouge1")(PREDICTIONS, REFERENCES)
    chrf = scorers.get("chrf")(PREDICTIONS, REFERENCES)
    lengths = length(PREDICTIONS)
    np.testing.assert_allclose(scores["composite"],
                               0.5 * rouge["rouge1"] + 2.0 * chrf["chrf"] - lengths["length_penalty"])
    assert set(scores) == {"composite", "rouge1/rouge1", "rouge1/rouge2", "rouge1/rougeL", "rouge1/rougeLsum",
                           "chrf/chrf", "length_penalty/length_penalty", "length_penalty/length"}
    np.testing.assert_array_equal(scores["chrf/chrf"], chrf["chrf"])
    corpus = composite.corpus_score(PREDICTIONS, REFERENCES)
    assert corpus["composite"] == pytest.approx(
        0.5 * np.mean(rouge["rouge1"]) + 2.0 * scorers.get("chrf").corpus_score(PREDICTIONS, REFERENCES)["chrf"]
        - np.mean(lengths["length_penalty"]))
    assert composite.config()["weights"] == {"rouge1": 0.5, "chrf": 2.0, "length_penalty": -1.0}
    assert composite([], [])["composite"].shape == (0,)


def test_composite_from_registry_with_callable_and_metadata():
    def shout(predictions, references):
        return [float(p.isupper()) for p in predictions]

    composite = scorers.get("composite", weights={"key_fact_recall": 1.0, shout: 0.25}, name="reward")
    assert composite.primary == "reward"
    assert composite.requires_references  # a plain callable is given references
    scores = composite(["CAT", "dog"], [["x"], ["y"]], metadata=[{"key_facts": ["cat"]}, {"key_facts": ["cat"]}])
    assert scores["reward"].tolist() == [1.25, 0.0]
    assert scores["shout/score"].tolist() == [1.0, 0.0]
    free = CompositeScorer({"key_fact_recall": 1.0,
                            scorers.CallableScorer(shout, requires_references=False): 0.25})
    assert not free.requires_references
    assert free(["CAT"], metadata=[{"key_facts": ["cat"]}])["composite"].tolist() == [1.25]


def test_composite_rejects_bad_weights_and_duplicate_labels():
    with pytest.raises(ValueError, match="at least one component"):
        CompositeScorer({})
    with pytest.raises(ValueError, match="must be a finite number"):
        CompositeScorer({"chrf": float("nan")})
    with pytest.raises(ValueError, match="labelled 'rouge'"):
        CompositeScorer({"rouge": 1.0, scorers.get("rougeL"): 1.0})
    with pytest.raises(ValueError, match="Unknown scorer 'nope'"):
        CompositeScorer({"nope": 1.0})


def test_a_custom_scorer_gets_validation_and_corpus_scores_for_free():
    class Vowels(Scorer):
        name = primary = "vowels"
        requires_references = False

        def compute(self, predictions, references, prompts, metadata):
            return {"vowels": [sum(c in "aeiou" for c in p) for p in predictions]}

    scorer = Vowels()
    assert scorer(["banana", "xyz"])["vowels"].tolist() == [3.0, 0.0]
    assert scorer.corpus_score(["banana", "xyz"]) == {"vowels": 1.5}


def test_chrf_prefix_filtered_matching_on_repetitive_strings_is_sacrebleus_to_the_last_bit():
    # Small alphabets make many overlapping and repeated n-grams (where str.count-style shortcuts go wrong) and
    # hypotheses shorter and longer than the orders; several orders, betas and 1-3 references.
    import random

    from sacrebleu.metrics import CHRF

    rng = random.Random(1)

    def text(alphabet: str) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))

    for char_order, word_order, beta in ((6, 0, 2), (3, 0, 1), (4, 2, 3)):
        scorer = scorers.get("chrf", char_order=char_order, word_order=word_order, beta=beta)
        reference_metric = CHRF(char_order=char_order, word_order=word_order, beta=beta)
        predictions = [text(rng.choice(["ab", "ab ", "aab c.", "xyz"])) for _ in range(200)]
        references = [[text(rng.choice(["ab", "ab ", "aab c.", "b"])) or "a" for _ in range(rng.randint(1, 3))]
                      for _ in range(200)]
        expected = [reference_metric.sentence_score(p, refs).score / 100 for p, refs in zip(predictions, references)]
        assert scorer(predictions, references)["chrf"].tolist() == expected


def test_making_a_rouge_env_does_not_import_nltk_until_it_scores():
    """rouge_score imports nltk (seconds); the first gym.make of Summarization-v0 (default scorer ROUGE) must not."""
    import subprocess
    import sys

    probe = ("import sys, warnings; warnings.simplefilter('ignore'); import gymnasium as gym, textenvs; "
             "env = gym.make('textenvs/Summarization-v0'); env.reset(seed=0); before = 'nltk' in sys.modules; "
             "env.unwrapped.task.scorer(['a cat'], [['a cat']]); print(before, 'nltk' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr
