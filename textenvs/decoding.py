"""Decoding a Hugging Face language model over textenvs observations: the one place that runs a policy model.

Every part that needs a model's next-token distribution uses this module: our PPO (rollouts, teacher-forced scoring
and updates), the supervised warm start's validation, the baselines, the SB3 transformer policies and their top-p
masks (:class:`textenvs.masks.TopPMask`), and the leaderboard's verified runs. It lives in ``textenvs`` because the
env-side model-based mask needs it and envs never import agents; it depends on torch and transformers only.

Layout conventions (what the envs' observations hold, and what every model here sees):

- causal LM: the left-padded prompt (ending with the separator) followed by the right-padded generated tokens;
  position ids count real tokens only (:func:`causal_position_ids`), as ``generate()`` does with left padding;
- seq2seq LM: the right-padded prompt is the encoder input; the decoder starts from
  ``config.decoder_start_token_id`` and reads the generated tokens. T5 / BART-style models and transformers'
  ``EncoderDecoderModel`` (any encoder with a GPT-2, BERT, ... decoder) alike: :func:`seq2seq_parts` finds the
  decoder trunk, the projection of the encoder's output and the full output head.

Precision: the transformer trunk runs in whatever autocast context the caller opens (bf16 on CUDA in PPO), and the
output head always runs in float32 outside it (:func:`head_logits`), so logprobs, ratios and KL are computed from
float32 logits. Logits keep the model's own width; callers slice them to the env's vocabulary.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import DynamicCache, EncoderDecoderCache, StaticCache


def causal_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only attended tokens, so a left-padded prompt starts at position 0 whatever its
    padding (padding positions get 0; they are masked anyway)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)


def base_model(lm: nn.Module) -> nn.Module:
    """The Hugging Face model under a ``peft`` wrapper (LoRA layers stay injected in it), else ``lm`` itself."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def is_encoder_decoder(lm: nn.Module) -> bool:
    return bool(getattr(lm.config, "is_encoder_decoder", False))


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def fuse_activations(model: nn.Module) -> int:
    """Replace the tanh-approximated GELU that some Hugging Face models compose from Python ops (GPT-2's and T5
    v1.1's ``gelu_new``, ``gelu_fast``: six element-wise kernels forward and as many backward) by PyTorch's fused
    kernel of the same formula (``F.gelu(approximate="tanh")``, transformers' ``GELUTanh``). The function is the same
    up to float rounding (max difference ~2e-7 in float32; transformers calls them equivalent); forward and backward
    run ~4x faster, which on a CPU is ~20% of a small model's training step. The modules hold no weights, so
    checkpoints and the exported model (whose config still names its own activation) are unchanged. Returns the
    number of modules replaced."""
    from transformers.activations import FastGELUActivation, GELUTanh, NewGELUActivation

    targets = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
               if type(child) in (NewGELUActivation, FastGELUActivation)]
    for parent, name in targets:
        setattr(parent, name, GELUTanh())
    return len(targets)


def seq2seq_parts(model: nn.Module) -> tuple[nn.Module, nn.Module | None, nn.Module]:
    """``(decoder, projection, head)``: what decoding runs of a seq2seq model (unwrapped, :func:`base_model`).

    - ``decoder``: the decoder trunk, whose output's ``last_hidden_state`` is the final hidden state. A T5 or BART
      decoder stack is that already; an ``EncoderDecoderModel``'s ``get_decoder()`` is a decoder *with* its LM head
      (``GPT2LMHeadModel``, ``BertLMHeadModel``), whose base model (``transformer``, ``bert``) is the trunk;
    - ``projection``: the layer the model applies to the encoder's output before cross-attention
      (``EncoderDecoderModel``'s ``enc_to_dec_proj``, which exists when the two hidden sizes differ), else None;
    - ``head``: the module that maps a final hidden state to logits: the output embeddings (T5, BART, a GPT-2
      decoder's ``lm_head``), or the whole LM head of a decoder whose head transforms the state first
      (``BertLMHeadModel``'s ``cls``: dense, GELU and LayerNorm before the output embeddings).
    """
    decoder = model.get_decoder()
    trunk = decoder.base_model
    head = model.get_output_embeddings()
    if trunk is not decoder:  # the decoder's own LM head: its child that holds the output embeddings
        head = next((child for child in decoder.children()
                     if child is not trunk and any(module is head for module in child.modules())), head)
    return trunk, getattr(model, "enc_to_dec_proj", None), head


