"""Every Python block of README.md runs as written, so the docs cannot drift from the code.

The blocks name stand-ins for the reader's own files (``path/to/local/tokenizer``, ``path/to/chat/tokenizer``,
``path/to/causal-lm``); here they become real local ones: the built-in tokenizer saved to a directory, the same with
a chat template, and a tiny randomly initialized causal LM. ``../shared/data/samsum`` is the real SAMSum beside the
checkout (skipped where it is absent). Printed lines the README quotes are checked too.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.helpers import chat_tokenizer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    from agents.models import build_causal_lm
    from textenvs.data.tokenizer import load_builtin_tokenizer

    root = tmp_path_factory.mktemp("readme")
    load_builtin_tokenizer().save_pretrained(str(root / "tokenizer"))
    chat_tokenizer().save_pretrained(str(root / "chat-tokenizer"))
    tokenizer = load_builtin_tokenizer()
    build_causal_lm(tokenizer, "tiny", n_layer=1).save_pretrained(str(root / "causal-lm"))
    tokenizer.save_pretrained(str(root / "causal-lm"))
    return {"path/to/local/tokenizer": str(root / "tokenizer"), "path/to/chat/tokenizer": str(root / "chat-tokenizer"),
            "path/to/causal-lm": str(root / "causal-lm")}


def test_the_readme_has_the_python_blocks_this_test_runs():
    blocks = python_blocks()
    assert len(blocks) == 2 and "gym.make(\"textenvs/Translation-v0\")" in blocks[0]
    assert "MultiTurnDialogue-v0" in blocks[1]


@pytest.mark.parametrize("index", [0, 1])
def test_readme_python_block_runs_as_written(index, stand_ins, request):
    code = python_blocks()[index]
    if "../shared/data/samsum" in code:
        shared_data = request.getfixturevalue("shared_data")  # skips where the real data is absent
        code = code.replace("../shared/data/samsum", str(shared_data / "samsum"))
    for stand_in, path in stand_ins.items():
        code = code.replace(stand_in, path)
    assert "path/to/" not in code, "a stand-in this test does not provide"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    lines = output.getvalue().splitlines()
    if index == 1:  # the multi-turn example quotes what it prints
        assert lines[0] == "user: i would like to book a table for a party of 6 ."
        assert lines[-1].startswith("goal_met 1.0 {'goal_score': 1.0")
