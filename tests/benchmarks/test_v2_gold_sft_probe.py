"""benchmarks/learning/v2_gold_sft_probe.py: its pure functions on a handful of real v2 examples (no training, no
decoding): the gold references that replace the demonstrations, the training pairs built from them, the error
breakdown by role and kind, and the sampling coverage (pass@k)."""

from __future__ import annotations

import math

import pytest

from benchmarks.learning import v2_gold_sft_probe as probe
from textenvs import load_env_dataset
from textenvs.data.generators.frames import grammar

SUMMARIZATION = "textenvs/SyntheticSummarization-v2"
MEDIUM = {"dataset_options": {"level": "medium"}}


def examples(env_id: str, split: str, count: int = 40):
    return list(load_env_dataset(env_id, split, **MEDIUM))[:count]


@pytest.mark.parametrize("env_id", sorted(probe.ENVS.values()))
def test_gold_references_are_valid_outputs_in_the_demonstrations_frame(env_id):
    train = examples(env_id, "train")
    references, stats = probe.gold_references(train)
    for example, reference in zip(train, references):
        assert reference in example.metadata["valid"]
        assert grammar(example.metadata["grammar"]).score(reference, example.metadata["roles"]) == 1.0
    # The demonstrations are imperfect (medium): many change, and most keep their frame.
    assert stats["examples"] == len(train) and 0.2 < stats["demonstrations_changed"] < 1.0
    assert stats["demonstration_frame_kept"] > 0.8
    kept = [example for example in train if probe.gold_reference(example)[1]]
    for example in kept:  # same frame: a demonstration already right is left as it is
        if grammar(example.metadata["grammar"]).score(example.references[0], example.metadata["roles"]) == 1.0:
            assert probe.gold_reference(example)[0] == example.references[0]


def test_demonstration_frame_reads_the_frame_back():
    g = grammar("summarization-v2")
    roles = {"person": "maria", "verb": "bought", "count": "3", "object": "apples", "city": "paris", "day": "friday"}
    for frame in range(len(g.frames)):
        assert probe.demonstration_frame(g, g.render(frame, roles)) == frame
    assert probe.demonstration_frame(g, "not a summary") is None


def test_gold_pairs_target_the_gold_references():
    from textenvs.data.tokenizer import load_builtin_tokenizer

    task = probe.make_env(SUMMARIZATION, "test", "medium", load_builtin_tokenizer(), num_envs=1).task
    references = [example.metadata["canonical"] for example in task.dataset]
    pairs = probe.gold_pairs(task, references)
    assert len(pairs) == len(task.dataset)
    for row in (0, 7):
        ids = task.tokenizer(references[row], add_special_tokens=False)["input_ids"]
        target = pairs.target_ids[row][pairs.target_mask[row] == 1].tolist()
        assert target == (list(ids) + [task.eos_token_id])[:task.max_new_tokens]
        assert pairs.prompt_ids[row].tolist() == task.encode_prompt(row)[0].tolist()


def city_distractor_example():
    """A test example with another city in the document, and its canonical summary with that city."""
    for example in examples(SUMMARIZATION, "test", 200):
        roles, canonical = example.metadata["roles"], example.metadata["canonical"]
        tokens = example.prompt.split()
        others = [tokens[i + 1] for i in range(len(tokens) - 1) if tokens[i] == "in" and tokens[i + 1] != roles["city"]
                  and tokens[i + 1] in grammar("summarization-v2").values["city"]]
        if others and canonical.split().count(roles["city"]) == 1:
            return example, canonical.replace(f" {roles['city']} ", f" {others[0]} ")
    pytest.skip("no example with a city distractor")


def test_count_errors_by_role_and_kind():
    example, distracted = city_distractor_example()
    predictions = [example.metadata["canonical"], distracted, "nothing of the grammar"]
    summary = probe.count_errors(predictions, [example] * 3).summary()
    assert summary["outputs"] == 3 and summary["perfect"] == pytest.approx(1 / 3)
    assert summary["by_role_and_kind"]["city"]["distractor from the source"] == pytest.approx(1 / 3)
    assert summary["by_role_and_kind"]["city"]["ungrammatical"] == pytest.approx(1 / 3)
    assert summary["wrong_when_role_present"]["city"] == pytest.approx(2 / 3)
    assert summary["wrong_when_role_present"]["person"] == pytest.approx(1 / 3)  # only the ungrammatical one


def test_pass_at_k():
    assert probe.pass_at_k(8, 0, 4) == 0.0
    assert probe.pass_at_k(8, 8, 1) == 1.0
    assert probe.pass_at_k(8, 3, 1) == pytest.approx(3 / 8)
    assert probe.pass_at_k(8, 1, 4) == pytest.approx(0.5)  # the one right sample is in half the 4-subsets
    assert probe.pass_at_k(8, 2, 4) == pytest.approx(1 - math.comb(6, 4) / math.comb(8, 4))
    assert probe.pass_at_k(8, 5, 4) == 1.0
    with pytest.raises(ValueError):
        probe.pass_at_k(4, 1, 8)


def test_role_coverage_counts_right_samples_and_where_greedy_is_wrong():
    example, distracted = city_distractor_example()
    canonical = example.metadata["canonical"]
    samples = [[canonical] + [distracted] * 7, [distracted] * 8]
    coverage = probe.role_coverage(samples, [example, example], greedy=[distracted, canonical])
    city = coverage["city"]
    assert city["examples"] == 2 and city["sample_right"] == pytest.approx(1 / 16)
    assert city["pass@1"] == pytest.approx((1 / 8 + 0) / 2)
    assert city["pass@4"] == pytest.approx((0.5 + 0) / 2) and city["pass@8"] == pytest.approx(0.5)
    # Greedy gets the city wrong on the first example only: there 1 of 8 samples is right.
    assert city["where_greedy_wrong"]["examples"] == 1
    assert city["where_greedy_wrong"]["pass@8"] == 1.0
    assert coverage["person"]["pass@1"] == 1.0 and coverage["person"]["where_greedy_wrong"] == {"examples": 0}
    assert coverage["all roles"]["sample_right"] == pytest.approx(1 / 16)


def test_value_order_and_summarization_form_find_the_triggers():
    example, distracted = city_distractor_example()
    tokens = example.prompt.split()
    city, other = example.metadata["roles"]["city"], distracted.split()[distracted.split().index("in") + 1]
    expected = "other value first" if tokens.index(other) < tokens.index(city) else "gold value first"
    assert probe.value_order(example, "city") == expected
    assert probe.value_order(example, "person") == "gold value first"  # the lead sentence names the person first
    translation = examples("textenvs/SyntheticTranslation-v2", "test", 1)[0]
    assert probe.value_order(translation, "subject") == "gold value not in prompt"
    assert probe.summarization_form(translation, "subject") is None
    forms = {probe.summarization_form(e, "beneficiary") for e in examples(SUMMARIZATION, "test", 100)}
    assert forms == {"active", "passive", "active, own sentence", "passive, own sentence"}


def test_wrong_by_trigger_splits_the_error_rate():
    example, distracted = city_distractor_example()
    group = probe.value_order(example, "city")
    split = probe.wrong_by_trigger([example.metadata["canonical"], distracted], [example, example])
    assert split["city"] == {group: {"examples": 2, "wrong": 0.5}}
    assert split["person"] == {"gold value first": {"examples": 2, "wrong": 0.0}}
    by_form = probe.wrong_by_trigger([distracted], [example], probe.summarization_form)
    assert set(by_form) == ({"person", "beneficiary"} & set(example.metadata["roles"]))
