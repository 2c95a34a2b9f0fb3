"""Rollout throughput of the SB3 baselines beside our PPO, on the same env, model and batch size.

Figures are env steps (= generated tokens) per CPU-second of this process, with wall-clock tokens/s beside them
(one torch thread: on a shared machine CPU time measures the work, wall time also other jobs). Measured in order:

1. ``sb3-ppo`` / ``sb3-maskable-ppo`` rollouts: SB3's ``collect_rollouts`` phase (timed between SB3's rollout-start
   and rollout-end callbacks inside a normal ``learn``), with :class:`~agents.sb3.policies.TransformerActorCriticPolicy`
   on a ``DummyVecEnv`` of ``gymnasium.make`` envs: one token per step, the whole sequence re-run per token.
   MaskablePPO also re-runs the reference model per sub-env per step for the top-p mask (``textenvs.masks.TopPMask``).
2. ``ppo`` rollouts: our PPO's rollout (``agents.ppo.rollout.collect_rollout``) on the native vector env: KV-cached
   decoding, plain and with the NLPO top-p mask from a cached reference.
3. Whole iterations (rollout + update) of SB3 PPO and our PPO (``agents.ppo.agent.PPOAgent``, KL reference included).
4. The KV cache alone: the same greedy policy decoded by re-running the sequence per token
   (``textenvs.decoding.next_token_logits``, as ``GreedyAgent.act``) and with a KV cache (``textenvs.decoding.DecodingPolicy``), both through ``generate_split``.

Run from the repository root: ``python -m benchmarks.sb3.throughput`` (``--help`` for options); it writes
``benchmarks/sb3/results.json``. See ``benchmarks/sb3/README.md`` for the figures and what they mean.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.callbacks import BaseCallback

import textenvs  # noqa: F401  (registers the envs)
from agents.bench.results import current_hardware, package_versions, utc_now
from agents.ppo.agent import PPOAgent
from agents.ppo.rollout import collect_rollout
from agents.sb3.agents import SB3Agent, SB3MaskablePPOAgent, SB3PPOAgent
from textenvs.decoding import DecodingPolicy, next_token_logits
from textenvs.evaluation import generate_split

RESULTS = Path(__file__).with_name("results.json")


class Clock:
    """CPU time of this process and wall time. On a shared machine the CPU time of a one-thread run is the stable
    figure (other jobs stretch the wall time, not the work); both are recorded."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def elapsed(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


