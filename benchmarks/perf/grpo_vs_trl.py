"""One GRPO iteration, ours (:mod:`agents.grpo`) vs TRL's current ``GRPOTrainer``: same model, prompts, group size,
lengths and epochs, generation through transformers on TRL's side (no vLLM), each system in its own process.

Both sides:

- the same GPT-2 built from config (random weights, EOS suppressed so every completion has ``new_tokens`` tokens);
- the same reward: a ``GPT2ForSequenceClassification`` saved to a temp dir, reading prompt + completion (TRL calls it
  as a reward model; we reach it through the env's ``reward_model`` scorer);
- the same prompts: the built-in translation train split as the env lays it out (TRL gets them as text);
- ``batch`` completions per iteration = ``batch / group`` prompts x ``group`` generations, one update pass
  (``num_iterations=1``), one minibatch, no KL reference (``beta=0``, TRL's default), loss "grpo", rewards scaled
  by the group's std, temperature 1, no top-k / top-p.

Each system runs in a child process so that its peak memory (max RSS, the whole process: Python, torch and the
models) is its own, and so that TRL can be a different release than the ``perf`` extra's ``trl==1.12.0`` (PPO):
``--trl-path DIR`` puts a directory holding another TRL first on the child's path, e.g.
``pip install --no-deps --target /tmp/trl_1_16 trl==1.16.0`` (its other requirements are this project's). Wall and
CPU seconds per iteration are both recorded (first iteration of each run dropped); on a shared machine read the CPU
ones. The systems alternate for ``--rounds`` runs each, and the medians are over all their timed iterations.
TRL runs with its defaults (its ``GRPOConfig`` turns gradient checkpointing on: one more forward per update;
``--trl-no-gradient-checkpointing`` turns it off). Target: ours <= 0.5x TRL.

    python -m benchmarks.perf.grpo_vs_trl --trl-path /tmp/trl_1_16        # CPU: tiny GPT-2, 8 prompts x 4, 32+32
    python -m benchmarks.perf.grpo_vs_trl --trl-path /tmp/trl_1_16 --decoding-backend compiled --fused-reward-model
    python -m benchmarks.perf.grpo_vs_trl --trl-path /tmp/trl_1_16 --size gpt2-small --device cuda --dtype bf16 \
        --batch 64 --prompt-tokens 64 --new-tokens 64                   # GPU (read the wall seconds there)

On CUDA the peak GPU memory of each system (``torch.cuda.max_memory_allocated``) is recorded beside its RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.perf.common import model_argument_parser, torch_dtype, write_results
from benchmarks.perf.models import benchmark_model, make_env, prompt_batch
from benchmarks.perf.ppo_vs_trl import Clock, save_reward_model

SYSTEMS = ("trl", "ours")


def run_ours(args, tokenizer, reward_dir: str) -> dict[str, list[float]]:
    from agents.grpo.config import GRPOConfig
    from agents.grpo.trainer import GRPOTrainer

    config = GRPOConfig(
        env="textenvs/Translation-v0", seed=0, device=args.device, iterations=args.iterations + 1, num_envs=args.batch,
        num_generations=args.group, num_iterations=1, num_minibatches=1, beta=0.0, loss_type="grpo",
        scale_rewards="group", temperature=1.0, learning_rate=1e-6, progress=False, tensorboard=False,
        decoding_backend=args.decoding_backend,
        env_kwargs={"tokenizer": tokenizer, "split": "train", "max_prompt_length": args.prompt_tokens,
                    "max_new_tokens": args.new_tokens, "scorer": "reward_model",
                    "scorer_kwargs": {"model_path": reward_dir, "use_prompt": True, "batch_size": args.batch,
                                      "device": args.device, "fused_activations": args.fused_reward_model}})
    clock = Clock()
    model = benchmark_model(args.size, torch.device(args.device), torch_dtype(args.dtype))[1]
    GRPOTrainer(config, model=model).train(callback=lambda _: clock.stamp())
    return clock.seconds()


def run_trl(args, tokenizer, reward_dir: str) -> dict[str, list[float]]:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class IterationClock(TrainerCallback):
        def on_step_end(self, *_, **__):
            clock.stamp()

    env = make_env(args.batch, args.prompt_tokens, args.new_tokens, tokenizer, split="train")
    prompt_ids, prompt_mask, _ = prompt_batch(env, args.batch, torch.device("cpu"))
    prompts = [tokenizer.decode(row[mask.bool()].tolist()) for row, mask in zip(prompt_ids, prompt_mask)]
    trl_tokenizer = tokenizer.__class__.from_pretrained(reward_dir)
    trl_tokenizer.padding_side = "left"
    with tempfile.TemporaryDirectory() as output_dir:
        config = GRPOConfig(
            output_dir=output_dir, per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
            num_generations=args.group, max_completion_length=args.new_tokens, num_iterations=1, beta=0.0,
            loss_type="grpo", scale_rewards="group", temperature=1.0, top_p=1.0, top_k=0, learning_rate=1e-6,
            max_steps=args.iterations + 1, report_to="none", save_strategy="no", logging_steps=10**9, seed=0,
            use_cpu=args.device == "cpu", bf16=args.dtype == "bf16", dataloader_drop_last=True, use_vllm=False,
            gradient_checkpointing=not args.trl_no_gradient_checkpointing)
        # Every prompt repeated so that each of the (iterations + 1) batches draws args.batch / group of them.
        dataset = datasets.Dataset.from_dict({"prompt": prompts * (args.iterations + 2)})
        model = benchmark_model(args.size, torch.device(args.device), torch_dtype(args.dtype))[1]
        trainer = GRPOTrainer(model=model, args=config,
                              reward_funcs=AutoModelForSequenceClassification.from_pretrained(reward_dir),
                              reward_processing_classes=trl_tokenizer, train_dataset=dataset,
                              processing_class=trl_tokenizer, callbacks=[IterationClock()])
        clock = Clock()
        trainer.train()
    return clock.seconds()


def child(args) -> None:
    """Run one system and print its figures as JSON on the last line."""
    warnings.filterwarnings("ignore")
    tokenizer, _ = benchmark_model(args.size, torch.device("cpu"))
    seconds = (run_trl if args.system == "trl" else run_ours)(args, tokenizer, args.reward_dir)
    import importlib.metadata

    cuda = torch.device(args.device).type == "cuda"
    print(json.dumps({"seconds": seconds, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                      "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                      "trl_version": importlib.metadata.version("trl") if args.system == "trl" else None,
                      "load_average": os.getloadavg()}))


def main() -> None:
    parser = model_argument_parser(__doc__)
    parser.add_argument("--batch", type=int, default=32, help="completions per iteration")
    parser.add_argument("--group", type=int, default=4, help="generations per prompt")
    parser.add_argument("--iterations", type=int, default=4, help="timed iterations (after one warm-up) per round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each system, alternating (iteration times pooled; peak RSS the largest)")
    parser.add_argument("--decoding-backend", default="eager",
                        help="our rollouts' CachedDecoder backend (compiled: compiles in the warm-up iteration)")
    parser.add_argument("--fused-reward-model", action="store_true",
                        help="our env's reward-model scorer runs the model's tanh GELU fused (fused_activations=True; "
                             "rewards equal up to rounding); TRL runs the model as loaded")
    parser.add_argument("--trl-no-gradient-checkpointing", action="store_true",
                        help="TRL without gradient checkpointing (its GRPOConfig default is on: one more forward)")
    parser.add_argument("--trl-path", default=None, help="directory with the TRL release to compare against")
    parser.add_argument("--system", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--reward-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/perf/results/grpo_vs_trl_cpu.json")
    args = parser.parse_args()
    if args.system:
        child(args)
        return

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as reward_dir:
        tokenizer, _ = benchmark_model(args.size, torch.device("cpu"))
        save_reward_model(tokenizer, args.size, reward_dir)
        # The systems alternate, round after round: a load that drifts during the run weighs on both.
        for system in [name for _ in range(args.rounds) for name in SYSTEMS]:
            environment = dict(os.environ)
            if system == "trl" and args.trl_path:
                environment["PYTHONPATH"] = os.pathsep.join(filter(None, [args.trl_path,
                                                                          environment.get("PYTHONPATH")]))
            command = [sys.executable, "-m", "benchmarks.perf.grpo_vs_trl", "--system", system, "--reward-dir",
                       reward_dir, *sys.argv[1:]]
            finished = subprocess.run(command, env=environment, capture_output=True, text=True,
                                      cwd=Path(__file__).resolve().parents[2])
            if finished.returncode:
                raise RuntimeError(f"{system} failed:\n{finished.stderr[-4000:]}")
            run = json.loads(finished.stdout.strip().splitlines()[-1])
            if system not in results:
                results[system] = {**run, "rounds": []}
            pooled = results[system]
            pooled["rounds"].append(run)
            pooled["seconds"] = {clock: [s for r in pooled["rounds"] for s in r["seconds"][clock]]
                                 for clock in ("wall", "cpu")}
            pooled["peak_rss_gib"] = max(r["peak_rss_gib"] for r in pooled["rounds"])
            if run.get("peak_gpu_gib") is not None:
                pooled["peak_gpu_gib"] = max(r["peak_gpu_gib"] for r in pooled["rounds"])
            pooled["load_average"] = [r["load_average"] for r in pooled["rounds"]]
    median = {clock: {name: float(np.median(result["seconds"][clock])) for name, result in results.items()}
              for clock in ("wall", "cpu")}
    ratio = {clock: median[clock]["ours"] / median[clock]["trl"] for clock in median}
    print(f"GPT-2 {args.size}, {args.device}, {args.dtype}, {args.batch // args.group} prompts x {args.group} "
          f"generations, prompt {args.prompt_tokens} + {args.new_tokens}, 1 epoch, 1 minibatch; TRL "
          f"{results['trl']['trl_version']} (gradient checkpointing "
          f"{'off' if args.trl_no_gradient_checkpointing else 'on, its default'}); our "
          f"decoding backend {args.decoding_backend}, reward model "
          f"{'fused' if args.fused_reward_model else 'as loaded'}")
    for name, result in results.items():
        print(f"  {name:<6} {median['wall'][name]:7.3f} s/iteration wall, {median['cpu'][name]:7.3f} s CPU, "
              f"peak RSS {result['peak_rss_gib']:.2f} GiB"
              + (f", peak GPU {result['peak_gpu_gib']:.2f} GiB" if result.get("peak_gpu_gib") is not None else "")
              + ", load average "
              f"{'/'.join(f'{load[0]:.2f}' for load in result['load_average'])}")
    print(f"  ours / TRL: {ratio['wall']:.2f}x wall, {ratio['cpu']:.2f}x CPU (target <= 0.5x)")
    path = write_results(args.out, {
        "benchmark": "grpo_vs_trl", "model": f"gpt2-{args.size}", "device": args.device, "dtype": args.dtype,
        "batch": args.batch, "group": args.group, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "iterations_per_round": args.iterations, "rounds": args.rounds,
        "trl_version": results["trl"]["trl_version"],
        "trl_gradient_checkpointing": not args.trl_no_gradient_checkpointing,
        "decoding_backend": args.decoding_backend, "fused_reward_model": args.fused_reward_model,
        "systems": results, "median_seconds": median,
        "ours_over_trl": ratio, "target": "ours <= 0.5x TRL"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
