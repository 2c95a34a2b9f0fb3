"""Rollout tokens/s through the env + our PPO rollout code, against the limit on the same model, batch and lengths.

Measured side by side in one process:

- ``generate``: ``model.generate`` (sampling, KV cache), no env;
- ``cached_loop``: a bare KV-cached ``model(...)`` decode loop (:class:`~textenvs.decoding.CachedDecoder`) with the
  rollout's own sampler (:func:`~textenvs.decoding.sample_tokens`), no env;
- ``ours``: :func:`agents.ppo.rollout.collect_rollout`, which steps the native vector env with every token and
  scores the finished episodes (chrF) — everything a PPO rollout does;
- with ``--backends eager,compiled`` (any of :data:`~textenvs.decoding.DECODING_BACKENDS`), ``cached_loop`` and
  ``ours`` once per decoding backend (``cached_loop[compiled]``, ``ours[compiled]``, ...); the first call of a
  compiled backend compiles (its seconds are recorded) and the script checks that no step recompiled after it;
- ``ours_parallel_scoring`` (with ``--scorer-workers N``): the same, with chrF computed by N worker processes
  (:class:`~textenvs.scorers.ParallelScorer`), so the host's scoring of 256 finished episodes does not serialize;
- ``reforward``: a cache-less loop that re-runs the model over the whole sequence for every token, what a
  token-level env replay without a KV cache pays (RL4LMs-style), for contrast.

Ratios: ``ours / limit`` with the limit the faster of ``generate`` and the eager ``cached_loop`` (target 0.95),
``ours[b] / cached_loop[b]`` for each backend (the same ratio on the same decoding path), and
``cached_loop[b] / generate`` (target 2 for the compiled path).

    python -m benchmarks.perf.rollout_throughput                               # CPU: tiny GPT-2, batch 32, 32+32
    python -m benchmarks.perf.rollout_throughput --size gpt2-small --device cuda --dtype bf16 \
        --batch 64,256 --prompt-tokens 64 --new-tokens 64                       # GPU, GPT-2 small
    python -m benchmarks.perf.rollout_throughput --batch 16,64,256 --backends eager,compiled --skip-reforward
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Callable

import torch
import torch._dynamo

from agents.ppo.rollout import collect_rollout
from benchmarks.perf.common import model_argument_parser, torch_dtype, write_results
from benchmarks.perf.models import benchmark_model, make_env, prompt_batch, synchronize
from textenvs.decoding import (DECODING_BACKENDS, CachedDecoder, causal_position_ids, check_decoding_backend,
                               sample_tokens)


@torch.inference_mode()
def cached_loop(model, prompt_ids, prompt_mask, new_tokens: int, generator, backend: str = "eager") -> None:
    # The same sampler as the rollout, so the gap to ours is the env and the PPO bookkeeping, not the sampler.
    decoder = CachedDecoder(model, prompt_ids, prompt_mask, backend=backend, max_new_tokens=new_tokens)
    for _ in range(new_tokens - 1):
        decoder.advance(sample_tokens(decoder.logits, generator))
    sample_tokens(decoder.logits, generator)


@torch.inference_mode()
def generate(model, prompt_ids, prompt_mask, new_tokens: int, pad_token_id: int) -> None:
    model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, max_new_tokens=new_tokens,
                   min_new_tokens=new_tokens, do_sample=True, top_k=0, top_p=1.0, pad_token_id=pad_token_id)


@torch.inference_mode()
def reforward(model, prompt_ids, prompt_mask, new_tokens: int, generator) -> None:
    ids, mask = prompt_ids, prompt_mask
    for _ in range(new_tokens):
        logits = model(input_ids=ids, attention_mask=mask, position_ids=causal_position_ids(mask)).logits[:, -1]
        token = torch.multinomial(torch.softmax(logits.float(), dim=-1), 1, generator=generator)
        ids, mask = torch.cat([ids, token], dim=1), torch.cat([mask, torch.ones_like(token)], dim=1)


def sfx(backend: str) -> str:
    """The name suffix of a system on ``backend`` (none for the default eager one)."""
    return "" if backend == "eager" else f"[{backend}]"


def timed_round_robin(functions: dict[str, Callable[[], None]], device: torch.device,
                      repeats: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds per call of each function (``{"wall": {name: s}, "cpu": {name: s}}``), the
    functions interleaved in every round so that a change in machine load hits all of them alike (one warm-up round
    first). CPU seconds (this process) are the steadier figure on a shared machine: other processes' load stretches
    wall time, not the CPU time a system needs (on a GPU, read the wall time: the host waits on the device)."""
    durations: dict[str, dict[str, list[float]]] = {"wall": {name: [] for name in functions},
                                                     "cpu": {name: [] for name in functions}}
    for round_index in range(repeats + 1):
        for name, function in functions.items():
            synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            synchronize(device)
            if round_index:
                durations["wall"][name].append(time.perf_counter() - start)
                durations["cpu"][name].append(time.process_time() - start_cpu)
    return {clock: {name: sorted(values)[len(values) // 2] for name, values in per_name.items()}
            for clock, per_name in durations.items()}


def main() -> None:
    parser = model_argument_parser(__doc__)
    parser.add_argument("--batch", default="32", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-reforward", action="store_true", help="skip the slow cache-less contrast")
    parser.add_argument("--scorer-workers", type=int, default=0,
                        help="also time ours with chrF scored by this many worker processes (ParallelScorer)")
    parser.add_argument("--backends", default="eager",
                        help=f"comma-separated decoding backends of cached_loop and ours, from {DECODING_BACKENDS}")
    parser.add_argument("--out", default="benchmarks/perf/results/rollout_throughput_cpu.json")
    args = parser.parse_args()

    device = torch.device(args.device)
    dtype = torch_dtype(args.dtype)
    tokenizer, model = benchmark_model(args.size, device, dtype)
    parameters = sum(p.numel() for p in model.parameters())
    backends = args.backends.split(",")
    for backend in backends:
        check_decoding_backend(backend)
    rows = []
    print(f"GPT-2 {args.size} ({parameters / 1e6:.1f}M parameters), {device}, {args.dtype}, "
          f"prompt {args.prompt_tokens} + {args.new_tokens} new tokens")
    print(f"{'batch':>6} {'generate':>10} {'cached':>10} {'ours':>10} {'reforward':>10} {'ours/limit':>11}   tokens/s")
    for batch in map(int, args.batch.split(",")):
        env = make_env(batch, args.prompt_tokens, args.new_tokens, tokenizer)
        prompt_ids, prompt_mask, indices = prompt_batch(env, batch, device)
        generator = torch.Generator(device=device).manual_seed(0)
        tokens = batch * args.new_tokens
        systems = {"generate": lambda: generate(model, prompt_ids, prompt_mask, args.new_tokens,
                                                tokenizer.pad_token_id)}
        compile_seconds = {}
        for backend in backends:
            suffix = sfx(backend)
            systems["cached_loop" + suffix] = partial(cached_loop, model, prompt_ids, prompt_mask, args.new_tokens,
                                                      generator, backend)
            systems["ours" + suffix] = partial(collect_rollout, env, model, indices, generator=generator,
                                               decoding_backend=backend)
            if backend in ("compiled", "cudagraphs"):
                # The first call compiles; timed here, outside the measured rounds.
                synchronize(device)
                start = time.perf_counter()
                systems["cached_loop" + suffix]()
                synchronize(device)
                compile_seconds[backend] = time.perf_counter() - start
        if args.scorer_workers:
            parallel_env = make_env(batch, args.prompt_tokens, args.new_tokens, tokenizer, scorer="parallel",
                                    scorer_kwargs={"scorer": "chrf", "workers": args.scorer_workers})
            systems["ours_parallel_scoring"] = lambda: collect_rollout(parallel_env, model, indices,
                                                                       generator=generator)
        if not args.skip_reforward:
            systems["reforward"] = lambda: reforward(model, prompt_ids, prompt_mask, args.new_tokens, generator)
        compiled_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        seconds = timed_round_robin(systems, device, args.repeats)
        row = {"batch": batch, "load_average": os.getloadavg(), "compile_seconds": compile_seconds,
               "graphs_compiled_during_timing": torch._dynamo.utils.counters["stats"]["unique_graphs"]
               - compiled_before}
        for clock, clock_seconds in seconds.items():
            # "tokens_per_s" (wall) and "tokens_per_cpu_s" with their ratios ("cpu/..." keys).
            rate = {name: tokens / s for name, s in clock_seconds.items()}
            limit = max(rate["generate"], rate["cached_loop"])
            prefix = "" if clock == "wall" else "cpu/"
            row.update({
                prefix + ("tokens_per_s" if clock == "wall" else "tokens_per_cpu_s"): rate,
                prefix + "ours_over_limit": rate["ours"] / limit,
                prefix + "ours_over_cached_loop": {b: rate[f"ours{sfx(b)}"] / rate[f"cached_loop{sfx(b)}"]
                                                   for b in backends},
                prefix + "cached_loop_over_generate": {b: rate[f"cached_loop{sfx(b)}"] / rate["generate"]
                                                       for b in backends},
                # (CPU time leaves out the scoring worker processes: wall time only.)
                prefix + "ours_parallel_scoring_over_limit": rate["ours_parallel_scoring"] / limit
                if args.scorer_workers and clock == "wall" else None,
                prefix + "cached_over_reforward": rate["cached_loop"] / rate["reforward"] if "reforward" in rate
                else None})
        rate = row["tokens_per_s"]
        rows.append(row)
        print(f"{batch:>6} {rate['generate']:>10.0f} {rate['cached_loop']:>10.0f} {rate['ours']:>10.0f} "
              f"{rate.get('reforward', float('nan')):>10.0f} {row['ours_over_limit']:>11.2f}"
              + (f"   parallel scoring ({args.scorer_workers} workers): {rate['ours_parallel_scoring']:.0f} tokens/s, "
                 f"{row['ours_parallel_scoring_over_limit']:.2f}x" if args.scorer_workers else ""))
        for backend in backends:
            print(f"        [{backend}] cached_loop {rate[f'cached_loop{sfx(backend)}']:.0f} tokens/s "
                  f"({row['cached_loop_over_generate'][backend]:.2f}x generate), ours "
                  f"{rate[f'ours{sfx(backend)}']:.0f} ({row['ours_over_cached_loop'][backend]:.2f}x its cached loop)"
                  f"; CPU time: {row['cpu/cached_loop_over_generate'][backend]:.2f}x generate, ours "
                  f"{row['cpu/ours_over_cached_loop'][backend]:.2f}x its cached loop"
                  + (f"; compiled in {compile_seconds[backend]:.1f} s" if backend in compile_seconds else ""))
        print(f"        ours / limit in CPU time {row['cpu/ours_over_limit']:.2f}; load average "
              f"{tuple(round(x, 2) for x in row['load_average'])}; graphs compiled while timing: "
              f"{row['graphs_compiled_during_timing']}")
    path = write_results(args.out, {
        "benchmark": "rollout_throughput", "model": f"gpt2-{args.size}", "parameters": parameters,
        "device": str(device), "dtype": args.dtype, "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens, "rows": rows, "backends": backends,
        "targets": {"ours_over_limit": ">= 0.95", "cached_loop_over_generate[compiled]": ">= 2"}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
