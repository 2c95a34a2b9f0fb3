"""Verified runs: a tiny GPT-2 policy checkpoint saved with save_pretrained regenerates a submission's predictions on
the built-in Translation test split (its first 16 examples, as a deployment's env kwargs can pin a split)."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch
from fastapi.testclient import TestClient

from leaderboard.auth import create_token
from leaderboard.cli import main as cli_main
from leaderboard.schema import LeaderboardError
from leaderboard.scoring import Benchmarks
from leaderboard.server import create_app
from leaderboard.service import Leaderboard
from leaderboard.store import Store
from leaderboard.verify import load_checkpoint, verify_submission
from textenvs import generate_split, load_env_dataset
from textenvs.decoding import DecodingPolicy

ENV = "textenvs/Translation-v0"


@pytest.fixture(scope="module")
def split():
    return load_env_dataset(ENV, "test").select(range(16))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised 1-layer GPT-2 over the built-in tokenizer: its greedy outputs depend on the prompt."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from textenvs.data.tokenizer import load_builtin_tokenizer

    tokenizer = load_builtin_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=1, n_head=2,
                        initializer_range=0.5, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    directory = tmp_path_factory.mktemp("checkpoint")
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def generated(checkpoint, split):
    """The checkpoint's greedy predictions, as an honest submitter would compute them (one batch)."""
    model, tokenizer = load_checkpoint(checkpoint)
    env = gym.make_vec(ENV, num_envs=16, vectorization_mode="vector_entry_point", tokenizer=tokenizer,
                       split="test", dataset=split)
    return generate_split(env, DecodingPolicy(model))


def test_greedy_policy_does_not_depend_on_batching(checkpoint, split, generated):
    model, tokenizer = load_checkpoint(checkpoint)
    env = gym.make_vec(ENV, num_envs=1, vectorization_mode="vector_entry_point", tokenizer=tokenizer,
                       split="test", dataset=split)
    alone = generate_split(env, DecodingPolicy(model), indices=[0, 5, 13])
    assert [r.prediction for r in alone] == [generated[i].prediction for i in (0, 5, 13)]
    assert len({r.prediction for r in generated}) > 12, "the fixture model should react to its prompt"


def _submit(leaderboard, agent, predictions):
    body = {"env_id": ENV, "dataset_hash": leaderboard.benchmarks.get(ENV).dataset.content_hash,
            "metadata": {"agent": agent, "checkpoint": "tiny-gpt2"},
            "predictions": [{"id": example_id, "prediction": text} for example_id, text in predictions.items()]}
    return leaderboard.submit(json.dumps(body).encode(), submitter="tester")


def test_reproduced_submission_is_verified_and_tampered_one_is_not(tmp_path, checkpoint, split, generated):
    db_url = f"sqlite:///{tmp_path}/lb.db"
    benchmarks = Benchmarks({ENV: {"dataset": split}})
    leaderboard = Leaderboard(Store(db_url), benchmarks)
    honest = _submit(leaderboard, "honest", {r.example_id: r.prediction for r in generated})
    tampered_predictions = {r.example_id: r.prediction for r in generated}
    for example in split.examples[:4]:
        tampered_predictions[example.id] = example.references[0]
    tampered = _submit(leaderboard, "tampered", tampered_predictions)
    assert tampered.primary_score > honest.primary_score

    result = verify_submission(leaderboard, honest.id, checkpoint, batch_size=8)
    assert result.verified and result.identical_predictions == 1.0 and result.max_abs_difference == 0.0
    assert result.metrics == pytest.approx(honest.metrics) and len(result.checkpoint_sha256) == 64

    # The CLI runs the same check; a run that does not reproduce exits 3 and is recorded as failed.
    benchmarks_arg = ["--benchmarks", json.dumps({ENV: {"dataset": str(_write_split(tmp_path, split))}})]
    assert cli_main(["verify", tampered.id, str(checkpoint), "--db", db_url, *benchmarks_arg]) == 3
    leaderboard = Leaderboard(Store(db_url), benchmarks)
    detail = leaderboard.detail(tampered.id)
    assert not detail.verified and detail.verification.identical_predictions == pytest.approx(12 / 16)
    assert detail.verification.max_abs_difference > detail.verification.tolerance

    app = create_app(db_url, env_kwargs={ENV: {"dataset": split}})
    create_token(app.state.leaderboard.store, "viewer")
    with TestClient(app) as client:
        ranking = {e["id"]: e["verified"] for e in client.get(f"/api/rankings/{ENV}").json()["entries"]}
        assert ranking == {honest.id: True, tampered.id: False}
        assert "verification failed" in client.get(f"/submissions/{tampered.id}").text
        page = client.get(f"/submissions/{honest.id}").text
        assert "badge verified" in page and "100.0% of predictions identical" in page


