"""OpenEnv server stress test on loopback: sessions/s, step latency and memory per session of `textenvs serve-openenv`.

    python benchmarks/openenv/stress.py                                   # both envs, default sizes
    python benchmarks/openenv/stress.py --envs textenvs/Translation-v0 --sessions 100 --concurrency 8
    python benchmarks/openenv/stress.py --out benchmarks/openenv/results.json

For each env, ``textenvs serve-openenv`` runs as a child process on 127.0.0.1 and OpenEnv's own async client
(``TextEnvsClient``, an ``EnvClient``) drives it:

1. Throughput: ``--sessions`` sessions, ``--concurrency`` at a time. A session connects (its own WebSocket, its own
   env on the server), resets to an example, sends text actions until the episode is done (single-turn: the
   example's reference; multi-turn: a scripted booking agent, at most ``--max-turns`` turns) and disconnects.
   Reported: sessions/s over the whole phase, steps/s, and the p50 / p99 / max latency of a step (client-measured
   round trip, text action in, observation out).
2. Memory: ``--hold`` sessions are opened and reset and kept open together; the server's resident memory (RSS) is
   read before and while they are held. Memory per session = the difference / ``--hold``.

Every session must finish without an error (a reset, step or connection error counts as a failure). Traffic goes
only to 127.0.0.1; every loop is bounded in count and by ``--time-limit``. Exit status 0 when no session failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the checkout root holds benchmarks
from benchmarks.loopback import HOST, free_port, stop, wait_until_healthy  # noqa: E402

AGENT_TURNS = ["what time would you like ?", "what day would you like ?", "how many people ?",
               "where would you like to go ?"]


class ServerProcess:
    """``textenvs serve-openenv`` in a child process on a loopback port."""

    def __init__(self, env_id: str, max_sessions: int) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "textenvs", "serve-openenv", "--env", env_id, "--host", HOST, "--port",
             str(self.port), "--max-sessions", str(max_sessions), "--idle-timeout", "600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})

    def wait_ready(self, timeout: float = 120.0) -> None:
        if not wait_until_healthy(self.process, f"{self.url}/health", timeout, poll_seconds=0.2,
                                  exited=lambda: f"server exited: {self.process.stderr.read().decode()[-2000:]}"):
            raise TimeoutError(f"server not ready after {timeout} s")

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self) -> None:
        stop(self.process, grace_seconds=15)


def script(env_id: str, index: int, max_turns: int) -> list[str]:
    """The text actions of session ``index``: the reference (single turn) or questions then the confirmation."""
    from textenvs import load_env_dataset

    example = load_env_dataset(env_id, split="train")[index]
    if env_id.startswith("textenvs/MultiTurnDialogue"):
        return [*AGENT_TURNS[:max(0, max_turns - 1)], example.references[0]]
    return [example.references[0]]


async def run_session(url: str, actions: list[str], index: int, latencies: list[float]) -> int:
    from textenvs.integrations.openenv import TextEnvsAction, TextEnvsClient

    client = TextEnvsClient(base_url=url, message_timeout_s=60.0)
    try:
        await client.reset(example_index=index)
        steps = 0
        for action in actions:
            start = time.perf_counter()
            result = await client.step(TextEnvsAction(text=action))
            latencies.append(time.perf_counter() - start)
            steps += 1
            if result.done:
                break
        return steps
    finally:
        await client.close()


async def throughput(url: str, env_id: str, sessions: int, concurrency: int, max_turns: int,
                     deadline: float) -> dict[str, Any]:
    scripts = [script(env_id, i, max_turns) for i in range(sessions)]
    latencies: list[float] = []
    failures: list[str] = []
    steps = 0
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        nonlocal steps
        if time.monotonic() > deadline:
            failures.append(f"session {i}: skipped (time limit)")
            return
        async with gate:
            try:
                done = await run_session(url, scripts[i], i, latencies)
                steps += done  # after the await: `steps += await ...` would read steps before it
            except Exception as error:  # every failure is counted, none stops the run
                failures.append(f"session {i}: {error!r}"[:300])

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(sessions)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
    return {"sessions": sessions, "concurrency": concurrency, "failed": len(failures), "failures": failures[:5],
            "seconds": round(elapsed, 3), "sessions_per_s": round((sessions - len(failures)) / elapsed, 2),
            "steps": steps, "steps_per_s": round(steps / elapsed, 2),
            "step_latency_ms": {"p50": round(1000 * statistics.median(ordered), 2) if ordered else None,
                                "p99": round(1000 * p99, 2), "max": round(1000 * ordered[-1], 2) if ordered else None}}


async def memory(server: ServerProcess, hold: int) -> dict[str, Any]:
    from textenvs.integrations.openenv import TextEnvsClient

    before = server.rss()
    clients = [TextEnvsClient(base_url=server.url) for _ in range(hold)]
    try:
        for i, client in enumerate(clients):  # one at a time: the figure is memory, not speed
            await client.reset(example_index=i)
        await asyncio.sleep(0.5)
        during = server.rss()
    finally:
        for client in clients:
            await client.close()
    return {"held_sessions": hold, "rss_before_mb": round(before / 2 ** 20, 1),
            "rss_held_mb": round(during / 2 ** 20, 1),
            "memory_per_session_kb": round((during - before) / hold / 1024, 1)}


def bench_env(env_id: str, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    server = ServerProcess(env_id, max_sessions=max(args.concurrency, args.hold) + 1)
    try:
        started = time.perf_counter()
        server.wait_ready()
        ready_s = time.perf_counter() - started
        asyncio.run(throughput(server.url, env_id, min(4, args.sessions), 1, args.max_turns, deadline))  # warm-up
        result = {"env": env_id, "server_ready_s": round(ready_s, 2)}
        result["throughput"] = asyncio.run(throughput(server.url, env_id, args.sessions, args.concurrency,
                                                      args.max_turns, deadline))
        result["memory"] = asyncio.run(memory(server, args.hold))
        return result
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="textenvs/Translation-v0,textenvs/MultiTurnDialogue-v0")
    parser.add_argument("--sessions", type=int, default=200, help="sessions per env in the throughput phase")
    parser.add_argument("--concurrency", type=int, default=16, help="sessions open at once in that phase")
    parser.add_argument("--max-turns", type=int, default=4, help="multi-turn: agent turns per session at most")
    parser.add_argument("--hold", type=int, default=64, help="sessions held open together for the memory figure")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds; later sessions are skipped")
    parser.add_argument("--out", type=Path, help="results JSON to write")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.time_limit
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
               "settings": {k: v for k, v in vars(args).items() if k != "out"}, "envs": []}
    for env_id in args.envs.split(","):
        entry = bench_env(env_id, args, deadline)
        results["envs"].append(entry)
        t, m = entry["throughput"], entry["memory"]
        print(f"{env_id}: {t['sessions_per_s']} sessions/s, {t['steps_per_s']} steps/s, step latency p50 "
              f"{t['step_latency_ms']['p50']} ms / p99 {t['step_latency_ms']['p99']} ms, "
              f"{m['memory_per_session_kb']} kB per session, {t['failed']} failed")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(entry["throughput"]["failed"] == 0 for entry in results["envs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
