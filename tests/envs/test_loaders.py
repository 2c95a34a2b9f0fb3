"""Dataset loaders on files the tests write and on the real data in ../shared/data."""

from __future__ import annotations

import csv
import gzip
import json

import gymnasium as gym
import numpy as np
import pytest

import textenvs
from textenvs.data.loaders import resolve_dataset
from textenvs.tasks.dialogue import DIALOGUE
from textenvs.tasks.summarization import SUMMARIZATION
from textenvs.tasks.translation import TRANSLATION


def test_multi30k_aligned_files(shared_data):
    directory = shared_data / "multi30k"
    train = resolve_dataset(TRANSLATION, directory, "train", None, ("de", "en"))
    assert len(train) == 29_000
    validation = resolve_dataset(TRANSLATION, directory, "validation", None, ("de", "en"))
    test = resolve_dataset(TRANSLATION, directory, "test", None, ("de", "en"))
    assert (len(validation), len(test)) == (1_014, 1_000)
    assert validation[0].prompt == "Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen"
    assert validation[0].references == ("A group of men are loading cotton onto a truck",)
    reverse = resolve_dataset(TRANSLATION, directory, "validation", None, ("en", "de"))
    assert reverse[0].prompt == validation[0].references[0]


def test_multi30k_directory_without_languages_explains(shared_data):
    with pytest.raises(ValueError, match="dataset_languages"):
        resolve_dataset(TRANSLATION, shared_data / "multi30k", "train")


def test_samsum_and_dailydialog_jsonl_gz(shared_data):
    samsum = resolve_dataset(SUMMARIZATION, shared_data / "samsum", "validation")
    assert len(samsum) == 818 and samsum[0].id == "13817023"
    dialogue = resolve_dataset(DIALOGUE, shared_data / "dailydialog", "test")
    assert len(dialogue) == 6_740
    first = dialogue[0]
    assert "\n" not in first.prompt or len(first.prompt.split("\n")) <= 5
    second = next(e for e in dialogue if e.id.endswith("t02"))
    assert len(second.prompt.split("\n")) == 2  # two context turns, one per line


@pytest.mark.parametrize("env_id, directory, extra", [
    ("textenvs/Translation-v0", "multi30k", {"dataset_languages": ("de", "en")}),
    ("textenvs/Summarization-v0", "samsum", {}),
    ("textenvs/Dialogue-v0", "dailydialog", {}),
])
def test_each_env_runs_on_its_real_dataset(shared_data, env_id, directory, extra):
    env = gym.make_vec(env_id, num_envs=2, dataset=str(shared_data / directory), split="validation",
                       max_new_tokens=4, **extra)
    env.reset(seed=0)
    for _ in range(4):
        _, reward, terminated, truncated, info = env.step(np.array([5, 6]))
    assert terminated.all() and not truncated.any() and list(info["finish_reason"]) == ["length", "length"]
    assert set(info["metrics"]) >= {env.unwrapped.task.scorer.primary}
    assert np.isfinite(reward).all()


def test_jsonl_csv_with_field_mapping_and_errors(tmp_path):
    rows = [{"uid": "a", "text": "the cat sleeps", "gold": ["a cat sleeps", "the cat is asleep"]},
            {"uid": "b", "text": "a dog runs", "gold": "a dog is running"}]
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    fields = {"prompt": "text", "reference": "gold", "id": "uid"}
    dataset = resolve_dataset(SUMMARIZATION, path, "train", fields)
    assert [e.id for e in dataset] == ["a", "b"]
    assert dataset[0].references == ("a cat sleeps", "the cat is asleep")

    csv_path = tmp_path / "data.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["source", "target"])
        writer.writeheader()
        writer.writerows([{"source": "ein hund", "target": "a dog"}, {"source": "eine katze", "target": "a cat"}])
    dataset = resolve_dataset(TRANSLATION, csv_path, "train")
    assert [e.id for e in dataset] == ["train-1", "train-2"] and dataset[1].references == ("a cat",)

    with pytest.raises(KeyError, match=r"data.jsonl.gz, row 1: missing field 'document'"):
        resolve_dataset(SUMMARIZATION, path, "train")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"document": "x", "summary": "y"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl, line 2: invalid JSON"):
        resolve_dataset(SUMMARIZATION, bad, "train")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no rows"):
        resolve_dataset(SUMMARIZATION, empty, "train")
    with pytest.raises(TypeError, match=r"Unknown dataset_fields key\(s\): 'promt' \(did you mean 'prompt'\?\)"):
        resolve_dataset(SUMMARIZATION, path, "train", {"promt": "text"})


def test_hf_datasets_objects_and_saved_dirs(tmp_path):
    datasets = pytest.importorskip("datasets")
    data = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"context": [["hi", "hello"], ["bye"]], "response": ["how are you", "ok"]}),
        "validation": datasets.Dataset.from_dict({"context": [["yes"]], "response": ["no"]}),
    })
    dataset = resolve_dataset(DIALOGUE, data, "train")
    assert dataset[0].prompt == "hi\nhello" and dataset[1].references == ("ok",)
    data.save_to_disk(str(tmp_path / "saved"))
    saved = resolve_dataset(DIALOGUE, tmp_path / "saved", "validation")
    assert saved[0].prompt == "yes"
    with pytest.raises(KeyError, match="no split 'test'"):
        resolve_dataset(DIALOGUE, data, "test")


def test_load_env_dataset_and_scorer_without_tokenizer():
    dataset = textenvs.load_env_dataset("textenvs/Summarization-v0", "test")
    assert dataset.split == "test" and len(dataset) > 0
    assert textenvs.load_env_scorer("textenvs/Summarization-v0").primary == "rougeL"
    assert textenvs.load_env_scorer("textenvs/Dialogue-v0", scorer="chrf").name == "chrf"
