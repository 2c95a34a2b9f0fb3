"""A budget per env: one bench over tasks that learn at different speeds gives each its own number of env steps
(``--budget '{"textenvs/SyntheticTranslation-v2": 20000, "textenvs/SyntheticSummarization-v2": 200000}'``)."""

from __future__ import annotations

import json

import pytest

from agents.bench import cli
from agents.bench.results import load_results
from agents.bench.runner import plan

TRANSLATION = "textenvs/SyntheticTranslation-v2"
SUMMARIZATION = "textenvs/SyntheticSummarization-v2"


def test_each_env_gets_its_own_budget():
    specs = plan([TRANSLATION, SUMMARIZATION], ["random"], [0, 1], {TRANSLATION: 20, SUMMARIZATION: 200})
    assert {(spec.env_id, spec.budget) for spec in specs} == {(TRANSLATION, 20), (SUMMARIZATION, 200)}
    assert [spec.budget for spec in plan([TRANSLATION, SUMMARIZATION], ["random"], [0], 30)] == [30, 30]


@pytest.mark.parametrize("budget, message", [
    ({TRANSLATION: 20}, f"missing ['{SUMMARIZATION}']"),
    ({TRANSLATION: 20, SUMMARIZATION: 20, "textenvs/SyntheticDialogue-v2": 20},
     "not benchmarked ['textenvs/SyntheticDialogue-v2']"),
    ({TRANSLATION: 20, SUMMARIZATION: -1},
     f"budget must be >= 0 env steps (a whole number), got -1 for {SUMMARIZATION}"),
    ({TRANSLATION: 20, SUMMARIZATION: 2.5}, "got 2.5"),
])
def test_a_budget_per_env_must_name_each_env_once_with_a_whole_number(budget, message):
    with pytest.raises(ValueError) as error:
        plan([TRANSLATION, SUMMARIZATION], ["random"], [0], budget)
    assert message in str(error.value)


def test_the_cli_takes_a_json_budget_per_env_and_records_it_per_run(tmp_path, capsys):
    budget = {TRANSLATION: 0, SUMMARIZATION: 3}
    assert cli.main(["--envs", f"{TRANSLATION},{SUMMARIZATION}", "--agents", "random", "--budget", json.dumps(budget),
                     "--eval-examples", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "budget SyntheticTranslation-v2 0, SyntheticSummarization-v2 3 env steps" in capsys.readouterr().out
    assert {result.env.id: result.budget_env_steps for result in load_results(tmp_path)} == budget
    assert cli.main(["--envs", TRANSLATION, "--agents", "random", "--budget", "lots",
                     "--out", str(tmp_path / "x")]) == 2
    assert ("expected a whole number of env steps or a JSON object of env id -> env steps, got 'lots'"
            in capsys.readouterr().err)
