"""Can the tiny v2 warm-start model bind roles at all? SFT on *correct* demonstrations (issue 23 follow-up).

RL from the medium v2 warm starts removes word-choice errors and omissions but not binding errors (``v2_errors.py``:
summarization's city / beneficiary taken from the document's distractor, dialogue's swapped roles). Either the tiny
GPT-2 cannot represent which source entity fills which role (capacity), or it can but the warm start rarely samples
the right binding, so RL's groups hold no reward difference to learn from (exploration / credit). This probe measures
both sides:

1. **Gold-demonstration SFT**: the shipped warm start's recipe exactly (its ``training_config.json``, written by
   ``scripts/train_warm_starts.py``: same model size and initialization seed, settings and step count, one pair per
   train example; ``--steps`` trains longer, as a separate entry) but each train
   pair's reference is the example's gold output (``metadata["valid"]``) instead of its imperfect demonstration: the
   valid output in the demonstration's own frame when the gold roles can be stated in it, else the canonical one. So
   only the content differs, not the frame mixture. Then greedy on the whole ``test`` and ``test_compositional``
   splits: ``synthetic_gold`` and the ``v2_errors.py`` breakdown (by role, by kind, and by role × kind), beside the
   shipped warm start's (decoded here the same way) and the RL agents' (``results/v2-medium-errors.json`` and the
   ``results/v2-medium-<task>-<agent>.json`` gold means, 3 seeds).
2. **Sampling coverage of the shipped warm start**: ``--samples`` outputs per prompt at temperature 1 (RL's
   temperature) on the first ``--coverage-examples`` test examples; per role, the share of samples that state it
   right and pass@k (unbiased estimate: at least one of k samples right) for k = 1, 4 (RL's group size), 8. The same
   for the gold-SFT model beside it.

    OMP_NUM_THREADS=1 python benchmarks/learning/v2_gold_sft_probe.py --task summarization --task dialogue \\
        --task translation --json benchmarks/learning/results/v2-medium-gold-sft-probe.json
    # longer gold SFT (separate entries): is a residual error capacity or the warm start's step count?
    OMP_NUM_THREADS=1 python benchmarks/learning/v2_gold_sft_probe.py --task dialogue --steps 1600 --json ...
    OMP_NUM_THREADS=1 python benchmarks/learning/v2_gold_sft_probe.py --task summarization --steps 3000 --json ...
    python benchmarks/learning/v2_gold_sft_probe.py --tables --json ...     # the README's tables

Each task's entry is merged into ``--json`` as soon as it is measured (run tasks one at a time if you like). The
trained weights go to ``--out`` (default ``runs/v2-gold-sft-probe``, git-ignored), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS = REPOSITORY / "benchmarks" / "learning" / "results"
ENVS = {"summarization": "textenvs/SyntheticSummarization-v2", "dialogue": "textenvs/SyntheticDialogue-v2",
        "translation": "textenvs/SyntheticTranslation-v2"}
RL_AGENTS = ("ppo", "grpo", "rloo", "dr-grpo")
PASS_K = (1, 4, 8)
_PROBE = "OMP_NUM_THREADS=1 python benchmarks/learning/v2_gold_sft_probe.py"
_JSON = "--json benchmarks/learning/results/v2-medium-gold-sft-probe.json"
COMMAND = (f"{_PROBE} --task summarization --task dialogue --task translation {_JSON} && "
           f"{_PROBE} --task dialogue --steps 1600 {_JSON} && {_PROBE} --task summarization --steps 3000 {_JSON}")
"""How the results file is made (each entry also records its own invocation)."""

if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from benchmarks.learning.v2_errors import DISTRACTOR, OTHER_ROLE, ErrorCounts, error_kind  # noqa: E402


# ----------------------------------------------------------------------------------------------- gold references
def demonstration_frame(grammar_, reference: str) -> int | None:
    """The frame index the demonstration ``reference`` is written in (None: outside the grammar)."""
    for reading in grammar_.parse(reference):
        for frame in range(len(grammar_.frames)):
            try:
                if grammar_.render(frame, reading) == reference:
                    return frame
            except ValueError:
                continue
    return None


def gold_reference(example) -> tuple[str, bool]:
    """The example's gold output in its demonstration's frame when the gold roles fit that frame, else the canonical
    one; and whether the frame was kept."""
    from textenvs.data.generators.frames import grammar

    grammar_ = grammar(example.metadata["grammar"])
    frame = demonstration_frame(grammar_, example.references[0])
    if frame is not None:
        try:
            return grammar_.render(frame, example.metadata["roles"]), True
        except ValueError:
            pass
    return example.metadata["canonical"], False


def gold_references(examples: Sequence) -> tuple[list[str], dict[str, float]]:
    """One gold reference per example, and how the set differs from the demonstrations."""
    references, kept, changed = [], 0, 0
    for example in examples:
        reference, same_frame = gold_reference(example)
        references.append(reference)
        kept += same_frame
        changed += reference != example.references[0]
    return references, {"examples": len(examples), "demonstration_frame_kept": kept / len(examples),
                        "demonstrations_changed": changed / len(examples)}


def gold_pairs(task, references: Sequence[str]):
    """The task's (prompt, reference) training pairs with ``references`` as the targets (one per example)."""
    from agents.sft.trainer import encode_pairs
    from textenvs.data.dataset import Example, TextDataset

    dataset = TextDataset([Example(example.id, example.prompt, (reference,), example.metadata)
                           for example, reference in zip(task.dataset, references)], task.dataset.name, "train")
    view = types.SimpleNamespace(dataset=dataset, encode_prompt=task.encode_prompt, tokenizer=task.tokenizer,
                                 max_new_tokens=task.max_new_tokens, pad_token_id=task.pad_token_id,
                                 eos_token_id=task.eos_token_id)
    return encode_pairs(view, all_references=False)


