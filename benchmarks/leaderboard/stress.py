"""Leaderboard stress and crash test on loopback: concurrent submissions lose none, SIGKILL loses no acknowledged one.

    python benchmarks/leaderboard/stress.py                      # SQLite in a temporary directory
    python benchmarks/leaderboard/stress.py --db "$(scripts/start_postgres.sh)"
    python benchmarks/leaderboard/stress.py --out benchmarks/leaderboard/results.json --label sqlite

1. Concurrency: ``--submissions`` distinct submissions are sent at once (``--concurrency`` connections) to a server
   process; every one must be acknowledged (201) and afterwards be in the database and in the ranking. Then a
   sample is sent again: each must come back 200 with the same id, and no row is added.
2. Crash: ``--kill-cycles`` times, a batch of new submissions is sent and the server is killed with SIGKILL after
   ``--kill-after`` acknowledgements, with requests still in flight. The server is restarted on the same database:
   every acknowledged id must be there. The batch is then sent again (idempotent), after which every submission
   of the batch must be stored exactly once.

3. Bad input: ``--bad-requests`` hostile GETs (huge, negative and non-numeric ``limit``/``offset``, odd env and
   submission ids, index paging) and POSTs (NaN/Infinity in metadata, control and bidi characters in names,
   another env's split, malformed hashes), fixed cases plus seeded random variations, and the page of a submission
   whose learning curve reaches ``env_steps`` = 2**63 - 1. Every answer must be 2xx/4xx: no 5xx, no dropped
   connection.

Traffic goes only to 127.0.0.1; every loop is bounded in count and by ``--time-limit``. Exit status 0 when nothing
was lost and no request got a server error, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the checkout root holds benchmarks
from benchmarks.loopback import HOST, free_port, stop, wait_until_healthy  # noqa: E402


class ServerProcess:
    """``textenvs leaderboard serve`` in a child process on a loopback port (restartable on the same database)."""

    def __init__(self, db_url: str, port: int | None = None, log_path: Path | None = None) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leaderboard.cli", "serve", "--host", HOST, "--port", str(self.port),
             "--db", self.db_url, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
        if wait_until_healthy(self.process, f"{self.url}/healthz", timeout, poll_seconds=0.1, exited=lambda: (
                f"leaderboard server exited with status {self.process.returncode} on startup"
                + (f"; see {self.log_path}" if self.log_path else ""))):
            return
        self.stop()
        raise RuntimeError(f"leaderboard server did not answer on {self.url} within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions die with the process."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace_seconds=10)


def make_submissions(env_id: str, start: int, count: int) -> list[bytes]:
    """``count`` distinct submission bodies numbered from ``start``: the references with the first ``k % 97``
    predictions blanked (so scores differ) and the number in the metadata (so contents differ)."""
    from textenvs import load_env_dataset

    dataset = load_env_dataset(env_id, "test")
    bodies = []
    for number in range(start, start + count):
        blanked = number % 97
        predictions = [{"id": example.id, "prediction": "" if i < blanked else example.references[0]}
                       for i, example in enumerate(dataset)]
        metadata = {"agent": f"stress-{number}", "seeds": [number], "config": {"blanked": blanked},
                    "curve": [{"env_steps": 1000 * step, "reward": step / 10} for step in range(5)]}
        bodies.append(json.dumps({"env_id": env_id, "dataset_hash": dataset.content_hash, "predictions": predictions,
                                  "metadata": metadata}).encode())
    return bodies


@dataclass
class Outcome:
    """What the client saw for one submission."""

    index: int
    status: int | None = None
    submission_id: str | None = None
    created: bool | None = None
    latency: float = 0.0
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201) and self.submission_id is not None


async def send_all(url: str, token: str, bodies: list[bytes], concurrency: int, timeout: float,
                   on_ack: Any = None) -> list[Outcome]:
    """POST every body at once (at most ``concurrency`` connections); ``on_ack(count)`` after each acknowledgement."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    acknowledged = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout, headers=headers) as client:
        async def one(index: int, body: bytes) -> Outcome:
            nonlocal acknowledged
            outcome = Outcome(index)
            began = time.perf_counter()
            try:
                response = await client.post("/submissions", content=body)
                outcome.status = response.status_code
                if response.status_code in (200, 201):
                    answer = response.json()
                    outcome.submission_id, outcome.created = answer["id"], answer["created"]
                else:
                    outcome.error = response.text[:200]
            except httpx.HTTPError as error:
                outcome.error = f"{type(error).__name__}: {error}"[:200]
            outcome.latency = time.perf_counter() - began
            if outcome.acknowledged:
                acknowledged += 1
                if on_ack is not None:
                    on_ack(acknowledged)
            return outcome

        return list(await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies))))


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 4),
            "mean": round(statistics.fmean(ordered), 4)}


