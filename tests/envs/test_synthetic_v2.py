"""The v2 synthetic benchmark tasks: a gold reward that pays only for correct text, demonstrations whose errors depend
on the input, held-out compositions, difficulty levels and proxy rewards (issue 23 items 1-4, 6)."""

from __future__ import annotations

import random
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

import textenvs
from textenvs.data.builtin import V2_DATASETS, held_out_pair, load_builtin
from textenvs.data.generators import dialogue_v2, summarization_v2, translation_v2
from textenvs.data.generators.frames import grammar
from textenvs.registration import load_env_scorer

ENVS = {"synthetic-translation-v2": "textenvs/SyntheticTranslation-v2",
        "synthetic-summarization-v2": "textenvs/SyntheticSummarization-v2",
        "synthetic-dialogue-v2": "textenvs/SyntheticDialogue-v2"}
MODULES = {"synthetic-translation-v2": translation_v2, "synthetic-summarization-v2": summarization_v2,
           "synthetic-dialogue-v2": dialogue_v2}

# Pinned at the default level (medium). A change here changes every v2 result: bump the env version.
SPLIT_HASHES = {
    ("synthetic-translation-v2", "test"): "e1db20ca0bec092515e8d9075c08afdf460832219c19df15dac5e2b2d00dab5d",
    ("synthetic-translation-v2", "test_compositional"): "9bb7c634a99aa70a885dfe5655dfba63ce31e6a509f02858a5c333df82de8f66",
    ("synthetic-summarization-v2", "test"): "aba6912a64713894bce5668e3de0b62c1c320704a618b801fecd0ae321aaba01",
    ("synthetic-summarization-v2", "test_compositional"):
        "f60ac4ba329071ad6f8fe71d9833e5b875ff16a2fe290e43578d58f86bf2d400",
    ("synthetic-dialogue-v2", "test"): "c047b0849691c2e039aaf6c176c9e567c98b804d326f4471c749aa0a64d96eb8",
    ("synthetic-dialogue-v2", "test_compositional"): "227431d74d071350e82685e93fd03483aa1536267ab064986d4403bef5d6d861",
}


def gold_scores(name, predictions, examples):
    scorer = load_env_scorer(ENVS[name])
    values = scorer.score(predictions, [e.references for e in examples], [e.prompt for e in examples],
                          [e.metadata for e in examples])
    return values[scorer.primary]


@pytest.mark.parametrize("name", V2_DATASETS)
def test_held_out_splits_are_pinned_and_every_valid_output_scores_one(name):
    for split in ("test", "test_compositional", "validation"):
        examples = load_builtin(name, split)
        if split != "validation":
            assert examples.content_hash == SPLIT_HASHES[name, split]
        assert all(e.references == tuple(e.metadata["valid"]) for e in examples)
        assert any(len(e.metadata["valid"]) > 1 for e in examples)
        for k in range(max(len(e.metadata["valid"]) for e in examples)):
            chosen = [e.metadata["valid"][min(k, len(e.metadata["valid"]) - 1)] for e in examples]
            assert np.all(gold_scores(name, chosen, examples) == 1.0)
    train = load_builtin(name, "train")
    assert np.all(gold_scores(name, [e.metadata["canonical"] for e in train], train) == 1.0)


def test_worked_examples_of_the_manuals():
    translation = {"subject": "boy", "subject_adjective": "big", "verb": "carried", "object": "car"}
    summary = dict(person="maria", verb="bought", count="3", object="apples", beneficiary="tom", city="paris",
                   day="friday")
    booking = dict(service="table", people="6", food="thai", day="friday", hour="7")
    cases = [
        ("translation-v2", translation, "the car was carried by the big boy .", 1.0),
        ("translation-v2", translation, "the big child carried the car .", 3 / 4),
        ("translation-v2", translation, "the car carried the big boy .", 1 / 4),
        ("translation-v2", translation, "the boy carried the car .", 3 / 4),
        ("translation-v2", translation, "the big boy carried the red car .", 0.0),
        ("summarization-v2", summary, "in paris on friday , maria bought 3 apples for tom .", 1.0),
        ("summarization-v2", summary, "maria bought 3 apples for tom in rome on friday .", 6 / 7),
        ("summarization-v2", summary, "tom bought 3 apples for maria in paris on friday .", 5 / 7),
        ("summarization-v2", summary, "maria bought 3 apples in paris on friday .", 6 / 7),
        ("summarization-v2", summary, "maria bought 3 apples paris friday", 0.0),
        ("dialogue-v2", booking, "your table for 6 people for thai food is booked for friday at 7 pm .", 1.0),
        ("dialogue-v2", booking, "i have booked a table for 4 people for thai food on friday at 7 pm .", 4 / 5),
        ("dialogue-v2", booking, "i have booked a table for 6 people for thai food on friday .", 4 / 5),
        ("dialogue-v2", booking,
         "i have booked a table for 6 people for thai food in the centre on friday at 7 pm .", 5 / 6),
        ("dialogue-v2", booking, "how can i help you ?", 0.0),
    ]
    scorer = textenvs.scorers.get("synthetic_gold")
    for grammar_name, roles, output, expected in cases:
        got = scorer.score([output], metadata=[{"grammar": grammar_name, "roles": roles}])["synthetic_gold"][0]
        assert got == pytest.approx(expected), (grammar_name, output)
    assert "| ``the car carried the big boy .`` (roles swapped) | 1/4 |" in textenvs.env_class(
        "textenvs/SyntheticTranslation-v2").__doc__


