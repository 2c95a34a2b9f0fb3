"""The trivial baselines a real-data warm start has to beat (issue 24, item 1), scored on the whole test split with
the measures of ``ppo_vs_warm_start.py`` (the reward metric of ``run_real_data.sh`` and the measures beside it):

- SAMSum: lead-3, the dialogue's first three turns (speaker names kept, one turn a line joined by spaces);
- DailyDialog: the most frequent response of the train split, for every context; and the context's last turn;
- Multi30k de→en: the German source copied (what a model that learned nothing but copying would score).

    python benchmarks/learning/trivial_baselines.py samsum dailydialog multi30k   # results/baselines-<data>.json

Nothing here is trained; each figure is a property of the data and the metric.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ppo_vs_warm_start as bench  # noqa: E402

DATA = Path("../shared/data")
# Each data set's env, env kwargs (the reward scorer of run_real_data.sh) and the baselines: name -> (examples of
# the train split, test example) -> prediction.
SETS: dict[str, dict[str, Any]] = {
    "samsum": {"env": "textenvs/Summarization-v0", "dataset": "samsum", "scorer": "rougeL"},
    "dailydialog": {"env": "textenvs/Dialogue-v0", "dataset": "dailydialog", "scorer": "semantic_similarity"},
    "multi30k": {"env": "textenvs/Translation-v0", "dataset": "multi30k", "scorer": "bleu",
                 "env_kwargs": {"dataset_languages": ["de", "en"]}},
}


def lead_3(prompt: str) -> str:
    return " ".join([turn.strip() for turn in prompt.splitlines() if turn.strip()][:3])


def last_turn(prompt: str) -> str:
    turns = [turn.strip() for turn in prompt.splitlines() if turn.strip()]
    return turns[-1] if turns else ""


def baselines(name: str, train: Any) -> dict[str, Callable[[Any], str]]:
    if name == "samsum":
        return {"lead-3": lambda example: lead_3(example.prompt)}
    if name == "dailydialog":
        counts = Counter(reference for example in train for reference in example.references)
        most_frequent, _ = counts.most_common(1)[0]
        return {"most-frequent-response": lambda example: most_frequent,
                "copy-last-turn": lambda example: last_turn(example.prompt)}
    if name == "multi30k":
        return {"copy-source": lambda example: example.prompt}
    raise ValueError(f"unknown data set {name!r}; one of {sorted(SETS)}")


def run(name: str, data_root: Path, out_dir: Path) -> dict[str, Any]:
    from textenvs.metrics import CORPUS_PREFIX, prediction_metrics
    from textenvs.registration import load_env_dataset
    from textenvs.scorers import make_scorer

    spec = SETS[name]
    env_kwargs = {"dataset": str(data_root / spec["dataset"]), **spec.get("env_kwargs", {})}
    train = load_env_dataset(spec["env"], split="train", **env_kwargs)
    test = load_env_dataset(spec["env"], split="test", **env_kwargs)
    options = bench.build_parser().parse_args(["--name", name, "--env", spec["env"]])
    scorer = make_scorer(spec["scorer"])
    started = time.time()
    results: dict[str, Any] = {
        "name": f"baselines-{name}", "kind": "trivial_baselines",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "env": spec["env"],
        "env_kwargs": env_kwargs, "reward_scorer": scorer.config(), "metric": CORPUS_PREFIX + scorer.primary,
        "eval": {"split": "test", "examples": len(test), "second_scorers": bench.second_scorer_names(options)},
        **bench.provenance(options, env_kwargs, ["train", "test"]), "baselines": {}}
    for label, predict in baselines(name, train).items():
        examples = list(test)
        predictions = [predict(example) for example in examples]
        metrics = prediction_metrics(scorer, examples, predictions)
        entry = {results["metric"]: metrics[results["metric"]], "mean_reward": metrics[scorer.primary],
                 "measures": bench.output_measures(examples, predictions, bench.second_scorer_names(options)),
                 "sample": predictions[0]}
        if name == "dailydialog" and label == "most-frequent-response":
            entry["response"] = predictions[0]
        results["baselines"][label] = entry
        print(label, json.dumps(entry), flush=True)
    results["total_seconds"] = round(time.time() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"baselines-{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", choices=sorted(SETS))
    parser.add_argument("--data", type=Path, default=DATA, help="the folder holding samsum/, dailydialog/, multi30k/")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    for name in args.sets:
        run(name, args.data, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