# ------------------------------------------------------------------------------------------------- error counts
def bound_reading(readings: Sequence[Mapping[str, str]], gold: Mapping[str, str]) -> Mapping[str, str] | None:
    """The reading that gets most gold roles right (as ``v2_errors.ErrorCounts`` and ``synthetic_gold`` pick it)."""
    if not readings:
        return None
    return max(readings, key=lambda reading: sum(reading.get(role) == value for role, value in gold.items()))


class RoleKindCounts(ErrorCounts):
    """``v2_errors.ErrorCounts`` plus each wrong role's kind per role (``city: distractor from the source``)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_role_kind: Counter = Counter()
        self.present: Counter = Counter()

    def add(self, prediction: str, prompt: str, gold: Mapping[str, str], readings) -> None:
        super().add(prediction, prompt, gold, readings)
        self.present.update(list(gold))
        bound = bound_reading(readings, gold)
        for role, value in gold.items():
            if bound is None:
                self.by_role_kind[(role, "ungrammatical")] += 1
            elif bound.get(role) != value:
                self.by_role_kind[(role, error_kind(bound.get(role), gold, prompt))] += 1

    def summary(self) -> dict[str, Any]:
        per_output = max(self.outputs, 1)
        role_kind: dict[str, dict[str, float]] = defaultdict(dict)
        for (role, kind), count in sorted(self.by_role_kind.items()):
            role_kind[role][kind] = count / per_output
        wrong_when_present = {role: sum(c for (r, _), c in self.by_role_kind.items() if r == role) / count
                              for role, count in self.present.most_common()}
        return {**super().summary(), "by_role_and_kind": dict(role_kind),
                "wrong_when_role_present": wrong_when_present}


def count_errors(predictions: Sequence[str], examples: Sequence) -> RoleKindCounts:
    """The error breakdown of ``predictions`` (one per example, same order)."""
    from textenvs.data.generators.frames import grammar

    counts = RoleKindCounts()
    for prediction, example in zip(predictions, examples, strict=True):
        parse = grammar(example.metadata["grammar"]).parse
        counts.add(prediction, example.prompt, example.metadata["roles"], parse(prediction))
    return counts


def value_order(example, role: str) -> str:
    """Where the role's gold value sits in the prompt against the role's other legal values: ``other value first``
    (a distractor, a correction's replaced value, the other place of a taxi, ... comes earlier: the trigger of most
    binding errors), ``gold value first``, or ``gold value not in prompt`` (translation's source language)."""
    from textenvs.data.generators.frames import grammar

    tokens = example.prompt.lower().split()
    value = example.metadata["roles"][role]
    if value not in tokens:
        return "gold value not in prompt"
    legal = grammar(example.metadata["grammar"]).values[role]
    first_other = next((i for i, token in enumerate(tokens) if token in legal and token != value), len(tokens))
    return "other value first" if first_other < tokens.index(value) else "gold value first"


def summarization_form(example, role: str) -> str | None:
    """For summarization's ``person`` and ``beneficiary``: the event's voice, and whether the beneficiary has its own
    sentence (``it was for tom .``): the triggers of the swap and the omission."""
    if example.metadata["grammar"] != "summarization-v2" or role not in ("person", "beneficiary"):
        return None
    lead = example.prompt.split(" . ")[0].split()
    voice = "passive" if "were" in lead else "active"
    return voice + (", own sentence" if "it was for" in example.prompt else "")


def wrong_by_trigger(predictions: Sequence[str], examples: Sequence, feature=value_order) -> dict[str, Any]:
    """Per gold role and per group of ``feature(example, role)`` (None: not counted): examples and the share whose
    prediction gets the role wrong."""
    from textenvs.data.generators.frames import grammar

    counts: dict[str, Counter] = defaultdict(Counter)
    for prediction, example in zip(predictions, examples, strict=True):
        gold = example.metadata["roles"]
        right = roles_right([bound_reading(grammar(example.metadata["grammar"]).parse(prediction), gold)], gold)
        for role in gold:
            group = feature(example, role)
            if group is not None:
                counts[role][(group, "examples")] += 1
                counts[role][(group, "wrong")] += not right[role]
    return {role: {group: {"examples": c[(group, "examples")], "wrong": c[(group, "wrong")] / c[(group, "examples")]}
                   for group, kind in sorted(c) if kind == "examples"} for role, c in counts.items()}


# --------------------------------------------------------------------------------------------- sampling coverage
def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples, drawn without replacement from n, is correct)."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} samples")
    if n - correct < k:
        return 1.0
    return 1.0 - math.comb(n - correct, k) / math.comb(n, k)