def _write_split(tmp_path, split):
    """The split as a JSONL file (the form a deployment's --benchmarks option names)."""
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps({"id": e.id, "source": e.prompt, "target": list(e.references)}) + "\n"
                            for e in split))
    return path


def test_checkpoint_without_safetensors_is_refused(tmp_path, split):
    leaderboard = Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db"), Benchmarks({ENV: {"dataset": split}}))
    receipt = _submit(leaderboard, "pickled", {e.id: "" for e in split})
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(LeaderboardError, match="safetensors"):
        verify_submission(leaderboard, receipt.id, tmp_path / "pickled")
    assert cli_main(["verify", "0000000000000000", str(tmp_path), "--db", f"sqlite:///{tmp_path}/lb.db"]) == 1


def test_encoder_decoder_checkpoint_is_verified(tmp_path, split):
    """A T5 policy reads the prompt as encoder input (seq2seq observations); batching differs from the submitter's."""
    from agents.models import build_seq2seq_lm
    from textenvs.data.tokenizer import load_builtin_tokenizer

    tokenizer = load_builtin_tokenizer()
    torch.manual_seed(1)
    # A large initialisation makes the random model's greedy outputs depend on the prompt.
    model = build_seq2seq_lm(tokenizer, num_layers=1, num_decoder_layers=1, initializer_factor=5.0)
    model.save_pretrained(tmp_path / "t5")
    tokenizer.save_pretrained(tmp_path / "t5")
    model, loaded_tokenizer = load_checkpoint(tmp_path / "t5")
    env = gym.make_vec(ENV, num_envs=16, vectorization_mode="vector_entry_point", tokenizer=loaded_tokenizer,
                       split="test", dataset=split, observation_mode="seq2seq")
    predictions = {r.example_id: r.prediction for r in generate_split(env, DecodingPolicy(model))}
    assert len(set(predictions.values())) > 10
    leaderboard = Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db"), Benchmarks({ENV: {"dataset": split}}))
    receipt = _submit(leaderboard, "t5", predictions)
    result = verify_submission(leaderboard, receipt.id, tmp_path / "t5", batch_size=5)
    assert result.verified and result.identical_predictions == 1.0


def test_ppo_checkpoint_predictions_regenerate_identically(tmp_path, checkpoint, split):
    """A PPO run's exported policy: the agent's test predictions (what the benchmark runner submits) are regenerated
    byte for byte by the verification, since both decode through textenvs.decoding.DecodingPolicy."""
    from agents.ppo.agent import PPOAgent

    model, tokenizer = load_checkpoint(checkpoint)
    agent = PPOAgent(ENV, {"dataset": split}, seed=0, model=model, num_envs=4, num_minibatches=1, update_epochs=1,
                     iterations=1, learning_rate=1e-2, progress=False, tensorboard=False, out=str(tmp_path / "run"))
    with pytest.warns(UserWarning, match="stopped at iterations=1"):  # one iteration is all this test needs
        agent.learn(total_env_steps=10_000)
    env = gym.make_vec(ENV, num_envs=16, vectorization_mode="vector_entry_point", tokenizer=tokenizer,
                       split="test", dataset=split)
    predictions = {r.example_id: r.prediction for r in agent.generate(env)}
    leaderboard = Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db"), Benchmarks({ENV: {"dataset": split}}))
    receipt = _submit(leaderboard, "ppo", predictions)
    result = verify_submission(leaderboard, receipt.id, tmp_path / "run" / "model", batch_size=5)
    assert result.verified and result.identical_predictions == 1.0 and result.max_abs_difference == 0.0
