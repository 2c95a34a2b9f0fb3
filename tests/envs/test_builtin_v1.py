"""The v1 built-in tasks: pinned data, demonstration noise as documented, and verifiable rewards whose
canonical outputs score exactly 1.0 and whose documented flawed outputs score what the manuals say."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import textenvs
from textenvs.data.builtin import SPLIT_SIZES, V1_DATASETS, _generate_split, load_builtin
from textenvs.registration import load_env_dataset, load_env_scorer

V1_ENVS = {"synthetic-translation-v1": "textenvs/Translation-v1",
           "synthetic-summarization-v1": "textenvs/Summarization-v1",
           "synthetic-dialogue-v1": "textenvs/Dialogue-v1"}

SCORERS = {"textenvs/Translation-v1": "translation_agreement", "textenvs/Summarization-v1": "summary_facts",
           "textenvs/Dialogue-v1": "dialogue_slots"}

# Pinned: every split of every v1 dataset with its default knobs. A change here changes every v1 result.
V1_SPLIT_HASHES = {
    ("synthetic-translation-v1", "train"): "9ad0a03731343afde60c5cb11da6e4f9f7888b5f1b8ebbf63ce0039e2f68bf4a",
    ("synthetic-translation-v1", "validation"): "3f22d2467bdcc5bed9a825c6ec677bcaad779e43a625aa5d1558eee600d0491e",
    ("synthetic-translation-v1", "test"): "311ec738e048e8cf78fa38ef707854fada5cf2a679ca10dfb902dd5751afab61",
    ("synthetic-summarization-v1", "train"): "1b733311555eefd6c0c1fbddc07f62fcc3449753d9300c0a8a7c22c04ee9099b",
    ("synthetic-summarization-v1", "validation"): "b13a5c631766c82b8855813389a06e87cd6e8a1bd135895e89ecb0f03ee6bbcf",
    ("synthetic-summarization-v1", "test"): "b8942a0e8f9637ff5bdf1c9d7b896d440b76900f765a6cc7109c29ed2d69a849",
    ("synthetic-dialogue-v1", "train"): "812dae4bc4fbd8b8cac43b4464a0b4869177a1e90ea7fa14eee770758ca85d36",
    ("synthetic-dialogue-v1", "validation"): "0be47fc2e32a725fee7bcb3f1e101784c77d90259b4357dc64f410f3b984a0d7",
    ("synthetic-dialogue-v1", "test"): "68a0f6b837fd642305c06d8f81f8eaefabac23ccc452c05556dcb8e1878ff4a0",
}


def _scores(env_id, predictions, examples):
    scorer = load_env_scorer(env_id)
    values = scorer.score(predictions, [e.references for e in examples], [e.prompt for e in examples],
                          [e.metadata for e in examples])
    return values[scorer.primary]


@pytest.mark.parametrize("name", V1_DATASETS)
@pytest.mark.parametrize("split", tuple(SPLIT_SIZES))
def test_v1_splits_are_deterministic_and_pinned(name, split):
    cached = load_builtin(name, split)
    if split == "test":  # generated again, bypassing the cache (train is pinned by its hash alone: seconds)
        assert _generate_split.__wrapped__(name, split).examples == cached.examples
    assert cached.content_hash == V1_SPLIT_HASHES[name, split]


@pytest.mark.parametrize("name", V1_DATASETS)
@pytest.mark.parametrize("split", tuple(SPLIT_SIZES))
def test_canonical_output_scores_exactly_one_on_every_example(name, split):
    examples = load_builtin(name, split)
    scores = _scores(V1_ENVS[name], [e.metadata["canonical"] for e in examples], examples)
    assert np.all(scores == 1.0)
    if split != "train":  # held-out references are the canonical outputs
        assert all(e.references == (e.metadata["canonical"],) for e in examples)


def test_empty_and_padded_outputs_do_not_pay():
    for name, env_id in V1_ENVS.items():
        examples = load_builtin(name, "test").select(range(100))
        canonical = [e.metadata["canonical"] for e in examples]
        assert np.all(_scores(env_id, [""] * len(examples), examples) == 0.0)
        repeated = _scores(env_id, [f"{c} {c}" for c in canonical], examples)
        assert np.all(repeated < 0.6), env_id
        tail = [f"{c} {c.split()[-2]} ." for c in canonical]  # one extra fact-like word at the end
        assert np.all(_scores(env_id, tail, examples) < 1.0), env_id


def _documented(env_id, canonical, metadata, table):
    scorer = load_env_scorer(env_id)
    predictions = [prediction for prediction, _ in table]
    values = scorer.score(predictions, None, metadata=[{"canonical": canonical, **metadata}] * len(table))
    return values[scorer.primary], np.array([score for _, score in table])


def test_translation_scores_match_the_manual():
    got, expected = _documented("textenvs/Translation-v1", "the big boy saw the car .", {}, [
        ("the big boy saw the car .", 1.0), ("the heavy child found the van .", 3 / 7),
        ("the heavy child saw the car .", 5 / 7), ("the big boy saw the car . the car .", 0.7),
        ("the boy big saw the car .", 6 / 7), ("", 0.0)])
    np.testing.assert_allclose(got, expected)
    assert "| ``the heavy child saw the car .`` | 5/7 = 0.714 |" in textenvs.env_class(
        "textenvs/Translation-v1").__doc__


def test_summarization_scores_match_the_manual():
    facts = {"key_facts": ["maria", "bought", "3 apples", "paris", "friday"]}
    got, expected = _documented("textenvs/Summarization-v1", "maria bought 3 apples in paris on friday .", facts, [
        ("maria bought 3 apples in paris on friday .", 1.0), ("maria bought 3 apples .", 0.6),
        ("maria bought 3 apples on friday .", 0.8), ("maria bought 3 apples in rome on friday .", 0.8 * 8 / 9),
        ("maria bought 3 apples in paris on friday . in paris on friday .", 9 / 14), ("", 0.0)])
    np.testing.assert_allclose(got, expected)


def test_dialogue_scores_match_the_manual():
    slots = {"slots": ["4 people", "3 nights", "friday"]}
    canonical = "i have booked a hotel for 4 people for 3 nights from friday ."
    got, expected = _documented("textenvs/Dialogue-v1", canonical, slots, [
        (canonical, 1.0), ("i have booked a hotel for 4 people for 3 nights .", 2 / 3),
        ("how can i help you ?", 0.0), (canonical.replace("4", "5"), 2 / 3 * 13 / 14), ("", 0.0)])
    np.testing.assert_allclose(got, expected)
    swapped = {"slots": ["from the zoo", "to the airport", "5 pm"]}
    got, _ = _documented("textenvs/Dialogue-v1", "i have booked a taxi from the zoo to the airport at 5 pm .",
                         swapped, [("i have booked a taxi from the airport to the zoo at 5 pm .", 0.0)])
    assert got[0] == pytest.approx(1 / 3)  # only the time is right; the places fill no slot


# Mean task reward of the flawed demonstrations: loose translations keep "the ... the ... ." (3/7 with one
# adjective); summaries without city and day 0.6, without the city 0.8; dialogue 0.3 generic (0) and 0.4
# partial (1/2 or 2/3).
@pytest.mark.parametrize("name, low, high", [("synthetic-translation-v1", 0.37, 0.43),
                                             ("synthetic-summarization-v1", 0.64, 0.68),
                                             ("synthetic-dialogue-v1", 0.31, 0.36)])
def test_demonstrations_are_flawed_as_documented(name, low, high):
    """Train references score below the ceiling on average, and the canonical share is as documented."""
    examples = load_builtin(name, "train")
    references = [e.references[0] for e in examples]
    canonical_share = np.mean([r == e.metadata["canonical"] for r, e in zip(references, examples)])
    expected_share = {"synthetic-translation-v1": 0.4, "synthetic-summarization-v1": 0.35,
                      "synthetic-dialogue-v1": 0.3}[name]
    assert abs(canonical_share - expected_share) < 0.02
    flawed = [i for i, (r, e) in enumerate(zip(references, examples)) if r != e.metadata["canonical"]]
    mean_flawed = _scores(V1_ENVS[name], [references[i] for i in flawed], examples.select(flawed)).mean()
    assert low < mean_flawed < high


def test_dataset_options_change_the_data_and_are_checked():
    strict = load_builtin("synthetic-translation-v1", "train", synonym_rate=0.0)
    assert all(e.references == (e.metadata["canonical"],) for e in strict)
    env = gym.make("textenvs/Summarization-v1", split="test", dataset_options={"num_facts": 3})
    assert all(len(e.metadata["key_facts"]) == 3 for e in env.unwrapped.task.dataset)
    assert load_env_dataset("textenvs/Dialogue-v1", "test", dataset_options={"intents": ["taxi"]})[0].metadata[
        "intent"] == "taxi"
    with pytest.raises(ValueError, match="synonym_rat.*available: synonym_rate, adjective_rate"):
        load_builtin("synthetic-translation-v1", "test", synonym_rat=0.5)
    with pytest.raises(ValueError, match="omission_rate must be in"):
        load_builtin("synthetic-summarization-v1", "test", omission_rate=1.5)
    with pytest.raises(ValueError, match="has no options"):
        load_builtin("synthetic-dialogue", "test", generic_rate=0.1)
    with pytest.raises(ValueError, match="built-in datasets only"):
        gym.make("textenvs/Dialogue-v0", dataset="synthetic-dialogue-v1.jsonl", dataset_options={"a": 1})
    with pytest.raises(ValueError, match="too few distinct prompts"):
        load_builtin("synthetic-translation-v1", "train", adjective_rate=0.0)


def test_v1_envs_default_to_their_data_scorer_and_warm_start():
    from agents.models import default_checkpoint

    for name, env_id in V1_ENVS.items():
        env = gym.make(env_id, split="test")
        task = env.unwrapped.task
        assert (task.dataset.name, task.scorer.name) == (name, SCORERS[env_id])
        assert default_checkpoint(env.unwrapped.task_spec.name).name == env.unwrapped.task_spec.name
        assert "## Task reward" in type(env.unwrapped).__doc__ and "## Difficulty knobs" in type(env.unwrapped).__doc__


@pytest.mark.parametrize("scorer_name", sorted(SCORERS.values()))
def test_v1_scorers_check_the_canonical_output_of_each_example(scorer_name):
    """The three v1 rewards read ``metadata["canonical"]`` through one checked accessor: a bad value is refused
    naming the example (it used to surface as an AttributeError deep in the precision term), and an empty batch
    has every key a full batch has."""
    from textenvs.scorers import get

    scorer = get(scorer_name)
    good = {"canonical": "the cat sleeps .", "key_facts": ["cat"], "slots": ["cat"]}
    for bad in (None, "", "  ", 3):
        with pytest.raises(ValueError, match=r"metadata\[1\]\['canonical'\] must be a non-empty string"):
            scorer(["the cat sleeps .", "a cat"], metadata=[good, {**good, "canonical": bad}])
    full = scorer(["the cat sleeps ."], metadata=[good])
    assert full[scorer.primary].tolist() == [1.0]
    assert sorted(scorer([], metadata=[])) == sorted(full)
