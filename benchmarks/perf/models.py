"""The model and prompts every perf benchmark shares: a GPT-2 built from config on the built-in tokenizer, and a
fixed batch of env prompts. EOS is suppressed so every system decodes exactly ``new_tokens`` tokens per row."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

import textenvs  # noqa: F401  (registers the envs)
from agents.models import build_causal_lm
from textenvs.data.tokenizer import load_builtin_tokenizer


def suppress_token(model: torch.nn.Module, token_id: int) -> None:
    """Make ``token_id`` (EOS) unreachable for every decoding method, so lengths are equal across systems."""
    def hook(module, inputs, output):
        output[..., token_id] = torch.finfo(output.dtype).min
        return output

    model.get_output_embeddings().register_forward_hook(hook)


def benchmark_model(size: str, device: torch.device, dtype: torch.dtype = torch.float32, seed: int = 0):
    """``(tokenizer, model)``: GPT-2 of ``size`` with random weights on ``device``, EOS suppressed, eval mode."""
    tokenizer = load_builtin_tokenizer()
    torch.manual_seed(seed)
    model = build_causal_lm(tokenizer, size).to(device=device, dtype=dtype).eval()
    suppress_token(model, tokenizer.eos_token_id)
    return tokenizer, model


def make_env(batch: int, prompt_tokens: int, new_tokens: int, tokenizer, **kwargs):
    """The native vector env over the built-in translation data with the given budgets (prompts are left-padded
    to ``prompt_tokens``)."""
    return gym.make_vec("textenvs/Translation-v0", num_envs=batch, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.DISABLED, tokenizer=tokenizer, max_prompt_length=prompt_tokens,
                        max_new_tokens=new_tokens,
                        **kwargs).unwrapped


def prompt_batch(env, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The first ``batch`` prompts of the env's split as it lays them out, with their example indices."""
    indices = np.arange(batch)
    observation, _ = env.reset(options={"example_index": indices})
    return (torch.as_tensor(observation["prompt_ids"], device=device),
            torch.as_tensor(observation["prompt_mask"], device=device).long(), indices)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
