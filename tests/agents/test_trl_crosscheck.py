"""Numerical cross-checks of our GRPO and PPO losses against TRL's own code on identical inputs.

These are the checks of the formulas (the learning tests elsewhere are smoke tests): the same numbers go into our
functions and into TRL's, and the losses, gradients and diagnostics must agree to 1e-6.

- GRPO against TRL 1.16.0 (the ``dev`` extra pins it): a real ``trl.GRPOTrainer`` over a tiny GPT-2 built from a
  config, whose ``compute_loss`` gets an inputs dict with our old and reference logprobs, advantages and masks. Only
  ``_get_per_token_logps_and_entropies`` is replaced on the instance, to return our per-token logprobs instead of a
  model forward: that isolates TRL's loss formula, and everything after it is TRL's code.
- PPO against TRL 1.12.0 (the last release with PPO; ``scripts/run_tests.sh`` installs it apart, into a cache
  directory named by ``TEXTENVS_TRL_1_12_PATH``, because it cannot share an environment with TRL 1.16):
  ``tests/agents/trl_ppo_capture.py`` runs TRL's real ``PPOTrainer.train()`` for one rollout in a child process and saves
  what its inline loss lines saw; our KL, reward, GAE, whitening and loss functions then recompute it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from agents.grpo import GRPOConfig, GRPOTrainer
from agents.grpo.config import LOSS_TYPES
from agents.ppo.buffer import agent_gae
from agents.ppo.kl import kl_estimate
from agents.ppo.losses import masked_mean, masked_whiten, policy_loss, value_loss

TESTS = Path(__file__).resolve().parent
TRL_GRPO_VERSION = "1.16.0"
TRL_PPO_VERSION = "1.12.0"
TRL_PPO_PATH_VARIABLE = "TEXTENVS_TRL_1_12_PATH"
TOLERANCE = 1e-6

# ------------------------------------------------------------------------------------------------------------ GRPO
# One rollout of 8 episodes (2 prompts x 4) with up to 6 new tokens each. Unequal lengths, so that the loss types'
# normalisations differ; log-ratios of about +-0.5, so that both clip bounds (0.8 and 1.28) are crossed.
LENGTHS = (6, 3, 1, 5, 2, 6, 4, 2)
MAX_NEW_TOKENS = 6
ENV = "textenvs/Translation-v0"
TRL_GRPO_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
"""TRL 1.16's ``GRPOConfig.loss_type`` values; ours that are not among them (``rloo``: TRL's ``RLOOTrainer``, not a
GRPO loss type) have no GRPOTrainer counterpart."""
COMMON_LOSS_TYPES = [loss_type for loss_type in LOSS_TYPES if loss_type in TRL_GRPO_LOSS_TYPES]


def trl_grpo_module() -> Any:
    """TRL 1.16.0, or a skip that says why."""
    trl = pytest.importorskip("trl", reason=f"TRL is not installed (pip install trl=={TRL_GRPO_VERSION}, in the "
                                            "dev extra)")
    if trl.__version__ != TRL_GRPO_VERSION:
        pytest.skip(f"the GRPO cross-check is written against TRL {TRL_GRPO_VERSION}; found {trl.__version__}")
    return trl


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 over the word-level test tokenizer, saved (TRL loads its reference model from a path)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tests.helpers import word_tokenizer

    tokenizer = word_tokenizer()
    directory = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=2, n_head=2,
                               pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                               bos_token_id=tokenizer.eos_token_id)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def grpo_inputs() -> dict[str, torch.Tensor]:
    """Per-token logprobs (current, old, reference), advantages and the completion mask of one rollout."""
    generator = torch.Generator().manual_seed(0)
    shape = (len(LENGTHS), MAX_NEW_TOKENS)
    old = torch.log(torch.rand(shape, generator=generator) * 0.9 + 0.05)
    data = {"logprobs": old + 0.5 * torch.randn(shape, generator=generator),
            "old_logprobs": old,
            "ref_logprobs": old + 0.3 * torch.randn(shape, generator=generator),
            "advantages": torch.randn(len(LENGTHS), generator=generator),
            "mask": (torch.arange(MAX_NEW_TOKENS) < torch.tensor(LENGTHS).unsqueeze(1)).float()}
    # The rollout engine's logprobs of the same tokens (another decoder or precision): ratios to the trainer's on
    # both sides of the bounds [0.5, 3] used below, per token and per episode.
    data["sample_logprobs"] = old + 0.6 * torch.randn(shape, generator=generator)
    return data


def micro_batches(config: GRPOConfig) -> list[list[torch.Tensor]]:
    """The rollout's rows per optimizer step (minibatch), split into its micro-batches: contiguous rows, the same
    partition for both sides (the shuffle that picks them is not part of the loss)."""
    rows = torch.arange(config.num_envs)
    steps = rows.chunk(config.num_minibatches)
    return [list(step.chunk(config.gradient_accumulation_steps)) for step in steps]


def our_grpo_loss(config: GRPOConfig, data: dict[str, torch.Tensor], logprobs: torch.Tensor
                  ) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Our loss for each optimizer step (the sum of its micro-batches' shares, each backpropagated into
    ``logprobs``), computed by the trainer's own ``GRPOTrainer.policy_loss`` (the method ``update()`` calls per
    micro-batch: clipped or CISPO loss, token or sequence ratios, the rollout/trainer correction, the k3 term and the
    aggregation), with ``update()``'s minibatch counts; and each micro-batch's diagnostics as token means over that
    micro-batch (how TRL logs them)."""
    # policy_loss reads only the config and the env's token budget from its trainer.
    owner = SimpleNamespace(config=config, task=SimpleNamespace(max_new_tokens=MAX_NEW_TOKENS))
    step_tokens = (data["mask"].sum() / config.num_minibatches).clamp(min=1)  # as update() computes it
    losses, diagnostics = [], []
    for step in micro_batches(config):
        rows = torch.cat(step)
        tokens = data["mask"][rows].sum().clamp(min=1)
        episodes = torch.tensor(float(len(rows)))  # every episode is kept (no dynamic sampling)
        total = torch.zeros(())
        for micro_rows in step:
            # (policy_loss reads these fields of a GRPOBatch.)
            fields = ("mask", "old_logprobs", "ref_logprobs", "advantages", "sample_logprobs")
            micro = SimpleNamespace(**{key: data[key][micro_rows] for key in fields},
                                    kept=torch.ones(len(micro_rows)))
            current = torch.where(micro.mask.bool(), logprobs[micro_rows], micro.old_logprobs)
            loss, _ = GRPOTrainer.policy_loss(owner, micro, current, tokens, episodes, step_tokens)
            with torch.no_grad():
                own_tokens = micro.mask.sum().clamp(min=1)
                diagnostics.append(GRPOTrainer.policy_loss(owner, micro, current, own_tokens, episodes,
                                                           step_tokens)[1])
            loss.backward()
            total = total + loss.detach()
        losses.append(total)
    return losses, diagnostics


