"""Bit-exact guard for refactors of the language-model trainers: fixed-seed tiny PPO and GRPO-family runs (one torch
thread, the toy data of ``helpers.py``) must end with exactly the parameters and the metrics history recorded in
``tests/data/bitexact.json``, SHA-256 over the raw bytes of every parameter and over the metrics (the timings left
out).

The runs execute in a child process with ``ATEN_CPU_CAPABILITY=avx2``: PyTorch picks its vectorized CPU kernels by
the CPU (AVX2, AVX-512, ...), and those round differently, so without the pin the bits depend on the machine (the
same code gave other hashes on an AVX-512 AMD EPYC than on the machine that first recorded them, and the recorded
ones again under the pin). A CPU without AVX2 skips. The golden values come from the commit named in the file, with
the library versions it records under ``environment`` (a new torch or transformers may change them too: regenerate
at the commit before your change, in a worktree, then compare). A change that moves code without changing what it computes
keeps them; a change that is meant to alter the computation regenerates them, saying why in its commit:

    OMP_NUM_THREADS=1 python tests/agents/test_refactor_bitexact.py --regenerate

A run added to guard a coming change gets its golden values from the commit before that change, in a worktree of
it (the file records that commit for the run under ``added_runs``):

    OMP_NUM_THREADS=1 python tests/agents/test_refactor_bitexact.py --add RUN...

The runs cover the paths a move could break: PPO with group (RLOO) normalization, top-k, gradient accumulation,
warmup, entropy bonus, missing-EOS penalty and the adaptive KL controller; PPO with an env action mask, NLPO, a
separate value model and ``target_kl`` (the interleaved env stepping); PPO and GRPO on the multi-turn env; GRPO with
one step per rollout (the reused forward) and a reference; RLOO with its KL reward penalty; DAPO's dynamic sampling
with top-p, the rollout/trainer importance-sampling correction and the bias-corrected KL; GSPO-level CISPO; BNPO with
gradient accumulation; and the supervised warm start (``train_sft``: causal and seq2seq, shuffled epochs, warmup
and cosine schedule, gradient clipping, the validation loss and greedy validation decoding).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
if __name__ == "__main__":  # run as a script (--regenerate): the checkout root holds the tests package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import chatty_model, tiny_model, toy_dataset, word_tokenizer

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "bitexact.json"
REGENERATE = "OMP_NUM_THREADS=1 python tests/agents/test_refactor_bitexact.py --regenerate"
PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"}
"""The kernel choice every fingerprint is computed under (see the module docstring)."""
TRANSLATION = "textenvs/Translation-v0"
MULTITURN = "textenvs/MultiTurnDialogue-v0"


def toy_env_kwargs(**overrides: Any) -> dict[str, Any]:
    return {"tokenizer": word_tokenizer(), "dataset": toy_dataset(), "scorer": "chrf", "max_prompt_length": 10,
            "max_new_tokens": 6, **overrides}


def cat_share(predictions: list[str], references: list[list[str]]) -> list[float]:
    """A reward most episodes score 0 on: groups of equal scores, for dynamic sampling to refill."""
    return [sum(word == "cat" for word in p.split()) / len(p.split()) if p.split() else 0.0 for p in predictions]


def translation_run(algorithm: str, **settings: Any) -> Callable[[], Any]:
    def make() -> Any:
        env_kwargs = toy_env_kwargs(**settings.pop("env_overrides", {}))
        model = tiny_model("causal", env_kwargs["tokenizer"])
        return trainer(algorithm, TRANSLATION, env_kwargs, model, **settings)
    return make


def multiturn_run(algorithm: str, **settings: Any) -> Callable[[], Any]:
    def make() -> Any:
        from textenvs.data.tokenizer import load_builtin_tokenizer

        env_kwargs = {"max_new_tokens": 32, "max_turn_tokens": 8}
        return trainer(algorithm, MULTITURN, env_kwargs, chatty_model(load_builtin_tokenizer()), **settings)
    return make


def trainer(algorithm: str, env: str, env_kwargs: dict[str, Any], model: torch.nn.Module, **settings: Any) -> Any:
    common = dict(env=env, env_kwargs=env_kwargs, model="in-memory", progress=False, tensorboard=False,
                  learning_rate=1e-3, iterations=3, seed=7)
    if algorithm == "ppo":
        from agents.ppo import PPOConfig, PPOTrainer

        return PPOTrainer(PPOConfig(**{**common, **settings}), model=model)
    from agents.grpo import GRPOConfig, GRPOTrainer

    return GRPOTrainer(GRPOConfig(**{**common, **settings}), model=model)


class SFTRun:
    """A fixed-seed supervised warm start run the way the RL trainers are: ``train()`` returns the log records and
    leaves the trained model in ``lm``."""

    def __init__(self, kind: str, **settings: Any) -> None:
        self.kind, self.settings, self.lm = kind, settings, None

    def train(self) -> list[dict[str, Any]]:
        from agents.sft import SFTConfig, train_sft

        env_kwargs = toy_env_kwargs()
        tokenizer = env_kwargs.pop("tokenizer")
        records: list[dict[str, Any]] = []
        config = SFTConfig(seed=7, device="cpu", **self.settings)
        self.lm = train_sft(tiny_model(self.kind, tokenizer), tokenizer, TRANSLATION, env_kwargs, config,
                            callback=records.append)
        return records


def sft_run(kind: str, **settings: Any) -> Callable[[], Any]:
    return lambda: SFTRun(kind, **settings)


RUNS: dict[str, Callable[[], Any]] = {
    "ppo_group_topk_accumulation": translation_run(
        "ppo", num_envs=8, samples_per_prompt=2, reward_normalization="group", num_minibatches=2,
        gradient_accumulation_steps=2, update_epochs=2, top_k=5, warmup_steps=2, entropy_coef=0.01,
        missing_eos_penalty=0.1, adaptive_kl_target=0.5, adaptive_kl_horizon=100),
    "ppo_action_mask_nlpo_separate_value": translation_run(
        "ppo", num_envs=8, num_minibatches=2, update_epochs=3, action_mask="nlpo", nlpo_top_p=0.8,
        value_model="separate", target_kl=1e-4, reward_normalization="batch", kl_estimator="k3", temperature=0.8,
        env_overrides={"action_mask": list(range(30))}),
    "ppo_multiturn": multiturn_run("ppo", num_envs=4, num_minibatches=2, update_epochs=2, iterations=2,
                                   reward_normalization="running"),
    "grpo_single_step_reference": translation_run("grpo", num_envs=8, num_generations=4, beta=0.05),
    "rloo_kl_penalty": translation_run(
        "grpo", num_envs=8, num_generations=4, advantage_estimator="rloo", scale_rewards="none", loss_type="rloo",
        beta=0.05, num_iterations=2, num_minibatches=2),
    "dapo_dynamic_sampling_correction": translation_run(
        "grpo", num_envs=8, num_generations=2, loss_type="dapo", epsilon_high=0.28, dynamic_sampling=True,
        max_sampling_rounds=3, top_p=0.9, importance_sampling_correction="token_truncate", beta=0.02,
        use_bias_correction_kl=True, num_iterations=2, num_minibatches=2, scale_rewards="batch",
        env_overrides={"scorer": cat_share}),
    "gspo_cispo": translation_run(
        "grpo", num_envs=8, num_generations=4, loss_type="cispo", epsilon_high=5.0,
        importance_sampling_level="sequence", num_iterations=2, lr_schedule="linear",
        importance_sampling_correction="sequence_mask", importance_sampling_min=0.5),
    "bnpo_accumulation": translation_run(
        "grpo", num_envs=8, num_generations=2, loss_type="bnpo", num_minibatches=2, gradient_accumulation_steps=2,
        num_iterations=2, top_k=6),
    "grpo_multiturn": multiturn_run("grpo", num_envs=4, num_generations=2, num_minibatches=2, iterations=2,
                                    loss_type="dr_grpo", beta=0.05),
    "sft_causal_epochs_validation": sft_run(
        "causal", learning_rate=3e-3, batch_size=2, max_steps=7, warmup_steps=2, max_grad_norm=0.5, eval_every=3,
        eval_examples=3, eval_batch_size=2, log_every=2),
    "sft_seq2seq_first_reference": sft_run(
        "seq2seq", learning_rate=3e-3, batch_size=3, epochs=2.0, warmup_steps=1, all_references=False,
        eval_split=None, log_every=1),
}


def parameters_of(run: Any) -> dict[str, torch.Tensor]:
    """The trained weights: PPO's policy and value model, the GRPO family's language model."""
    module = run.policy if hasattr(run, "policy") else run.lm
    return dict(module.state_dict())


def is_timing(metric: str) -> bool:
    """Wall-clock measurements, which differ between runs of the same computation."""
    return metric.startswith("time/") or metric.endswith("_per_second")


def fingerprint(run: Any, history: list[dict[str, Any]]) -> dict[str, str]:
    """SHA-256 of every parameter's name, dtype, shape and bytes (in name order), and of the metrics history
    (every value but the wall-clock timings, :func:`is_timing`, as JSON with sorted keys: floats keep every bit in
    their repr)."""
    parameters = hashlib.sha256()
    for name, tensor in sorted(parameters_of(run).items()):
        tensor = tensor.detach().cpu().contiguous()
        parameters.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        parameters.update(tensor.numpy().tobytes())
    metrics = [{key: value for key, value in entry.items() if not is_timing(key)} for entry in history]
    return {"parameters": parameters.hexdigest(),
            "metrics": hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()}


def run_fingerprint(name: str) -> dict[str, str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = RUNS[name]()
        history = run.train()
        assert history, f"{name} logged nothing"
        return fingerprint(run, history)
    finally:
        torch.set_num_threads(threads)


def environment() -> dict[str, str]:
    """What the bits depend on besides the code: library versions and the CPU (float kernels differ across both)."""
    import transformers

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
               platform.processor())
    return {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "cpu": cpu, "kernels": torch.backends.cpu.get_cpu_capability()}


def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def golden_commit(name: str) -> str:
    """The commit whose code recorded ``name``'s golden values (a run added later names its own)."""
    return golden().get("added_runs", {}).get(name, golden()["commit"])


