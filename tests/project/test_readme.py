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

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    """The Python blocks outside "Use with TRL / OpenEnv" (tests/project/test_readme_integrations.py runs those)."""
    text = re.sub(r"\n## Use with TRL / OpenEnv\n.*?(?=\n## )", "\n", README.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


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


def readme_commands() -> list[list[str]]:
    """Every ``textenvs ...`` command of the README's bash blocks (continuation lines joined; a command after
    ``&&`` or ``-m`` taken from its ``textenvs``), as argument lists without the program name."""
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "textenvs" in words:
                commands.append(words[words.index("textenvs") + 1:])
    return commands


def parse_readme_command(arguments: list[str]) -> None:
    """Parse ``arguments`` with the parser of the subcommand they name (and, for ``train ppo`` / ``train grpo``,
    build and check the config): a flag or value the code no longer accepts fails here."""
    from agents.bench.cli import build_parser as bench_parser
    from agents.grpo.config import GRPOConfig
    from agents.ppo.cli import build_parser, parse_config
    from agents.ppo.config import PPOConfig
    from agents.sft.cli import build_parser as sft_parser
    from leaderboard.cli import build_parser as leaderboard_parser

    command, rest = arguments[0], arguments[1:]
    if command == "train" and rest[0] in ("ppo", "grpo"):
        config_class = PPOConfig if rest[0] == "ppo" else GRPOConfig
        assert parse_config(build_parser(config_class), rest[1:], config_class) is not None, arguments
    elif command == "train":
        assert rest[0] == "sft", arguments
        sft_parser().parse_args(rest[1:])
    elif command == "bench":
        bench_parser().parse_args(rest)
    elif command == "leaderboard":
        leaderboard_parser().parse_args(rest)
    else:
        from textenvs.cli import SUBCOMMANDS

        assert command in SUBCOMMANDS, f"README names an unknown command: textenvs {command}"


def assert_flags_exist(arguments: list[str]) -> None:
    from agents.grpo.config import GRPOConfig
    from agents.ppo.cli import build_parser
    from agents.ppo.config import PPOConfig

    assert arguments[:1] == ["train"] and arguments[1] in ("ppo", "grpo"), f"elided command: {arguments}"
    known = build_parser(PPOConfig if arguments[1] == "ppo" else GRPOConfig)._option_string_actions
    unknown = [word for word in arguments if word.startswith("--") and word not in known]
    assert not unknown, f"README command uses flags textenvs train {arguments[1]} does not have: {unknown}"


def test_every_textenvs_command_of_the_readme_parses():
    """The README's shell commands (too long to run in the suite: trainings, a server) are checked against the
    parsers and configs they go to, so a renamed or removed flag, or a value a config refuses, fails here."""
    commands = readme_commands()
    assert {tuple(command[:2]) for command in commands} >= {("train", "sft"), ("train", "ppo"), ("train", "grpo"),
                                                          ("bench", "--quick"), ("leaderboard", "serve")}
    for arguments in commands:
        if "..." in arguments:  # an elided command ("the rest as above"): each flag it names must exist
            assert_flags_exist(arguments)
            continue
        try:
            parse_readme_command(arguments)
        except SystemExit as error:  # argparse's way of refusing
            raise AssertionError(f"README command does not parse: textenvs {' '.join(arguments)}") from error