def role_coverage(samples: Sequence[Sequence[str]], examples: Sequence, ks: Sequence[int] = PASS_K,
                  greedy: Sequence[str] | None = None) -> dict[str, Any]:
    """Per gold role (and ``all roles``: a perfect output): the share of samples stating it right and the mean pass@k
    over the examples that have the role. ``samples[i]`` are the outputs sampled for ``examples[i]``. With the greedy
    outputs ``greedy[i]``, also the same restricted to the examples whose greedy output gets the role wrong
    (``where_greedy_wrong``): where the policy's mode is wrong, does a group of k samples hold a right one?"""
    from textenvs.data.generators.frames import grammar

    rows: dict[str, list[tuple[int, int]]] = defaultdict(list)  # role -> [(samples, right samples)] per example
    wrong_rows: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for index, (outputs, example) in enumerate(zip(samples, examples, strict=True)):
        gold, parse = example.metadata["roles"], grammar(example.metadata["grammar"]).parse
        right = roles_right([bound_reading(parse(output), gold) for output in outputs], gold)
        greedy_right = roles_right([bound_reading(parse(greedy[index]), gold)], gold) if greedy else None
        for role, count in right.items():
            rows[role].append((len(outputs), count))
            if greedy_right is not None and not greedy_right[role]:
                wrong_rows[role].append((len(outputs), count))
    result = {role: _coverage(role_rows, ks) for role, role_rows in rows.items()}
    if greedy is not None:
        for role in result:
            result[role]["where_greedy_wrong"] = _coverage(wrong_rows[role], ks)
    return result