def pinned_fingerprints() -> dict[str, Any]:
    """Every run's fingerprint, computed in a child process under :data:`PINNED_KERNELS`, with the kernel set torch
    chose there (``capability``)."""
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--print"], capture_output=True, text=True,
                            env={**os.environ, **PINNED_KERNELS}, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def computed() -> dict[str, Any]:
    fingerprints = pinned_fingerprints()
    if fingerprints["capability"] != "AVX2":
        pytest.skip(f"the bit-exact runs need AVX2 kernels; this CPU gives {fingerprints['capability']}")
    return fingerprints


@pytest.mark.parametrize("name", sorted(RUNS))
def test_fixed_seed_run_is_bit_exact(name, computed):
    expected = golden()["runs"][name]
    recorded_under = golden().get("environment", {})
    differs = {key: (value, recorded_under.get(key)) for key, value in environment().items()
               if key not in ("cpu", "kernels") and value != recorded_under.get(key)}
    assert computed["runs"][name] == expected, (
        f"{name}: the fixed-seed run no longer ends with the recorded parameters / metrics (golden values from "
        f"commit {golden_commit(name)}). If the computation was meant to change, regenerate: {REGENERATE}"
        + (f". The libraries differ from the recorded ones (now, recorded): {differs}; regenerate at the commit "
           "before your change, in a worktree, to compare here." if differs else ""))


