"""benchmarks/learning/v2_errors.py: the per-role error breakdown of v2 predictions, on a hand-made bench directory
whose predictions are built from the real test split (a valid output, one with the city taken from the document's
distractor, one with two roles swapped, one with a role dropped, one outside the grammar)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.learning import v2_errors
from textenvs import load_env_dataset
from textenvs.data.generators.frames import grammar

ENV = "textenvs/SyntheticSummarization-v2"


def readings(example, text: str) -> list[dict[str, str]]:
    return grammar(example.metadata["grammar"]).parse(text)


def first_example_with_a_city_distractor():
    """A test example whose document names another city that the grammar reads as the summary's city."""
    for example in load_env_dataset(ENV, "test"):
        roles, canonical = example.metadata["roles"], example.metadata["canonical"]
        if "city" not in roles or canonical.split().count(roles["city"]) != 1:
            continue
        for word in dict.fromkeys(example.prompt.split()):
            swapped = " ".join(word if token == roles["city"] else token for token in canonical.split())
            if word != roles["city"] and any(reading.get("city") == word for reading in readings(example, swapped)):
                return example, swapped
    pytest.skip("no test example with a city distractor in the document")


def write_bench_dir(root: Path, predictions: list[tuple[str, str]]) -> Path:
    (root / "runs").mkdir(parents=True)
    (root / "predictions").mkdir()
    run = {"env": {"id": ENV, "kwargs": {}}, "agent": {"name": "ppo"},
           "predictions_path": "predictions/SyntheticSummarization-v2__ppo__seed0.jsonl"}
    (root / "runs" / "SyntheticSummarization-v2__ppo__seed0.json").write_text(json.dumps(run))
    (root / run["predictions_path"]).write_text(
        "".join(json.dumps({"id": example_id, "prediction": text}) + "\n" for example_id, text in predictions))
    return root


def test_each_kind_of_error_is_counted_where_it_happens(tmp_path):
    example, swapped = first_example_with_a_city_distractor()
    roles, canonical = example.metadata["roles"], example.metadata["canonical"]
    dropped = canonical.replace(f" in {roles['city']}", "")
    predictions = [(example.id, canonical), (example.id, swapped), (example.id, dropped),
                   (example.id, " ".join(roles.values()))]
    counts = v2_errors.count_errors(write_bench_dir(tmp_path / "bench", predictions))[ENV]["ppo"].summary()

    assert counts["outputs"] == 4 and counts["perfect"] == pytest.approx(1 / 4)
    kinds = counts["by_kind"]
    assert kinds[v2_errors.DISTRACTOR] == pytest.approx(1 / 4)  # the distractor city
    assert kinds[v2_errors.UNGRAMMATICAL] >= 1 / 4  # a bare list of the values
    if any("city" not in reading for reading in readings(example, dropped)):
        assert kinds[v2_errors.MISSING] == pytest.approx(1 / 4)
    else:  # the grammar does not read it: ungrammatical too
        assert kinds[v2_errors.UNGRAMMATICAL] == pytest.approx(2 / 4)
    # The city is wrong in the distractor output, the dropped one (if it parses) and the ungrammatical one.
    assert counts["by_role"]["city"] >= 2 / 4


def test_error_kind_separates_binding_distractor_and_other_errors():
    gold = {"person": "omar", "city": "naples"}
    prompt = "omar baked 2 loaves . sara was in athens ."
    assert v2_errors.error_kind(None, gold, prompt) == v2_errors.MISSING
    assert v2_errors.error_kind("omar", gold, prompt) == v2_errors.OTHER_ROLE
    assert v2_errors.error_kind("athens", gold, prompt) == v2_errors.DISTRACTOR
    assert v2_errors.error_kind("rome", gold, prompt) == v2_errors.ELSEWHERE


def test_a_directory_without_v2_runs_is_refused(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit):
        v2_errors.main([str(tmp_path)])
    assert "no v2 runs" in capsys.readouterr().err
