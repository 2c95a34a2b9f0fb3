"""Servers the stress benchmarks start as child processes on a loopback port: a free port, waiting until the server
answers its health check, stopping it (``benchmarks/leaderboard/stress.py``, ``benchmarks/openenv/stress.py``)."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Callable

import httpx

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port no process listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, health_url: str, timeout: float, poll_seconds: float,
                       exited: Callable[[], str]) -> bool:
    """Poll ``health_url`` until it answers 200 (True) or ``timeout`` seconds have passed (False).

    :raises RuntimeError: ``process`` exited before answering; the message is ``exited()`` (e.g. its log's tail).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(exited())
        try:
            if httpx.get(health_url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:  # not listening yet
            pass
        time.sleep(poll_seconds)
    return False


def stop(process: subprocess.Popen, grace_seconds: float) -> None:
    """Terminate ``process`` (if it runs), and kill it when it has not exited after ``grace_seconds``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_seconds)
