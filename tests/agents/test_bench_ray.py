"""The Ray backend against a local Ray instance this test starts (2 CPUs, no dashboard) and shuts down."""

from __future__ import annotations

import pytest

from agents.bench.results import RunResult
from agents.bench.runner import plan, run_benchmark
from tests.agents.test_bench import TRANSLATION, WORD_AGENT, write_toy_benchmark

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance for the module's tests (starting one takes seconds; its idle workers are reused)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


def test_ray_backend_runs_each_run_as_a_task(local_ray, tmp_path):
    env_kwargs = write_toy_benchmark(tmp_path)
    specs = plan([TRANSLATION], [WORD_AGENT], seeds=[0, 1], budget=20, eval_examples=3, env_kwargs=env_kwargs)
    outcome = run_benchmark(specs, tmp_path / "results", backend="ray", progress=False)
    assert outcome.failures == {}
    assert sorted(outcome.written) == [spec.name for spec in specs]
    for path in outcome.written.values():
        result = RunResult.model_validate_json(path.read_text())
        assert result.backend == "ray" and result.hardware.torch_threads == 1
        assert [point["env_steps"] for point in result.learning_curve] == [10, 20]
        assert len((tmp_path / "results" / result.predictions_path).read_text().splitlines()) == 3
    assert ray.is_initialized()  # a connection the caller opened is left open


def test_ray_tasks_ship_the_trained_policy_back_to_the_driver(local_ray, tmp_path):
    """A Ray worker may run on another machine: it returns the policy's files with its result and the driver writes
    them under the results directory (agents.bench.policies)."""
    import torch
    from safetensors.torch import load_file

    from tests.helpers import tiny_model
    from textenvs.core import load_tokenizer

    env_kwargs = write_toy_benchmark(tmp_path)
    tokenizer = load_tokenizer(env_kwargs["tokenizer"])
    model = tiny_model("causal", tokenizer)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    specs = plan([TRANSLATION], ["ppo"], seeds=[0], budget=0, env_kwargs=env_kwargs,
                 agent_config={"ppo": {"model": str(tmp_path / "model"), "num_envs": 4, "progress": False,
                                       "tensorboard": False}})
    outcome = run_benchmark(specs, tmp_path / "results", backend="ray", progress=False)
    assert outcome.failures == {}
    result = RunResult.model_validate_json(outcome.written[specs[0].name].read_text())
    policy = tmp_path / "results" / result.policy_path
    assert result.policy_path == f"policies/{specs[0].name}" and not policy.with_name(policy.name + ".partial").exists()
    assert result.policy_bytes == sum(path.stat().st_size for path in policy.iterdir())
    shipped, built = load_file(policy / "model.safetensors"), model.state_dict()
    assert all(torch.equal(shipped[name], built[name]) for name in shipped)  # budget 0: the model as built
