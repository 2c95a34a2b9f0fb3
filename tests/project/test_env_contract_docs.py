"""The env contract is written once (``textenvs/tasks/manual.py``), every single-turn env's manual ends with it, and
the code's docstrings and the docs link to it instead of restating it."""

from __future__ import annotations

from pathlib import Path

import pytest

import textenvs
from textenvs.tasks.manual import COMMON_MANUAL

ROOT = Path(__file__).resolve().parents[2]
# Sentences only the contract states: each says what the env does in a case the other parts do not decide.
CONTRACT_SENTENCES = ("its action is ignored (neither checked nor masked)",
                      "restarts the masked sub-envs",
                      "an action is the id of the next token")


def _documents() -> list[Path]:
    return [*sorted((ROOT / "textenvs").rglob("*.py")), *sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("sentence", CONTRACT_SENTENCES)
def test_the_contract_is_written_in_one_place(sentence):
    def flat(path: Path) -> str:  # the manual wraps its lines; compare words, not line breaks
        return " ".join(path.read_text(encoding="utf-8").split())

    assert [path.relative_to(ROOT).as_posix() for path in _documents()
            if sentence in flat(path)] == ["textenvs/tasks/manual.py"]


@pytest.mark.parametrize("env_id", [env_id for env_id in textenvs.ENV_IDS if "MultiTurn" not in env_id])
def test_every_single_turn_manual_ends_with_the_contract(env_id):
    single = textenvs.env_class(env_id)
    assert COMMON_MANUAL in single.__doc__