def _hedge(example, rng):
    """The canonical output with every role's slot holding all the candidate values at once: the gold one and every
    other legal value of the role that the source mentions (or one drawn at random where it mentions none)."""
    g = grammar(example.metadata["grammar"])
    prompt_words = set(example.prompt.split())
    words = example.metadata["canonical"].split()
    for role, value in example.metadata["roles"].items():
        others = sorted((g.values[role] & prompt_words) - {value}) or [rng.choice(sorted(g.values[role] - {value}))]
        if value in words:
            position = words.index(value)
            words[position:position + 1] = [value, *others]
    return " ".join(words)


def _adversarial_outputs(name, examples, level="medium"):
    rng = random.Random(0)
    canonical = [e.metadata["canonical"] for e in examples]
    values = [list(e.metadata["roles"].values()) for e in examples]
    return {
        "bare value list": [" ".join(v) for v in values],
        "bare value list with a full stop": [" ".join(v) + " ." for v in values],
        "shuffled words of a correct output": [" ".join(rng.sample(c.split(), len(c.split()))) for c in canonical],
        "a correct output repeated": [f"{c} {c}" for c in canonical],
        "every candidate value at once": [_hedge(e, rng) for e in examples],
        "a copy of the source": [e.prompt for e in examples],
        "one constant string": [canonical[0]] * len(examples),
        "the most common train demonstration for every input": [Counter(e.references[0] for e in load_builtin(
            name, "train", **({} if level == "medium" else {"level": level}))).most_common(1)[0][0]] * len(examples),
    }


@pytest.mark.parametrize("name", V2_DATASETS)
def test_outputs_no_one_would_accept_score_low(name):
    """Each adversarial output scores at most 0.3 and at most the mean gold score of the train demonstrations (what a
    warm start is fit to; the shipped warm starts themselves: the next test)."""
    examples = load_builtin(name, "test")
    train = load_builtin(name, "train")
    demonstrations = gold_scores(name, [e.references[0] for e in train], train).mean()
    assert 0.5 < demonstrations < 0.95  # the demonstrations are flawed, but mostly right
    for kind, outputs in _adversarial_outputs(name, examples).items():
        mean = gold_scores(name, outputs, examples).mean()
        assert mean <= min(0.3, demonstrations), (name, kind, mean)
    # A second measure agrees: only a handful of the adversarial outputs even parse as sentences of the grammar.
    scorer = load_env_scorer(ENVS[name])
    shuffled = _adversarial_outputs(name, examples)["shuffled words of a correct output"]
    grammatical = scorer.score(shuffled, metadata=[e.metadata for e in examples])["grammatical"]
    assert grammatical.mean() < 0.1


WARM_START_EXAMPLES = 100
"""Test examples the shipped warm start decodes in :func:`test_adversarial_outputs_score_below_the_warm_start` (the
first ones of the split; agents/checkpoints/README.md has its whole-split scores)."""


SHIPPED_WARM_STARTS = [(name, level) for name in V2_DATASETS for level in ("easy", "medium", "hard")]
"""The (dataset, level) pairs whose warm start ships in agents/checkpoints/ (``<task>-v2-<level>``): every level of
every v2 task."""


@pytest.mark.parametrize(("name", "level"), SHIPPED_WARM_STARTS)
def test_adversarial_outputs_score_below_the_warm_start(name, level):
    """The issue's bar against the shipped warm start of the level (``model="default"`` with that
    ``dataset_options``): each adversarial output's mean gold score is at most 0.3 and at most the warm start's greedy
    mean, measured here on the same test examples; the warm start stays below the ceiling."""
    from agents.models import load_pretrained, resolve_model_source
    from textenvs.decoding import DecodingPolicy

    env_id = ENVS[name]
    options = {"dataset_options": {"level": level}}
    path = resolve_model_source(env_id, "default", options)
    assert path.endswith(f"{name.removeprefix('synthetic-')}-{level}")
    model = load_pretrained(path).eval()
    env = gym.make_vec(env_id, num_envs=50, vectorization_mode="vector_entry_point", tokenizer=path, split="test",
                       **options)
    records = textenvs.generate_split(env.unwrapped, DecodingPolicy(model), indices=range(WARM_START_EXAMPLES))
    warm = float(np.mean([r.reward for r in records]))
    assert 0.3 < warm < 1.0, warm  # above every adversarial output, below the ceiling
    examples = load_builtin(name, "test", level=level)
    subset = [examples[i] for i in range(WARM_START_EXAMPLES)]
    assert [r.prompt for r in records] == [e.prompt for e in subset]
    for kind, outputs in _adversarial_outputs(name, subset, level).items():
        mean = gold_scores(name, outputs, subset).mean()
        assert mean <= min(0.3, warm), (name, kind, mean, warm)


