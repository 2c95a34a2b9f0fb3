"""The policy and value networks around a Hugging Face language model.

Logits are sliced to the env's vocabulary (``V = len(tokenizer)``; a model's embedding matrix is often padded
beyond it), divided by the sampling temperature and restricted to the legal actions before any logprob is taken
(:func:`textenvs.decoding.policy_logits`), so rollouts, the reference model and the PPO update all see the same
distribution. The model runs through :mod:`textenvs.decoding`, the one decoding path of the codebase.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from textenvs.decoding import head_logits, token_hidden_states, token_logits


def disable_dropout(model: nn.Module) -> None:
    """Dropout off (implementation detail: it would make the PPO ratio and the KL noisy), in train and eval mode."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    config = getattr(model, "config", None)
    for name in list(vars(config)) if config is not None else []:
        if "dropout" in name and isinstance(getattr(config, name), float):
            setattr(config, name, 0.0)


def frozen_copy(model: nn.Module) -> nn.Module:
    """A detached copy with no trainable parameters (the KL reference)."""
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


def apply_lora(model: nn.Module, rank: int, alpha: int) -> nn.Module:
    """Wrap ``model`` with LoRA adapters on its linear layers (``peft``); only the adapters train."""
    from peft import LoraConfig, TaskType, get_peft_model

    task_type = TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear", task_type=task_type)
    return get_peft_model(model, config)


def gather_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each chosen token: ``log_softmax(logits)[..., token]``."""
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution of each row of ``logits``."""
    return entropy_from_logprobs(torch.log_softmax(logits, dim=-1))


def entropy_from_logprobs(logprobs: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of ``logprobs`` (a ``log_softmax``; masked entries at ``-inf``-like values contribute 0)."""
    return -(logprobs.exp() * logprobs).sum(dim=-1)


class ActorCritic(nn.Module):
    """A language-model policy with a value function.

    :param lm: Hugging Face causal LM or seq2seq LM (``config.is_encoder_decoder``), possibly LoRA-wrapped.
    :param vocab_size: the env's action count V; logits beyond it are dropped.
    :param value_model: ``"shared"`` puts a zero-initialized linear head on the policy's last hidden state;
        ``"separate"`` gives the head its own (fully trained) copy of the initial model, so value gradients never
        touch the policy.
    :param lora_rank: LoRA rank for the policy (``peft``); 0 trains every policy weight.
    :param lora_alpha: LoRA scaling numerator.
    """

    def __init__(self, lm: nn.Module, vocab_size: int, value_model: str = "shared", lora_rank: int = 0,
                 lora_alpha: int = 16) -> None:
        super().__init__()
        disable_dropout(lm)
        self.value_trunk = copy.deepcopy(lm) if value_model == "separate" else None
        self.lm = apply_lora(lm, lora_rank, lora_alpha) if lora_rank > 0 else lm
        self.vocab_size = vocab_size
        self.is_encoder_decoder = bool(lm.config.is_encoder_decoder)
        if self.is_encoder_decoder and getattr(lm.config, "decoder_start_token_id", None) is None:
            raise ValueError("The seq2seq model's config has no decoder_start_token_id.")
        if lm.get_output_embeddings().weight.shape[0] < vocab_size:
            raise ValueError(f"The model predicts {lm.get_output_embeddings().weight.shape[0]} tokens but the env's "
                             f"tokenizer has {vocab_size}; resize the model's embeddings to len(tokenizer).")
        hidden_size = lm.config.get_text_config().hidden_size if hasattr(lm.config, "get_text_config") \
            else lm.config.hidden_size
        # Zero-initialized value head: the first value estimates are 0, not noise on the policy's feature scale.
        self.value_head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, generated_ids: torch.Tensor,
                generated_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 logits ``(B, T, V)`` that predicted each generated token, and the value of each of those states
        ``(B, T)``. The trunk runs in the caller's autocast context; both heads run in float32 outside it."""
        inputs = (prompt_ids, prompt_mask, generated_ids, generated_mask)
        hidden = token_hidden_states(self.lm, *inputs)[:, :-1]
        value_hidden = hidden if self.value_trunk is None else token_hidden_states(self.value_trunk, *inputs)[:, :-1]
        logits = head_logits(self.lm, hidden)
        with torch.autocast(value_hidden.device.type, enabled=False):
            values = self.value_head(value_hidden.float()).squeeze(-1)
        return logits[..., :self.vocab_size], values


class TokenLogits(nn.Module):
    """A language model whose forward is :func:`textenvs.decoding.token_logits`: float32 logits ``(B, T, model
    vocab)`` that predicted each generated token, teacher-forced. The module a critic-free trainer wraps for several
    processes (DDP synchronizes the gradients of passes through its wrapper's forward, and FSDP2 gathers the root's
    parameters there)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, generated_ids: torch.Tensor,
                generated_mask: torch.Tensor) -> torch.Tensor:
        return token_logits(self.lm, prompt_ids, prompt_mask, generated_ids, generated_mask)


MIXED_PRECISION = ("auto", "bf16", "no")


def autocast(device: torch.device, mixed_precision: str = "auto") -> Any:
    """The forward passes' precision: bf16 autocast with ``"bf16"``, or with ``"auto"`` on CUDA (a no-op context on
    CPU); float32 everywhere with ``"no"``."""
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {mixed_precision!r}.")
    enabled = mixed_precision == "bf16" or (mixed_precision == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Recompute each layer's activations in the backward pass instead of storing them (less memory, one more
    forward), for every Hugging Face model inside ``model``; it applies in train mode only."""
    for module in model.modules():
        if getattr(module, "supports_gradient_checkpointing", False) and not module.is_activation_checkpointing:
            # Non-reentrant checkpointing: correct with frozen inputs (LoRA) and under DDP.
            module.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
