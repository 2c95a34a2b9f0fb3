"""A Multi30k de→en warm start and its corpus BLEU on test_2016_flickr, no RL: the tokenizer + SFT step of
``ppo_vs_warm_start.py`` (its ``evaluate``, and its ``warm_start`` with a model-shape, dropout and schedule
choice) with more SFT steps than ``run_real_data.sh multi30k``.

    python benchmarks/learning/multi30k_warm_start.py --steps 1600   # runs/multi30k-sft1600/warm_start, ~6 CPU-min SFT

The defaults are that recipe (the tiny GPT-2, 4 layers of width 128, a 3,000-token BPE, lr 3e-3, no dropout). The
larger recipe of issue 24 (see benchmarks/learning/README.md, "Multi30k warm start at about an hour of CPU"):

    python benchmarks/learning/multi30k_warm_start.py --name multi30k-warm-start-256x4-bpe8k --steps 4000 \\
        --n-embd 256 --n-layer 4 --n-head 4 --vocab-size 8000 --dropout 0.1 --label-smoothing 0.1 --lr 1.5e-3 \\
        --warmup 200 --curve-every 500 --results benchmarks/learning/results/multi30k-warm-start-256x4-bpe8k.json

``--curve-every N`` records the corpus BLEU (greedy) on the whole validation split every N steps (the learning
curve; its CPU time is counted apart from the training's); ``--results`` writes the evaluation, the curve, the CPU
seconds, the model's shape and size, the command, the data hashes and the versions. The model goes to
``benchmarks/learning/runs/<name>/warm_start`` (not committed), saved with dropout off.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
ENV_ID = "textenvs/Translation-v0"
DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1600, help="SFT steps of 32 pairs (29,000 pairs = 906 steps)")
    parser.add_argument("--dataset", default="../shared/data/multi30k", help="the Multi30k directory")
    parser.add_argument("--name", default=None, help="run name (runs/<name>/); default multi30k-sft<steps>")
    parser.add_argument("--n-layer", type=int, default=None, help="GPT-2 layers (default: the tiny size's 4)")
    parser.add_argument("--n-embd", type=int, default=None, help="GPT-2 width (default: the tiny size's 128)")
    parser.add_argument("--n-head", type=int, default=None, help="attention heads (default: the tiny size's 4)")
    parser.add_argument("--vocab-size", type=int, default=3000, help="BPE vocabulary trained on the train split")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="GPT-2 residual, embedding and attention dropout during SFT (the saved model has none)")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="of the SFT training loss")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cosine decay to 0)")
    parser.add_argument("--warmup", type=int, default=100, help="linear warmup steps")
    parser.add_argument("--curve-every", type=int, default=0, metavar="N",
                        help="corpus BLEU on the whole validation split every N steps and at the end (0: none)")
    parser.add_argument("--eval-split", default="test", help="the split of the final evaluation")
    parser.add_argument("--results", default=None, help="write the results JSON here (default: print only)")
    return parser


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``build_causal_lm`` overrides of the tiny size: the shape options given and the dropout."""
    shape = {key: value for key, value in (("n_layer", args.n_layer), ("n_embd", args.n_embd),
                                           ("n_head", args.n_head)) if value is not None}
    return {**shape, **({name: args.dropout for name in DROPOUTS} if args.dropout else {})}


def sft_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The SFTConfig overrides (the old command's, plus label smoothing and the curve's validation points)."""
    sft = {"max_steps": args.steps, "learning_rate": args.lr, "warmup_steps": args.warmup,
           "eval_every": args.curve_every, "eval_examples": 50, "log_every": 100}
    return {**sft, **({"label_smoothing": args.label_smoothing} if args.label_smoothing else {})}


def ppo_options(script: Any, args: argparse.Namespace, env_kwargs: dict[str, Any]) -> argparse.Namespace:
    """``ppo_vs_warm_start.py``'s options for this run (its ``evaluate`` reads them)."""
    return script.build_parser().parse_args([
        "--name", args.name, "--env", ENV_ID, "--env-kwargs", json.dumps(env_kwargs),
        "--train-tokenizer", str(args.vocab_size), "--tokenizer-texts", "29000", "--sft", json.dumps(sft_settings(args)),
        "--eval-split", args.eval_split, "--eval-examples", "1000", "--eval-scorer", "bleu", "--eval-batch", "100"])