def test_v2_warm_starts_resolve_by_level():
    from agents.models import CHECKPOINTS_DIR, default_checkpoint, resolve_model_source

    for name, env_id in ENVS.items():
        task = textenvs.env_class(env_id).task_spec.name
        assert default_checkpoint(task).name == f"{task}-medium"  # the env's default level
        assert resolve_model_source(env_id) == str(default_checkpoint(task, "medium"))
        assert resolve_model_source(env_id, "default", {"dataset_options": {"swap_rate": 0.1}}) == \
            str(default_checkpoint(task))
        assert resolve_model_source(env_id, "some/dir", {"dataset_options": {"level": "hard"}}) == "some/dir"
        for level in ("easy", "medium", "hard"):  # every level's warm start ships: no fallback to a random model
            assert resolve_model_source(env_id, "default", {"dataset_options": {"level": level}}) == \
                str(default_checkpoint(task, level)) == str(CHECKPOINTS_DIR / f"{task}-{level}")
        with pytest.raises(ValueError, match="levels: easy, medium, hard"):
            default_checkpoint(task, "expert")
    with pytest.raises(ValueError, match="has no difficulty levels"):
        default_checkpoint("translation-v1", "easy")


def test_missing_v2_warm_start_falls_back_to_a_random_model(monkeypatch, tmp_path):
    """Every level's warm start ships, so the fallback is checked against an empty checkpoint directory: the level's
    missing checkpoint gives ``"scratch"`` with a warning that names the command that trains it."""
    import agents.models
    from agents.models import resolve_model_source

    monkeypatch.setattr(agents.models, "CHECKPOINTS_DIR", tmp_path)
    with pytest.warns(UserWarning, match=r"--task summarization-v2-hard`\. Falling back to a randomly initialized"):
        assert resolve_model_source(ENVS["synthetic-summarization-v2"], "default",
                                    {"dataset_options": {"level": "hard"}}) == "scratch"


@pytest.mark.parametrize("name", V2_DATASETS)
def test_demonstration_errors_depend_on_the_input(name):
    """Over the train demonstrations the errors sit at many positions, in many roles and with many wrong values: no
    one forced token turns a demonstration-mode output into the canonical one."""
    train = load_builtin(name, "train")
    g = grammar(train[0].metadata["grammar"])
    positions, forced, roles, wrong_values = Counter(), Counter(), Counter(), Counter()
    flawed = 0
    for example in train:
        reference = example.references[0]
        if reference in example.metadata["valid"]:
            continue
        flawed += 1
        target = min(example.metadata["valid"], key=lambda valid: -sum(
            a == b for a, b in zip(valid.split(), reference.split())))
        first = next((i for i, (a, b) in enumerate(zip(target.split(), reference.split())) if a != b),
                     min(len(target.split()), len(reference.split())))
        positions[first] += 1
        forced[first, (target.split() + ["</s>"])[first]] += 1  # the token that would have to be forced there
        stated = max(g.parse(reference), key=lambda bound: sum(
            bound.get(r) == v for r, v in example.metadata["roles"].items()))
        for role in set(stated) | set(example.metadata["roles"]):
            if stated.get(role) != example.metadata["roles"].get(role):
                roles[role] += 1
                wrong_values[stated.get(role)] += 1
    assert flawed > 0.5 * len(train)
    assert len(positions) >= 5 and max(positions.values()) < 0.6 * flawed, positions
    assert max(forced.values()) < 0.2 * flawed, forced.most_common(3)
    assert len(roles) >= 4 and max(roles.values()) < 0.6 * sum(roles.values()), roles
    assert len(wrong_values) >= 10


