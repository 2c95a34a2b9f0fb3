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
            if allowed.size and not np.issubdtype(allowed.dtype, np.integer):
                raise TypeError(f"action_mask token ids must be integers, got dtype {allowed.dtype}: "
                                f"{allowed.tolist()!r:.100}.")
            if allowed.size and (allowed.min() < 0 or allowed.max() >= vocab_size):
                raise ValueError(f"Allowed token ids must lie in [0, {vocab_size - 1}]; got range "
                                 f"[{allowed.min()}, {allowed.max()}].")
            self.allowed = np.zeros(vocab_size, dtype=bool)
            self.allowed[allowed.astype(np.int64)] = True

    def __call__(self, prompt_ids, prompt_mask, generated_ids, generated_mask) -> np.ndarray:
        return np.broadcast_to(self.allowed, (prompt_ids.shape[0], self.allowed.shape[0])).copy()


class TopPMask:
    """NLPO-style mask: the legal tokens are a reference model's top-p (and optionally top-k) next tokens, under its
    own distribution (:func:`textenvs.decoding.nlpo_mask`, the definition our PPO's ``action_mask="nlpo"`` uses too).

    Works with a Hugging Face causal LM or seq2seq LM (``model.config.is_encoder_decoder``) that consumes the
    observation layout directly. It re-runs the reference model over the whole sequence at each step (no KV cache):
    simple and stateless, suited to step-by-step agents; the PPO agent computes the same masks from cached logits.

    :param model: the reference model (kept in eval mode, no gradients).
    :param top_p: keep the smallest set of tokens whose probability mass reaches ``top_p``.
    :param top_k: additionally cap the set at ``top_k`` tokens (0 = no cap).
    :param vocab_size: the env's action count; None = the model's output width.
    """

    def __init__(self, model: Any, top_p: float = 0.9, top_k: int = 0, vocab_size: int | None = None):
        from textenvs.decoding import check_truncation

        check_truncation(top_k, top_p)
        self.model = model.eval()
        self.top_p, self.top_k = top_p, top_k
        self.vocab_size = vocab_size if vocab_size is not None else model.get_output_embeddings().weight.shape[0]

    def __call__(self, prompt_ids, prompt_mask, generated_ids, generated_mask) -> np.ndarray:
        from textenvs.decoding import next_token_logits, nlpo_mask

        observation = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "generated_ids": generated_ids,
                       "generated_mask": generated_mask}
        return nlpo_mask(next_token_logits(self.model, observation), self.vocab_size, self.top_p,
                         self.top_k).cpu().numpy()


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