class RolloutTimer(BaseCallback):
    """CPU and wall time of SB3's rollout phases (``collect_rollouts``, GAE included), excluding the updates."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu_seconds = self.wall_seconds = 0.0
        self._clock = Clock()

    def _on_rollout_start(self) -> None:
        self._clock = Clock()

    def _on_rollout_end(self) -> None:
        cpu, wall = self._clock.elapsed()
        self.cpu_seconds += cpu
        self.wall_seconds += wall

    def _on_step(self) -> bool:
        return True


def figure(name: str, tokens: int, cpu_seconds: float, wall_seconds: float, what: str, **extra: Any) -> dict[str, Any]:
    print(f"{name:28} {tokens / cpu_seconds:8.1f} tokens/CPU-s {tokens / wall_seconds:8.1f} tokens/s  "
          f"({tokens} tokens, {cpu_seconds:.2f} CPU-s, {wall_seconds:.2f} s)", flush=True)
    return {"name": name, "tokens": int(tokens), "cpu_seconds": round(cpu_seconds, 3),
            "wall_seconds": round(wall_seconds, 3), "tokens_per_cpu_s": round(tokens / cpu_seconds, 2),
            "tokens_per_s": round(tokens / wall_seconds, 2), "what": what, **extra}


def sb3_figures(agent: SB3Agent, name: str, rollouts: int) -> list[dict[str, Any]]:
    """Rollout-only and whole-iteration throughput of an SB3 agent (after one warm-up rollout + update)."""
    steps_per_rollout = agent.settings.n_steps * agent.settings.num_envs
    agent.algorithm.learn(steps_per_rollout, reset_num_timesteps=False)  # warm-up
    timer = RolloutTimer()
    clock = Clock()
    agent.algorithm.learn(rollouts * steps_per_rollout, callback=timer, reset_num_timesteps=False)
    tokens = rollouts * steps_per_rollout
    return [figure(f"{name} rollout", tokens, timer.cpu_seconds, timer.wall_seconds,
                   f"SB3 collect_rollouts: {agent.settings.num_envs} sub-envs x {agent.settings.n_steps} steps, "
                   "uncached forward per token"),
            figure(f"{name} iteration", tokens, *clock.elapsed(), "SB3 learn: rollout + update "
                   f"({agent.settings.n_epochs} epochs, minibatch {agent.settings.batch_size})")]


def ppo_rollout_figures(env_id: str, env_kwargs: dict, model: torch.nn.Module, num_envs: int, tokens: int,
                        seed: int, nlpo_top_p: float) -> list[dict[str, Any]]:
    """Our PPO's rollouts (after a warm-up one) until at least ``tokens`` tokens, as many as SB3 was timed on."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, **env_kwargs)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(next(model.parameters()).device).manual_seed(seed)
    reference = copy.deepcopy(model).requires_grad_(False)
    figures = []
    for name, masked in (("ppo rollout", False), ("ppo rollout nlpo", True)):
        kwargs = dict(reference=reference, nlpo_top_p=nlpo_top_p) if masked else {}
        with torch.no_grad():
            collect_rollout(env, model, rng.integers(len(env.unwrapped.task.dataset), size=num_envs),
                            generator=generator, **kwargs)  # warm-up
            timed, clock = 0, Clock()
            while timed < tokens:
                rollout = collect_rollout(env, model, rng.integers(len(env.unwrapped.task.dataset), size=num_envs),
                                          generator=generator, **kwargs)
                timed += int(rollout.generated_mask.sum())
        what = "agents.ppo.rollout.collect_rollout on the native vector env, KV-cached sampling"
        if masked:
            what += f", NLPO mask from the reference's cached top-{nlpo_top_p} nucleus"
        figures.append(figure(name, timed, *clock.elapsed(), what))
    return figures


def ppo_iteration_figure(env_id: str, env_kwargs: dict, model: torch.nn.Module, num_envs: int, tokens: int,
                         seed: int, device: str) -> dict[str, Any]:
    """Whole PPOAgent iterations (after a warm-up one) until at least ``tokens`` tokens."""
    agent = PPOAgent(env_id, env_kwargs, seed=seed, model=copy.deepcopy(model), num_envs=num_envs,
                     iterations=10 ** 6, progress=False, tensorboard=False, device=device)
    agent.learn(1)  # warm-up: one iteration
    warm_up_steps, clock = agent.trainer.env_steps, Clock()
    agent.learn(warm_up_steps + tokens)  # PPOAgent.learn counts env steps from the start of training
    return figure("ppo iteration", agent.trainer.env_steps - warm_up_steps, *clock.elapsed(),
                  "PPOAgent iteration: KV-cached rollout, policy/reference/value scoring pass, 4 epochs x 4 minibatches")


