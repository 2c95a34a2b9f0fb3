"""Env step cost of textenvs/MultiTurnDialogue-v0 against textenvs/Dialogue-v0, and per-token cost vs history length.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/multiturn_step_cost.py
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

import textenvs  # noqa: F401  (registers the envs)


def agent_tokens_per_second(env_id: str, num_envs: int = 8, steps: int = 3000) -> float:
    env = gym.make_vec(env_id, num_envs=num_envs)
    env.reset(seed=0)
    base = env.unwrapped
    end = getattr(base, "end_of_turn_token_id", base.task.eos_token_id)
    rng = np.random.default_rng(0)
    actions = [np.where(rng.random(num_envs) < 0.08, end, rng.integers(5, 1500, size=num_envs)) for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps * num_envs / (time.perf_counter() - start)


def mid_turn_step_us(history: int, steps: int = 500) -> float:
    env = gym.make("textenvs/MultiTurnDialogue-v0", max_new_tokens=history + steps + 1, max_turn_tokens=history + steps)
    env.reset(seed=0)
    for _ in range(history):
        env.step(9)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(9)
    return (time.perf_counter() - start) * 1e6 / steps


if __name__ == "__main__":
    for env_id in ("textenvs/Dialogue-v0", "textenvs/MultiTurnDialogue-v0"):
        print(f"{env_id}: {agent_tokens_per_second(env_id):.0f} agent tokens/s (vector env, 8 sub-envs, 8% end tokens)")
    for history in (0, 2000):
        print(f"single env, one agent token after {history} tokens: {mid_turn_step_us(history):.0f} us")
