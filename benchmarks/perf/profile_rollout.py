"""Where a rollout's host time goes: cProfile of our rollout and of the bare cached loop, same model and batch.

On a GPU the decode loop is bound by the host (Python and kernel launches), so the host-side profile is the one
that explains a gap to the limit.

    python -m benchmarks.perf.profile_rollout --size gpt2-small --device cuda --dtype bf16 --batch 256 \
        --prompt-tokens 64 --new-tokens 64
"""

from __future__ import annotations

import cProfile
import io
import pstats

import torch

from agents.ppo.rollout import collect_rollout
from benchmarks.perf.common import model_argument_parser, torch_dtype
from benchmarks.perf.models import benchmark_model, make_env, prompt_batch, synchronize
from benchmarks.perf.rollout_throughput import cached_loop


def main() -> None:
    parser = model_argument_parser(__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    device = torch.device(args.device)
    tokenizer, model = benchmark_model(args.size, device, torch_dtype(args.dtype))
    env = make_env(args.batch, args.prompt_tokens, args.new_tokens, tokenizer)
    prompt_ids, prompt_mask, indices = prompt_batch(env, args.batch, device)
    generator = torch.Generator(device=device).manual_seed(0)
    systems = {"ours": lambda: collect_rollout(env, model, indices, generator=generator),
               "cached_loop": lambda: cached_loop(model, prompt_ids, prompt_mask, args.new_tokens, generator)}
    for name, run in systems.items():
        run()
        synchronize(device)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.repeats):
            run()
        synchronize(device)
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats("textenvs|agents|sacrebleu", args.top)
        print(f"===== {name}, batch {args.batch}, {args.repeats} rollouts =====")
        print(text.getvalue())


if __name__ == "__main__":
    main()
