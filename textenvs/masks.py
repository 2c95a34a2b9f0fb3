"""Action masks: which tokens an agent may emit next. Optional; configured with the env's ``action_mask`` argument.

A mask provider is any callable ``(prompt_ids, prompt_mask, generated_ids, generated_mask) -> bool array (B, V)``
taking the batched observation arrays. The environment always adds EOS to the legal set so every episode can end.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, Union

import numpy as np


class ActionMaskProvider(Protocol):
    def __call__(self, prompt_ids: np.ndarray, prompt_mask: np.ndarray, generated_ids: np.ndarray,
                 generated_mask: np.ndarray) -> np.ndarray: ...


ActionMaskSpec = Union[None, Sequence[int], np.ndarray, ActionMaskProvider]


class VocabularyMask:
    """A fixed vocabulary subset: the same legal tokens at every step.

    :param allowed: token ids, or a boolean array of length ``vocab_size``.
    :param vocab_size: the action space size.
    """

    def __init__(self, allowed: Sequence[int] | np.ndarray, vocab_size: int) -> None:
        allowed = np.asarray(allowed)
        if allowed.dtype == bool:
            if allowed.shape != (vocab_size,):
                raise ValueError(f"A boolean vocabulary mask must have shape ({vocab_size},), got {allowed.shape}.")
            self.allowed = allowed.copy()
        else:
            if allowed.size and (allowed.min() < 0 or allowed.max() >= vocab_size):
                raise ValueError(f"Allowed token ids must lie in [0, {vocab_size - 1}]; got range "
                                 f"[{allowed.min()}, {allowed.max()}].")
            self.allowed = np.zeros(vocab_size, dtype=bool)
            self.allowed[allowed.astype(np.int64)] = True

    def __call__(self, prompt_ids, prompt_mask, generated_ids, generated_mask) -> np.ndarray:
        return np.broadcast_to(self.allowed, (prompt_ids.shape[0], self.allowed.shape[0])).copy()


class TopPMask:
    """NLPO-style mask: the legal tokens are a reference model's top-p (and optionally top-k) next tokens.

    Works with a Hugging Face causal LM or seq2seq LM (``model.config.is_encoder_decoder``) that consumes the
    observation layout directly. It re-runs the reference model over the whole sequence at each step (no KV cache):
    simple and stateless, suited to step-by-step agents; the PPO agent computes its own masks from cached logits.

    :param model: the reference model (kept in eval mode, no gradients).
    :param top_p: keep the smallest set of tokens whose probability mass reaches ``top_p``.
    :param top_k: additionally cap the set at ``top_k`` tokens (0 = no cap).
    :param decoder_start_token_id: first decoder token for seq2seq models (defaults to the model config's).
    """

    def __init__(self, model: Any, top_p: float = 0.9, top_k: int = 0, decoder_start_token_id: int | None = None):
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}.")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}.")
        self.model = model.eval()
        self.top_p, self.top_k = top_p, top_k
        self.is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        self.decoder_start_token_id = (decoder_start_token_id if decoder_start_token_id is not None
                                       else getattr(model.config, "decoder_start_token_id", None))

    def __call__(self, prompt_ids, prompt_mask, generated_ids, generated_mask) -> np.ndarray:
        import torch

        device = next(self.model.parameters()).device
        as_tensor = lambda a: torch.as_tensor(np.asarray(a), device=device, dtype=torch.long)  # noqa: E731
        with torch.inference_mode():
            if self.is_encoder_decoder:
                start = torch.full((prompt_ids.shape[0], 1), self.decoder_start_token_id, device=device)
                decoder_ids = torch.cat([start, as_tensor(generated_ids)], dim=1)
                decoder_mask = torch.cat([torch.ones_like(start), as_tensor(generated_mask)], dim=1)
                logits = self.model(input_ids=as_tensor(prompt_ids), attention_mask=as_tensor(prompt_mask),
                                    decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask).logits
                last = decoder_mask.sum(dim=1) - 1
            else:
                input_ids = torch.cat([as_tensor(prompt_ids), as_tensor(generated_ids)], dim=1)
                attention = torch.cat([as_tensor(prompt_mask), as_tensor(generated_mask)], dim=1)
                positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
                logits = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions).logits
                # Left-padded prompt + right-padded generation: the last real token is the prompt's last
                # position plus the number of generated tokens.
                last = prompt_ids.shape[1] - 1 + as_tensor(generated_mask).sum(dim=1)
            next_logits = logits[torch.arange(logits.shape[0], device=device), last].float()
        return top_p_mask(next_logits, self.top_p, self.top_k).cpu().numpy()


def top_p_mask(logits: "torch.Tensor", top_p: float, top_k: int = 0) -> "torch.Tensor":  # noqa: F821
    """Boolean mask (B, V) of each row's nucleus: the most likely tokens whose cumulative probability reaches
    ``top_p`` (always at least the argmax), capped at ``top_k`` when ``top_k > 0``."""
    import torch

    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    keep_sorted = mass_before < top_p
    if top_k > 0:
        keep_sorted[:, top_k:] = False
    keep_sorted[:, 0] = True
    mask = torch.zeros_like(keep_sorted)
    return mask.scatter(1, order, keep_sorted)


def make_action_mask(spec: ActionMaskSpec, vocab_size: int) -> Callable[..., np.ndarray] | None:
    """Normalize the env's ``action_mask`` argument into a provider (or None)."""
    if spec is None:
        return None
    if callable(spec):
        return spec
    if isinstance(spec, (np.ndarray, list, tuple, range)):
        return VocabularyMask(spec, vocab_size)
    raise TypeError("action_mask must be None, a sequence of allowed token ids, a boolean vocabulary array, or a "
                    f"callable mask provider; got {type(spec).__name__}.")