def train_warm_start(script: Any, args: argparse.Namespace, options: argparse.Namespace, env_kwargs: dict[str, Any],
                     run_dir: Path) -> tuple[str, list[dict[str, Any]], float]:
    """``ppo_vs_warm_start.warm_start`` with :func:`model_overrides`: the checkpoint directory, the validation curve
    and the CPU seconds the curve took (during the run ``run_dir/latest`` holds the model of the curve's last
    point; removed at the end). An existing checkpoint is reused (no curve)."""
    import torch

    from agents.models import build_causal_lm
    from agents.sft import SFTConfig, train_sft
    from textenvs.data.tokenizer import train_tokenizer
    from textenvs.registration import load_env_dataset

    target = run_dir / "warm_start"
    if (target / "config.json").is_file():
        return str(target), [], 0.0
    train = load_env_dataset(ENV_ID, split="train", **env_kwargs)
    texts = [text for example in list(train)[:options.tokenizer_texts] for text in (example.prompt, *example.references)]
    tokenizer = train_tokenizer(texts, vocab_size=args.vocab_size)
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, options.model_size, **model_overrides(args))
    curve: list[dict[str, Any]] = []
    curve_seconds = [0.0]

    def callback(record: dict[str, Any]) -> None:
        print(json.dumps(record), flush=True)
        if args.curve_every and "eval/loss" in record:
            started = time.process_time()
            model.eval()
            agent = SimpleNamespace(model=model, trainer=SimpleNamespace(tokenizer=tokenizer))
            point = script.evaluate(agent, options, env_kwargs, split="validation", examples=0, measures=False)
            model.train()
            curve.append({"step": record["step"], "corpus_bleu": point["corpus_bleu"],
                          "mean_length": point["mean_length"], "sft_eval_loss": record["eval/loss"]})
            model.save_pretrained(run_dir / "latest")  # the last curve point's model, should the run be cut short
            tokenizer.save_pretrained(run_dir / "latest")
            curve_seconds[0] += time.process_time() - started
            print("curve:", json.dumps(curve[-1]), flush=True)

    config = SFTConfig(**{"output_dir": str(target), "eval_examples": 100, **options.sft})
    train_sft(model, tokenizer, ENV_ID, env_kwargs, config, callback=callback)
    shutil.rmtree(run_dir / "latest", ignore_errors=True)  # the run finished: warm_start is its model
    if args.dropout:  # saved with dropout off, like every other warm start
        config_file = target / "config.json"
        saved = json.loads(config_file.read_text())
        config_file.write_text(json.dumps({**saved, **{name: 0.0 for name in DROPOUTS}}, indent=2))
    return str(target), curve, curve_seconds[0]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.name = args.name or f"multi30k-sft{args.steps}"
    spec = importlib.util.spec_from_file_location("ppo_vs_warm_start", HERE / "ppo_vs_warm_start.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    env_kwargs = {"dataset": args.dataset, "dataset_languages": ["de", "en"], "scorer": "chrf",
                  "max_prompt_length": 48, "max_new_tokens": 40}
    options = ppo_options(script, args, env_kwargs)
    import torch
    from agents.ppo.agent import PPOAgent

    torch.set_num_threads(options.threads)
    run_dir = Path(options.runs) / options.name
    run_dir.mkdir(parents=True, exist_ok=True)
    load_at_start = [round(value, 2) for value in os.getloadavg()]
    started = time.process_time()
    model_dir, curve, curve_seconds = train_warm_start(script, args, options, env_kwargs, run_dir)
    sft_seconds = time.process_time() - started - curve_seconds
    print(f"tokenizer + SFT: {sft_seconds:.0f} CPU-s (validation curve: {curve_seconds:.0f} CPU-s)", flush=True)
    agent = PPOAgent(options.env, env_kwargs, seed=0, model=model_dir, iterations=0, progress=False, tensorboard=False)
    started = time.process_time()
    result = script.evaluate(agent, options, env_kwargs)
    print("warm start:", json.dumps(result), flush=True)
    if args.results:
        seconds = {"tokenizer_and_sft": sft_seconds, "validation_curve": curve_seconds,
                   "final_evaluation": time.process_time() - started}
        write_results(script, args, options, env_kwargs, model_dir, result, curve, seconds, argv, load_at_start)
    return 0


def system_label(args: argparse.Namespace) -> str:
    """How the README's real-data table names the warm start, e.g. "GPT-2 4x256 + 8k BPE, 4,000 SFT steps ..."."""
    layers, width = args.n_layer or 4, args.n_embd or 128
    extras = ", ".join(text for value, text in ((args.dropout, f"dropout {args.dropout:g}"),
                                                (args.label_smoothing, f"label smoothing {args.label_smoothing:g}"))
                       if value)
    return (f"GPT-2 {layers}x{width} + {args.vocab_size / 1000:g}k BPE, {args.steps:,} SFT steps"
            f"{', ' + extras if extras else ''} (multi30k_warm_start.py)")


def write_results(script: Any, args: argparse.Namespace, options: argparse.Namespace, env_kwargs: dict[str, Any],
                  model_dir: str, result: dict[str, Any], curve: list[dict[str, Any]],
                  seconds: dict[str, float], argv: list[str] | None, load_at_start: list[float]) -> None:
    """``--results``: the layout of results/multi30k-sft1600-warm-start.json, plus the shape, curve and CPU time."""
    training = json.loads((Path(model_dir) / "training_config.json").read_text())
    record = {"name": args.name, "command": shlex.join(["python", "benchmarks/learning/multi30k_warm_start.py",
                                                        *(sys.argv[1:] if argv is None else argv)]),
              "env": ENV_ID, "env_kwargs": env_kwargs, "warm_start_model": model_dir,
              "model_parameters": training["model"]["parameters"],
              "model": {"base": options.model_size, **model_overrides(args), "vocab_size": args.vocab_size},
              "sft": training["sft"], "sft_final_eval": training.get("final_eval"),
              "cpu_seconds": {key: round(value, 1) for key, value in seconds.items()},
              "eval": {"split": options.eval_split, "examples": result["examples"], "scorer": "bleu",
                       "decoding": "greedy", "second_scorers": script.second_scorer_names(options)},
              "validation_curve": curve, **script.provenance(options, env_kwargs, ["train", options.eval_split,
                                                                                   "validation"]),
              "warm_start": result, "kind": "warm_start", "metric": "corpus_bleu", "system": system_label(args)}
    record["machine"]["load_average_at_start"] = load_at_start  # provenance() runs at the end
    record["machine"]["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(record, indent=2) + "\n")
    print("results:", args.results, flush=True)


if __name__ == "__main__":
    sys.exit(main())