def kv_cache_figures(env_id: str, env_kwargs: dict, model: torch.nn.Module, num_envs: int,
                     examples: int) -> list[dict[str, Any]]:
    """The same greedy policy decoded without and with a KV cache (the cost SB3's step-by-step policy pays)."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, **{**env_kwargs, "split": "test"})
    indices = list(range(examples))
    figures = []
    for name, policy, what in (
            ("greedy uncached", lambda observation: next_token_logits(model, observation).argmax(-1).cpu().numpy(),
             "textenvs.decoding.next_token_logits (GreedyAgent.act): the whole sequence re-run per token, as SB3"),
            ("greedy kv-cached", DecodingPolicy(model), "textenvs.decoding.DecodingPolicy: one new token per forward")):
        generate_split(env, policy, indices[:num_envs])  # warm-up
        clock = Clock()
        with torch.no_grad():
            records = generate_split(env, policy, indices)
        figures.append(figure(name, sum(r.length for r in records), *clock.elapsed(), what,
                              mean_episode_length=float(np.mean([r.length for r in records]))))
    return figures


def sequence_cost(env_id: str, env_kwargs: dict, mean_episode_length: float) -> dict[str, float]:
    """Token positions a forward pass processes per episode, uncached vs cached, for the env's mean prompt."""
    task = gym.make(env_id, **{**env_kwargs, "split": "test"}).unwrapped.task
    prompt = float(np.mean([task.encode_prompt(i)[1].sum() for i in range(len(task.dataset))]))
    n = mean_episode_length
    uncached = n * prompt + n * (n - 1) / 2
    return {"mean_prompt_tokens": round(prompt, 2), "mean_episode_length": round(n, 2),
            "positions_uncached": round(uncached, 1), "positions_cached": round(prompt + n, 1),
            "ratio": round(uncached / (prompt + n), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="textenvs/Translation-v0")
    parser.add_argument("--model", default="default", help='"default" (warm start), "scratch" or a checkpoint dir')
    parser.add_argument("--model-size", default="tiny", help="size of a scratch model")
    parser.add_argument("--num-envs", type=int, default=16, help="sub-envs = episodes decoded together")
    parser.add_argument("--rollouts", type=int, default=3,
                        help="timed SB3 rollouts (after a warm-up); our PPO is timed on as many tokens")
    parser.add_argument("--eval-examples", type=int, default=64, help="test examples for the KV-cache comparison")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides run there)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    env_kwargs: dict[str, Any] = {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-checkpoint fallback is recorded as model_source instead
        sb3 = SB3PPOAgent(args.env, env_kwargs, seed=args.seed, model=args.model, model_size=args.model_size,
                          num_envs=args.num_envs, device=args.device)
        maskable = SB3MaskablePPOAgent(args.env, env_kwargs, seed=args.seed, model=args.model,
                                       model_size=args.model_size, num_envs=args.num_envs, device=args.device)
    env_kwargs = dict(sb3.env_kwargs)  # with the checkpoint's tokenizer, if it ships one
    model = copy.deepcopy(sb3.model).to(args.device)  # the untrained warm start, shared by every measurement

    print(f"{args.env}: model {sb3.model_source} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M "
          f"parameters), {args.num_envs} episodes per rollout, {args.threads} torch thread(s), {args.device}")
    figures = sb3_figures(sb3, "sb3-ppo", args.rollouts)
    figures += sb3_figures(maskable, "sb3-maskable-ppo", args.rollouts)
    sb3_tokens = figures[0]["tokens"]  # our PPO is timed on at least as many tokens
    figures += ppo_rollout_figures(args.env, env_kwargs, model, args.num_envs, sb3_tokens, args.seed,
                                   maskable.settings.mask_top_p)
    figures.append(ppo_iteration_figure(args.env, env_kwargs, model, args.num_envs, sb3_tokens, args.seed,
                                        args.device))
    kv = kv_cache_figures(args.env, env_kwargs, model, args.num_envs, args.eval_examples)
    figures += kv
    cost = sequence_cost(args.env, env_kwargs, kv[0]["mean_episode_length"])
    by_name = {f["name"]: f["tokens_per_cpu_s"] for f in figures}  # ratios of CPU-time throughput
    speedups = {"ppo rollout / sb3-ppo rollout": by_name["ppo rollout"] / by_name["sb3-ppo rollout"],
                "ppo rollout nlpo / sb3-maskable-ppo rollout":
                    by_name["ppo rollout nlpo"] / by_name["sb3-maskable-ppo rollout"],
                "ppo iteration / sb3-ppo iteration": by_name["ppo iteration"] / by_name["sb3-ppo iteration"],
                "greedy kv-cached / greedy uncached": by_name["greedy kv-cached"] / by_name["greedy uncached"]}
    for key, value in speedups.items():
        print(f"{key:45} {value:6.2f}x")
    print(f"token positions per episode: uncached {cost['positions_uncached']:.0f}, cached "
          f"{cost['positions_cached']:.0f} ({cost['ratio']:.1f}x)")

    record = {
        "command": "python -m benchmarks.sb3.throughput " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": utc_now().isoformat(timespec="seconds"), "env": args.env, "model_source": sb3.model_source,
        "parameters": sum(p.numel() for p in model.parameters()), "num_envs": args.num_envs,
        "sb3_n_steps": sb3.settings.n_steps, "rollouts": args.rollouts, "threads": args.threads,
        "device": args.device, "figures": figures, "speedups": {k: round(v, 2) for k, v in speedups.items()},
        "sequence_cost": cost, "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
        "hardware": current_hardware().model_dump(), "versions": package_versions(),
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