@pytest.mark.parametrize("name", V2_DATASETS)
def test_splits_are_disjoint_by_combination_and_composition(name):
    composition = MODULES[name].COMPOSITION
    train = load_builtin(name, "train")
    train_combinations = {e.metadata["combination"] for e in train}
    train_references = {e.references[0] for e in train}
    train_values = {role: {e.metadata["roles"].get(role) for e in train} for role in composition}
    for split in ("test", "test_compositional", "validation"):
        held = load_builtin(name, split)
        assert not {e.metadata["combination"] for e in held} & train_combinations
        assert not {valid for e in held for valid in e.metadata["valid"]} & train_references
        pairs = [tuple(e.metadata["roles"].get(role) for role in composition) for e in held]
        held_out = [None not in pair and held_out_pair(*pair) for pair in pairs]
        if split == "test_compositional":
            assert all(held_out)
            for pair in pairs:  # each part seen in train, the combination never
                assert all(value in train_values[role] for role, value in zip(composition, pair))
        else:
            assert not any(held_out)
    train_pairs = {tuple(e.metadata["roles"].get(role) for role in composition) for e in train}
    assert not any(None not in pair and held_out_pair(*pair) for pair in train_pairs)


@pytest.mark.parametrize("name", V2_DATASETS)
def test_levels_and_knobs_change_the_data(name):
    """Levels change the test split (structural knobs) and the demonstrations (error rates): the harder the level,
    the lower the demonstrations' gold score. Single knobs override a level and change the train split."""
    demonstration_means = []
    for level in ("easy", "medium", "hard"):
        train = load_builtin(name, "train", level=level)
        demonstration_means.append(gold_scores(name, [e.references[0] for e in train], train).mean())
    assert demonstration_means[0] > demonstration_means[1] + 0.03 > demonstration_means[2] + 0.06
    assert load_builtin(name, "test", level="hard").content_hash != load_builtin(name, "test").content_hash
    for knob in ("distractor_rate", "swap_rate", "omission_rate"):
        changed = load_builtin(name, "train", **{knob: 0.0})
        assert changed.content_hash != load_builtin(name, "train").content_hash, knob
    clean = load_builtin(name, "train", level="easy", distractor_rate=0, swap_rate=0, invent_rate=0,
                         omission_rate=0, synonym_rate=0, paraphrase_rate=0)
    assert all(e.references[0] == e.metadata["canonical"] for e in clean)
    with pytest.raises(ValueError, match="Unknown level 'expert'; levels: easy, medium, hard"):
        load_builtin(name, "test", level="expert")
    with pytest.raises(ValueError, match="swap_rate must be a number in"):
        load_builtin(name, "test", swap_rate=1.5)
    with pytest.raises(ValueError, match="available: level, distractor_rate"):
        load_builtin(name, "test", distractor=0.1)


@pytest.mark.parametrize("metric", ["bleu", "rougeL", "token_f1"])
def test_proxy_rewards_train_on_the_demonstrations_and_report_the_gold_score(metric):
    env = gym.make("textenvs/SyntheticSummarization-v2", scorer=f"proxy_{metric}")
    _, info = env.reset(seed=1)
    example = env.unwrapped.task.dataset[info["example_index"]]
    demonstration = example.references[0]
    for token in env.unwrapped.tokenizer(demonstration)["input_ids"]:
        _, reward, terminated, _, info = env.step(token)
    assert terminated and reward == pytest.approx(1.0)  # the proxy pays in full for copying the demonstration
    gold = textenvs.scorers.get("synthetic_gold").score([demonstration], metadata=[example.metadata])
    assert info["metrics"]["synthetic_gold/synthetic_gold"] == pytest.approx(gold["synthetic_gold"][0])
    assert info["metrics"][f"proxy_{metric}"] == reward


def test_v2_envs_and_their_defaults():
    for name, env_id in ENVS.items():
        env = gym.make(env_id, split="test_compositional", dataset_options={"level": "hard"})
        task = env.unwrapped.task
        assert (task.dataset.name, task.dataset.split, task.scorer.name) == (name, "test_compositional",
                                                                             "synthetic_gold")
        assert textenvs.env_reward_ceiling(env_id) == 1.0
        doc = type(env.unwrapped).__doc__
        assert all(section in doc for section in ("## Gold reward", "## Proxy rewards", "## Splits and levels",
                                                  "## Difficulty knobs", "* v2:"))
        tokenizer = env.unwrapped.tokenizer
        spec = env.unwrapped.task_spec
        for example in load_builtin(name, "train", level="hard"):
            assert len(tokenizer(example.prompt)["input_ids"]) <= spec.max_prompt_length
        assert max(len(tokenizer(valid)["input_ids"]) for e in task.dataset for valid in e.metadata["valid"]) \
            <= spec.max_new_tokens


def test_gold_scorer_refuses_bad_metadata():
    scorer = textenvs.scorers.get("synthetic_gold")
    with pytest.raises(ValueError, match=r"metadata\[0\]\['roles'\] must be a non-empty dict"):
        scorer(["a"], metadata=[{"grammar": "dialogue-v2", "roles": {}}])
    with pytest.raises(ValueError, match="Unknown frame grammar 'nope'; known: translation-v2"):
        scorer(["a"], metadata=[{"grammar": "nope", "roles": {"a": "b"}}])
