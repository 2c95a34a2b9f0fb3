"""End-to-end PPO: it learns a trivially learnable reward, the CLI writes its logs, plot, model and checkpoints, and a
run killed with SIGKILL and resumed from its last checkpoint continues exactly like an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tests.helpers import saved_model_and_data, toy_dataset, word_tokenizer

from agents.models import build_causal_lm
from agents.ppo import PPOConfig, PPOTrainer

TINY = dict(n_layer=1, n_embd=32, n_head=2)


def cat_share(predictions, references):
    """Reward: the share of generated words that are "cat" (a random policy gets about 1/V)."""
    return [sum(word == "cat" for word in p.split()) / len(p.split()) if p.split() else 0.0 for p in predictions]


def test_ppo_raises_a_trivially_learnable_reward():
    """Smoke test: PPO learns a trivial reward ("last 5 > first 5 + 0.3") and logs its statistics. Many wrong loss
    formulas would pass it too; the formulas are checked against TRL 1.12's PPO in tests/agents/test_trl_crosscheck.py."""
    tokenizer = word_tokenizer()
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, "tiny", **TINY)
    config = PPOConfig(env="textenvs/Translation-v0", model="in-memory", iterations=25, num_envs=16,
                       num_minibatches=2, learning_rate=3e-3, kl_coef=0.01, progress=False,
                       env_kwargs={"tokenizer": tokenizer, "dataset": toy_dataset(), "scorer": cat_share,
                                   "max_prompt_length": 10, "max_new_tokens": 6})
    # (About 10 s on 2 CPU cores; speed is not asserted here; test durations show in pytest --durations.)
    history = PPOTrainer(config, model=model).train()
    rewards = [m["charts/reward"] for m in history]
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3, rewards
    assert {"charts/reward", "objective/kl", "losses/policy", "losses/value", "losses/approx_kl", "losses/clipfrac",
            "losses/explained_variance", "policy/entropy"} <= set(history[-1])


def cli(out: Path, *extra: str, model_dir: Path | None = None, data: Path | None = None) -> list[str]:
    arguments = ["--out", str(out), *extra]
    if model_dir is not None:
        env_kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}
        arguments += ["--env", "textenvs/Translation-v0", "--model", str(model_dir), "--env-kwargs",
                      json.dumps(env_kwargs), "--num-envs", "8", "--num-minibatches", "2", "--learning-rate", "1e-3",
                      "--checkpoint-every", "1", "--no-progress", "--adaptive-kl-target", "0.5", "--seed", "3"]
    return [sys.executable, "-c", "import sys; from agents.cli import main; sys.exit(main(['ppo', *sys.argv[1:]]))",
            *arguments]


def run_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def metrics(out: Path) -> list[dict]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if not k.startswith("time/")} for line in lines]


def test_cli_run_killed_with_sigkill_resumes_identically(tmp_path):
    model_dir, data = saved_model_and_data(tmp_path)
    iterations = "5"
    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    # The reference run goes in-process (same code, one torch thread like the subprocesses).
    from agents.cli import main

    assert main(["ppo", *cli(uninterrupted, "--iterations", iterations, model_dir=model_dir, data=data)[3:]]) == 0

    process = subprocess.Popen(cli(interrupted, "--iterations", iterations, model_dir=model_dir, data=data),
                               env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = interrupted / "checkpoints" / "iteration_000002.pt"
    deadline = time.time() + 240
    while not second.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (interrupted / "checkpoints" / f"iteration_{int(iterations):06d}.pt").exists()

    subprocess.run(cli(interrupted, "--resume"), check=True, env=run_env(), capture_output=True, timeout=240)

    final = f"checkpoints/iteration_{int(iterations):06d}.pt"
    expected = torch.load(uninterrupted / final, weights_only=False)
    resumed = torch.load(interrupted / final, weights_only=False)
    assert expected["policy"].keys() == resumed["policy"].keys()
    for name, tensor in expected["policy"].items():
        assert torch.equal(tensor, resumed["policy"][name]), name
    assert expected["kl_controller"] == resumed["kl_controller"]
    assert metrics(uninterrupted) == metrics(interrupted)
    assert len(metrics(interrupted)) == int(iterations)

    for path in ("learning_curve.png", "config.json", "samples.jsonl", "model/config.json",
                 "model/tokenizer_config.json"):
        assert (uninterrupted / path).is_file(), path
    assert any((uninterrupted / "tensorboard").iterdir())
    assert len(list((uninterrupted / "checkpoints").glob("*.pt"))) == 2  # keep_checkpoints