def roles_right(bounds: Sequence[Mapping[str, str] | None], gold: Mapping[str, str]) -> dict[str, int]:
    """Per gold role, how many of the readings ``bounds`` state it right; ``all roles``: how many are perfect."""
    right = {role: sum(b is not None and b.get(role) == value for b in bounds) for role, value in gold.items()}
    return {**right, "all roles": sum(b is not None and dict(b) == dict(gold) for b in bounds)}


def _coverage(rows: Sequence[tuple[int, int]], ks: Sequence[int]) -> dict[str, float]:
    if not rows:
        return {"examples": 0}
    return {"examples": len(rows), "sample_right": sum(c for _, c in rows) / sum(n for n, _ in rows),
            **{f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in rows) / len(rows) for k in ks}}


# ------------------------------------------------------------------------------------------- training and decoding
def warm_start_recipe(task: str, level: str) -> tuple[Any, int]:
    """The shipped warm start's SFT settings (as its ``training_config.json`` records them: the ``BASE`` settings and
    ``V2_STEPS`` of ``scripts/train_warm_starts.py``) and its parameter count."""
    from agents.models import CHECKPOINTS_DIR
    from agents.sft import SFTConfig

    record = json.loads((CHECKPOINTS_DIR / f"{task}-v2-{level}" / "training_config.json").read_text())
    return SFTConfig(**record["sft"]), record["model"]["parameters"]


def make_env(env_id: str, split: str, level: str, tokenizer, num_envs: int = 64):
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", tokenizer=tokenizer,
                        split=split, autoreset_mode=AutoresetMode.DISABLED,
                        dataset_options={"level": level}).unwrapped


