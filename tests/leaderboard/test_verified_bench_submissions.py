"""Verified submissions of trained agents (issue 26, item 4), end to end: ``textenvs bench`` trains a PPO and a GRPO
run (tiny GPT-2 on the toy benchmark) and keeps each policy; ``textenvs leaderboard submit --model`` sends a run's
predictions and policy to a real server on a loopback socket; the server regenerates the predictions from the
policy and marks the entry verified when all are identical. Tampered predictions, tampered or corrupt weights and
pickled files are not verified, and the entry says why."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tarfile
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from safetensors.torch import load_file, save_file

from agents.bench import cli as bench_cli
from agents.bench.results import RunResult
from leaderboard.auth import create_token
from leaderboard.cli import main as leaderboard_cli
from leaderboard.policy import TAR_CONTENT_TYPE
from leaderboard.server import create_app
from tests.agents.test_bench import TRANSLATION, write_toy_benchmark
from tests.helpers import tiny_model
from textenvs.core import load_tokenizer

RUNS = {"ppo": "Translation-v0__ppo__seed0", "grpo": "Translation-v0__grpo__seed0"}


def _tiny_agent_config(model_dir: Path) -> dict:
    common = {"model": str(model_dir), "num_envs": 4, "num_minibatches": 1, "learning_rate": 1e-3,
              "progress": False, "tensorboard": False}
    return {"ppo": {**common, "update_epochs": 1}, "grpo": {**common, "num_generations": 2}}


def _bench(args: list[str]) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = bench_cli.main(args)
    return status, printed.getvalue()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A bench of a PPO and a GRPO run on whole (five-example) test splits: the results directory, the env kwargs
    and what the bench printed."""
    root = tmp_path_factory.mktemp("verified-bench")
    env_kwargs = write_toy_benchmark(root)
    tokenizer = load_tokenizer(env_kwargs["tokenizer"])
    model = tiny_model("causal", tokenizer)
    model.save_pretrained(root / "warm-start")
    tokenizer.save_pretrained(root / "warm-start")
    out = root / "out"
    status, printed = _bench(["--envs", TRANSLATION, "--agents", "ppo,grpo", "--seeds", "0", "--budget", "40",
                              "--eval-batch", "2", "--env-kwargs", json.dumps(env_kwargs),
                              "--agent-config", json.dumps(_tiny_agent_config(root / "warm-start")),
                              "--out", str(out), "--no-progress"])
    assert status == 0, printed
    return out, env_kwargs, printed


class LiveServer:
    """The leaderboard app served by uvicorn on a free loopback port in a thread of this process."""

    def __init__(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(bench, tmp_path):
    """A live server whose canonical split is the toy benchmark's, keeping policies under ``tmp_path``; its URL and
    a token."""
    _, env_kwargs, _ = bench
    app = create_app(f"sqlite:///{tmp_path}/lb.db", env_kwargs={TRANSLATION: env_kwargs},
                     policy_dir=tmp_path / "policies")
    token = create_token(app.state.leaderboard.store, "submitter")
    with LiveServer(app) as url:
        yield url, token, app.state.leaderboard


def _submit(url: str, token: str, predictions: Path, model: Path | None, capsys) -> tuple[int, str, str]:
    """``textenvs leaderboard submit`` over HTTP; the exit status, the submission id and what it printed."""
    args = ["submit", str(predictions), "--env", TRANSLATION, "--server", url, "--token", token,
            "--metadata", f"@{predictions.with_suffix('.metadata.json')}"]
    status = leaderboard_cli(args + (["--model", str(model)] if model is not None else []))
    printed = capsys.readouterr()
    submission_id = printed.out.split()[1] if printed.out.startswith("submission ") else ""
    return status, submission_id, printed.out + printed.err


def _detail(url: str, submission_id: str) -> dict:
    return httpx.get(f"{url}/api/submissions/{submission_id}").json()


def test_bench_keeps_each_trained_policy_and_states_its_size(bench):
    out, _, printed = bench
    for agent, run in RUNS.items():
        result = RunResult.model_validate_json((out / "runs" / f"{run}.json").read_text())
        assert result.policy_path == f"policies/{run}" and result.env_steps > 0
        policy = out / result.policy_path
        files = sorted(path.name for path in policy.iterdir())
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                f"{agent}_config.json"} <= set(files)
        assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
        assert result.policy_bytes == sum(path.stat().st_size for path in policy.iterdir())
        assert f"{run}: chrf=" in printed and f"policy {result.policy_bytes / 1e6:.1f} MB" in printed
    assert f"policies: 2 kept" in printed and "--no-save-policies" in printed
    assert f"--model {out / 'policies'}/" in printed  # the closing submit command sends a policy


