"""Training on several processes (agents/distributed.py): the split of the global batch, global statistics, the
errors raised before any work, and PPO under ``accelerate launch`` with 2 CPU processes (gloo) computing the same
parameters as one process, with checkpoints that resume on another number of processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from tests.helpers import saved_model_and_data

from agents.distributed import Distributed, episode_seed, stratified_minibatches
from agents.ppo.losses import masked_whiten
from textenvs.decoding import sample_tokens

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the split, in one process
@pytest.mark.parametrize("world_size", [2, 4])
def test_stratified_minibatches_are_the_same_sets_however_the_batch_is_split(world_size):
    global_size, num_minibatches = 16, 2
    single = stratified_minibatches(global_size, num_minibatches, np.random.default_rng(5))
    size = global_size // world_size
    shards = [stratified_minibatches(global_size, num_minibatches, np.random.default_rng(5),
                                     slice(rank * size, (rank + 1) * size)) for rank in range(world_size)]
    for minibatch in range(num_minibatches):
        union = np.concatenate([shard[minibatch] + rank * size for rank, shard in enumerate(shards)])
        assert union.tolist() == single[minibatch].tolist()
        assert {len(shard[minibatch]) for shard in shards} == {size // num_minibatches}  # every process, same share
    assert sorted(np.concatenate(single).tolist()) == list(range(global_size))
    rng = np.random.default_rng(0)
    epochs = {tuple(stratified_minibatches(global_size, num_minibatches, rng)[0].tolist()) for _ in range(5)}
    assert len(epochs) > 1  # reshuffled every epoch


def test_sampled_rows_do_not_depend_on_the_shard_that_samples_them():
    logits = torch.randn(8, 11)
    generator = torch.Generator().manual_seed(episode_seed(3, 7))
    whole = sample_tokens(logits, generator)
    for rank in range(4):
        generator.manual_seed(episode_seed(3, 7))
        rows = slice(2 * rank, 2 * rank + 2)
        assert torch.equal(sample_tokens(logits[rows], generator, shard=(rank, 4)), whole[rows])
    assert episode_seed(3, 7) != episode_seed(3, 8) != episode_seed(4, 7)


def test_one_process_without_launcher_needs_no_accelerate(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = Distributed("cpu")
    assert (dist.accelerator, dist.rank, dist.world_size, dist.is_main) == (None, 0, 1, True)
    values = torch.arange(6.0)
    assert dist.gather(values) is values and dist.sum(values) is values
    assert dist.shard(6) == slice(0, 6)


def test_world_size_without_the_launchers_variables_fails_clearly(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="WORLD_SIZE=2 but RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"):
        Distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        Distributed("cpu")


# ---------------------------------------------------------------- collectives, 2 processes (gloo)
def _collectives_worker(rank: int, world_size: int, port: int, results: str) -> None:
    os.environ.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    # The default device: on a machine without GPUs, "auto" must join the launch on the CPU too.
    dist = Distributed("auto" if not torch.cuda.is_available() else "cpu")
    report: dict = {"world_size": dist.world_size, "rank": dist.rank, "rows": [dist.shard(8).start, dist.shard(8).stop]}
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.5, -2.0, 0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    rows = dist.shard(4)
    report["gathered"] = dist.gather(values[rows]).tolist()
    report["whitened"] = masked_whiten(values[rows], mask[rows], all_reduce=dist.sum).tolist()
    report["max"] = float(dist.max(torch.tensor(float(rank))))
    for name, call in (("batch", lambda: dist.check_batch(num_envs=9, num_minibatches=1, gradient_accumulation_steps=1)),
                       ("minibatch", lambda: dist.check_batch(num_envs=12, num_minibatches=4,
                                                              gradient_accumulation_steps=1)),
                       ("config", lambda: dist.check_same_config({"seed": 0, "num_envs": 8 + 8 * rank})),
                       # In-memory objects (different addresses in each process) compare by type.
                       ("objects", lambda: dist.check_same_config({"env_kwargs": {"scorer": object()}}))):
        try:
            call()
            report[name] = None
        except ValueError as error:
            report[name] = str(error)
    Path(results, f"rank{rank}.json").write_text(json.dumps(report))
    dist.barrier()


def test_collectives_over_two_processes_give_the_global_statistics(tmp_path):
    mp.start_processes(_collectives_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.5, -2.0, 0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    whitened = masked_whiten(values, mask)
    for rank, report in enumerate(reports):
        assert (report["world_size"], report["rank"], report["rows"]) == (2, rank, [4 * rank, 4 * rank + 4])
        assert report["gathered"] == values.tolist()
        assert torch.allclose(torch.tensor(report["whitened"]), whitened[2 * rank:2 * rank + 2], atol=1e-6)
        assert report["max"] == 1.0
        assert "num_envs=9 must be divisible by the number of processes (2)" in report["batch"]
        assert "6 episodes per process, which must split into num_minibatches=4" in report["minibatch"]
        # Every process fails, naming the field that differs and each rank's value.
        assert "num_envs: rank 0=8, rank 1=16" in report["config"]
        assert "seed" not in report["config"].split("):")[1]
        assert report["objects"] is None


# ---------------------------------------------------------------- PPO: 2 processes == 1 process, checkpoints 2 -> 1
def ppo_arguments(out: Path, model_dir: Path, data: Path, *extra: str) -> list[str]:
    env_kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}
    # Everything that is a statistic of the batch is on: group baselines (the second prompt's 4 samples straddle the
    # 2 processes' rows), advantage whitening, the adaptive KL controller, 2 minibatches of 3 micro-batches per
    # process, 2 epochs.
    return ["--out", str(out), "--env", "textenvs/Translation-v0", "--model", str(model_dir), "--env-kwargs",
            json.dumps(env_kwargs), "--num-envs", "12", "--samples-per-prompt", "4", "--reward-normalization", "group",
            "--num-minibatches", "2", "--gradient-accumulation-steps", "3", "--update-epochs", "2",
            "--learning-rate", "3e-3", "--adaptive-kl-target", "0.01", "--kl-coef", "0.1", "--checkpoint-every", "1",
            "--device", "cpu", "--no-progress", "--no-tensorboard", "--seed", "3", *extra]


def launch(processes: int, arguments: list[str], algorithm: str = "ppo") -> subprocess.CompletedProcess:
    """``accelerate launch`` the CLI as a user would (``--multi_gpu`` is accelerate's multi-process launcher; on a
    machine without GPUs its processes join a gloo group on the CPU)."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), "-m", "textenvs", "train", algorithm, *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                   "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)