def train_gold_sft(task: str, level: str, out: Path, log, steps: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The warm start's recipe on gold references (``steps``: instead of the warm start's step count); returns the
    model and a record of what was trained."""
    import torch

    from agents.models import build_causal_lm
    from agents.sft import train_sft
    from textenvs.data.tokenizer import load_builtin_tokenizer

    shipped, parameters = warm_start_recipe(task, level)
    env_id, size = ENVS[task], "tiny"
    config = replace(shipped, max_steps=steps or shipped.max_steps,
                     output_dir=str(out / model_name(task, level, steps)))
    tokenizer = load_builtin_tokenizer()
    train_task = make_env(env_id, "train", level, tokenizer, num_envs=1).task
    references, changes = gold_references(list(train_task.dataset))
    pairs = gold_pairs(train_task, references)
    torch.manual_seed(config.seed)  # the warm start's initialization
    model = build_causal_lm(tokenizer, size)
    if model.num_parameters() != parameters:
        raise ValueError(f"a {size} model has {model.num_parameters()} parameters, the warm start {parameters}")
    started = time.process_time()
    model = train_sft(model, tokenizer, env_id, {"dataset_options": {"level": level}}, config, callback=log,
                      train_pairs=pairs)
    model.eval()
    record = {"warm_start_steps": shipped.max_steps, "steps": config.max_steps, "model_size": size,
              "parameters": model.num_parameters(), "batch_size": config.batch_size,
              "learning_rate": config.learning_rate,
              "warmup_steps": config.warmup_steps, "seed": config.seed, "train_pairs": len(pairs),
              "gold_references": changes, "training_cpu_minutes": round((time.process_time() - started) / 60, 1),
              "train_dataset_hash": train_task.dataset.content_hash}
    return model, record


def greedy_predictions(model, env_id: str, split: str, level: str) -> tuple[list[str], list, float]:
    """Greedy predictions on the whole split, its examples, and the mean ``synthetic_gold``."""
    from textenvs.data.tokenizer import load_builtin_tokenizer
    from textenvs.decoding import DecodingPolicy
    from textenvs.evaluation import generate_split

    env = make_env(env_id, split, level, load_builtin_tokenizer())
    records = generate_split(env, DecodingPolicy(model))
    examples = list(env.task.dataset)
    assert [r.example_id for r in records] == [e.id for e in examples]
    return [r.prediction for r in records], examples, sum(r.reward for r in records) / len(records)


def sampled_predictions(model, env_id: str, level: str, examples: int, samples: int, seed: int) -> tuple[list, list]:
    """``samples`` outputs per prompt at temperature 1 for the first ``examples`` test examples."""
    import torch

    from textenvs.data.tokenizer import load_builtin_tokenizer
    from textenvs.decoding import DecodingPolicy
    from textenvs.evaluation import generate_split

    env = make_env(env_id, "test", level, load_builtin_tokenizer())
    generator = torch.Generator().manual_seed(seed)
    policy = DecodingPolicy(model, greedy=False, temperature=1.0, generator=generator)
    indices = [index for index in range(examples) for _ in range(samples)]
    records = generate_split(env, policy, indices)
    grouped = [[r.prediction for r in records[i * samples:(i + 1) * samples]] for i in range(examples)]
    return grouped, [env.task.dataset[index] for index in range(examples)]


def measure(model, env_id: str, level: str, coverage: tuple[int, int, int]) -> dict[str, Any]:
    """Greedy gold score and error breakdown on ``test`` and ``test_compositional``, and sampling coverage."""
    result: dict[str, Any] = {}
    test_predictions: list[str] = []
    for split in ("test", "test_compositional"):
        predictions, examples, gold = greedy_predictions(model, env_id, split, level)
        test_predictions = test_predictions or predictions
        result[split] = {"synthetic_gold": gold, "errors": count_errors(predictions, examples).summary(),
                         "wrong_by_value_order": wrong_by_trigger(predictions, examples),
                         "wrong_by_summarization_form": wrong_by_trigger(predictions, examples, summarization_form),
                         "dataset_hash": _hash(env_id, split, level)}
        print(json.dumps({"split": split, "synthetic_gold": gold,
                          "wrong_roles_per_output": result[split]["errors"]["wrong_roles_per_output"]}), flush=True)
    examples, samples, seed = coverage
    grouped, coverage_examples = sampled_predictions(model, env_id, level, examples, samples, seed)
    result["sampling_coverage"] = {"examples": examples, "samples_per_prompt": samples, "temperature": 1.0,
                                   "seed": seed, "by_role": role_coverage(grouped, coverage_examples,
                                                                          greedy=test_predictions[:examples])}
    return result


def _hash(env_id: str, split: str, level: str) -> str:
    from textenvs import load_env_dataset

    return load_env_dataset(env_id, split, dataset_options={"level": level}).content_hash


# ------------------------------------------------------------------------------------------------ RL comparison
def rl_reference(task: str, env_id: str, level: str) -> dict[str, Any]:
    """The RL agents' (and the bench's warm-start row's) greedy test results at 20,000 env steps, 3 seeds: gold mean
    from ``results/v2-<level>-<task>-<agent>.json``, error breakdown from ``results/v2-<level>-errors.json``."""
    errors_path = RESULTS / f"v2-{level}-errors.json"
    errors = json.loads(errors_path.read_text()).get(env_id, {}) if errors_path.exists() else {}
    agents: dict[str, Any] = {}
    for agent in RL_AGENTS:
        path = RESULTS / f"v2-{level}-{task}-{agent}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        agents[agent] = {"test_synthetic_gold": result["summary"]["synthetic_gold"]["mean"],
                         "seeds": result["summary"]["seeds"], "errors": errors.get(agent)}
    return {"source": [str(errors_path.relative_to(REPOSITORY)),
                       f"benchmarks/learning/results/v2-{level}-{task}-*.json"],
            "bench_warm_start_errors": errors.get("greedy"), "agents": agents}


def headline(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers the README quotes: gold, perfect share and wrong-when-present per role, per model."""
    rows = {}
    for model in ("gold_sft", "shipped_warm_start"):
        test, errors = entry[model]["test"], entry[model]["test"]["errors"]
        coverage = entry[model]["sampling_coverage"]["by_role"]["all roles"]
        rows[model] = {"test_gold": round(test["synthetic_gold"], 4),
                       "compositional_gold": round(entry[model]["test_compositional"]["synthetic_gold"], 4),
                       "perfect": round(errors["perfect"], 3),
                       "other_role_per_output": round(errors["by_kind"][OTHER_ROLE], 3),
                       "distractor_per_output": round(errors["by_kind"][DISTRACTOR], 3),
                       "wrong_when_present": {r: round(v, 3) for r, v in errors["wrong_when_role_present"].items()},
                       "pass@4_all_roles": round(coverage["pass@4"], 3)}
    return rows