def crash_cycle(server: ServerProcess, store: Any, token: str, batch: list[bytes], concurrency: int,
                kill_after: int) -> dict[str, Any]:
    """Send ``batch``, SIGKILL the server after ``kill_after`` acknowledgements, restart it, check every
    acknowledged id, then send the batch again and count what is stored."""
    killed_at: list[float] = []

    def kill_when(count: int) -> None:
        if count == kill_after and not killed_at:
            server.kill()
            killed_at.append(time.perf_counter())

    began = time.perf_counter()
    outcomes = asyncio.run(send_all(server.url, token, batch, concurrency, 120, on_ack=kill_when))
    if not killed_at:  # everything finished before the threshold: kill anyway so the cycle still crashes
        server.kill()
    acknowledged = {o.submission_id for o in outcomes if o.acknowledged}
    server.start()
    present = {sid for sid in acknowledged
               if httpx.get(f"{server.url}/api/submissions/{sid}", timeout=30).status_code == 200}
    retry = asyncio.run(send_all(server.url, token, batch, concurrency, 120))
    retry_ids = {o.submission_id for o in retry if o.acknowledged}
    stored = set(store.ids())
    return {
        "sent": len(batch), "acknowledged_before_kill": len(acknowledged),
        "killed_after_seconds": round(killed_at[0] - began, 2) if killed_at else None,
        "failed_in_flight": sum(1 for o in outcomes if not o.acknowledged),
        "acknowledged_present_after_restart": len(present), "acknowledged_lost": len(acknowledged - present),
        "committed_but_unacknowledged": sum(1 for o, r in zip(outcomes, retry, strict=True)
                                            if not o.acknowledged and r.created is False),
        "resent_all_acknowledged": len(retry_ids), "rows_for_batch": len(retry_ids & stored)}


NUMBERS = ["9223372036854775807", "9223372036854775808", str(2**64), str(2**200), "-1", str(-2**63), "abc", "1e3",
           "", " 1", "0x10", "1.5", "NaN", "inf", "\u0661\u0662", "1" * 5000, "0" * 100 + "1", "+5", "%00"]
ODD_IDS = ["textenvs/Nope-v0", "%00", "%ff", "a" * 10_000, "..%2f..%2fetc%2fpasswd", "%E2%80%AE", "%F0%9F%98%80",
           "textenvs/Dialogue-v0%00", "textenvs/Dialogue-v0/", "%20", "0" * 16, "g" * 16, "0" * 15 + "%0a", "%C0%AF",
           "textenvs/dialogue-v0", "textenvs/Dialogue-v0/../Dialogue-v0", "%25", "'%3B--", "<script>"]
BAD_NAMES = ["a\x85b", "a\u202eb", "\u200b\u200c", "a\u2028b", "a\u2066b", "\u3164", "a\x00b", "a\x1bb", "\u00ad",
             "\u0301", "a\u061cb", "\u2800"]