def checkpoint(out: Path, iteration: int) -> dict:
    return torch.load(out / "checkpoints" / f"iteration_{iteration:06d}.pt", weights_only=False)


def assert_same_parameters(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], rtol=1e-4, atol=1e-5), name


def test_ppo_on_two_processes_matches_one_process_and_resumes_on_one(tmp_path):
    from agents.cli import main

    model_dir, data = saved_model_and_data(tmp_path)
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    # A separate value model: a second trunk beside the policy's, in the same DDP wrapper.
    separate = ("--iterations", "2", "--value-model", "separate")
    assert main(["ppo", *ppo_arguments(one, model_dir, data, *separate)]) == 0
    result = launch(2, ppo_arguments(two, model_dir, data, *separate))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 processes (ddp), 6 episodes each" in result.stdout
    # The run directory and its checkpoints say how it was produced (issue 22).
    launched = {"world_size": 2, "strategy": "ddp", "per_process_batch": 6, "device": "cpu"}
    assert json.loads((two / "launch.json").read_text()) == launched
    assert checkpoint(two, 2)["launch"] == launched
    assert json.loads((one / "launch.json").read_text())["world_size"] == 1

    for iteration in (1, 2):
        expected, actual = checkpoint(one, iteration), checkpoint(two, iteration)
        assert_same_parameters(expected["policy"], actual["policy"])
        assert expected["kl_controller"]["value"] == pytest.approx(actual["kl_controller"]["value"], rel=1e-5)
    # The parameters moved (the comparison is not between two untouched models).
    assert not torch.allclose(checkpoint(one, 2)["policy"]["lm.lm_head.weight"],
                              checkpoint(one, 1)["policy"]["lm.lm_head.weight"])
    # The logs of the 2-process run are the global batch's, written once.
    logged = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (one / "metrics.jsonl").read_text().splitlines()]
    assert len(logged) == 2
    for key in ("charts/reward", "charts/env_steps", "objective/kl", "objective/kl_coef", "losses/policy"):
        assert logged[-1][key] == pytest.approx(reference[-1][key], rel=1e-4, abs=1e-6), key

    # A checkpoint written by 2 processes resumes on 1 and continues as the 2-process run did.
    shutil.copytree(two, resumed)
    (resumed / "checkpoints" / "iteration_000002.pt").unlink()
    assert main(["ppo", "--out", str(resumed), "--resume", "--iterations", "2"]) == 0
    assert_same_parameters(checkpoint(two, 2)["policy"], checkpoint(resumed, 2)["policy"])


