"""One full PPO iteration, ours vs TRL 1.12.0's ``PPOTrainer``, same model, batch, lengths and epochs, one process.

An iteration is: rollout (generation), scoring, reference and value passes, and ``epochs`` passes of
``minibatches`` minibatches of clipped PPO updates. Both sides use:

- the same GPT-2 built from config (random weights, EOS suppressed so every response has ``new_tokens`` tokens),
  as policy, frozen reference and value network (a separate model on both sides: TRL's design);
- the same reward: a ``GPT2ForSequenceClassification`` saved to a temp dir, reading prompt + response (TRL calls it
  directly on token ids; we reach it through the env's ``reward_model`` scorer, which decodes and re-tokenizes);
- the same prompts: the built-in translation train split as the env lays it out;
- rollout batch B = TRL's per-device batch (gradient accumulation 1), split into the same number of minibatches.

Target: ours <= 0.5x TRL's seconds per iteration (wall and CPU seconds are both recorded; on a shared machine read
the CPU ones). Install TRL for this benchmark only: ``pip install -e ".[perf]"``.

    python -m benchmarks.perf.ppo_vs_trl                                   # CPU: tiny GPT-2, batch 32, 32+32
    python -m benchmarks.perf.ppo_vs_trl --size gpt2-small --device cuda --dtype bf16 --batch 64 \
        --prompt-tokens 64 --new-tokens 64                                 # GPU
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np
import torch

from agents.ppo.config import PPOConfig
from agents.ppo.trainer import PPOTrainer
from benchmarks.perf.common import model_argument_parser, torch_dtype, write_results
from benchmarks.perf.models import benchmark_model, make_env, prompt_batch


def save_reward_model(tokenizer, size: str, directory: str, seed: int = 0) -> str:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from agents.models import CAUSAL_SIZES

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **CAUSAL_SIZES[size])
    GPT2ForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


class Clock:
    """Wall and CPU seconds of each iteration, from a stamp at the end of each (the first, a warm-up, dropped).

    CPU seconds (this process, all its threads) are what the comparison reads on a shared machine: other processes'
    load stretches the wall time of whichever system runs while it lasts, not the CPU time a system needs."""

    def __init__(self) -> None:
        self.stamps = [(time.perf_counter(), time.process_time())]

    def stamp(self) -> None:
        self.stamps.append((time.perf_counter(), time.process_time()))

    def seconds(self) -> dict[str, list[float]]:
        wall, cpu = np.diff(np.array(self.stamps), axis=0)[1:].T
        return {"wall": wall.tolist(), "cpu": cpu.tolist()}


def run_ours(args, tokenizer, model, reward_dir: str, value_model: str) -> dict[str, list[float]]:
    config = PPOConfig(
        env="textenvs/Translation-v0", seed=0, device=args.device, iterations=args.iterations + 1,
        num_envs=args.batch, update_epochs=args.epochs, num_minibatches=args.minibatches, value_model=value_model,
        progress=False, tensorboard=False, decoding_backend=args.decoding_backend,
        env_kwargs={"tokenizer": tokenizer, "split": "train", "max_prompt_length": args.prompt_tokens,
                    "max_new_tokens": args.new_tokens, "scorer": "reward_model",
                    "scorer_kwargs": {"model_path": reward_dir, "use_prompt": True, "batch_size": args.batch,
                                      "device": args.device}})
    clock = Clock()
    PPOTrainer(config, model=model).train(callback=lambda _: clock.stamp())
    return clock.seconds()


def run_trl(args, tokenizer, model_factory, reward_dir: str, prompts: list[list[int]]) -> dict[str, list[float]]:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl.experimental.ppo import PPOConfig as TRLConfig
    from trl.experimental.ppo import PPOTrainer as TRLTrainer

    class IterationClock(TrainerCallback):
        def on_step_end(self, *_, **__):
            clock.stamp()

    trl_tokenizer = tokenizer.__class__.from_pretrained(reward_dir)
    trl_tokenizer.padding_side = "left"
    dataset = datasets.Dataset.from_dict({"input_ids": prompts})
    with tempfile.TemporaryDirectory() as output_dir:
        config = TRLConfig(
            output_dir=output_dir, per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
            num_mini_batches=args.minibatches, num_ppo_epochs=args.epochs, response_length=args.new_tokens,
            total_episodes=args.batch * (args.iterations + 1), local_rollout_forward_batch_size=args.batch,
            temperature=1.0, kl_coef=0.05, stop_token="eos", report_to="none", save_strategy="no",
            num_sample_generations=0, logging_steps=10**9, seed=0, use_cpu=args.device == "cpu",
            bf16=args.dtype == "bf16", dataloader_drop_last=True)
        value_model = AutoModelForSequenceClassification.from_pretrained(reward_dir)
        reward_model = AutoModelForSequenceClassification.from_pretrained(reward_dir)
        trainer = TRLTrainer(args=config, processing_class=trl_tokenizer, model=model_factory(),
                             ref_model=model_factory(), reward_model=reward_model, value_model=value_model,
                             train_dataset=dataset, callbacks=[IterationClock()])
        clock = Clock()
        trainer.train()
    return clock.seconds()


def main() -> None:
    parser = model_argument_parser(__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=4, help="timed iterations (after one warm-up)")
    parser.add_argument("--decoding-backend", default="eager",
                        help="our rollouts' CachedDecoder backend (compiled: compiles in the warm-up iteration)")
    parser.add_argument("--out", default="benchmarks/perf/results/ppo_vs_trl_cpu.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    device = torch.device(args.device)
    dtype = torch_dtype(args.dtype)
    tokenizer, _ = benchmark_model(args.size, device, dtype)
    env = make_env(args.batch * (args.iterations + 1), args.prompt_tokens, args.new_tokens, tokenizer, split="train")
    prompt_ids, prompt_mask, _ = prompt_batch(env, env.num_envs, torch.device("cpu"))
    prompts = [row[mask.bool()].tolist() for row, mask in zip(prompt_ids, prompt_mask)]

    def model_factory():
        return benchmark_model(args.size, device, dtype)[1].train()

    runs = {"trl": lambda: run_trl(args, tokenizer, model_factory, reward_dir, prompts),
            "ours_separate_value": lambda: run_ours(args, tokenizer, model_factory(), reward_dir, "separate"),
            "ours_shared_value": lambda: run_ours(args, tokenizer, model_factory(), reward_dir, "shared")}
    seconds: dict[str, dict[str, list[float]] | None] = {}
    peak_memory_gib: dict[str, float] = {}
    load_average: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as reward_dir:
        save_reward_model(tokenizer, args.size, reward_dir)
        for name, run in runs.items():
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            try:
                seconds[name] = run()
            except torch.OutOfMemoryError:
                seconds[name] = None  # recorded as out of memory, the comparison goes on
            load_average[name] = os.getloadavg()
            if device.type == "cuda":
                peak_memory_gib[name] = torch.cuda.max_memory_allocated() / 2**30
    median = {clock: {name: float(np.median(values[clock])) if values else None for name, values in seconds.items()}
              for clock in ("wall", "cpu")}
    ratios = {clock: {name: value / median[clock]["trl"] for name, value in median[clock].items()
                      if name != "trl" and value is not None and median[clock]["trl"] is not None}
              for clock in median}
    print(f"GPT-2 {args.size}, {device}, {args.dtype}, batch {args.batch}, prompt {args.prompt_tokens} + "
          f"{args.new_tokens}, {args.epochs} epochs x {args.minibatches} minibatches")
    for name in runs:
        memory = f"   peak {peak_memory_gib[name]:.1f} GiB" if name in peak_memory_gib else ""
        if seconds[name] is None:
            print(f"  {name:<22} out of memory{memory}")
            continue
        print(f"  {name:<22} {median['wall'][name]:7.3f} s/iteration wall, {median['cpu'][name]:7.3f} s CPU"
              + (f"   {ratios['wall'][name]:.2f}x / {ratios['cpu'][name]:.2f}x TRL (wall / CPU)" if name != "trl"
                 else "") + f"   load average {load_average[name][0]:.2f}" + memory)
    path = write_results(args.out, {
        "benchmark": "ppo_vs_trl", "model": f"gpt2-{args.size}", "device": str(device), "dtype": args.dtype,
        "batch": args.batch, "minibatches": args.minibatches, "epochs": args.epochs,
        "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "iteration_seconds": seconds,
        "decoding_backend": args.decoding_backend,
        "median_seconds": median, "ratio_to_trl": ratios, "load_average_after": load_average,
        "peak_memory_gib": peak_memory_gib, "out_of_memory": [name for name, values in seconds.items() if values is None],
        "target": "ours <= 0.5x TRL"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