def bad_requests(env_id: str, other_env_id: str, count: int, seed: int = 0) -> list[tuple[str, str, Any]]:
    """``(method, path, body)`` of hostile requests: the fixed cases, then seeded random variations up to ``count``."""
    from textenvs import load_env_dataset

    split, other = load_env_dataset(env_id, "test"), load_env_dataset(other_env_id, "test")

    def body(split_of_predictions, **metadata) -> bytes:
        return json.dumps({"env_id": env_id, "dataset_hash": split_of_predictions.content_hash,
                           "predictions": [{"id": e.id, "prediction": e.references[0]} for e in split_of_predictions],
                           "metadata": {"agent": "hostile", **metadata}}).encode()

    requests: list[tuple[str, str, Any]] = []
    for number in NUMBERS:
        for parameter in ("offset", "limit"):
            requests.append(("GET", f"/api/rankings/{env_id}?{parameter}={number}", None))
        requests.append(("GET", f"/?env={env_id}&offset={number}", None))
    for odd in ODD_IDS:
        requests += [("GET", f"/api/rankings/{odd}", None), ("GET", f"/api/submissions/{odd}", None),
                     ("GET", f"/submissions/{odd}", None), ("GET", f"/?env={odd}", None)]
    for name in BAD_NAMES:
        requests += [("POST", "/submissions", body(split, agent=name)),
                     ("POST", "/submissions", body(split, versions={name: "1"})),
                     ("POST", "/submissions", body(split, curve=[{"env_steps": 1, name: 0.5}]))]
    for value in (float("nan"), float("inf"), float("-inf")):
        requests += [("POST", "/submissions", body(split, config={"lr": value})),
                     ("POST", "/submissions", body(split, config={"deep": [{"x": value}]})),
                     ("POST", "/submissions", body(split, claimed_metrics={"m": value}))]
    requests += [("POST", "/submissions", body(other)),  # another env's split: same ids, other data
                 ("POST", "/submissions", body(split).replace(split.content_hash.encode(), b"0" * 64)),
                 ("POST", "/submissions", body(split).replace(split.content_hash.encode(), b"xyz")),
                 ("POST", "/submissions", body(split, curve=[{"env_steps": 2**63, "reward": 1.0}])),
                 ("POST", "/submissions", body(split, curve=[{"env_steps": 2**70, "reward": 1.0}]))]
    rng = random.Random(seed)
    alphabet = [chr(c) for c in (*range(0, 0x30), *range(0x7f, 0xa1), 0x200b, 0x202e, 0x2028, 0x2066, 0xfeff, 0x3164)]
    while len(requests) < count:
        kind = rng.randrange(4)
        if kind == 0:
            magnitude = rng.choice([rng.randrange(-10, 10), rng.randrange(2**62, 2**66), -rng.randrange(2**70)])
            requests.append(("GET", f"/api/rankings/{env_id}?{rng.choice(['limit', 'offset'])}={magnitude}", None))
        elif kind == 1:
            odd = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
            quoted = "".join(f"%{b:02X}" for b in odd.encode("utf-8", "surrogatepass"))
            requests.append(("GET", rng.choice(["/api/rankings/", "/api/submissions/", "/submissions/"]) + quoted, None))
        elif kind == 2:
            name = rng.choice(BAD_NAMES) + "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 3)))
            requests.append(("POST", "/submissions", body(split, agent=name)))
        else:
            steps = rng.choice([2**63 - 1 - rng.randrange(1000), rng.randrange(2**63)])
            requests.append(("POST", "/submissions", body(split, agent=f"curve-{len(requests)}", curve=[
                {"env_steps": 0, "reward": -rng.random() * 1e308}, {"env_steps": steps, "reward": rng.random() * 1e308}])))
    return requests