def head_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip()


def add_runs(names: list[str]) -> None:
    """Record the golden values of new runs only, from this checkout's code, naming its commit for them (run it in a
    worktree of the commit before the change the new runs guard)."""
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        sys.exit(f"unknown runs {unknown}; runs: {', '.join(sorted(RUNS))}")
    recorded = golden()
    commit = head_commit()
    for name in names:
        recorded["runs"][name] = run_fingerprint(name)
        recorded.setdefault("added_runs", {})[name] = commit
    GOLDEN.write_text(json.dumps(recorded, indent=2) + "\n")
    print(f"added {', '.join(names)} to {GOLDEN} (commit {commit})")


def regenerate() -> None:
    commit = head_commit()
    runs = {name: run_fingerprint(name) for name in sorted(RUNS)}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({"commit": commit, "regenerate": REGENERATE, "environment": environment(),
                                  "runs": runs}, indent=2) + "\n")
    print(f"wrote {GOLDEN} ({len(runs)} runs, commit {commit})")


def print_fingerprints() -> None:
    """The child process of :func:`pinned_fingerprints`: every run's fingerprint as one JSON line."""
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(),
                      "runs": {name: run_fingerprint(name) for name in sorted(RUNS)}}))


if __name__ == "__main__":
    if any(os.environ.get(key) != value for key, value in PINNED_KERNELS.items()):
        # The kernels are chosen when torch loads: start again under the pin.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED_KERNELS})
    if sys.argv[1:] == ["--print"]:
        print_fingerprints()
    elif sys.argv[1:2] == ["--add"] and sys.argv[2:]:
        add_runs(sys.argv[2:])
    elif sys.argv[1:] == ["--regenerate"]:
        regenerate()
    else:
        sys.exit(f"usage: {REGENERATE}\n   or: {REGENERATE.replace('--regenerate', '--add RUN...')}")