def test_no_save_policies_keeps_none(bench, tmp_path):
    out, env_kwargs, _ = bench
    status, printed = _bench(["--envs", TRANSLATION, "--agents", "ppo", "--budget", "0", "--no-save-policies",
                              "--env-kwargs", json.dumps(env_kwargs), "--out", str(tmp_path / "out"),
                              "--agent-config", json.dumps({"ppo": _tiny_agent_config(out.parent / "warm-start")[
                                  "ppo"]}), "--no-progress"])
    assert status == 0, printed
    result = RunResult.model_validate_json((tmp_path / "out" / "runs" / f"{RUNS['ppo']}.json").read_text())
    assert result.policy_path is None and result.policy_bytes is None
    assert not (tmp_path / "out" / "policies").exists() and "--model" not in printed


@pytest.mark.parametrize("agent", ["ppo", "grpo"])
def test_a_bench_run_submitted_with_its_policy_is_verified(bench, server, agent, capsys):
    out, _, _ = bench
    url, token, _ = server
    run = RUNS[agent]
    predictions = out / "predictions" / f"{run}.jsonl"
    texts = [json.loads(line)["prediction"] for line in predictions.read_text().splitlines()]
    assert len(set(texts)) > 1, "the trained policy's outputs should depend on the prompt"
    # The warm start the run began from does not regenerate them: what the bench kept is the trained policy.
    status, submission_id, printed = _submit(url, token, predictions, out.parent / "warm-start", capsys)
    assert status == 3 and "regenerated predictions differ" in printed, printed
    status, again, printed = _submit(url, token, predictions, out / "policies" / run, capsys)
    assert status == 0 and "VERIFIED" in printed and again == submission_id, printed
    detail = _detail(url, submission_id)
    verification = detail["verification"]
    assert detail["verified"] and verification["exact"] and verification["identical_predictions"] == 1.0
    assert verification["reason"] is None and verification["metrics"] == detail["metrics"]
    ranking = httpx.get(f"{url}/api/rankings/{TRANSLATION}").json()["entries"]
    assert [(entry["id"], entry["verified"]) for entry in ranking] == [(submission_id, True)]
    page = httpx.get(f"{url}/submissions/{submission_id}").text
    assert "badge verified" in page and "every prediction must be identical" in page


def test_tampered_predictions_are_not_verified(bench, server, tmp_path, capsys):
    out, _, _ = bench
    url, token, _ = server
    run = RUNS["ppo"]
    records = [json.loads(line) for line in (out / "predictions" / f"{run}.jsonl").read_text().splitlines()]
    honest = records[2]["prediction"]
    records[2]["prediction"] = "two children play in the park"  # a better answer than the policy's
    assert honest != records[2]["prediction"]
    tampered = tmp_path / f"{run}.jsonl"
    tampered.write_text("".join(json.dumps(record) + "\n" for record in records))
    shutil.copy(out / "predictions" / f"{run}.metadata.json", tmp_path / f"{run}.metadata.json")
    status, submission_id, printed = _submit(url, token, tampered, out / "policies" / run, capsys)
    assert status == 3 and "NOT verified" in printed
    verification = _detail(url, submission_id)["verification"]
    assert not verification["verified"] and verification["identical_predictions"] == pytest.approx(4 / 5)
    assert verification["reason"].startswith("1 of 5 regenerated predictions differ from the submitted ones "
                                             f"(first: {records[2]['id']}: submitted 'two children play")
    assert repr(honest) in verification["reason"]
    assert "Not verified: 1 of 5" in httpx.get(f"{url}/submissions/{submission_id}").text


def _copy_policy(bench, tmp_path: Path, agent: str) -> Path:
    out, _, _ = bench
    return Path(shutil.copytree(out / "policies" / RUNS[agent], tmp_path / f"{agent}-policy"))


