"""textenvs served as an OpenEnv environment (``textenvs.integrations.openenv``), driven by OpenEnv's own clients.

The real server (OpenEnv's FastAPI app, uvicorn, 127.0.0.1, a free port) runs in a thread; OpenEnv's WebSocket
clients (``EnvClient`` subclass ``TextEnvsClient`` and ``GenericEnvClient``) talk to it. Every reward, user reply
and observation is checked against the same env driven directly in this process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

import gymnasium as gym
import pytest

from textenvs import TextActionWrapper, load_env_dataset

pytest.importorskip("openenv", reason="OpenEnv is not installed (pip install 'textenvs[openenv]', PyPI openenv 0.10)")
import httpx  # noqa: E402
import uvicorn  # noqa: E402
from openenv.core.generic_client import GenericEnvClient  # noqa: E402

from textenvs.integrations.openenv import (MAX_TEXT_CHARS, TextEnvsAction, TextEnvsClient, create_app,  # noqa: E402
                                           main, openenv_manifest)

TRANSLATION = "textenvs/Translation-v0"
MULTITURN = "textenvs/MultiTurnDialogue-v0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(env_id: str, **limits: Any) -> Iterator[str]:
    """The real server on 127.0.0.1 in a thread; yields its base URL and stops it afterwards."""
    port = _free_port()
    max_request_bytes = limits.get("max_request_bytes", 1 << 20)
    config = uvicorn.Config(create_app(env_id, **limits, port=port), host="127.0.0.1", port=port,
                            ws_max_size=max_request_bytes, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded: 20 s
        if server.started:
            break
        time.sleep(0.1)
    assert server.started, "the OpenEnv server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _direct(env_id: str, index: int, turns: list[str]) -> list[tuple[float, bool, dict]]:
    env = TextActionWrapper(gym.make(env_id))
    env.reset(options={"example_index": index})
    results = []
    for turn in turns:
        _, reward, terminated, truncated, info = env.step(turn)
        results.append((reward, terminated or truncated, info))
        if terminated or truncated:
            break
    return results


@pytest.fixture(scope="module")
def translation_server() -> Iterator[str]:
    with running_server(TRANSLATION, max_sessions=8, max_request_bytes=64 * 1024) as url:
        yield url


@pytest.fixture(scope="module")
def multiturn_server() -> Iterator[str]:
    with running_server(MULTITURN, max_sessions=8) as url:
        yield url


def test_single_turn_text_and_token_actions(translation_server):
    example = load_env_dataset(TRANSLATION, split="train")[3]
    response = example.references[0]
    (expected_reward, _, expected_info), = _direct(TRANSLATION, 3, [response])
    with TextEnvsClient(base_url=translation_server).sync() as env:
        result = env.reset(example_index=3)
        assert result.observation.prompt == example.prompt and not result.done
        assert result.observation.messages == [{"role": "user", "content": example.prompt}]
        assert env.state().example_index == 3
        result = env.step(TextEnvsAction(text=response))
        assert result.done and result.reward == pytest.approx(expected_reward)
        assert result.observation.metadata["prediction"] == expected_info["prediction"]
        assert result.observation.metadata["metrics"] == pytest.approx(expected_info["metrics"])
        ids = result.observation.metadata["action_ids"]
        assert result.observation.generated_ids == ids and env.state().step_count == len(ids)

        # Token level: the same ids one at a time give the same episode.
        env.reset(example_index=3)
        for token in ids[:-1]:
            partial = env.step(TextEnvsAction(token_ids=[token]))
            assert not partial.done and partial.reward == 0.0
        result = env.step(TextEnvsAction(token_ids=ids[-1:]))
        assert result.done and result.reward == pytest.approx(expected_reward)
        assert result.observation.generated_text == expected_info["prediction"]


def test_multi_turn_conversation_with_generic_client(multiturn_server):
    goal = load_env_dataset(MULTITURN, split="train")[0]
    turns = ["what time would you like to arrive ?", "where would you like to go ?", goal.references[0]]
    expected = _direct(MULTITURN, 0, turns)
    with GenericEnvClient(base_url=multiturn_server).sync() as env:
        result = env.reset(example_index=0)
        assert result.observation["messages"] == [{"role": "user", "content": goal.prompt}]
        for turn, (reward, done, info) in zip(turns, expected):
            result = env.step({"text": turn})
            assert (result.reward, result.done) == (pytest.approx(reward), done)
            assert result.metadata.get("user_reply") == info.get("user_reply")
            if not done:
                assert result.observation["messages"][-1] == {"role": "user", "content": info["user_reply"]}
        assert result.done and result.metadata["end_reason"] == "goal_met" and result.reward == 1.0


def test_parallel_sessions_are_isolated(multiturn_server):
    """Six sessions at once, interleaved turn by turn, each equal to its own direct episode."""
    turns = ["what time would you like ?", "what day would you like ?", "i do not know ."]
    expected = {index: _direct(MULTITURN, index, turns) for index in range(6)}
    barrier = threading.Barrier(6, timeout=30)

    def session(index: int) -> list[tuple[float, bool, str | None]]:
        out = []
        with TextEnvsClient(base_url=multiturn_server).sync() as env:
            env.reset(example_index=index)
            for turn in turns[:len(expected[index])]:
                barrier.wait()  # every session steps in the same round
                result = env.step(TextEnvsAction(text=turn))
                out.append((result.reward, result.done, result.observation.metadata.get("user_reply")))
            assert env.state().example_index == index
        return out

    with ThreadPoolExecutor(6) as pool:
        got = dict(zip(range(6), pool.map(session, range(6))))
    for index in range(6):
        assert got[index] == [(pytest.approx(r), d, i.get("user_reply")) for r, d, i in expected[index]]


def test_bad_actions_get_clear_errors_and_the_session_survives(translation_server):
    with TextEnvsClient(base_url=translation_server).sync() as env:
        with pytest.raises(RuntimeError, match="before reset"):
            env.step(TextEnvsAction(text="hello"))
        env.reset(example_index=0)
        with pytest.raises(RuntimeError, match=r"token_ids must lie in \[0, \d+\)"):
            env.step(TextEnvsAction(token_ids=[10 ** 9]))
        with pytest.raises(RuntimeError, match="example_index must be an int"):
            env.reset(example_index=10 ** 9)
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            env.step({"text": "a", "token_ids": [1]})  # both kinds: refused by the action model
        result = env.step(TextEnvsAction(text="the child ."))  # still usable
        assert result.done
        with pytest.raises(RuntimeError, match="episode is over"):
            env.step(TextEnvsAction(text="more"))
    with pytest.raises(ValueError, match="exactly one"):
        TextEnvsAction()
    with pytest.raises(ValueError):
        TextEnvsAction(text="x" * (MAX_TEXT_CHARS + 1))


def test_bounds_capacity_request_size_and_manifest(translation_server):
    # Request size: an HTTP body over the limit (64 KiB here) is refused before any handler runs.
    big = httpx.post(f"{translation_server}/step", content=json.dumps({"action": {"text": "x" * 70_000}}),
                     headers={"content-type": "application/json"}, timeout=10)
    assert big.status_code == 413 and "limit of 65536 bytes" in big.json()["detail"]
    # ...and a WebSocket frame over it closes that session's socket.
    with TextEnvsClient(base_url=translation_server).sync() as env:
        env.reset(example_index=0)
        with pytest.raises(Exception):
            env.step(TextEnvsAction(text="x" * 60_000 + "é" * 3_000))
    manifest = httpx.get(f"{translation_server}/openenv.yaml", timeout=10).text
    import yaml

    assert yaml.safe_load(manifest) == openenv_manifest(TRANSLATION, int(translation_server.rsplit(":", 1)[1]))
    assert httpx.get(f"{translation_server}/health", timeout=10).json()["status"] == "healthy"
    schema = httpx.get(f"{translation_server}/schema", timeout=10).json()
    assert {"text", "token_ids"} <= set(schema["action"]["properties"])


def test_max_sessions_and_idle_timeout():
    with running_server(TRANSLATION, max_sessions=2, idle_timeout_s=1.0) as url:
        first, second = TextEnvsClient(base_url=url).sync(), TextEnvsClient(base_url=url).sync()
        first.reset(example_index=0), second.reset(example_index=1)
        with pytest.raises(RuntimeError, match="CAPACITY_REACHED"):
            TextEnvsClient(base_url=url).sync().reset()
        # OpenEnv's reaper runs every max(timeout / 4, 5) s: after it, both idle sessions are closed.
        time.sleep(6.5)
        with pytest.raises(RuntimeError, match="session was closed"):
            first.step(TextEnvsAction(text="hello"))
        fresh = TextEnvsClient(base_url=url).sync()  # the slots are free again
        assert not fresh.reset(example_index=0).done
        for client in (first, second, fresh):
            client.close()


@pytest.mark.slow
def test_cli_serves_and_writes_the_manifest(tmp_path):
    """`textenvs serve-openenv` in a child process (a fresh interpreter builds the built-in data: ~10 s idle)."""
    path = tmp_path / "openenv.yaml"
    assert main(["--env", TRANSLATION, "--manifest", str(path), "--port", "8123"]) == 0
    import yaml

    assert yaml.safe_load(path.read_text())["port"] == 8123
    assert main(["--env", "textenvs/Translatoin-v0", "--manifest", str(path)]) == 2  # one-line error
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "textenvs", "serve-openenv", "--env", TRANSLATION, "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # bounded: 30 s
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with TextEnvsClient(base_url=f"http://127.0.0.1:{port}").sync() as env:
            assert env.reset(example_index=1).observation.prompt == \
                load_env_dataset(TRANSLATION, split="train")[1].prompt
    finally:
        process.terminate()
        process.wait(timeout=10)