async def send_bad(url: str, token: str, requests: list[tuple[str, str, Any]], concurrency: int) -> dict[str, Any]:
    """Send the hostile requests over keep-alive connections; count answers by status and every 5xx / dropped one."""
    # The client forgets an idle connection after 2 s, before uvicorn closes it (5 s): otherwise a request written
    # on a connection the server is closing at that moment reads EOF, a client-side race that is no server fault.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    pages: list[str] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120, headers=headers) as client:
        async def one(method: str, path: str, content: Any) -> None:
            try:
                response = await client.request(method, path, content=content)
            except httpx.HTTPError as error:
                statuses["connection error"] += 1
                what = (content or b"")[-160:].decode("ascii", "replace") if method == "POST" else ""
                failures.append(f"{method} {path[:80]} {what}: {type(error).__name__}: {error}")
                return
            statuses[str(response.status_code)] += 1
            if response.status_code >= 500:
                failures.append(f"{method} {path[:80]}: {response.status_code} {response.text[:120]}")
            elif method == "POST" and response.status_code in (200, 201):
                pages.append(response.json()["url"])

        await asyncio.gather(*(one(*request) for request in requests))
        # The pages of the accepted ones (huge learning curves) must render too.
        await asyncio.gather(*(one("GET", page, None) for page in pages))
    server_errors = sum(count for status, count in statuses.items() if status.startswith("5"))
    return {"requests": len(requests) + len(pages), "statuses": dict(sorted(statuses.items())),
            "server_errors": server_errors, "connection_errors": statuses["connection error"],
            "pages_rendered": len(pages), "first_failures": failures[:10]}


@dataclass
class Report:
    config: dict[str, Any]
    concurrency: dict[str, Any] = field(default_factory=dict)
    idempotency: dict[str, Any] = field(default_factory=dict)
    crash_cycles: list[dict[str, Any]] = field(default_factory=list)
    bad_input: dict[str, Any] = field(default_factory=dict)
    lost: int = 0
    ok: bool = False


