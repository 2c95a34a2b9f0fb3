"""The stress benchmarks' server helpers (``benchmarks/loopback.py``) on real child processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.loopback import HOST, free_port, stop, wait_until_healthy


def test_waits_for_a_server_and_stops_it(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", HOST,
                               "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_healthy(server, f"http://{HOST}:{port}/", timeout=30, poll_seconds=0.05,
                                  exited=lambda: "exited")
    finally:
        stop(server, grace_seconds=5)
    assert server.poll() is not None


def test_a_server_that_exits_is_reported_and_silence_times_out():
    exiting = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_until_healthy(exiting, f"http://{HOST}:{free_port()}/", timeout=30, poll_seconds=0.05,
                           exited=lambda: f"exited with {exiting.returncode}")
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not wait_until_healthy(silent, f"http://{HOST}:{free_port()}/", timeout=0.3, poll_seconds=0.05,
                                      exited=lambda: "exited")
    finally:
        stop(silent, grace_seconds=5)
