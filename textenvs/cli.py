"""The ``textenvs`` command. Each subcommand lives with the package it drives and is imported only when used,
so ``import textenvs`` never pulls in agents or the leaderboard server."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("agents.cli", "train a policy: `textenvs train sft|ppo|grpo --env ID --out DIR ...`"),
    "bench": ("agents.bench.cli", "run envs x agents x seeds and rank them: `textenvs bench --envs ... --agents ...`"),
    "leaderboard": ("leaderboard.cli", "serve, submit to and administer the leaderboard"),
    "serve-openenv": ("textenvs.integrations.openenv",
                      "serve an env as an OpenEnv environment: `textenvs serve-openenv --env ID [--port N]`"),
}


def main(argv: list[str] | None = None) -> int:
    """Run ``textenvs <command> [args]`` (``argv`` defaults to ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-V", "--version"):
        from textenvs import __version__

        print(f"textenvs {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        lines = [f"  {name:<12} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
        print("usage: textenvs [--version] <command> [args]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\ntextenvs: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