def model_name(task: str, level: str, steps: int | None = None) -> str:
    """The gold-SFT model's directory under ``--out`` and its key in the results file."""
    return f"{task}-v2-{level}-gold" + (f"-{steps}-steps" if steps else "")


def run_task(task: str, level: str, out: Path, coverage: tuple[int, int, int],
             trained: Mapping[str, Any] | None = None, steps: int | None = None) -> dict[str, Any]:
    """Train (or, given the ``training`` record of an earlier run, reload from ``out``) and measure one task."""
    from agents.models import CHECKPOINTS_DIR, load_pretrained

    env_id = ENVS[task]
    out.mkdir(parents=True, exist_ok=True)
    if trained is not None:
        model, training = load_pretrained(out / model_name(task, level, steps)).eval(), dict(trained)
    else:
        with (out / f"{model_name(task, level, steps)}.log.jsonl").open("w") as log_file:
            def log(record):
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                if "eval/synthetic_gold" in record or record.get("step", 1) == 0:
                    print(json.dumps(record), flush=True)
            model, training = train_gold_sft(task, level, out, log, steps)
    entry = {"env": env_id, "level": level, "training": training,
             "gold_sft": measure(model, env_id, level, coverage)}
    shipped = load_pretrained(CHECKPOINTS_DIR / f"{task}-v2-{level}").eval()
    entry["shipped_warm_start"] = {"checkpoint": f"agents/checkpoints/{task}-v2-{level}",
                                   **measure(shipped, env_id, level, coverage)}
    entry["rl_20k_env_steps"] = rl_reference(task, env_id, level)
    entry["headline"] = headline(entry)
    return entry


KEY_ROLES = {"summarization": ("city", "beneficiary", "day", "person"),
             "dialogue": ("departure", "destination", "people", "nights", "food"),
             "translation": ("subject", "object", "subject_adjective", "object_adjective")}
"""The roles the tables show (the binding roles of ``v2_errors.py``'s analysis first)."""


def format_tables(results: Mapping[str, Any]) -> str:
    """Markdown tables from a results file: per task, greedy test errors of each gold-SFT model, the shipped warm
    start and the RL agents; then the sampling coverage of the key roles."""
    lines = []
    for key, entry in results["tasks"].items():
        task = key.split("-v2-")[0]
        roles = KEY_ROLES[task]
        lines += [f"**{key}** (steps {entry['training']['steps']}; warm start {entry['training']['warm_start_steps']})",
                  "", "| model | test gold | compositional gold | perfect | wrong roles / output | other role's value "
                  "| distractor | " + " | ".join(roles) + " |", "|---" * (7 + len(roles)) + "|"]
        rows = [(f"SFT on gold, {entry['training']['steps']} steps", entry["gold_sft"]["test"]["synthetic_gold"],
                 entry["gold_sft"]["test_compositional"]["synthetic_gold"], entry["gold_sft"]["test"]["errors"]),
                ("shipped warm start", entry["shipped_warm_start"]["test"]["synthetic_gold"],
                 entry["shipped_warm_start"]["test_compositional"]["synthetic_gold"],
                 entry["shipped_warm_start"]["test"]["errors"])]
        rows += [(f"{agent} (RL, 20k steps, 3 seeds)", rl["test_synthetic_gold"], None, rl["errors"])
                 for agent, rl in entry["rl_20k_env_steps"]["agents"].items() if rl["errors"]]
        for name, gold, compositional, errors in rows:
            lines.append(f"| {name} | {gold:.3f} | " + ("-" if compositional is None else f"{compositional:.3f}")
                         + f" | {errors['perfect']:.3f} | {errors['wrong_roles_per_output']:.3f} | "
                         f"{errors['by_kind'][OTHER_ROLE]:.3f} | {errors['by_kind'][DISTRACTOR]:.3f} | "
                         + " | ".join(f"{errors['by_role'].get(role, 0.0):.3f}" for role in roles) + " |")
        lines += ["", coverage_table(entry, roles), ""]
    return "\n".join(lines)