def trl_grpo_trainer(config: GRPOConfig, model_dir: Path, output_dir: Path) -> Any:
    """TRL's ``GRPOTrainer`` with our ``config`` mapped onto its arguments, field by field (TRL's
    ``use_bias_correction_kl`` defaults to True, ours to False: mapped explicitly). The rollout/trainer correction
    needs vLLM in TRL: its mode and bounds are mapped, and :func:`trl_grpo_loss` turns it on."""
    trl = trl_grpo_module()
    from tests.helpers import word_tokenizer

    per_step = config.num_envs // config.num_minibatches
    args = trl.GRPOConfig(
        output_dir=str(output_dir), report_to="none", save_strategy="no", use_cpu=True,
        loss_type=config.loss_type, beta=config.beta, use_bias_correction_kl=config.use_bias_correction_kl,
        importance_sampling_level=config.importance_sampling_level,
        vllm_importance_sampling_mode=(config.importance_sampling_correction
                                       if config.importance_sampling_correction != "none" else "sequence_mask"),
        vllm_importance_sampling_clip_max=config.importance_sampling_max,
        vllm_importance_sampling_clip_min=config.importance_sampling_min,
        epsilon=config.epsilon, epsilon_high=config.clip_high,
        # Dr. GRPO's constant denominator: the env's token budget is TRL's max_completion_length.
        max_completion_length=MAX_NEW_TOKENS,
        num_generations=config.num_generations, num_iterations=config.num_iterations,
        scale_rewards=config.scale_rewards,
        # Our rollout (num_envs episodes) is TRL's generation batch; each of our minibatches is one of TRL's
        # optimizer steps of gradient_accumulation_steps micro-batches.
        per_device_train_batch_size=per_step // config.gradient_accumulation_steps,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        steps_per_generation=config.gradient_accumulation_steps * config.num_minibatches)
    import datasets

    dataset = datasets.Dataset.from_dict({"prompt": ["ein hund sieht eine katze", "die katze schläft"]})
    trainer = trl.GRPOTrainer(model=str(model_dir), args=args, processing_class=word_tokenizer(),
                              reward_funcs=lambda completions, **_: [0.0] * len(completions), train_dataset=dataset)
    assert (trainer.loss_type, trainer.beta, trainer.epsilon_low, trainer.epsilon_high,
            trainer.max_completion_length) == (config.loss_type, config.beta, config.epsilon, config.clip_high,
                                               MAX_NEW_TOKENS)
    return trainer


def trl_importance_sampling_ratio(trainer: Any, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """TRL 1.16's vLLM importance-sampling ratio, transcribed from ``GRPOTrainer._generate_and_score_completions``
    (the one part of TRL's loss path this test cannot drive without vLLM; ``compute_loss`` applies it)."""
    import math

    mode, clip_min, clip_max = (trainer.vllm_importance_sampling_mode, trainer.vllm_importance_sampling_clip_min,
                                trainer.vllm_importance_sampling_clip_max)
    logps_diff = (data["old_logprobs"] - data["sample_logprobs"]) * data["mask"]
    if mode in ("sequence_mask", "sequence_truncate"):
        logps_diff = logps_diff.sum(dim=-1, keepdim=True)
    ratio = torch.exp(logps_diff)
    if mode.endswith("truncate"):
        return torch.clamp(ratio, min=clip_min, max=clip_max)
    low = clip_min if clip_min is not None else -math.inf
    high = clip_max if clip_max is not None else math.inf
    return ratio.masked_fill((ratio < low) | (ratio > high), value=0.0)


def trl_grpo_loss(trainer: Any, config: GRPOConfig, data: dict[str, torch.Tensor], logprobs: torch.Tensor
                  ) -> tuple[list[torch.Tensor], list[dict[str, float]]]:
    """TRL's loss for each optimizer step (the sum of ``compute_loss`` over its micro-batches, each backpropagated
    into ``logprobs``), as its training loop calls it, and each micro-batch's logged diagnostics."""
    trainer.model.train()
    # TRL applies the rollout/trainer correction only to vLLM rollouts; its loss then multiplies by the ratio given.
    trainer.use_vllm = trainer.vllm_importance_sampling_correction = config.importance_sampling_correction != "none"
    # Set by transformers' training loop to the number of micro-batches in the accumulation window.
    trainer.current_gradient_accumulation_steps = config.gradient_accumulation_steps
    # TRL's _generate_and_score_completions: the completion tokens of the whole generation batch, over all processes.
    num_items_in_batch = data["mask"].sum()
    prompt_ids = torch.full((config.num_envs, 3), 5)
    completion_ids = torch.full((config.num_envs, MAX_NEW_TOKENS), 6)
    losses, diagnostics = [], []
    for step in micro_batches(config):
        total = torch.zeros(())
        for micro in step:
            def per_token_logps_and_entropies(*_: Any, rows: torch.Tensor = micro, **__: Any) -> tuple:
                return logprobs[rows], torch.zeros(len(rows), MAX_NEW_TOKENS), None

            trainer._get_per_token_logps_and_entropies = per_token_logps_and_entropies
            inputs = {"prompt_ids": prompt_ids[micro], "prompt_mask": torch.ones_like(prompt_ids[micro]),
                      "completion_ids": completion_ids[micro], "completion_mask": data["mask"][micro].long(),
                      "advantages": data["advantages"][micro], "old_per_token_logps": data["old_logprobs"][micro],
                      "num_items_in_batch": num_items_in_batch}
            if config.beta > 0:
                inputs["ref_per_token_logps"] = data["ref_logprobs"][micro]
            if config.importance_sampling_correction != "none":
                inputs["importance_sampling_ratio"] = trl_importance_sampling_ratio(trainer, data)[micro]
            trainer._metrics["train"].clear()
            loss = trainer.compute_loss(trainer.model, inputs)
            loss.backward()
            total = total + loss.detach()
            diagnostics.append({key: values[-1] for key, values in trainer._metrics["train"].items()})
        losses.append(total)
    return losses, diagnostics


GRPO_CASES = [(loss_type, minibatches) for loss_type in COMMON_LOSS_TYPES for minibatches in (1, 2)]


def assert_grpo_losses_equal(config: GRPOConfig, model_dir: Path, output_dir: Path, beta: float) -> None:
    """The same loss per optimizer step, the same gradient with respect to the per-token logprobs and the same
    per-micro-batch clip ratios and KL as TRL 1.16's GRPOTrainer, on :func:`grpo_inputs`."""
    data = grpo_inputs()
    ours_logprobs = data["logprobs"].clone().requires_grad_()
    trl_logprobs = data["logprobs"].clone().requires_grad_()
    ours, our_stats = our_grpo_loss(config, data, ours_logprobs)
    theirs, their_stats = trl_grpo_loss(trl_grpo_trainer(config, model_dir, output_dir), config, data, trl_logprobs)
    torch.testing.assert_close(torch.stack(ours), torch.stack(theirs), rtol=0, atol=TOLERANCE)
    assert ours_logprobs.grad.abs().max() > 1e-3
    torch.testing.assert_close(ours_logprobs.grad, trl_logprobs.grad, rtol=0, atol=TOLERANCE)
    # GSPO's clip ratios: ours are token means (an episode's ratio on each of its tokens), TRL's episode means, by
    # definition (agents.grpo.losses.clipped_token_loss); the loss and gradient above are the check there.
    clip_keys = ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean") \
        if config.importance_sampling_level == "token" else ()
    for mine, their in zip(our_stats, their_stats, strict=True):
        for key in clip_keys + (("kl",) if beta else ()):
            if key in mine:
                assert float(mine[key]) == pytest.approx(their[key], abs=TOLERANCE), key
    if config.loss_type != "cispo" and config.importance_sampling_level == "token":
        # The inputs exercise what the loss types differ on, so that equality is not a coincidence of the data.
        assert any(stats["clip_ratio/low_mean"] > 0 for stats in our_stats)
        assert any(stats["clip_ratio/high_mean"] > 0 for stats in our_stats)


@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("loss_type,num_minibatches", GRPO_CASES)
def test_grpo_loss_and_gradient_equal_trl(loss_type, num_minibatches, beta, tiny_model_dir, tmp_path):
    """Each loss type, with and without the k3 KL term, with asymmetric clipping (epsilon_high 0.28 vs epsilon 0.2),
    over 2 micro-batches per optimizer step and 1 or 2 optimizer steps per rollout (dapo's normalizer is the batch's
    mean tokens per step, TRL's; it was each step's own count, 0.967x / 1.036x TRL's loss on these inputs)."""
    config = GRPOConfig(env=ENV, num_envs=len(LENGTHS), num_generations=4, loss_type=loss_type, beta=beta,
                        epsilon=0.2, epsilon_high=0.28, num_minibatches=num_minibatches,
                        gradient_accumulation_steps=2, scale_rewards="none")
    assert_grpo_losses_equal(config, tiny_model_dir, tmp_path, beta)


@pytest.mark.parametrize("settings", [
    {"use_bias_correction_kl": True, "beta": 0.04},                                  # TRL's default KL term
    {"importance_sampling_level": "sequence", "beta": 0.04},                         # GSPO
    {"loss_type": "cispo", "epsilon_high": 5.0, "beta": 0.04},                       # CISPO
    {"loss_type": "cispo", "epsilon_high": 5.0, "num_minibatches": 2},
    {"importance_sampling_correction": "token_truncate", "importance_sampling_min": 0.5},
    {"importance_sampling_correction": "token_mask", "importance_sampling_min": 0.5, "beta": 0.04},
    {"importance_sampling_correction": "sequence_truncate"},
    {"importance_sampling_correction": "sequence_mask", "importance_sampling_max": 2.0, "loss_type": "dapo",
     "num_minibatches": 2},
])
def test_grpo_options_equal_trl(settings, tiny_model_dir, tmp_path):
    """TRL 1.16's other options we offer under its names: the bias-corrected KL (``use_bias_correction_kl``, TRL's
    default, ours opt-in), GSPO's sequence-level ratio, CISPO's capped detached weights, and the rollout/trainer
    importance-sampling correction (``vllm_importance_sampling_*`` there, ``importance_sampling_*`` here)."""
    config = GRPOConfig(**{"env": ENV, "num_envs": len(LENGTHS), "num_generations": 4, "epsilon": 0.2,
                           "epsilon_high": 0.28, "gradient_accumulation_steps": 2, "scale_rewards": "none",
                           **settings})
    assert_grpo_losses_equal(config, tiny_model_dir, tmp_path, config.beta)
    if config.importance_sampling_correction != "none":
        weights = trl_importance_sampling_ratio(trl_grpo_trainer(config, tiny_model_dir, tmp_path), grpo_inputs())
        assert bool(((weights != 1) & (weights > 0)).any()), "some weights must be corrections"
        if config.importance_sampling_correction.endswith("mask"):
            assert bool((weights == 0).any()), "some must fall outside the bounds"


@pytest.mark.parametrize("scale", [0.05, 0.5])
def test_rloo_loss_and_gradient_equal_trl_rloo_trainer(scale, tiny_model_dir, tmp_path):
    """Our ``loss_type="rloo"`` (the ``rloo`` agent) against TRL 1.16's ``RLOOTrainer.compute_loss``: one clipped
    ratio per sequence, mean over episodes, on small log-ratios (sequences mostly unclipped) and large ones (clipped).
    transformers' training step divides each micro-batch's loss by the accumulation steps; the test does the same for
    TRL's ``compute_loss``."""
    trl = trl_grpo_module()
    import datasets

    from tests.helpers import word_tokenizer

    episodes, accumulation = len(LENGTHS), 2
    config = GRPOConfig(env=ENV, num_envs=episodes, num_generations=4, loss_type="rloo",
                        advantage_estimator="rloo", scale_rewards="none", epsilon=0.2, epsilon_high=0.28,
                        gradient_accumulation_steps=accumulation)
    args = trl.RLOOConfig(output_dir=str(tmp_path / "out"), report_to="none", save_strategy="no", use_cpu=True,
                          beta=0.0, epsilon=config.epsilon, epsilon_high=config.clip_high,
                          num_generations=config.num_generations, max_completion_length=MAX_NEW_TOKENS,
                          per_device_train_batch_size=episodes // accumulation,
                          gradient_accumulation_steps=accumulation, steps_per_generation=accumulation)
    dataset = datasets.Dataset.from_dict({"prompt": ["ein hund sieht eine katze", "die katze schläft"]})
    trainer = trl.RLOOTrainer(model=str(tiny_model_dir), args=args, processing_class=word_tokenizer(),
                              reward_funcs=lambda completions, **_: [0.0] * len(completions), train_dataset=dataset)
    trainer.model.train()
    data = grpo_inputs()
    logprobs = data["old_logprobs"] + scale / 0.5 * (data["logprobs"] - data["old_logprobs"])
    ours_logprobs, trl_logprobs = logprobs.clone().requires_grad_(), logprobs.clone().requires_grad_()
    ours, _ = our_grpo_loss(config, {**data, "logprobs": logprobs}, ours_logprobs)
    theirs = torch.zeros(())
    for rows in micro_batches(config)[0]:
        trainer._get_per_token_logps_and_entropies = \
            lambda *_, rows=rows, **__: (trl_logprobs[rows], torch.zeros(len(rows), MAX_NEW_TOKENS), None)
        mask, old = data["mask"][rows], data["old_logprobs"][rows]
        inputs = {"prompt_ids": torch.full((len(rows), 3), 5), "prompt_mask": torch.ones(len(rows), 3).long(),
                  "completion_ids": torch.full((len(rows), MAX_NEW_TOKENS), 6), "completion_mask": mask.long(),
                  "old_logps": (old * mask).sum(1), "advantages": data["advantages"][rows]}
        loss = trainer.compute_loss(trainer.model, inputs) / accumulation
        loss.backward()
        theirs = theirs + loss.detach()
    ratios = torch.exp(((logprobs - data["old_logprobs"]) * data["mask"]).sum(1))
    clipped = ((ratios < 1 - config.epsilon) | (ratios > 1 + config.clip_high)).any()
    assert bool(clipped) == (scale == 0.5), "the two scales exercise unclipped and clipped sequences"
    torch.testing.assert_close(ours[0], theirs, rtol=0, atol=TOLERANCE)
    assert ours_logprobs.grad.abs().max() > 1e-3
    torch.testing.assert_close(ours_logprobs.grad, trl_logprobs.grad, rtol=0, atol=TOLERANCE)


# ------------------------------------------------------------------------------------------------------------- PPO
def trl_ppo_path() -> Path:
    """The directory holding TRL 1.12.0 (``pip install --no-deps --target DIR trl==1.12.0``), or a skip."""
    value = os.environ.get(TRL_PPO_PATH_VARIABLE)
    if not value:
        pytest.skip(f"{TRL_PPO_PATH_VARIABLE} is not set: the PPO cross-check needs TRL {TRL_PPO_VERSION} installed "
                    f"apart (scripts/run_tests.sh does it: pip install --no-deps --target DIR trl=={TRL_PPO_VERSION})")
    path = Path(value)
    if not (path / "trl" / "experimental" / "ppo" / "ppo_trainer.py").is_file():
        pytest.skip(f"{TRL_PPO_PATH_VARIABLE}={path} holds no TRL with trl.experimental.ppo (TRL {TRL_PPO_VERSION})")
    return path


@pytest.fixture(scope="module", params=["k1", "k3"])
def trl_ppo_run(request, tmp_path_factory) -> dict[str, Any]:
    """What TRL 1.12's ``PPOTrainer.train()`` saw and logged in one rollout (see ``tests/agents/trl_ppo_capture.py``)."""
    path = trl_ppo_path()
    out = tmp_path_factory.mktemp("trl-ppo") / "capture.pt"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(TESTS / "trl_ppo_capture.py"), str(out),
                             "--kl-estimator", request.param], env=environment, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    run = torch.load(out, weights_only=False)
    assert run["trl_version"] == TRL_PPO_VERSION
    return run


def test_ppo_rewards_gae_and_whitening_equal_trl(trl_ppo_run):
    """The KL penalty per token (k1 or k3), the rewards (score at the last token minus kl_coef x KL), GAE's returns
    and the whitened advantages, from TRL's rollout logprobs, values and scores, as our trainer computes them."""
    config, rollout = trl_ppo_run["config"], trl_ppo_run["rollout"]
    mask = (~rollout["padding_mask"]).float()
    # Every response runs to the length limit (tests/agents/trl_ppo_capture.py suppresses EOS and pad): see its note.
    assert mask.all() and torch.equal(rollout["padding_mask"], rollout["padding_mask_p1"])
    kl = kl_estimate(rollout["logprobs"], rollout["ref_logprobs"], config["kl_estimator"]) * mask
    assert kl.abs().max() > 1e-2
    torch.testing.assert_close(kl, rollout["kl"], rtol=0, atol=TOLERANCE)
    # agents/ppo/trainer.py: the env's score where it arrives (the last agent token) minus the KL penalty.
    env_rewards = torch.zeros_like(kl)
    env_rewards[torch.arange(len(mask)), mask.sum(dim=1).long() - 1] = rollout["scores"]
    rewards = env_rewards - config["kl_coef"] * kl
    torch.testing.assert_close(rewards, rollout["rewards"], rtol=0, atol=TOLERANCE)
    # RolloutBuffer.compute_advantages: agent_gae, then masked_whiten over the agent's tokens.
    advantages, returns = agent_gae(rewards, rollout["values"], mask, config["gamma"], config["lam"])
    torch.testing.assert_close(returns, rollout["returns"], rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(masked_whiten(advantages, mask), rollout["advantages"], rtol=0, atol=TOLERANCE)


def test_ppo_losses_and_gradients_equal_trl(trl_ppo_run):
    """Every micro-batch of TRL's update (2 epochs x 2 micro-batches, one optimizer step per epoch, so the second
    epoch's ratios are off 1 and clipped): our policy and value losses and the value clip fraction on TRL's new
    logprobs and values equal TRL's, and so do their gradients with respect to those logprobs and values; the
    micro-batches' shares of the step add up to what accelerate backpropagates; and the means over the update are
    TRL's logged ``loss/policy_avg``, ``loss/value_avg`` and ``val/clipfrac_avg``."""
    config, rollout = trl_ppo_run["config"], trl_ppo_run["rollout"]
    mask = (~rollout["padding_mask"]).float()
    policy_losses, value_losses, value_clipfracs, policy_clipped = [], [], [], []
    for micro in trl_ppo_run["micro_batches"]:
        rows = micro["indices"]
        logprobs = micro["new_logprobs"].clone().requires_grad_()
        values = micro["vpred"].clone().requires_grad_()
        pg_loss, pg_stats = policy_loss(logprobs, rollout["logprobs"][rows], rollout["advantages"][rows], mask[rows],
                                        config["cliprange"])
        v_loss, v_stats = value_loss(values, rollout["values"][rows], rollout["returns"][rows], mask[rows],
                                     config["cliprange_value"])
        policy_grad, = torch.autograd.grad(pg_loss, logprobs)
        value_grad, = torch.autograd.grad(v_loss, values)
        torch.testing.assert_close(pg_loss.detach(), micro["pg_loss"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(v_loss.detach(), micro["vf_loss"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(v_stats["value_clipfrac"], micro["vf_clipfrac"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close((pg_loss + config["vf_coef"] * v_loss).detach(), micro["loss"], rtol=0,
                                   atol=TOLERANCE)
        torch.testing.assert_close(policy_grad, micro["policy_grad"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(value_grad, micro["value_grad"], rtol=0, atol=TOLERANCE)
        # Our trainer divides each micro-batch's sums by the whole step's token count; accelerate's backward divides
        # TRL's micro-batch mean by gradient_accumulation_steps. The same share when the micro-batches' token counts
        # match (every response has the same length here).
        step_tokens = mask[rows].sum() * config["gradient_accumulation_steps"]
        share, _ = policy_loss(logprobs.detach(), rollout["logprobs"][rows], rollout["advantages"][rows], mask[rows],
                               config["cliprange"], step_tokens)
        torch.testing.assert_close(share, micro["pg_loss"] / config["gradient_accumulation_steps"], rtol=0,
                                   atol=TOLERANCE)
        policy_losses.append(pg_loss.detach())
        value_losses.append(v_loss.detach())
        value_clipfracs.append(v_stats["value_clipfrac"])
        policy_clipped.append(pg_stats["clipfrac"])
    steps = [micro["optimizer_step"] for micro in trl_ppo_run["micro_batches"]]
    # One optimizer step per gradient_accumulation_steps micro-batches, as in our trainer's minibatch.
    assert steps == ([False] * (config["gradient_accumulation_steps"] - 1) + [True]) * config["num_ppo_epochs"]
    assert max(policy_clipped) > 0 and max(value_clipfracs) > 0  # the clipped branches were exercised
    logged = trl_ppo_run["logs"][0]
    assert float(torch.stack(policy_losses).mean()) == pytest.approx(logged["loss/policy_avg"], abs=TOLERANCE)
    assert float(torch.stack(value_losses).mean()) == pytest.approx(logged["loss/value_avg"], abs=TOLERANCE)
    assert float(torch.stack(value_clipfracs).mean()) == pytest.approx(logged["val/clipfrac_avg"], abs=TOLERANCE)
