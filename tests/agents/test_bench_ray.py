"""The Ray backend against a local Ray instance this test starts (2 CPUs, no dashboard) and shuts down."""

from __future__ import annotations

import pytest

from agents.bench.results import RunResult
from agents.bench.runner import plan, run_benchmark
from tests.agents.test_bench import TRANSLATION, WORD_AGENT, write_toy_benchmark

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
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