def run(db_url: str, env_id: str, submissions: int, concurrency: int, kill_cycles: int, kill_batch: int,
        kill_after: int, time_limit: float, log_path: Path | None = None, bad_requests_count: int = 0,
        other_env_id: str = "textenvs/Translation-v0") -> Report:
    """Run both phases against ``db_url`` and return the figures (see module docstring)."""
    from leaderboard.auth import create_token
    from leaderboard.store import Store

    began = time.monotonic()
    deadline = began + time_limit
    store = Store(db_url)
    before = set(store.ids())
    token = create_token(store, f"stress-{os.getpid()}-{time.time_ns()}")
    report = Report(config={"env_id": env_id, "submissions": submissions, "concurrency": concurrency,
                            "kill_cycles": kill_cycles, "kill_batch": kill_batch, "kill_after": kill_after,
                            "bad_requests": bad_requests_count,
                            "database": db_url.split(":", 1)[0], "python": platform.python_version(),
                            "cpus": os.cpu_count(), "machine": platform.machine(),
                            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]})
    bodies = make_submissions(env_id, 0, submissions)
    server = ServerProcess(db_url, log_path=log_path)
    server.start()
    try:
        # Phase 1: everything at once.
        t0 = time.perf_counter()
        outcomes = asyncio.run(send_all(server.url, token, bodies, concurrency, max(1.0, deadline - time.monotonic())))
        elapsed = time.perf_counter() - t0
        acknowledged = {o.submission_id for o in outcomes if o.acknowledged}
        stored = set(store.ids()) - before
        ranking = httpx.get(f"{server.url}/api/rankings/{env_id}", params={"limit": 1000}, timeout=60).json()
        ranked = {entry["id"] for entry in ranking["entries"]}
        statuses = Counter(str(o.status) if o.status else o.error.split(":")[0] for o in outcomes)
        report.concurrency = {
            "sent": len(bodies), "acknowledged": len(acknowledged), "statuses": dict(statuses),
            "stored_after": len(stored & acknowledged), "missing_from_db": len(acknowledged - stored),
            "missing_from_ranking": len(acknowledged - ranked) if len(ranked) < 1000 else None,
            "seconds": round(elapsed, 2), "submissions_per_second": round(len(bodies) / elapsed, 1),
            "latency_seconds": percentiles([o.latency for o in outcomes]),
            "first_errors": sorted({o.error for o in outcomes if o.error})[:5]}
        report.lost += (len(bodies) - len(acknowledged)) + len(acknowledged - stored)

        # Idempotency: the same content again gives the same id and no new row.
        sample = list(range(0, len(bodies), max(1, len(bodies) // 50)))
        count_before = store.count()
        again = asyncio.run(send_all(server.url, token, [bodies[i] for i in sample], concurrency, 120))
        same = sum(1 for index, o in zip(sample, again, strict=True)
                   if o.status == 200 and o.created is False and o.submission_id == outcomes[index].submission_id)
        report.idempotency = {"resent": len(sample), "same_id_and_200": same,
                              "rows_added": store.count() - count_before}
        report.lost += len(sample) - same + abs(report.idempotency["rows_added"])

        # Phase 2: SIGKILL with requests in flight.
        next_number = submissions
        for cycle in range(kill_cycles):
            if time.monotonic() > deadline:
                report.crash_cycles.append({"cycle": cycle, "skipped": "time limit reached"})
                break
            batch = make_submissions(env_id, next_number, kill_batch)
            next_number += kill_batch
            figures = crash_cycle(server, store, token, batch, concurrency, kill_after)
            report.crash_cycles.append({"cycle": cycle, **figures})
            report.lost += figures["acknowledged_lost"] + (len(batch) - figures["rows_for_batch"])

        # Phase 3: hostile requests, none of which may get a server error or lose its connection.
        if bad_requests_count > 0:
            hostile = bad_requests(env_id, other_env_id, bad_requests_count)
            t0 = time.perf_counter()
            report.bad_input = asyncio.run(send_bad(server.url, token, hostile, min(concurrency, 50)))
            report.bad_input["seconds"] = round(time.perf_counter() - t0, 2)
        server_failures = report.bad_input.get("server_errors", 0) + report.bad_input.get("connection_errors", 0)
        report.ok = report.lost == 0 and server_failures == 0
        report.config["total_seconds"] = round(time.monotonic() - began, 1)
        return report
    finally:
        server.stop()
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary directory)")
    parser.add_argument("--env", default="textenvs/Dialogue-v0", help="env whose test split is submitted")
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=500, help="simultaneous connections")
    parser.add_argument("--kill-cycles", type=int, default=3)
    parser.add_argument("--kill-batch", type=int, default=200, help="submissions sent in each crash cycle")
    parser.add_argument("--kill-after", type=int, default=60, help="acknowledgements before the SIGKILL")
    parser.add_argument("--bad-requests", type=int, default=1000,
                        help="hostile GET/POST requests of phase 3 (the fixed cases plus random variations)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds; later cycles are skipped")
    parser.add_argument("--label", default=None, help="name of this run in --out (default: the database kind)")
    parser.add_argument("--out", type=Path, help="results JSON to update (one entry per label)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leaderboard-stress-") as tmp:
        db_url = args.db or f"sqlite:///{tmp}/stress.db"
        report = run(db_url, args.env, args.submissions, args.concurrency, args.kill_cycles, args.kill_batch,
                     args.kill_after, args.time_limit, log_path=Path(tmp) / "server.log",
                     bad_requests_count=args.bad_requests)
        if not report.ok and (Path(tmp) / "server.log").exists():
            print((Path(tmp) / "server.log").read_text()[-3000:], file=sys.stderr)
    result = {"config": report.config, "concurrency": report.concurrency, "idempotency": report.idempotency,
              "crash_cycles": report.crash_cycles, "bad_input": report.bad_input, "lost": report.lost, "ok": report.ok}
    print(json.dumps(result, indent=2))
    if args.out:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing[args.label or report.config["database"]] = result
        args.out.write_text(json.dumps(existing, indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