def encode_prompt(model: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                  share_prompts: bool = True) -> torch.Tensor:
    """A seq2seq model's encoder states ``(B, P, H)`` as its decoder's cross-attention reads them (projected to the
    decoder's width where the model does so, :func:`seq2seq_parts`).

    With ``share_prompts`` rows that repeat a prompt (a GRPO group) are encoded once and each row gets a copy of its
    prompt's states: the same function and, through the copies, the same gradients, for a fraction of the encoder's
    compute (which dominates for long sources and a small decoder)."""
    shared = shared_prompts(prompt_ids, prompt_mask) if share_prompts else None
    if shared is not None:
        unique_ids, unique_mask, inverse = shared
        return encode_prompt(model, unique_ids, unique_mask, share_prompts=False)[inverse]
    encoded = model.get_encoder()(input_ids=prompt_ids, attention_mask=prompt_mask).last_hidden_state
    projection = seq2seq_parts(model)[1]
    return encoded if projection is None else projection(encoded)


def float32_head(head: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """``head(hidden)`` computed with float32 weights (``hidden`` is float32) whatever the head's stored dtype."""
    weight = getattr(head, "weight", None)
    if weight is None:  # a head with a transform before its output embeddings (a BERT decoder's)
        cast = {name: parameter.float() for name, parameter in head.named_parameters()
                if parameter.dtype != torch.float32}
        return torch.func.functional_call(head, cast, (hidden,)) if cast else head(hidden)
    if weight.dtype != torch.float32:
        # A checkpoint kept in bf16 / fp16 (a frozen reference, reward or user model): its head's weights are
        # cast for this product instead of the float32 hidden state being cast down.
        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        return torch.nn.functional.linear(hidden, weight.float(), bias)
    return head(hidden)


def head_logits(lm: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Float32 logits from final hidden states: the output head run in float32, outside any autocast context.

    It reproduces the model's own head: T5's rescaling of the decoder output (``scale_decoder_outputs``), BART's
    ``final_logits_bias`` and the transform of an ``EncoderDecoderModel``'s BERT decoder (:func:`seq2seq_parts`)
    are applied when the model has them.
    """
    model = base_model(lm)
    with torch.autocast(hidden.device.type, enabled=False):
        hidden = hidden.float()
        seq2seq = is_encoder_decoder(model)
        if seq2seq and getattr(model.config, "scale_decoder_outputs", False):
            hidden = hidden * model.config.d_model ** -0.5
        logits = float32_head(seq2seq_parts(model)[2] if seq2seq else model.get_output_embeddings(), hidden)
        bias = getattr(model, "final_logits_bias", None)
        return logits + bias.float() if bias is not None else logits


def shared_prompts(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
    """``(unique_ids, unique_mask, inverse)`` when some rows hold the same prompt (a GRPO group's samples):
    the distinct prompts and, for each row, the index of its prompt among them; None when every row differs."""
    rows = torch.cat([prompt_ids, prompt_mask.to(prompt_ids.dtype)], dim=1)
    unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
    if len(unique) == len(rows):
        return None
    width = prompt_ids.shape[1]
    return unique[:, :width], unique[:, width:].to(prompt_mask.dtype), inverse


def token_hidden_states(lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                        generated_ids: torch.Tensor, generated_mask: torch.Tensor,
                        share_prompts: bool = True) -> torch.Tensor:
    """One teacher-forced forward without cache: the final hidden states ``(B, T + 1, H)`` that predict each of the
    ``T`` generated tokens and, last, the token after them (the next action of an unfinished episode).

    With ``share_prompts`` a causal LM whose rows repeat a prompt (a GRPO group) runs each distinct prompt once and
    gives every row a copy of its prompt's keys and values for the generated tokens: the same function and, through
    the copies, the same gradients (summed over the rows that share the prompt), for a fraction of the prompt's
    compute. (Not under gradient checkpointing, which turns the cache off.)"""
    model = base_model(lm)
    prompt_mask, generated_mask = prompt_mask.long(), generated_mask.long()
    if is_encoder_decoder(model):
        start = torch.full((len(generated_ids), 1), model.config.decoder_start_token_id, dtype=generated_ids.dtype,
                           device=generated_ids.device)
        encoded = encode_prompt(model, prompt_ids, prompt_mask)
        return seq2seq_parts(model)[0](
            input_ids=torch.cat([start, generated_ids], dim=1),
            attention_mask=torch.cat([torch.ones_like(start), generated_mask], dim=1),
            encoder_hidden_states=encoded, encoder_attention_mask=prompt_mask, use_cache=False).last_hidden_state
    attention = torch.cat([prompt_mask, generated_mask], dim=1)
    positions = causal_position_ids(attention)
    shared = shared_prompts(prompt_ids, prompt_mask) \
        if share_prompts and not getattr(model, "is_activation_checkpointing", False) else None
    if shared is not None:
        unique_ids, unique_mask, inverse = shared
        cache = DynamicCache(config=model.config)
        prompt_hidden = model.base_model(input_ids=unique_ids, attention_mask=unique_mask,
                                         position_ids=causal_position_ids(unique_mask), cache=cache,
                                         use_cache=True).last_hidden_state
        if generated_ids.shape[1] == 0:  # nothing generated yet (a stateless agent's first step)
            return prompt_hidden[inverse, -1:]
        cache.batch_select_indices(inverse)  # each row's copy of its prompt's keys and values
        hidden = model.base_model(input_ids=generated_ids, attention_mask=attention,
                                  position_ids=positions[:, prompt_ids.shape[1]:], cache=cache,
                                  use_cache=True).last_hidden_state
        return torch.cat([prompt_hidden[inverse, -1:], hidden], dim=1)
    hidden = model.base_model(input_ids=torch.cat([prompt_ids, generated_ids], dim=1), attention_mask=attention,
                              position_ids=positions, use_cache=False).last_hidden_state
    # The token at position P + t is predicted by the hidden state at position P + t - 1.
    return hidden[:, prompt_ids.shape[1] - 1:]


def token_logits(lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, generated_ids: torch.Tensor,
                 generated_mask: torch.Tensor) -> torch.Tensor:
    """Float32 logits ``(B, T, model vocab)`` that predicted each generated token (teacher-forced, no cache)."""
    return head_logits(lm, token_hidden_states(lm, prompt_ids, prompt_mask, generated_ids, generated_mask)[:, :-1])


def trim_padding_columns(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the columns that are padding in every row (they change nothing under the attention mask and position
    ids above, and cost compute): left ones of a causal prompt, right ones of an encoder input."""
    attended = mask.bool().any(dim=0).nonzero().flatten()
    if not len(attended):
        return ids[:, :0], mask[:, :0]
    window = slice(int(attended[0]), int(attended[-1]) + 1)
    return ids[:, window], mask[:, window]


def next_token_hidden(lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                      generated_ids: torch.Tensor, generated_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden state ``(B, H)`` that predicts each row's next token, from one uncached forward over the
    observation (stateless: what step-by-step agents such as SB3's need)."""
    prompt_ids, prompt_mask = trim_padding_columns(prompt_ids, prompt_mask)
    lengths = generated_mask.long().sum(dim=1)
    longest = int(lengths.max()) if len(lengths) else 0
    # (Not sharing repeated prompts: acting, evaluation and the env-side masks keep their exact computation.)
    hidden = token_hidden_states(lm, prompt_ids, prompt_mask, generated_ids[:, :longest], generated_mask[:, :longest],
                                 share_prompts=False)
    return hidden[torch.arange(len(lengths), device=hidden.device), lengths]


def observation_tensors(observation: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(prompt_ids, prompt_mask, generated_ids, generated_mask)`` of a batched observation as int64 tensors."""
    return tuple(torch.as_tensor(np.asarray(observation[key]), device=device).long()
                 for key in ("prompt_ids", "prompt_mask", "generated_ids", "generated_mask"))


@torch.inference_mode()
def next_token_logits(lm: nn.Module, observation: dict[str, Any]) -> torch.Tensor:
    """Float32 logits ``(B, model vocab)`` of the next token for a batched observation, without cache."""
    return head_logits(lm, next_token_hidden(lm, *observation_tensors(observation, model_device(lm))))


def top_p_mask(logits: torch.Tensor, top_p: float, top_k: int = 0) -> torch.Tensor:
    """Boolean mask ``(B, V)`` of each row's top-k / top-p set, in the order Hugging Face's logits processors and
    vLLM apply them: the ``top_k`` most likely tokens (all when ``top_k == 0``), then, under the distribution
    renormalized over those, the most likely ones whose cumulative probability reaches ``top_p`` (always at least
    the argmax). So the same settings sample the same set here, in ``generate()`` and in a vLLM run."""
    if 0 < top_k < logits.shape[-1]:
        sorted_logits, order = torch.topk(logits, top_k, dim=-1)
    else:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    keep_sorted = torch.ones_like(sorted_logits, dtype=torch.bool)
    if top_p < 1.0:
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        keep_sorted = mass_before < top_p
        keep_sorted[:, 0] = True
    return torch.zeros_like(logits, dtype=torch.bool).scatter(1, order, keep_sorted)


def policy_logits(logits: torch.Tensor, vocab_size: int, temperature: float = 1.0,
                  action_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits over the env's ``vocab_size`` actions, divided by ``temperature``, illegal actions set to the
    smallest float (probability exactly 0, and ``0 * logprob`` stays finite in the entropy)."""
    if logits.shape[-1] != vocab_size or logits.dtype != torch.float32:  # (two ops a decoding step saves)
        logits = logits[..., :vocab_size].float()
    if temperature != 1.0:  # skipped at 1: a copy (and in an update, a backward op) that changes nothing
        logits = logits / temperature
    if action_mask is not None:
        logits = logits.masked_fill(~action_mask, torch.finfo(logits.dtype).min)
    return logits


def sample_tokens_with_logprobs(logits: torch.Tensor, generator: torch.Generator | None,
                                shard: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row from ``softmax(logits)``; returns the tokens and their logprobs (top-k / top-p belong
    in the action mask, see :func:`top_p_mask`, so that the sampled distribution is the one whose logprobs are
    stored).

    Inverse-CDF sampling, fused: one uniform number per row, located in the row's cumulative *unnormalized*
    probabilities ``exp(logits - max)`` (normalizing is a division the search does not need). One scan and a binary
    search: far cheaper than drawing a random number per vocabulary entry, and than ``torch.multinomial`` on CPU. The
    logprob of the chosen token is ``logit - max - log(sum)``, the formula of ``log_softmax``, from the same scan.
    Zero-probability tokens (masked) occupy empty intervals and are never chosen. ``shard=(rank, world_size)``: these
    rows are process ``rank``'s of a global batch of ``world_size`` equal shards; the uniform numbers are drawn for
    the global batch and sliced, so a row gets the same number whichever process samples it.
    """
    peak = logits.amax(dim=-1, keepdim=True)
    cumulative = (logits - peak).exp_().cumsum_(dim=-1)
    total = cumulative[:, -1:]
    rank, world_size = shard
    rows = slice(rank * len(total), (rank + 1) * len(total))
    uniform = torch.rand((world_size * len(total), 1), generator=generator, device=total.device,
                         dtype=total.dtype)[rows]
    # u < 1, but u * total can round up to total; stay strictly below it so the search ends on a nonzero entry.
    target = torch.minimum(uniform * total, torch.nextafter(total, torch.zeros_like(total)))
    tokens = torch.searchsorted(cumulative, target, right=True)
    logprobs = logits.gather(-1, tokens) - peak - total.log()
    return tokens.squeeze(-1), logprobs.squeeze(-1)


def sample_tokens(logits: torch.Tensor, generator: torch.Generator | None,
                  shard: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """One token per row sampled from ``softmax(logits)`` (:func:`sample_tokens_with_logprobs` without the
    logprobs)."""
    return sample_tokens_with_logprobs(logits, generator, shard)[0]


DecodingBackend = Literal["eager", "static", "compiled", "cudagraphs"]
DECODING_BACKENDS: tuple[str, ...] = get_args(DecodingBackend)


def check_decoding_backend(backend: str) -> None:
    """Raise ``ValueError`` naming ``backend`` when it is not one of :data:`DECODING_BACKENDS`."""
    if backend not in DECODING_BACKENDS:
        raise ValueError(f"decoding backend must be one of {DECODING_BACKENDS}, got {backend!r}.")


def _static_step(lm: nn.Module, tokens: torch.Tensor, positions: torch.Tensor, attention_mask: torch.Tensor,
                 cache: StaticCache) -> torch.Tensor:
    """One cached decode step of a causal LM over a static cache: every shape is fixed for the whole decode (the
    attention mask spans the cache's full length; the cache counts its own position), so a compiled version of it
    is traced once per batch size and cache length and never recompiles between steps."""
    hidden = base_model(lm).base_model(input_ids=tokens, attention_mask=attention_mask, position_ids=positions,
                                       cache=cache, use_cache=True).last_hidden_state
    return head_logits(lm, hidden[:, -1])


def _static_step_to_compile(lm: nn.Module, tokens: torch.Tensor, positions: torch.Tensor,
                            attention_mask: torch.Tensor, cache: StaticCache) -> torch.Tensor:
    """:func:`_static_step` as compiled. On a CPU its attention (one query over the cache) runs as SDPA's math
    formulation, which inductor fuses: the flash kernel for CPU, made for long queries, was ~30% of a compiled step
    at batch 32 (the step ~13% faster without it; the same logits up to rounding, ~1e-6)."""
    if tokens.device.type != "cpu":
        return _static_step(lm, tokens, positions, attention_mask, cache)
    with sdpa_kernel([SDPBackend.MATH]):
        return _static_step(lm, tokens, positions, attention_mask, cache)


# Compiled once per process and mode; dynamo guards (model, batch size, cache length) select the graph.
_COMPILED_STEPS: dict[str, Any] = {}


def _compiled_step(backend: str):
    if backend not in _COMPILED_STEPS:
        # "reduce-overhead" records CUDA graphs (GPU only); "default" fuses the step's kernels with inductor.
        _COMPILED_STEPS[backend] = torch.compile(_static_step_to_compile, dynamic=False, fullgraph=False,
                                                 mode="reduce-overhead" if backend == "cudagraphs" else "default")
    return _COMPILED_STEPS[backend]


class CachedDecoder:
    """Next-token logits of a batch of sequences, one token at a time, reusing the KV cache (the codebase's only
    cached decoding loop).

    The prompt is encoded once (all-padding columns dropped), then each step feeds only the new token through the
    transformers Cache API (``DynamicCache``; ``EncoderDecoderCache`` for seq2seq). Causal models read the left-padded
    prompt with position ids counted from each row's first real token; seq2seq models decode from
    ``decoder_start_token_id``. The causal attention mask is preallocated in blocks and the next positions are
    carried along, so a step adds no concatenation or reduction beyond the model's own.

    Backends (causal LMs; seq2seq models decode eagerly):

    - ``"eager"`` (default): ``DynamicCache``, the model run as is;
    - ``"static"``: a ``StaticCache`` sized for ``max_new_tokens``, the attention mask built once for the whole
      decode (the cache's causal mask hides the slots not yet written);
    - ``"compiled"``: the static decode step compiled with ``torch.compile`` (inductor); it compiles once per
      model, batch size and cache length (tens of seconds on a CPU), then never recompiles between steps (dynamo
      keeps up to ``torch._dynamo.config.recompile_limit`` such graphs, then runs the step eagerly);
    - ``"cudagraphs"``: the same, compiled in ``"reduce-overhead"`` mode (CUDA graphs; CUDA devices only).

    All backends produce the same logits up to float rounding (the compiled kernels sum in another order), hence the
    same greedy tokens and, for the same generator state, the same samples but for near-ties (tested).

    :param max_new_tokens: the most tokens :meth:`advance` will append (needed by the static backends).
    :param share_prompts: encode each distinct prompt once and give the rows that repeat it (a GRPO group) a copy of
        its keys and values: the same cache up to float rounding, for a fraction of the prompt pass (off by default,
        so evaluation's regenerated predictions stay bit-identical to earlier releases').
    :ivar logits: float32 logits ``(B, model vocab)`` for the next token.
    """

    MASK_BLOCK = 64

    def __init__(self, lm: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, *,
                 backend: DecodingBackend = "eager", max_new_tokens: int | None = None,
                 share_prompts: bool = False) -> None:
        check_decoding_backend(backend)
        self.lm = lm
        self.model = model = base_model(lm)
        self.backend = backend
        prompt_ids, prompt_mask = trim_padding_columns(prompt_ids, prompt_mask.long())
        if is_encoder_decoder(model):
            if backend != "eager":
                raise ValueError(f"decoding backend {backend!r} supports causal LMs only; {type(model).__name__} is "
                                 "an encoder-decoder model, use backend='eager'.")
            self.decoder = seq2seq_parts(model)[0]
            self.prompt_mask = prompt_mask
            self.encoded = encode_prompt(model, prompt_ids, prompt_mask)
            self.cache = EncoderDecoderCache(DynamicCache(config=model.config), DynamicCache(config=model.config))
            start = torch.full_like(prompt_ids[:, :1], model.config.decoder_start_token_id)
            self._step(start)
            return
        self.next_position = prompt_mask.sum(dim=1, keepdim=True)
        if backend == "eager":
            self.cache = DynamicCache(config=model.config)
            self._mask_buffer = torch.cat([prompt_mask, torch.ones_like(prompt_mask[:, :1]).expand(
                -1, self.MASK_BLOCK)], dim=1)
            self._length = prompt_mask.shape[1]
        else:
            if max_new_tokens is None or max_new_tokens < 1:
                raise ValueError(f"decoding backend {backend!r} needs max_new_tokens >= 1 (the static cache's "
                                 f"size), got {max_new_tokens}.")
            if backend == "cudagraphs" and prompt_ids.device.type != "cuda":
                raise ValueError(f"decoding backend 'cudagraphs' needs a CUDA device, the model is on "
                                 f"{prompt_ids.device}.")
            # Rounded up to a block so that nearby budgets share one compiled graph.
            capacity = -(-(prompt_mask.shape[1] + max_new_tokens) // self.MASK_BLOCK) * self.MASK_BLOCK
            self.cache = StaticCache(config=model.config, max_cache_len=capacity)
            self._static_mask = torch.cat([prompt_mask, torch.ones_like(prompt_mask[:, :1]).expand(
                -1, capacity - prompt_mask.shape[1])], dim=1)
            self._steps_left = max_new_tokens
            self._guarded = False
            self._decode_step = _static_step if backend == "static" else _compiled_step(backend)
        shared = shared_prompts(prompt_ids, prompt_mask) if share_prompts else None
        if shared is None:
            hidden = model.base_model(input_ids=prompt_ids, attention_mask=prompt_mask,
                                      position_ids=causal_position_ids(prompt_mask), cache=self.cache,
                                      use_cache=True).last_hidden_state
        else:
            # Rows that repeat a prompt (a GRPO group): each distinct prompt is encoded once, every row gets a copy
            # of its prompt's keys and values.
            unique_ids, unique_mask, inverse = shared
            prefix = DynamicCache(config=model.config)
            hidden = model.base_model(input_ids=unique_ids, attention_mask=unique_mask,
                                      position_ids=causal_position_ids(unique_mask), cache=prefix,
                                      use_cache=True).last_hidden_state[inverse]
            if backend == "eager":
                prefix.batch_select_indices(inverse)
                self.cache = prefix
            else:
                for index, layer in enumerate(prefix.layers):
                    self.cache.update(layer.keys[inverse], layer.values[inverse], index)
        self.logits = head_logits(lm, hidden[:, -1])

    def _step(self, tokens: torch.Tensor) -> None:
        hidden = self.decoder(input_ids=tokens, encoder_hidden_states=self.encoded,
                              encoder_attention_mask=self.prompt_mask, cache=self.cache,
                              use_cache=True).last_hidden_state
        self.logits = head_logits(self.lm, hidden[:, -1])

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; returns (and stores) the logits for the token after it."""
        tokens = tokens.view(-1, 1)
        if is_encoder_decoder(self.model):
            self._step(tokens)
            return self.logits
        if self.backend != "eager":
            if self._steps_left < 1:
                raise ValueError("The static cache is full: advance() was called more than max_new_tokens times; "
                                 "make the decoder with a larger max_new_tokens.")
            self._steps_left -= 1
            if self.backend == "static" or not self._guarded:
                # The first compiled step of a decoder checks all of dynamo's guards (and compiles if none match).
                logits = self._decode_step(self.lm, tokens, self.next_position, self._static_mask, self.cache)
                self._guarded = True
            else:
                # Its later steps pass the same model, cache and shapes: only the guards that tell the compiled
                # graphs apart are evaluated (they pick the graph the first step's full check picked), not the
                # ~0.25 ms of guards on every parameter and config value (a quarter of a step at batch 16).
                with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True):
                    logits = self._decode_step(self.lm, tokens, self.next_position, self._static_mask, self.cache)
            # CUDA graphs reuse their output buffer at the next replay.
            self.logits = logits.clone() if self.backend == "cudagraphs" else logits
            self.next_position = self.next_position + 1
            return self.logits
        self._length += 1
        if self._length > self._mask_buffer.shape[1]:
            self._mask_buffer = torch.cat([self._mask_buffer, torch.ones_like(self._mask_buffer[:, :1]).expand(
                -1, self.MASK_BLOCK)], dim=1)
        hidden = self.model.base_model(input_ids=tokens, attention_mask=self._mask_buffer[:, :self._length],
                                       position_ids=self.next_position, cache=self.cache,
                                       use_cache=True).last_hidden_state
        self.next_position = self.next_position + 1
        self.logits = head_logits(self.lm, hidden[:, -1])
        return self.logits

    def extend(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Append a different number of tokens to each row (a causal model's multi-turn input: the user's reply
        after the agent's turn); returns (and stores) the logits for the token after each row's last one.

        :param tokens: ``(B, K)`` each row's new tokens first, then any padding.
        :param mask: ``(B, K)`` 1 on the new tokens (a prefix of each row), 0 on the padding. A row without new
            tokens keeps its logits.

        The padding columns enter the cache masked out, and each row's positions continue from its own last real
        token, so the cache holds what a teacher-forced forward over the unpadded sequence computes.
        """
        if is_encoder_decoder(self.model):
            raise ValueError("CachedDecoder.extend is for causal models (a growing conversation); got a seq2seq "
                             f"{type(self.model).__name__}.")
        if self.backend != "eager":
            raise ValueError(f"CachedDecoder.extend runs on the 'eager' decoding backend only (a static cache holds "
                             f"one token per step); this decoder uses {self.backend!r}.")
        mask = mask.long()
        width = tokens.shape[1]
        counts = mask.sum(dim=1, keepdim=True)
        if width == 0 or not bool(counts.any()):
            return self.logits
        end = self._length + width
        if end > self._mask_buffer.shape[1]:
            self._mask_buffer = torch.cat([self._mask_buffer, torch.ones_like(self._mask_buffer[:, :1]).expand(
                -1, width + self.MASK_BLOCK)], dim=1)
        # Later single-token steps read the buffer's ones beyond _length; only this block's padding is zeroed.
        self._mask_buffer[:, self._length:end] = mask
        self._length = end
        positions = self.next_position + torch.arange(width, device=tokens.device)
        hidden = self.model.base_model(input_ids=tokens, attention_mask=self._mask_buffer[:, :end],
                                       position_ids=positions, cache=self.cache, use_cache=True).last_hidden_state
        last = hidden[torch.arange(len(tokens), device=tokens.device), (counts.squeeze(1) - 1).clamp(min=0)]
        self.logits = torch.where(counts.bool(), head_logits(self.lm, last), self.logits)
        self.next_position = self.next_position + counts
        return self.logits


def appended_tokens(generated_ids: np.ndarray, start: np.ndarray, end: np.ndarray,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``generated_ids[start:end]`` (e.g. the user reply a multi-turn env appended after the agent's
    turn) as a right-padded block ``(B, K)`` and its mask, the input of :meth:`CachedDecoder.extend`. Rows with
    ``end <= start`` get none."""
    counts = np.clip(end - start, 0, None)
    width = int(counts.max()) if len(counts) else 0
    columns = np.minimum(start[:, None] + np.arange(width), generated_ids.shape[1] - 1)
    mask = np.arange(width) < counts[:, None]
    ids = np.where(mask, np.take_along_axis(np.asarray(generated_ids), columns, axis=1), 0)
    return torch.as_tensor(ids, device=device).long(), torch.as_tensor(mask, device=device).long()


def check_truncation(top_k: int, top_p: float) -> None:
    """Raise ``ValueError`` naming ``top_k`` / ``top_p`` when outside their legal ranges (``>= 0`` and ``(0, 1]``)."""
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}.")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}.")


def truncation_mask(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor | None:
    """The legal set of top-k / top-p sampling from ``logits`` (already temperature-scaled and masked), or None
    when neither is set."""
    return top_p_mask(logits, top_p, top_k) if top_k > 0 or top_p < 1.0 else None


def support_indices(legal: torch.Tensor) -> torch.Tensor:
    """The legal set of a truncated sampling step, ``(B, V)`` bool, as the token ids it holds ``(B, K)``, ``K`` the
    largest set of the batch; a smaller set repeats its first id (so :func:`support_mask` needs no padding value).

    A rollout stores its top-k / top-p / NLPO sets this way instead of as dense ``(B, T, V)`` masks: ``K`` ids per
    step where the vocabulary may be 150k (a 64 x 512-token batch with top-k 50 holds 6.5 MB instead of ~5 GB)."""
    counts = legal.sum(dim=-1, keepdim=True)
    # topk of the 0/1 mask: the first `count` ids of each row are its legal ones (any order; it is a set).
    ids = torch.topk(legal.to(torch.uint8), int(counts.max()), dim=-1, sorted=True).indices
    columns = torch.arange(ids.shape[1], device=ids.device)
    return torch.where(columns < counts, ids, ids[:, :1]).to(torch.int32)


def support_mask(support: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Dense bool mask ``(..., vocab_size)`` of the token ids in ``support`` ``(..., K)`` (:func:`support_indices`);
    made per micro-batch where the logits it masks are made anyway."""
    mask = torch.zeros((*support.shape[:-1], vocab_size), dtype=torch.bool, device=support.device)
    return mask.scatter_(-1, support.long(), True)


def sampling_mask(action_masks: torch.Tensor | None, sampling_support: torch.Tensor | None,
                  vocab_size: int) -> torch.Tensor | None:
    """The legal set of the distribution a rollout *sampled* from at each step: its truncated support (top-k, top-p,
    NLPO; a subset of the env's legal actions) when sampling was truncated, else the env's ``action_masks``; None when
    neither restricted anything. A reference model is scored over ``action_masks`` only (its own full distribution
    over what the env allows), so a KL to it sees the policy moving its support."""
    return action_masks if sampling_support is None else support_mask(sampling_support, vocab_size)


def nlpo_mask(reference_logits: torch.Tensor, vocab_size: int, top_p: float, top_k: int = 0) -> torch.Tensor:
    """NLPO's action mask: the reference model's top-p (and top-k) next tokens under its own distribution
    (temperature 1, whatever the policy samples at), over the env's ``vocab_size`` actions. The one definition used by
    our PPO (``action_mask="nlpo"``) and the env-side :class:`textenvs.masks.TopPMask` (SB3's MaskablePPO)."""
    return top_p_mask(policy_logits(reference_logits, vocab_size), top_p, top_k)


def choose_tokens(raw_logits: torch.Tensor, vocab_size: int, greedy: bool, temperature: float, top_k: int,
                  top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row: the argmax, or a sample at ``temperature`` from the top-k / top-p set."""
    logits = policy_logits(raw_logits, vocab_size)
    if greedy:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    legal = truncation_mask(logits, top_k, top_p)
    return sample_tokens(logits if legal is None else policy_logits(logits, vocab_size, 1.0, legal), generator)


class DecodingPolicy:
    """A batched policy for :func:`textenvs.generate_split` that decodes ``model`` with the KV cache: argmax tokens
    (``greedy=True``), or samples at ``temperature`` from the top-``top_k`` / top-``top_p`` set.

    When every sub-env has just been reset (no generated token anywhere) it encodes the new prompts; otherwise it
    feeds back the tokens it returned last, and on a multi-turn env (observations with ``agent_mask``) the user
    turns the env appended after them (:meth:`CachedDecoder.extend`). So episodes that start together, as in
    ``generate_split``, are decoded exactly; a sub-env auto-reset while others still run keeps decoding its
    previous sequence (``generate_split`` ignores those episodes). It runs in float32 (autocast off, even inside a caller's autocast context), so a
    checkpoint's predictions are regenerated identically wherever it is evaluated on the same device type.

    :param model: a causal or seq2seq LM on its device; run in inference mode.
    :param vocab_size: the env's action count (logits beyond it are dropped); None keeps the model's width.
    :param generator: the sampling generator (on the model's device); None uses torch's global one.
    """

    def __init__(self, model: nn.Module, greedy: bool = True, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, vocab_size: int | None = None, generator: torch.Generator | None = None) -> None:
        self.model, self.greedy, self.vocab_size, self.generator = model, greedy, vocab_size, generator
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self._decoder: CachedDecoder | None = None
        self._fed = np.zeros(0, dtype=np.int64)
        self._last_actions: torch.Tensor | None = None

    @torch.inference_mode()
    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        device = model_device(self.model)
        with torch.autocast(device.type, enabled=False):  # float32 even inside a caller's autocast context
            if self._decoder is None or not np.asarray(observation["generated_mask"]).any():
                prompt_ids, prompt_mask, _, _ = observation_tensors(observation, device)
                self._decoder = CachedDecoder(self.model, prompt_ids, prompt_mask)
                self._fed = np.zeros(len(prompt_ids), dtype=np.int64)  # generated tokens in the cache, per row
            else:
                self._decoder.advance(self._last_actions)
                if "agent_mask" in observation:
                    # A multi-turn env may have appended the user's reply after the agent's token: feed it too.
                    self._fed += 1
                    lengths = np.asarray(observation["generated_mask"]).sum(axis=1)
                    self._decoder.extend(*appended_tokens(observation["generated_ids"], self._fed, lengths, device))
                    self._fed = np.maximum(self._fed, lengths)
        self._last_actions = choose_tokens(self._decoder.logits, self.vocab_size or self._decoder.logits.shape[-1],
                                           self.greedy, self.temperature, self.top_k, self.top_p, self.generator)
        return self._last_actions.cpu().numpy()
