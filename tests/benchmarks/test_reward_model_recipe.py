"""scripts/train_reward_model.py: its preference pairs, a tiny reward model trained by it and read back through
RewardModelScorer, and that reward model as the RL reward of ppo_vs_warm_start.py with --eval-every."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TOY_PAIRS, toy_dataset

ROOT = Path(__file__).resolve().parents[2]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recipe():
    return load(ROOT / "scripts" / "train_reward_model.py", "train_reward_model")


def test_each_corruption_changes_the_reference_as_documented(recipe) -> None:
    rng = np.random.default_rng(0)
    text = "a man in a red shirt is riding a bike down the street"
    words = text.split()
    for _ in range(20):
        dropped = recipe.corrupt(text, "drop", rng).split()
        assert len(words) - len(dropped) in (1, 2) and all(word in words for word in dropped)
        swapped = recipe.corrupt(text, "swap", rng).split()
        assert sorted(swapped) == sorted(words) and swapped != words
        replaced = recipe.corrupt(text, "replace", rng, donors=["dog", "cat"]).split()
        assert len(replaced) == len(words) and sum(a != b for a, b in zip(replaced, words)) == 1
        truncated = recipe.corrupt(text, "truncate", rng).split()
        assert 1 <= len(truncated) < len(words) and truncated == words[:len(truncated)]
        repeated = recipe.corrupt(text, "repeat", rng).split()
        assert len(words) < len(repeated) <= len(words) + 3
    assert recipe.corrupt("two words", "drop", rng) is None  # too short for any corruption
    assert recipe.corrupt("one two three", "swap", rng) is None
    assert recipe.corrupt(text, "replace", rng, donors=[]) is None
    with pytest.raises(ValueError, match="unknown corruption"):
        recipe.corrupt(text, "upper", rng)


def test_pairs_from_the_data(recipe) -> None:
    examples = list(toy_dataset())
    every = recipe.make_pairs(examples, np.random.default_rng(0), per_example=len(recipe.CORRUPTIONS))
    # Every kind for every example long enough for it; the chosen answer is the reference, the rejected differs.
    assert {pair["kind"] for pair in every} == set(recipe.CORRUPTIONS)
    assert all(pair["chosen"] == dict(TOY_PAIRS)[pair["source"]] != pair["rejected"] for pair in every)
    two = recipe.make_pairs(examples, np.random.default_rng(0), per_example=2)
    for example in examples:
        kinds = [pair["kind"] for pair in two if pair["source"] == example.prompt]
        assert len(kinds) == len(set(kinds)) <= 2  # drawn without repetition
    # Model outputs are rejected answers only where they differ from the reference.
    outputs = [example.references[0] for example in examples[:2]] + ["a cat", " ", "x"]
    warm = recipe.output_pairs(examples, outputs)
    assert [pair["rejected"] for pair in warm] == ["a cat", " ", "x"] and {p["kind"] for p in warm} == {"warm_start"}


@pytest.fixture(scope="module")
def tiny_reward_model(recipe, tmp_path_factory):
    from textenvs.data.tokenizer import train_tokenizer

    examples = list(toy_dataset())
    tokenizer = train_tokenizer([text for example in examples for text in (example.prompt, *example.references)],
                                vocab_size=120, min_frequency=1)
    tokenizer.model_max_length = 64
    model = recipe.build_reward_model(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=64)
    pairs = recipe.make_pairs(examples, np.random.default_rng(0), per_example=len(recipe.CORRUPTIONS))
    log = recipe.train_reward_model(model, tokenizer, pairs, steps=60, batch_size=8, learning_rate=3e-3, warmup=5,
                                    max_length=64, log_every=30, validation=pairs)
    directory = tmp_path_factory.mktemp("reward_model")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, model, tokenizer, pairs, log


def test_the_trained_reward_model_loads_through_reward_model_scorer(recipe, tiny_reward_model) -> None:
    from textenvs.scorers.reward_model import RewardModelScorer

    directory, model, tokenizer, pairs, log = tiny_reward_model
    assert log[-1]["loss"] < log[0]["loss"] and log[-1]["validation_accuracy"] > 0.8  # it learns its training pairs
    scorer = RewardModelScorer(str(directory), use_prompt=True, device="cpu")
    assert scorer.num_labels == 1
    # The scorer reads the saved model exactly as the recipe trained and evaluated it (same encoding, raw logit).
    chosen, rejected = recipe.pair_scores(model, tokenizer, pairs, max_length=64)
    sources = [pair["source"] for pair in pairs]
    via_scorer = scorer.compute([pair["chosen"] for pair in pairs], None, sources, None)["reward_model"]
    assert via_scorer == pytest.approx(chosen, abs=1e-4)
    table = recipe.scorer_pair_accuracy(scorer, pairs)
    assert table["all"]["accuracy"] == pytest.approx(np.mean(chosen > rejected))
    assert set(table) == {"all", *recipe.CORRUPTIONS} and table["all"]["pairs"] == len(pairs)


def test_reward_model_as_the_rl_reward_with_mid_run_evaluations(tiny_reward_model, tmp_path) -> None:
    # ppo_vs_warm_start.py --eval-every: the policy is evaluated after iteration 1 of 2 and at the end; with the
    # reward model as the env's scorer, each evaluation's mean reward is the reward model's score of the greedy outputs.
    script = load(ROOT / "benchmarks" / "learning" / "ppo_vs_warm_start.py", "ppo_vs_warm_start")
    env_kwargs = {"scorer": "reward_model", "scorer_kwargs": {"model_path": str(tiny_reward_model[0]),
                                                              "use_prompt": True, "device": "cpu"}}
    assert script.main(["--name", "rm-smoke", "--agent", "grpo", "--env", "textenvs/Translation-v0",
                        "--env-kwargs", json.dumps(env_kwargs), "--warm-start", "default",
                        "--ppo", '{"num_envs": 8, "num_generations": 4, "beta": 0.04}', "--iterations", "2",
                        "--eval-every", "1", "--seeds", "0", "--eval-examples", "8", "--eval-batch", "8",
                        "--eval-scorer", "bleu", "--no-kl", "--runs", str(tmp_path / "runs"),
                        "--results", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "rm-smoke.json").read_text())
    assert results["reward_scorer"]["name"] == "reward_model" and results["reward_metrics"] == ["reward_model"]
    run = results["ppo"][0]
    assert [point["iteration"] for point in run["curve"]] == [1, 2]
    assert run["curve"][-1]["corpus_bleu"] == run["corpus_bleu"]
    assert all({"corpus_bleu", "mean_reward", "mean_length", "measures"} <= set(point) for point in run["curve"])
    # The gold-vs-proxy table starts at the warm start; a second seed run in parallel merges into the same file.
    curve = load(ROOT / "benchmarks" / "learning" / "reward_model_curve.py", "reward_model_curve")
    rows = curve.curve_rows(results)
    assert [row["iteration"] for row in rows] == [0, 1, 2] and rows[0]["kl"] == 0.0
    assert rows[0]["proxy"] == results["warm_start"]["mean_reward"] and rows[2]["bleu"] == run["corpus_bleu"]
    assert curve.markdown(rows).count("\n") == 4
    other = json.loads(json.dumps(results))
    other["ppo"][0]["seed"], other["seeds"] = 1, [1]
    merged = curve.merge_seeds(results, [other])
    assert [run["seed"] for run in merged["ppo"]] == [0, 1] and len(merged["commands"]) == 2
    assert merged["summary"]["ppo_mean"] == pytest.approx(run["corpus_bleu"])
    with pytest.raises(ValueError, match="in both files"):
        curve.merge_seeds(merged, [other])
    curve.plot(curve.curve_rows(merged), tmp_path / "curve.png", "test")
    assert (tmp_path / "curve.png").stat().st_size > 0
