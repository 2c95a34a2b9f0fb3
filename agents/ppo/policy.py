"""The policy and value networks around a Hugging Face language model, and KV-cached next-token decoding.

Logits are sliced to the env's vocabulary (``V = len(tokenizer)``; a model's embedding matrix is often padded
beyond it), divided by the sampling temperature and restricted to the legal actions before any logprob is taken,
so rollouts, the reference model and the PPO update all see the same distribution.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from agents.models import causal_position_ids


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


def policy_logits(logits: torch.Tensor, vocab_size: int, temperature: float,
                  action_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits over the env's ``vocab_size`` actions, divided by ``temperature``, illegal actions set to the
    smallest float (probability exactly 0, and ``0 * logprob`` stays finite in the entropy)."""
    logits = logits[..., :vocab_size].float() / temperature
    if action_mask is not None:
        logits = logits.masked_fill(~action_mask, torch.finfo(logits.dtype).min)
    return logits


def gather_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each chosen token: ``log_softmax(logits)[..., token]``."""
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution of each row of ``logits``."""
    logprobs = torch.log_softmax(logits, dim=-1)
    return -(logprobs.exp() * logprobs).sum(dim=-1)


def decoder_inputs(generated_ids: torch.Tensor, generated_mask: torch.Tensor,
                   start_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced seq2seq decoder input: the start token, then every generated token but the last."""
    start = torch.full_like(generated_ids[:, :1], start_token_id)
    ids = torch.cat([start, generated_ids[:, :-1]], dim=1)
    mask = torch.cat([torch.ones_like(start), generated_mask[:, :-1].long()], dim=1)
    return ids, mask


def token_logits_and_hidden(lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                            generated_ids: torch.Tensor, generated_mask: torch.Tensor,
                            start_token_id: int | None, hidden: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One teacher-forced forward: the logits that predicted each generated token ``(B, T, vocab)`` and, if asked,
    the last hidden state at those positions ``(B, T, H)``."""
    if lm.config.is_encoder_decoder:
        decoder_ids, decoder_mask = decoder_inputs(generated_ids, generated_mask, start_token_id)
        output = lm(input_ids=prompt_ids, attention_mask=prompt_mask, decoder_input_ids=decoder_ids,
                    decoder_attention_mask=decoder_mask, output_hidden_states=hidden, use_cache=False)
        return output.logits, output.decoder_hidden_states[-1] if hidden else None
    input_ids = torch.cat([prompt_ids, generated_ids], dim=1)
    attention = torch.cat([prompt_mask, generated_mask], dim=1).long()
    output = lm(input_ids=input_ids, attention_mask=attention, position_ids=causal_position_ids(attention),
                output_hidden_states=hidden, use_cache=False)
    # The token at position P + t is predicted by the logits at position P + t - 1.
    window = slice(prompt_ids.shape[1] - 1, input_ids.shape[1] - 1)
    return output.logits[:, window], output.hidden_states[-1][:, window] if hidden else None


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
        self.start_token_id = getattr(lm.config, "decoder_start_token_id", None)
        if self.is_encoder_decoder and self.start_token_id is None:
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
        """Raw logits ``(B, T, V)`` that predicted each generated token, and the value of each of those states
        ``(B, T)``."""
        shared = self.value_trunk is None
        logits, hidden = token_logits_and_hidden(self.lm, prompt_ids, prompt_mask, generated_ids, generated_mask,
                                                 self.start_token_id, hidden=shared)
        if not shared:
            _, hidden = token_logits_and_hidden(self.value_trunk, prompt_ids, prompt_mask, generated_ids,
                                                generated_mask, self.start_token_id, hidden=True)
        values = self.value_head(hidden.float()).squeeze(-1)
        return logits[..., :self.vocab_size], values


class CachedDecoder:
    """Next-token logits of a batch of sequences, one token at a time, reusing the KV cache.

    A plain cached ``model(...)`` loop (no ``generate()``): the prompt is encoded once, then each step feeds only the
    new token. Causal models read the left-padded prompt with position ids counted from each row's first real token;
    seq2seq models encode the prompt once and decode from ``decoder_start_token_id``. The causal attention mask is
    preallocated in blocks and the next positions are carried along, so a step adds no concatenation or reduction
    beyond the model's own.

    :ivar logits: raw logits ``(B, vocab)`` for the next token.
    """

    MASK_BLOCK = 64

    def __init__(self, lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> None:
        self.lm = lm
        self.is_encoder_decoder = bool(lm.config.is_encoder_decoder)
        prompt_mask = prompt_mask.long()
        if self.is_encoder_decoder:
            self.attention_mask = prompt_mask
            self.encoder_outputs = lm.get_encoder()(input_ids=prompt_ids, attention_mask=prompt_mask)
            start = torch.full_like(prompt_ids[:, :1], lm.config.decoder_start_token_id)
            output = lm(encoder_outputs=self.encoder_outputs, attention_mask=prompt_mask,
                        decoder_input_ids=start, use_cache=True)
        else:
            self._mask_buffer = torch.cat([prompt_mask, torch.ones_like(prompt_mask[:, :1]).expand(
                -1, self.MASK_BLOCK)], dim=1)
            self._length = prompt_mask.shape[1]
            self.next_position = prompt_mask.sum(dim=1, keepdim=True)
            output = lm(input_ids=prompt_ids, attention_mask=prompt_mask,
                        position_ids=causal_position_ids(prompt_mask), use_cache=True)
        self.past_key_values = output.past_key_values
        self.logits = output.logits[:, -1]

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; returns (and stores) the logits for the token after it."""
        tokens = tokens.view(-1, 1)
        if self.is_encoder_decoder:
            output = self.lm(encoder_outputs=self.encoder_outputs, attention_mask=self.attention_mask,
                             decoder_input_ids=tokens, past_key_values=self.past_key_values, use_cache=True)
        else:
            self._length += 1
            if self._length > self._mask_buffer.shape[1]:
                self._mask_buffer = torch.cat([self._mask_buffer, torch.ones_like(self._mask_buffer[:, :1]).expand(
                    -1, self.MASK_BLOCK)], dim=1)
            output = self.lm(input_ids=tokens, attention_mask=self._mask_buffer[:, :self._length],
                             position_ids=self.next_position, past_key_values=self.past_key_values, use_cache=True)
            self.next_position = self.next_position + 1
        self.past_key_values = output.past_key_values
        self.logits = output.logits[:, -1]
        return self.logits


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but torch.cuda.is_available() is False.")
    return torch.device(name)


def autocast(device: torch.device) -> Any:
    """bf16 autocast on CUDA; a no-op context on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
