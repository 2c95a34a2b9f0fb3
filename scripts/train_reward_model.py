"""A reward model for Multi30k de→en, trained here on preference pairs made from the data (issue 24, item 4).

Pairs: (German source, chosen, rejected) where ``chosen`` is the human English reference and ``rejected`` is

- a corruption of that reference (:data:`CORRUPTIONS`, each training source gets ``--corruptions-per-example`` of
  them, kinds drawn without repetition): ``drop`` (one or two words removed), ``swap`` (a span of 3-5 words
  shuffled), ``replace`` (one word replaced by a word of another training reference), ``truncate`` (the last
  20-60% of the words cut), ``repeat`` (a span of 1-3 words written twice);
- optionally (``--warm-start`` with ``--warm-start-pairs N``) the warm start's greedy translation of the first N
  training sources, wherever it differs from the reference (kind ``warm_start``).

Model: a small GPT-2 with a scalar head (``GPT2ForSequenceClassification``, ``num_labels=1``): by default a new
2-layer one over a BPE tokenizer trained on the Multi30k training texts (the warm start's recipe: 3,000 tokens); with
``--init-from-warm-start`` the warm start's own weights and tokenizer under a new head (as InstructGPT initializes
its reward model from the SFT model). The pair is encoded as
``tokenizer(source, output)`` = ``source </s> output </s>`` and the head reads the final ``</s>``, exactly as
``RewardModelScorer(model_path, use_prompt=True)`` encodes it, so the saved directory is the RL reward as is
(``{"scorer": "reward_model", "scorer_kwargs": {"model_path": OUT, "use_prompt": true}}``). Loss: Bradley-Terry,
``-log sigmoid(r(chosen) - r(rejected))``.

Held-out evaluation, scored through ``RewardModelScorer`` on the saved directory:

- pairwise accuracy on pairs made from the validation split (never trained on), every corruption kind per source;
- with ``--warm-start``: accuracy on (reference, warm-start greedy output) pairs of the test split, and the Pearson
  and Spearman correlations of the model's score of the warm-start outputs with their sentence BLEU and chrF.

It writes the model to ``--out`` and a results file (command, data hashes, versions, accuracy) to ``--results``.

    python scripts/train_reward_model.py --out benchmarks/learning/runs/reward-model \\
        --warm-start benchmarks/learning/runs/multi30k-sft1600/warm_start --init-from-warm-start \\
        --warm-start-pairs 8000 --steps 500
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORRUPTIONS = ("drop", "swap", "replace", "truncate", "repeat")
ENV = "textenvs/Translation-v0"


# ------------------------------------------------------------------ preference pairs
def corrupt(text: str, kind: str, rng: np.random.Generator, donors: Sequence[str] = ()) -> str | None:
    """``text`` with one corruption of ``kind`` (a :data:`CORRUPTIONS` name), or None where the text is too short for
    it (fewer than 3 words; ``swap`` needs 4) or the result would equal the text. ``donors``: words ``replace`` may
    put in (those equal to the replaced word are skipped)."""
    words = text.split()
    n = len(words)
    if n < 3:
        return None
    if kind == "drop":
        count = 1 if n < 6 else int(rng.integers(1, 3))
        drop = set(rng.choice(n, size=count, replace=False).tolist())
        out = [word for i, word in enumerate(words) if i not in drop]
    elif kind == "swap":
        if n < 4:
            return None
        length = int(rng.integers(3, min(5, n) + 1))
        start = int(rng.integers(0, n - length + 1))
        span = words[start:start + length]
        for _ in range(10):
            shuffled = [span[i] for i in rng.permutation(length)]
            if shuffled != span:
                break
        out = words[:start] + shuffled + words[start + length:]
    elif kind == "replace":
        index = int(rng.integers(n))
        drawn = (donors[int(i)] for i in rng.integers(len(donors), size=20)) if donors else ()
        candidates = [word for word in drawn if word != words[index]]
        if not candidates:
            return None
        out = words[:index] + [candidates[0]] + words[index + 1:]
    elif kind == "truncate":
        keep = max(1, min(n - 1, int(round(n * rng.uniform(0.4, 0.8)))))
        out = words[:keep]
    elif kind == "repeat":
        length = int(rng.integers(1, min(3, n) + 1))
        start = int(rng.integers(0, n - length + 1))
        out = words[:start + length] + words[start:start + length] + words[start + length:]
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose from {CORRUPTIONS}.")
    corrupted = " ".join(out)
    return None if corrupted == " ".join(words) else corrupted


def make_pairs(examples: Sequence[Any], rng: np.random.Generator, per_example: int = 1,
               kinds: Sequence[str] = CORRUPTIONS, donors: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Up to ``per_example`` pairs per example (its first reference chosen, a corruption of it rejected; kinds drawn
    without repetition from ``kinds``, all of them when ``per_example >= len(kinds)``), in example order.
    ``donors``: the words ``replace`` draws from (default: every word of the examples' references)."""
    if donors is None:
        donors = [word for example in examples for word in example.references[0].split()]
    pairs = []
    for example in examples:
        reference = example.references[0]
        chosen_kinds = list(kinds) if per_example >= len(kinds) else \
            [kinds[int(i)] for i in rng.choice(len(kinds), size=per_example, replace=False)]
        for kind in chosen_kinds:
            rejected = corrupt(reference, kind, rng, donors)
            if rejected is not None:
                pairs.append({"source": example.prompt, "chosen": reference, "rejected": rejected, "kind": kind})
    return pairs


