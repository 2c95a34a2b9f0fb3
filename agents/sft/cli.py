"""``textenvs train sft``: supervised warm start of a small policy (or a local checkpoint) on an env's train split.

Example::

    textenvs train sft --env textenvs/Translation-v0 --size tiny --steps 3000 --out checkpoints/translation-tiny
    textenvs train sft --env textenvs/Translation-v0 --dataset ../shared/data/multi30k --dataset-languages de en \\
        --train-tokenizer 8000 --size small --epochs 10 --out checkpoints/multi30k-small
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

import torch
from tqdm.auto import tqdm

from agents.models import CAUSAL_SIZES, SEQ2SEQ_SIZES, build_causal_lm, build_seq2seq_lm, load_pretrained
from agents.sft.trainer import SFTConfig, train_sft
from textenvs import ENV_IDS, load_env_dataset, load_tokenizer


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help, except where the help already says its default, the default is
    None (nothing to show) or the option is a switch: ``ArgumentDefaultsHelpFormatter`` would print
    "(default: the task's) (default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "(default" in help_text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help_text
        return f"{help_text} (default: %(default)s)".strip()


def build_parser() -> argparse.ArgumentParser:
    defaults = SFTConfig()
    parser = argparse.ArgumentParser(prog="textenvs train sft", description=__doc__.splitlines()[0],
                                     formatter_class=_DefaultsHelpFormatter)
    parser.add_argument("--env", required=True, choices=sorted(ENV_IDS), help="environment id")
    parser.add_argument("--out", required=True, help="output directory (model, tokenizer, training_config.json, log.jsonl)")

    model = parser.add_argument_group("model")
    model.add_argument("--model", help="local checkpoint to start from (instead of a new model of --size)")
    model.add_argument("--size", default="tiny", help=f"new model size: causal {list(CAUSAL_SIZES)}, "
                                                      f"seq2seq {list(SEQ2SEQ_SIZES)}")
    model.add_argument("--seq2seq", action="store_true", help="build a T5 encoder-decoder instead of a GPT-2")

    env = parser.add_argument_group("environment (as the env's keyword arguments)")
    env.add_argument("--dataset", help="built-in name, file or directory (default: the task's built-in data)")
    env.add_argument("--dataset-languages", nargs=2, metavar=("SRC", "TGT"), help="aligned line-pair suffixes")
    env.add_argument("--dataset-fields", type=json.loads, help='JSON column mapping, e.g. \'{"prompt": "dialogue"}\'')
    env.add_argument("--tokenizer", help="tokenizer directory (default: the built-in tokenizer)")
    env.add_argument("--train-tokenizer", type=int, metavar="VOCAB",
                     help="train a BPE tokenizer of this vocabulary size on the train split (for real data)")
    env.add_argument("--scorer", help="scorer for the validation score (default: the task's)")
    env.add_argument("--max-prompt-length", type=int)
    env.add_argument("--max-new-tokens", type=int)
    env.add_argument("--prompt-truncation", choices=["left", "right", "error"])

    train = parser.add_argument_group("training (SFTConfig)")
    train.add_argument("--steps", type=int, help="optimizer steps (default: --epochs passes over the data)")
    train.add_argument("--epochs", type=float, default=defaults.epochs)
    train.add_argument("--lr", type=float, default=defaults.learning_rate)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    train.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--device", default=defaults.device)
    train.add_argument("--no-bf16", action="store_true", help="run float32 on CUDA too")
    train.add_argument("--max-train-examples", type=int)
    train.add_argument("--first-reference-only", action="store_true", help="one pair per example, not per reference")
    train.add_argument("--eval-every", type=int, default=defaults.eval_every)
    train.add_argument("--eval-split", default=defaults.eval_split, help="'none' skips validation")
    train.add_argument("--eval-examples", type=int, default=defaults.eval_examples)
    train.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)
    train.add_argument("--log-every", type=int, default=defaults.log_every)
    train.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env_kwargs: dict[str, Any] = {key: value for key, value in {
        "dataset": args.dataset, "dataset_languages": tuple(args.dataset_languages or ()) or None,
        "dataset_fields": args.dataset_fields, "scorer": args.scorer, "max_prompt_length": args.max_prompt_length,
        "max_new_tokens": args.max_new_tokens, "prompt_truncation": args.prompt_truncation,
    }.items() if value is not None}
    config = SFTConfig(
        learning_rate=args.lr, batch_size=args.batch_size, max_steps=args.steps, epochs=args.epochs,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
        seed=args.seed, device=args.device, bf16=not args.no_bf16, max_train_examples=args.max_train_examples,
        all_references=not args.first_reference_only, eval_every=args.eval_every,
        eval_split=None if args.eval_split.lower() == "none" else args.eval_split, eval_examples=args.eval_examples,
        eval_batch_size=args.eval_batch_size, log_every=args.log_every, output_dir=args.out,
    )

    if args.model and (args.tokenizer or args.train_tokenizer):
        print("--model brings its own tokenizer (saved beside it); drop --tokenizer/--train-tokenizer.")
        return 2
    if args.model:
        tokenizer = load_tokenizer(args.model)
    elif args.train_tokenizer:
        from textenvs.data.tokenizer import train_tokenizer

        train_data = load_env_dataset(args.env, split="train", **env_kwargs)
        tokenizer = train_tokenizer([text for e in train_data for text in (e.prompt, *e.references)],
                                    vocab_size=args.train_tokenizer)
    else:
        tokenizer = load_tokenizer(args.tokenizer)
    torch.manual_seed(args.seed)  # the new model's initialization
    if args.model:
        model = load_pretrained(args.model)
    else:
        model = (build_seq2seq_lm if args.seq2seq else build_causal_lm)(tokenizer, args.size)
    print(json.dumps({"env": args.env, "env_kwargs": env_kwargs, "model": type(model).__name__,
                      "parameters": model.num_parameters(), "vocab_size": len(tokenizer), "sft": asdict(config)},
                     indent=2, default=str))

    with tqdm(desc="sft", unit="step", dynamic_ncols=True) as bar:
        postfix: dict[str, str] = {}

        def report(record: dict[str, float]) -> None:
            if "total_steps" in record:
                bar.total = int(record["total_steps"])
            if "train/loss" in record:
                bar.update(int(record["step"]) - bar.n)
                postfix["loss"] = f"{record['train/loss']:.3f}"
            if "eval/reward" in record:
                postfix.update({"val_loss": f"{record['eval/loss']:.3f}", "val_score": f"{record['eval/reward']:.3f}"})
                bar.write(json.dumps(record))
            bar.set_postfix(postfix, refresh=False)

        train_sft(model, tokenizer, args.env, env_kwargs, config, callback=report)
    print(f"saved to {args.out}")
    return 0