def test_tampered_or_corrupt_weights_are_not_verified(bench, server, tmp_path, capsys):
    out, _, _ = bench
    url, token, leaderboard = server
    predictions = out / "predictions" / f"{RUNS['grpo']}.jsonl"
    tampered = _copy_policy(bench, tmp_path, "grpo")
    weights = load_file(tampered / "model.safetensors")
    generator = torch.Generator().manual_seed(0)
    # The output embeddings perturbed: a different model with the same files, names and shapes.
    name = next(key for key in weights if "wte" in key)
    weights[name] = weights[name] + 2.0 * torch.randn(weights[name].shape, generator=generator)
    save_file(weights, tampered / "model.safetensors", metadata={"format": "pt"})
    status, submission_id, printed = _submit(url, token, predictions, tampered, capsys)
    assert status == 3 and "regenerated predictions differ" in printed, printed
    assert not _detail(url, submission_id)["verified"]

    # The same submission with weights cut short: they do not load; the entry stays unverified, with the reason.
    corrupt = _copy_policy(bench, tmp_path / "corrupt", "grpo")
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 2])
    status, again, printed = _submit(url, token, predictions, corrupt, capsys)
    assert status == 3 and again == submission_id
    verification = _detail(url, submission_id)["verification"]
    assert not verification["verified"] and verification["metrics"] == {}
    assert verification["reason"].startswith("the policy could not be loaded or run:")

    # And the honest policy verifies the very same entry.
    status, _, printed = _submit(url, token, predictions, out / "policies" / RUNS["grpo"], capsys)
    assert status == 0 and _detail(url, submission_id)["verified"]


def test_pickled_or_missing_policies_are_refused(bench, server, tmp_path, capsys):
    out, _, _ = bench
    url, token, leaderboard = server
    predictions = out / "predictions" / f"{RUNS['ppo']}.jsonl"
    pickled = _copy_policy(bench, tmp_path, "ppo")
    torch.save({"weights": torch.zeros(2)}, pickled / "pytorch_model.bin")
    # The client names the refused file before sending anything.
    assert _submit(url, token, predictions, pickled, capsys)[0] == 2
    assert leaderboard.store.ranking(TRANSLATION, leaderboard.benchmarks.get(TRANSLATION).dataset.content_hash,
                                     10, 0) == []
    assert _submit(url, token, predictions, tmp_path / "nowhere", capsys)[0] == 2

    # A client that sends one anyway: the server refuses the archive and records why the entry is not verified.
    status, submission_id, _ = _submit(url, token, predictions, None, capsys)
    assert status == 0
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path in sorted(pickled.iterdir()):
            tar.add(path, arcname=path.name)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": TAR_CONTENT_TYPE}
    answer = httpx.put(f"{url}/submissions/{submission_id}/policy", content=archive.getvalue(), headers=headers)
    assert answer.status_code == 200 and not answer.json()["verified"]
    assert "'pytorch_model.bin'" in answer.json()["reason"]
    assert _detail(url, submission_id)["verification"]["reason"] == answer.json()["reason"]

    # Only the submitter may attach a policy.
    other = create_token(leaderboard.store, "someone-else")
    answer = httpx.put(f"{url}/submissions/{submission_id}/policy", content=archive.getvalue(),
                       headers={**headers, "Authorization": f"Bearer {other}"})
    assert answer.status_code == 403 and "belongs to another token" in answer.json()["detail"]


def test_a_server_without_a_policy_dir_accepts_no_policy(bench, tmp_path):
    from fastapi.testclient import TestClient

    out, env_kwargs, _ = bench
    app = create_app(f"sqlite:///{tmp_path}/lb.db", env_kwargs={TRANSLATION: env_kwargs})
    token = create_token(app.state.leaderboard.store, "submitter")
    predictions = out / "predictions" / f"{RUNS['ppo']}.jsonl"
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    body = {"env_id": TRANSLATION, "dataset_hash": rows[0]["dataset_hash"], "metadata": {"agent": "ppo"},
            "predictions": [{"id": row["id"], "prediction": row["prediction"]} for row in rows]}
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        submission_id = client.post("/submissions", json=body, headers=headers).json()["id"]
        answer = client.put(f"/submissions/{submission_id}/policy", content=b"",
                            headers={**headers, "Content-Type": TAR_CONTENT_TYPE})
        assert answer.status_code == 404 and "--policy-dir" in answer.json()["detail"]
        assert client.get(f"/api/submissions/{submission_id}").json()["verification"] is None


def test_a_config_declaring_a_huge_model_is_refused_before_it_is_built(bench, server, tmp_path, capsys):
    """A few bytes of config could declare billions of parameters that transformers would initialise at random in
    the server's memory; the declared size is checked on the meta device first."""
    out, _, _ = bench
    url, token, _ = server
    policy = _copy_policy(bench, tmp_path, "ppo")
    config = json.loads((policy / "config.json").read_text())
    config.update(n_embd=8192, n_head=8)
    (policy / "config.json").write_text(json.dumps(config))
    status, submission_id, printed = _submit(url, token, out / "predictions" / f"{RUNS['ppo']}.jsonl", policy, capsys)
    assert status == 3, printed
    reason = _detail(url, submission_id)["verification"]["reason"]
    assert "config declares a model of" in reason and "the policy limit is 67108864 bytes" in reason
