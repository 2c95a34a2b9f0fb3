"""Which content the v2 benchmark tasks' agents get wrong: for every (env, agent) of a ``textenvs bench`` results
directory, each greedy test prediction is parsed with its task's frame grammar and compared with the example's gold
roles (the reading that gets most roles right, as ``synthetic_gold`` scores it). A wrong role is counted by role and
by kind:

- ``missing``: the output states no value for the role;
- ``other role's value``: the value of another gold role (a binding error: who did what to whom swapped);
- ``distractor from the source``: a word of the prompt that is not the gold value (the wrong one of two cities, say);
- ``elsewhere``: any other value (a synonym, a value invented or taken from nowhere in the prompt).

Plus ``invented role`` (a role the gold output does not have) and ``ungrammatical`` (no reading at all).

    python benchmarks/learning/v2_errors.py results/quick            # a table per env; --json FILE writes them

It reads ``runs/*.json`` (env, agent, predictions path) and the test split the predictions answer; nothing is
trained or decoded.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

MISSING, OTHER_ROLE, DISTRACTOR, ELSEWHERE = "missing", "other role's value", "distractor from the source", "elsewhere"
INVENTED, UNGRAMMATICAL = "invented role", "ungrammatical"
KINDS = (MISSING, OTHER_ROLE, DISTRACTOR, ELSEWHERE, INVENTED, UNGRAMMATICAL)


@dataclass
class ErrorCounts:
    """Errors of one (env, agent) over its seeds' predictions; per output means come from ``outputs``."""

    outputs: int = 0
    perfect: int = 0
    by_role: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)

    def add(self, prediction: str, prompt: str, gold: Mapping[str, str], readings: Sequence[Mapping[str, str]]) -> None:
        self.outputs += 1
        if not readings:
            self.by_kind[UNGRAMMATICAL] += 1
            self.by_role.update(list(gold))
            return
        bound = max(readings, key=lambda reading: sum(reading.get(role) == value for role, value in gold.items()))
        wrong = [role for role, value in gold.items() if bound.get(role) != value]
        invented = [role for role in bound if role not in gold]
        self.perfect += not wrong and not invented
        self.by_role.update(wrong)
        self.by_kind.update(error_kind(bound.get(role), gold, prompt) for role in wrong)
        self.by_kind[INVENTED] += len(invented)

    def summary(self) -> dict[str, Any]:
        per_output = max(self.outputs, 1)
        return {"outputs": self.outputs, "perfect": self.perfect / per_output,
                "wrong_roles_per_output": sum(self.by_role.values()) / per_output,
                "by_role": {role: count / per_output for role, count in self.by_role.most_common()},
                "by_kind": {kind: self.by_kind[kind] / per_output for kind in KINDS}}


def error_kind(stated: str | None, gold: Mapping[str, str], prompt: str) -> str:
    """The kind of one wrong role, given the value the output states for it (None: not stated)."""
    if stated is None:
        return MISSING
    if stated in gold.values():
        return OTHER_ROLE
    if stated in prompt.lower().split():
        return DISTRACTOR
    return ELSEWHERE


def count_errors(results_dir: str | Path) -> dict[str, dict[str, ErrorCounts]]:
    """``{env id: {agent: ErrorCounts}}`` over every run of ``results_dir`` whose env has a frame grammar."""
    from textenvs import load_env_dataset
    from textenvs.data.generators.frames import grammar

    results_dir = Path(results_dir)
    counts: dict[str, dict[str, ErrorCounts]] = defaultdict(lambda: defaultdict(ErrorCounts))
    splits: dict[tuple[str, str], dict[str, Any]] = {}
    for run_file in sorted((results_dir / "runs").glob("*.json")):
        run = json.loads(run_file.read_text())
        env_id, kwargs = run["env"]["id"], {k: v for k, v in run["env"].get("kwargs", {}).items() if k != "split"}
        key = (env_id, json.dumps(kwargs, sort_keys=True))
        if key not in splits:
            splits[key] = {example.id: example for example in load_env_dataset(env_id, "test", **kwargs)}
        for line in (results_dir / run["predictions_path"]).read_text().splitlines():
            record = json.loads(line)
            example = splits[key][record["id"]]
            if "grammar" not in example.metadata:
                break  # not a v2 task: nothing to parse
            parse = grammar(example.metadata["grammar"]).parse
            counts[env_id][run["agent"]["name"]].add(record["prediction"], example.prompt,
                                                      example.metadata["roles"], parse(record["prediction"]))
    return counts


def format_table(env_id: str, agents: Mapping[str, ErrorCounts]) -> str:
    """A markdown table: per agent the share of perfect outputs, wrong roles per output, and each kind per output."""
    lines = [f"{env_id}", "", "| agent | outputs | perfect | wrong roles / output | by role | "
             + " | ".join(KINDS) + " |", "|---" * (5 + len(KINDS)) + "|"]
    for agent, errors in agents.items():
        summary = errors.summary()
        roles = ", ".join(f"{role} {share:.2f}" for role, share in summary["by_role"].items() if share >= 0.005)
        lines.append(f"| {agent} | {summary['outputs']} | {summary['perfect']:.3f} | "
                     f"{summary['wrong_roles_per_output']:.3f} | {roles} | "
                     + " | ".join(f"{summary['by_kind'][kind]:.3f}" for kind in KINDS) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=Path, help="a textenvs bench --out directory")
    parser.add_argument("--json", type=Path, help="also write the counts as JSON here")
    args = parser.parse_args(argv)
    counts = count_errors(args.results_dir)
    if not counts:
        parser.error(f"no v2 runs (frame-grammar tasks) with predictions in {args.results_dir}")
    for env_id, agents in counts.items():
        print(format_table(env_id, agents) + "\n")
    if args.json:
        args.json.write_text(json.dumps({env: {agent: errors.summary() for agent, errors in agents.items()}
                                         for env, agents in counts.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
