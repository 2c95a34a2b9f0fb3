"""The README's "Use with TRL / OpenEnv" section runs as written (at its small sizes): TRL's GRPOTrainer over a
tiny causal LM standing in for ``path/to/causal-lm``, the multi-turn TRL environment, and OpenEnv's client against
the real server on a free loopback port standing in for ``127.0.0.1:8000``. Printed lines the README quotes in
comments are checked."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "Use with TRL / OpenEnv"


def section_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"\n## {re.escape(SECTION)}\n(.*?)(?=\n## )", text, flags=re.S)
    assert match, f"README.md has no '## {SECTION}' section"
    return re.findall(r"```python\n(.*?)```", match.group(1), flags=re.S)


def run_block(code: str) -> list[str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, f"README.md '{SECTION}' block", "exec"), {"__name__": "readme"})
    return output.getvalue().splitlines()


def quoted(code: str) -> list[str]:
    """The outputs the README quotes: ``print(...)  # <text>`` comments, in order."""
    return [m.group(1) for m in re.finditer(r"print\(.*\)\s+# (.+)$", code, flags=re.M)]


def test_the_section_has_three_python_blocks():
    blocks = section_blocks()
    assert len(blocks) == 3
    assert "GRPOTrainer" in blocks[0] and "MultiTurnDialogueEnvironment" in blocks[1] and "TextEnvsClient" in blocks[2]


def test_trl_block_runs(tmp_path, monkeypatch):
    pytest.importorskip("trl", reason="TRL is not installed (pip install 'textenvs[trl]')")
    from agents.models import build_causal_lm
    from textenvs.data.tokenizer import load_builtin_tokenizer

    tokenizer = load_builtin_tokenizer()
    model_dir = tmp_path / "causal-lm"
    build_causal_lm(tokenizer, "tiny", n_layer=1).save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    monkeypatch.chdir(tmp_path)  # the block writes runs/trl-grpo
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the small run stays on CPU wherever the suite runs
    code = section_blocks()[0].replace("path/to/causal-lm", str(model_dir))
    lines = run_block(code)
    assert "# [1.0, 1.0]" in code and lines[0] == "[1.0, 1.0]"  # the reward quoted under the two-line print
    assert (tmp_path / "runs" / "trl-grpo").is_dir()


def test_environment_block_runs():
    code = section_blocks()[1]
    lines = run_block(code)
    assert lines[0] == quoted(code)[0]
    assert lines[1] and 0.0 <= float(lines[2]) <= 1.0


def test_openenv_block_runs_against_the_server():
    pytest.importorskip("openenv", reason="OpenEnv is not installed (pip install 'textenvs[openenv]')")
    from tests.integrations.test_openenv_integration import running_server

    code = section_blocks()[2]
    with running_server("textenvs/MultiTurnDialogue-v0", max_sessions=2) as url:
        lines = run_block(code.replace("http://127.0.0.1:8000", url))
    assert lines[0] == quoted(code)[0]
    reply, reward, done = lines[1].rsplit(" ", 2)
    assert reply and float(reward) == 0.0 and done == "False"
    assert int(lines[2]) > 0