def output_pairs(examples: Sequence[Any], outputs: Sequence[str], kind: str = "warm_start") -> list[dict[str, str]]:
    """(reference chosen, model output rejected) for each example whose output differs from its reference (after
    stripping whitespace); empty outputs are kept (a reward model should rank them last)."""
    return [{"source": example.prompt, "chosen": example.references[0], "rejected": output, "kind": kind}
            for example, output in zip(examples, outputs) if output.strip() != example.references[0].strip()]


# ------------------------------------------------------------------ model
def build_reward_model(tokenizer: Any, n_layer: int = 2, n_embd: int = 128, n_head: int = 4,
                       n_positions: int = 256) -> Any:
    """A randomly initialized GPT-2 with a one-output head (``GPT2ForSequenceClassification``), dropout off."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                        n_positions=n_positions, num_labels=1, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        pad_token_id=int(tokenizer.pad_token_id), eos_token_id=int(tokenizer.eos_token_id),
                        bos_token_id=int(tokenizer.bos_token_id if tokenizer.bos_token_id is not None
                                         else tokenizer.eos_token_id))
    return GPT2ForSequenceClassification(config)


def encode(tokenizer: Any, sources: Sequence[str], outputs: Sequence[str], max_length: int) -> dict[str, Any]:
    """The batch as ``RewardModelScorer(use_prompt=True)`` encodes it."""
    return tokenizer(list(sources), list(outputs), padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt")


def train_reward_model(model: Any, tokenizer: Any, pairs: list[dict[str, str]], steps: int, batch_size: int = 64,
                       learning_rate: float = 1e-3, warmup: int = 50, seed: int = 0, max_length: int = 256,
                       log_every: int = 100, validation: list[dict[str, str]] | None = None) -> list[dict[str, float]]:
    """Bradley-Terry training on shuffled epochs of ``pairs`` (AdamW, linear warm-up then linear decay); returns the
    log (every ``log_every`` steps: mean loss and training accuracy since the last record, and the accuracy on
    ``validation`` when given)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))
    order = rng.permutation(len(pairs))
    cursor, log, losses, correct = 0, [], [], []
    started = time.process_time()
    model.train()
    for step in range(1, steps + 1):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(pairs)), 0
        batch = [pairs[int(i)] for i in order[cursor:cursor + batch_size]]
        cursor += batch_size
        sources = [pair["source"] for pair in batch] * 2
        outputs = [pair["chosen"] for pair in batch] + [pair["rejected"] for pair in batch]
        scores = model(**encode(tokenizer, sources, outputs, max_length)).logits[:, 0]
        margin = scores[:len(batch)] - scores[len(batch):]
        loss = -F.logsigmoid(margin).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        correct.extend((margin > 0).tolist())
        if step % log_every == 0 or step == steps:
            record = {"step": step, "loss": float(np.mean(losses)), "train_accuracy": float(np.mean(correct)),
                      "cpu_seconds": round(time.process_time() - started, 1)}
            if validation:
                model.eval()
                chosen, rejected = pair_scores(model, tokenizer, validation, max_length=max_length)
                record["validation_accuracy"] = float(np.mean(chosen > rejected))
                model.train()
            log.append(record)
            print(json.dumps(record), flush=True)
            losses, correct = [], []
    model.eval()
    return log


