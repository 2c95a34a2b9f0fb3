"""No function of the packages (``textenvs``, ``agents``, ``leaderboard``) is longer than 60 lines, counted from its
``def`` line to its last line (docstring included; nested functions count on their own too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("textenvs", "agents", "leaderboard")
MAX_LINES = 60
NOT_YET_SPLIT: dict[str, str] = {}
"""Known exceptions, each with why it is not split yet; an entry that no longer applies is simply unused."""


def long_functions() -> dict[str, int]:
    """``path:name`` → lines of every function over :data:`MAX_LINES` in the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES:
                        found[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines():
    too_long = {name: lines for name, lines in long_functions().items() if name not in NOT_YET_SPLIT}
    assert not too_long, f"functions over {MAX_LINES} lines (split them into named steps): {too_long}"