# ---------------------------------------------------------------- memory and precision options
def test_gradient_checkpointing_and_bf16_train_the_same_model(tmp_path):
    from agents.ppo import PPOConfig, PPOTrainer

    model_dir, data = saved_model_and_data(tmp_path)
    env_kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}

    def trained(**options):
        config = PPOConfig(model=str(model_dir), env_kwargs=env_kwargs, num_envs=4, num_minibatches=2,
                           update_epochs=1, iterations=1, learning_rate=1e-3, device="cpu", progress=False, **options)
        trainer = PPOTrainer(config)
        trainer.train()
        return trainer.policy.state_dict(), trainer

    plain, _ = trained()
    checkpointed, trainer = trained(gradient_checkpointing=True)
    assert trainer.policy.lm.is_activation_checkpointing and not trainer.policy.training
    assert_same_parameters(plain, checkpointed)
    low_precision, _ = trained(mixed_precision="bf16")
    assert not all(torch.equal(plain[name], low_precision[name]) for name in plain)  # bf16 did run
    assert_same_parameters_within(plain, low_precision, atol=2e-3)


def assert_same_parameters_within(expected: dict, actual: dict, atol: float) -> None:
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=atol), (name, float((tensor - actual[name]).abs().max()))


def test_ppo_sharded_with_fsdp2_matches_one_process(tmp_path):
    from agents.cli import main

    model_dir, data = saved_model_and_data(tmp_path)
    one, sharded = tmp_path / "one", tmp_path / "fsdp"
    # The reference and a separate value trunk are sharded like the policy.
    options = ("--iterations", "1", "--value-model", "separate")
    assert main(["ppo", *ppo_arguments(one, model_dir, data, *options)]) == 0
    result = launch(2, ppo_arguments(sharded, model_dir, data, *options, "--strategy", "fsdp"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 processes (fsdp)" in result.stdout
    assert_same_parameters(checkpoint(one, 1)["policy"], checkpoint(sharded, 1)["policy"])
    # The optimizer state was gathered whole from the shards, keyed like the one-process run's.
    expected, actual = checkpoint(one, 1)["optimizer"]["state"], checkpoint(sharded, 1)["optimizer"]["state"]
    assert expected.keys() == actual.keys()
    for name in expected:
        assert_same_parameters(expected[name], actual[name])


def test_grpo_with_lora_on_two_processes_matches_one_process(tmp_path):
    from agents.cli import main

    model_dir, data = saved_model_and_data(tmp_path)
    env_kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}
    # The second prompt's group straddles the processes; LoRA adapters under DDP, the k3 KL against a frozen
    # reference, per-episode means over the global minibatch (loss_type="grpo"), dynamic sampling's mask.
    arguments = ["--env", "textenvs/Translation-v0", "--model", str(model_dir), "--env-kwargs", json.dumps(env_kwargs),
                 "--num-envs", "12", "--num-generations", "4", "--num-minibatches", "2",
                 "--gradient-accumulation-steps", "3", "--num-iterations", "2", "--beta", "0.05", "--lora-r", "4",
                 "--loss-type", "grpo", "--dynamic-sampling", "--learning-rate", "3e-3", "--iterations", "2",
                 "--checkpoint-every", "1", "--device", "cpu", "--no-progress", "--no-tensorboard", "--seed", "5"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["grpo", "--out", str(one), *arguments]) == 0
    result = launch(2, ["--out", str(two), *arguments], algorithm="grpo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 processes (ddp), 6 episodes each" in result.stdout
    for iteration in (1, 2):
        assert_same_parameters(checkpoint(one, iteration)["policy"], checkpoint(two, iteration)["policy"])
    adapters = [name for name in checkpoint(one, 2)["policy"] if "lora_B" in name]
    assert adapters and any(checkpoint(one, 2)["policy"][name].abs().max() > 0 for name in adapters)  # trained
    logged = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (one / "metrics.jsonl").read_text().splitlines()]
    for key in ("reward", "reward_std", "env_steps", "num_episodes_trained", "kl", "loss"):
        assert logged[-1][key] == pytest.approx(reference[-1][key], rel=1e-4, abs=1e-6), key


def test_grpo_dynamic_sampling_refill_on_two_processes_matches_one_process(tmp_path):
    """DAPO's refill picks the informative groups from the global batch of every round (gathered from both
    processes, with their top-k supports), so the run is the one-process run."""
    model_dir, data = saved_model_and_data(tmp_path)
    script = str(REPO_ROOT / "tests" / "agents" / "refill_run.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                   "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    single = subprocess.run([sys.executable, script, str(model_dir), str(data), str(one)], env=environment,
                            capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
    assert single.returncode == 0, single.stderr[-3000:]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), script, str(model_dir), str(data), str(two)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    expected, actual = torch.load(one, weights_only=False), torch.load(two, weights_only=False)
    assert max(m["sampling_rounds"] for m in expected["history"]) > 1, "the test must exercise the refill"
    for mine, theirs in zip(expected["history"], actual["history"]):
        for key in ("sampling_rounds", "num_episodes_trained", "env_steps", "reward", "loss", "kl"):
            assert theirs[key] == pytest.approx(mine[key], rel=1e-4, abs=1e-6), key
    assert_same_parameters(expected["policy"], actual["policy"])


def test_grpo_sharded_with_fsdp2_matches_one_process(tmp_path):
    from agents.cli import main

    model_dir, data = saved_model_and_data(tmp_path)
    env_kwargs = {"dataset": str(data), "scorer": "chrf", "max_prompt_length": 10, "max_new_tokens": 6}
    arguments = ["--env", "textenvs/Translation-v0", "--model", str(model_dir), "--env-kwargs", json.dumps(env_kwargs),
                 "--num-envs", "8", "--num-generations", "4", "--num-minibatches", "2", "--beta", "0.05",
                 "--loss-type", "dapo", "--learning-rate", "3e-3", "--iterations", "1", "--device", "cpu",
                 "--no-progress", "--no-tensorboard", "--seed", "2"]
    one, sharded = tmp_path / "one", tmp_path / "fsdp"
    assert main(["grpo", "--out", str(one), *arguments]) == 0
    result = launch(2, ["--out", str(sharded), "--strategy", "fsdp", *arguments], algorithm="grpo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 processes (fsdp)" in result.stdout
    assert_same_parameters(checkpoint(one, 1)["policy"], checkpoint(sharded, 1)["policy"])