def pair_scores(model: Any, tokenizer: Any, pairs: list[dict[str, str]], batch_size: int = 256,
                max_length: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The model's scores of each pair's chosen and rejected output (in-memory model, same encoding as the scorer)."""
    import torch

    scores = []
    texts = ([(pair["source"], pair["chosen"]) for pair in pairs]
             + [(pair["source"], pair["rejected"]) for pair in pairs])
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            inputs = encode(tokenizer, [s for s, _ in chunk], [o for _, o in chunk], max_length)
            scores.append(model(**inputs).logits[:, 0].float().numpy())
    values = np.concatenate(scores) if scores else np.zeros(0)
    return values[:len(pairs)], values[len(pairs):]


def scorer_pair_accuracy(scorer: Any, pairs: list[dict[str, str]]) -> dict[str, Any]:
    """Pairwise accuracy through ``RewardModelScorer`` (chosen scored above rejected; a tie counts half), overall and
    per kind, with the mean score margin."""
    sources = [pair["source"] for pair in pairs]
    chosen = scorer.compute([pair["chosen"] for pair in pairs], None, sources, None)["reward_model"]
    rejected = scorer.compute([pair["rejected"] for pair in pairs], None, sources, None)["reward_model"]
    wins = (chosen > rejected) + 0.5 * (chosen == rejected)
    kinds = np.asarray([pair["kind"] for pair in pairs])
    table = {"all": {"pairs": len(pairs), "accuracy": float(np.mean(wins)),
                     "mean_margin": float(np.mean(chosen - rejected))}}
    for kind in dict.fromkeys(kinds.tolist()):
        mask = kinds == kind
        table[kind] = {"pairs": int(mask.sum()), "accuracy": float(np.mean(wins[mask])),
                       "mean_margin": float(np.mean((chosen - rejected)[mask]))}
    return table


# ------------------------------------------------------------------ warm-start outputs
def greedy_outputs(model_dir: str, dataset_dir: str, split: str, count: int = 0, batch: int = 100) -> list[str]:
    """The warm start's greedy translations of the first ``count`` (0 = all) sources of ``split``, decoded by the
    env (``generate_split`` with ``DecodingPolicy``, the benchmarks' evaluation path; 48 prompt / 40 new tokens)."""
    import gymnasium as gym
    import torch
    from gymnasium.vector import AutoresetMode
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from textenvs.decoding import DecodingPolicy
    from textenvs.evaluation import generate_split

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).eval()
    env = gym.make_vec(ENV, num_envs=batch, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, dataset=dataset_dir, dataset_languages=["de", "en"],
                       split=split, tokenizer=tokenizer, max_prompt_length=48, max_new_tokens=40,
                       scorer="chrf").unwrapped
    size = len(env.task.dataset)
    indices = list(range(size if count in (0, None) else min(count, size)))
    with torch.inference_mode():
        records = generate_split(env, DecodingPolicy(model, vocab_size=env.task.vocab_size), indices)
    env.close()
    return [record.prediction for record in records]


def correlations(scores: np.ndarray, outputs: Sequence[str], examples: Sequence[Any]) -> dict[str, Any]:
    """Pearson and Spearman correlations of ``scores`` with the outputs' sentence BLEU and chrF (sacrebleu
    defaults), over the non-empty outputs."""
    from sacrebleu.metrics import BLEU, CHRF
    from scipy import stats

    bleu, chrf = BLEU(effective_order=True), CHRF()
    keep = [i for i, output in enumerate(outputs) if output.strip()]
    gold = {"sentence_bleu": [bleu.sentence_score(outputs[i], list(examples[i].references)).score for i in keep],
            "sentence_chrf": [chrf.sentence_score(outputs[i], list(examples[i].references)).score for i in keep]}
    values = scores[keep]
    return {name: {"pearson": float(stats.pearsonr(values, metric)[0]),
                   "spearman": float(stats.spearmanr(values, metric)[0]), "outputs": len(keep)}
            for name, metric in gold.items()}


# ------------------------------------------------------------------ the recipe
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "multi30k"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "learning" / "runs" / "reward-model"))
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "learning" / "results"
                                                 / "reward-model-multi30k.json"))
    parser.add_argument("--warm-start", default=None, help="warm-start checkpoint: its outputs for pairs and tests")
    parser.add_argument("--warm-start-pairs", type=int, default=0,
                        help="training sources whose warm-start greedy output is a rejected answer (0 = none)")
    parser.add_argument("--init-from-warm-start", action="store_true",
                        help="start from the warm start's weights and tokenizer (a new scalar head), not from scratch")
    parser.add_argument("--corruptions-per-example", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=3000, help="BPE vocabulary (the warm start's)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64, help="pairs per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-only", action="store_true", help="evaluate the model already in --out")
    parser.add_argument("--threads", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from agents.bench.results import package_versions
    from textenvs.data.tokenizer import train_tokenizer
    from textenvs.registration import load_env_dataset
    from textenvs.scorers.reward_model import RewardModelScorer

    torch.set_num_threads(args.threads)
    started = time.time()
    data = {split: load_env_dataset(ENV, split=split, dataset=args.dataset, dataset_languages=["de", "en"])
            for split in ("train", "validation", "test")}
    train, validation, test = (list(data[split]) for split in ("train", "validation", "test"))
    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    pairs = make_pairs(train, rng, per_example=args.corruptions_per_example)
    held_out = make_pairs(validation, np.random.default_rng(args.seed + 1), per_example=len(CORRUPTIONS))
    # The warm start's greedy outputs, kept beside the model directory for later runs (per warm-start path).
    outputs_file = out.parent / "warm-start-outputs.json"
    cached = json.loads(outputs_file.read_text()) if outputs_file.is_file() else {}
    outputs: dict[str, list[str]] = cached.get(str(args.warm_start), {}) if args.warm_start else {}
    if args.warm_start:
        wanted = {"train": args.warm_start_pairs, "test": 0}
        for split, count in wanted.items():
            if split == "train" and not count:
                continue
            if len(outputs.get(split, [])) < (count or len(data[split])):
                began = time.time()
                outputs[split] = greedy_outputs(args.warm_start, args.dataset, split, count)
                print(f"warm-start outputs, {split}: {len(outputs[split])} in {time.time() - began:.0f} s", flush=True)
        outputs_file.parent.mkdir(parents=True, exist_ok=True)
        outputs_file.write_text(json.dumps({**cached, str(args.warm_start): outputs}))
    warm_pairs = output_pairs(train[:args.warm_start_pairs], outputs.get("train", [])[:args.warm_start_pairs]) \
        if args.warm_start_pairs else []
    print(f"training pairs: {len(pairs)} corruptions + {len(warm_pairs)} warm-start outputs; "
          f"held-out validation pairs: {len(held_out)}", flush=True)

    log: list[dict[str, float]] = []
    train_cpu = None
    if not args.eval_only:
        if args.init_from_warm_start:
            from transformers import AutoTokenizer, GPT2ForSequenceClassification

            tokenizer = AutoTokenizer.from_pretrained(args.warm_start, local_files_only=True)
            torch.manual_seed(args.seed)  # the new head's initialization
            model = GPT2ForSequenceClassification.from_pretrained(args.warm_start, num_labels=1,
                                                                  local_files_only=True)
            model.config.pad_token_id = tokenizer.pad_token_id
        else:
            tokenizer = train_tokenizer([text for example in train
                                         for text in (example.prompt, *example.references)], vocab_size=args.vocab)
            model = build_reward_model(tokenizer, n_layer=args.layers, n_embd=args.width)
        tokenizer.model_max_length = 256
        cpu_started = time.process_time()
        monitor = make_pairs(validation[:300], np.random.default_rng(args.seed + 2), per_example=1)
        log = train_reward_model(model, tokenizer, pairs + warm_pairs, args.steps, args.batch, args.lr,
                                 seed=args.seed, validation=monitor)
        train_cpu = round(time.process_time() - cpu_started, 1)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    scorer = RewardModelScorer(str(out), use_prompt=True, device="cpu", batch_size=256)
    results: dict[str, Any] = {
        "name": "reward-model-multi30k", "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "model_path": str(out), "model_parameters": sum(p.numel() for p in scorer.model.parameters()),
        "model_megabytes": round(sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 2**20, 2),
        "model": {"architecture": "GPT2ForSequenceClassification",
                  "initialized_from": args.warm_start if args.init_from_warm_start else "random (tokenizer trained here)",
                  "layers": scorer.model.config.n_layer,
                  "width": scorer.model.config.n_embd, "vocab": len(scorer.tokenizer),
                  "encoding": "tokenizer(source, output): source </s> output </s>, head on the final </s>"},
        "training": {"pairs": len(pairs) + len(warm_pairs), "corruption_pairs": len(pairs),
                     "warm_start_pairs": len(warm_pairs), "warm_start_sources": args.warm_start_pairs,
                     "corruptions": list(CORRUPTIONS), "corruptions_per_example": args.corruptions_per_example,
                     "steps": args.steps, "batch_pairs": args.batch, "learning_rate": args.lr, "seed": args.seed,
                     "loss": "Bradley-Terry: -log sigmoid(r(chosen) - r(rejected))", "cpu_seconds": train_cpu,
                     "log": log},
        "warm_start_model": args.warm_start,
        "data": {split: {"content_hash": dataset.content_hash, "examples": len(dataset), "name": dataset.name}
                 for split, dataset in data.items()},
        "versions": {**package_versions(), **{name: _version(name) for name in ("sacrebleu", "tokenizers")}},
    }
    if args.eval_only and Path(args.results).is_file():  # keep the training record of the run that trained it
        earlier = json.loads(Path(args.results).read_text())
        results["training"] = earlier["training"]
        results["commands"] = earlier.get("commands", [earlier["command"]]) + [results["command"]]
    results["validation_corruptions"] = scorer_pair_accuracy(scorer, held_out)
    print("validation pairs:", json.dumps(results["validation_corruptions"]), flush=True)
    if "test" in outputs:
        test_pairs = output_pairs(test, outputs["test"])
        results["test_warm_start_pairs"] = {
            **scorer_pair_accuracy(scorer, test_pairs)["all"], "identical_to_reference": len(test) - len(test_pairs)}
        test_corruptions = make_pairs(test, np.random.default_rng(args.seed + 3), per_example=len(CORRUPTIONS))
        results["test_corruptions"] = scorer_pair_accuracy(scorer, test_corruptions)
        scores = scorer.compute(outputs["test"], None, [example.prompt for example in test], None)["reward_model"]
        references = scorer.compute([example.references[0] for example in test], None,
                                    [example.prompt for example in test], None)["reward_model"]
        results["test_scores"] = {"warm_start_mean": float(np.mean(scores)),
                                  "reference_mean": float(np.mean(references))}
        results["test_correlations"] = correlations(scores, outputs["test"], test)
        print("test:", json.dumps({key: results[key] for key in ("test_warm_start_pairs", "test_scores",
                                                                  "test_correlations")}), flush=True)
    results["total_seconds"] = round(time.time() - started, 1)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.results}; model {results['model_megabytes']} MB in {out}", flush=True)
    return 0


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