def coverage_table(entry: Mapping[str, Any], roles: Sequence[str]) -> str:
    """pass@1 / pass@4 / pass@8 of each role (all examples; where the greedy output is wrong) for both models."""
    lines = ["| model | role | examples | pass@1 | pass@4 | pass@8 | greedy wrong: examples | pass@1 | pass@4 | "
             "pass@8 |", "|---" * 10 + "|"]
    for model, name in (("shipped_warm_start", "shipped warm start"), ("gold_sft", "SFT on gold")):
        by_role = entry[model]["sampling_coverage"]["by_role"]
        for role in (*roles, "all roles"):
            if role not in by_role:
                continue
            every, wrong = by_role[role], by_role[role].get("where_greedy_wrong", {"examples": 0})
            cells = [f"{every[f'pass@{k}']:.2f}" for k in PASS_K]
            cells += [str(wrong["examples"])] + [f"{wrong[f'pass@{k}']:.2f}" if wrong["examples"] else "-"
                                                  for k in PASS_K]
            lines.append(f"| {name} | {role} | {every['examples']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    import subprocess

    import torch
    import transformers

    import textenvs

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True).stdout
    return {"python": sys.version.split()[0], "textenvs": textenvs.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "textenvs_commit": commit.strip(),
            "torch_threads": torch.get_num_threads()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(ENVS), action="append")
    parser.add_argument("--tables", action="store_true", help="print the Markdown tables of --json and stop")
    parser.add_argument("--level", default="medium", choices=("easy", "medium", "hard"))
    parser.add_argument("--out", type=Path, default=REPOSITORY / "runs" / "v2-gold-sft-probe")
    parser.add_argument("--json", type=Path, required=True, help="results file; each task's entry is merged in")
    parser.add_argument("--coverage-examples", type=int, default=200)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of the coverage measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, help="SFT steps instead of the warm start's (a separate entry)")
    parser.add_argument("--measure-only", action="store_true",
                        help="reload the gold-SFT models of an earlier run from --out (their training record from "
                             "--json) and measure again, without training")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.tables:
        print(format_tables(json.loads(args.json.read_text())))
        return 0
    if not args.task:
        parser.error("name at least one --task (or --tables)")
    for task in args.task:
        key = model_name(task, args.level, args.steps)
        results = json.loads(args.json.read_text()) if args.json.exists() else {}
        trained = results["tasks"][key]["training"] if args.measure_only else None
        entry = run_task(task, args.level, args.out, (args.coverage_examples, args.samples, args.seed), trained,
                         args.steps)
        results = json.loads(args.json.read_text()) if args.json.exists() else {}
        results.update({"kind": "v2-gold-sft-probe", "command": COMMAND, "versions": versions()})
        entry["invocation"] = " ".join(["python", "benchmarks/learning/v2_gold_sft_probe.py", *sys.argv[1:]])
        results.setdefault("tasks", {})[key] = entry
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps({"task": task, **entry["headline"]}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
