"""Rollouts: B episodes decoded together through the env's native vector API with the KV-cached decoder of
:mod:`textenvs.decoding`.

On a multi-turn env (observations with ``agent_mask``, e.g. ``textenvs/MultiTurnDialogue-v0``) the generated
sequence is the env's whole conversation: after a step that appended a user reply, the reply's tokens are fed into
each row's KV cache (:meth:`~textenvs.decoding.CachedDecoder.extend`), and each agent step's token, logprob, reward
and action mask are placed at that step's column of the conversation. ``agent_mask`` (the loss mask) marks the
agent's tokens; ``generated_mask`` (the attention mask) every token of the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence, get_args

import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from agents.lm.batch import TokenBatch
from textenvs.decoding import (CachedDecoder, DecodingBackend, appended_tokens, model_device, nlpo_mask,
                               policy_logits, sample_tokens_with_logprobs, support_indices, trim_padding_columns,
                               truncation_mask)
from textenvs.evaluation import EpisodeRecord
from textenvs.vector import TextGenerationVectorEnv

EnvStepping = Literal["auto", "interleaved", "deferred"]
ENV_STEPPINGS: tuple[str, ...] = get_args(EnvStepping)


@dataclass(kw_only=True)
class Rollout(TokenBatch):
    """B finished episodes (the fields of :class:`~agents.lm.batch.TokenBatch` and what decoding measured); token
    tensors are cut to the longest episode ``T`` and the prompt's all-padding columns are dropped.

    :ivar generated_mask: 1 on each generated token (EOS included), 0 after the episode's end: the attention mask.
    :ivar agent_mask: 1 on the tokens the agent chose (the loss mask): ``generated_mask`` itself on single-turn envs;
        on a multi-turn env 0 on the user turns the env appended.
    :ivar action_masks: ``(B, T, V)`` the env's legal actions at each step (its ``action_masks()``), None when the env
        masks nothing: the vocabulary a reference model's distribution (the KL) is taken over.
    :ivar sampling_support: ``(B, T, K)`` int32 token ids of the truncated set each token was sampled from (top-k,
        top-p and the NLPO nucleus, within the env's legal actions; :func:`textenvs.decoding.support_indices`), None
        when sampling was not truncated: the policy's logprobs, ratio and entropy are those of the distribution over
        this set (:func:`textenvs.decoding.sampling_mask`).
    :ivar sample_logprobs: logprobs of the tokens under the sampling distribution (temperature and masks applied),
        from the cached decoding loop (0 off ``agent_mask``).
    :ivar env_rewards: ``(B, T)`` the env's reward at each step, at the column of the token that earned it
        (terminal mode: the score at the last agent token).
    :ivar ended_with_eos: ``(B,)`` whether the episode ended with EOS (else at the ``max_new_tokens`` budget).
    :ivar records: one :class:`~textenvs.evaluation.EpisodeRecord` per episode (prediction, metrics).
    """

    agent_mask: torch.Tensor
    sample_logprobs: torch.Tensor
    env_rewards: torch.Tensor
    ended_with_eos: torch.Tensor
    records: list[EpisodeRecord]

    def select(self, indices: torch.Tensor) -> Rollout:
        """The episodes ``indices``, in that order, their records too (:func:`select_episodes`)."""
        return select_episodes(self, indices)


def collect_rollout(env: TextGenerationVectorEnv, lm: nn.Module, example_indices: Sequence[int], *,
                    temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                    generator: torch.Generator | None = None, reference: nn.Module | None = None,
                    nlpo_top_p: float = 1.0, shard: tuple[int, int] = (0, 1),
                    lockstep: Callable[[bool], bool] | None = None,
                    decoding_backend: DecodingBackend = "eager", env_stepping: EnvStepping = "auto") -> Rollout:
    """Run one episode per sub-env on the given examples and return the finished batch.

    All episodes start together (``reset(options={"example_index": ...})``); each step feeds the chosen tokens to
    the env and to the model's KV cache. The env runs with autoreset disabled: a sub-env whose episode ended idles
    (its later tokens are ignored, never scored or masked), so the scorer runs once per episode. The loop stops when
    every episode has ended.

    :param env: native vector env made with ``autoreset_mode=AutoresetMode.DISABLED`` and
        ``num_envs == len(example_indices)``.
    :param lm: the policy's language model (its logits are sliced to the env's vocabulary).
    :param temperature: the logits are divided by it (for sampling and for the stored logprobs).
    :param top_k: sample among the k most likely tokens (0: off).
    :param top_p: sample from the nucleus of this probability mass (1.0: off). The top-k / top-p set is stored
        (``sampling_support``), so the stored logprobs (and, through it, the PPO ratio and entropy) are those of the
        distribution actually sampled, while a reference's logprobs (the KL) are over the env's legal actions.
        (Greedy decoding for evaluation: :class:`textenvs.decoding.DecodingPolicy`.)
    :param reference: with ``nlpo_top_p < 1``, restrict each step to this model's top-p tokens
        (:func:`textenvs.decoding.nlpo_mask`, NLPO masking).
    :param shard: ``(rank, world_size)`` when these episodes are one process's share of a global batch (see
        :func:`textenvs.decoding.sample_tokens`): an episode's tokens then do not depend on the number of processes.
    :param lockstep: for FSDP2-sharded models, whose every forward pass gathers parameters from all processes:
        whether a condition holds on every process (:meth:`agents.distributed.Distributed.all`). Decoding then runs
        the same forward passes on all, until every process's episodes have ended, and under ``no_grad`` (FSDP2's
        parameter buffers cannot be created in inference mode).
    :param decoding_backend: the :class:`~textenvs.decoding.CachedDecoder` backend of the policy and the reference
        (``"eager"``, ``"static"``, ``"compiled"``, ``"cudagraphs"``); every backend samples the same tokens up to
        float rounding.
    :param env_stepping: when the env is stepped with each token's actions (the same steps, in the same order, and
        the same results either way, tested): ``"interleaved"``, right after the token is sampled (on a GPU the host
        steps the env while the next forward pass runs); ``"deferred"``, all of them after the decoding loop, which
        then stops where the env's episodes end (EOS or the token budget, the single-turn env's rule, checked
        against the env's own terminations). Deferred, the env's Python and numpy code runs back to back instead of
        between forward passes that evict it from the CPU's caches: on a CPU its steps cost ~4x less, and the
        forward passes run faster too. ``"auto"``: deferred on a CPU whenever decoding needs nothing from the env's
        steps (no action mask, single-turn, not in lockstep), interleaved otherwise.
    """
    # Inference mode (cheaper per op than no_grad: no version counters, no view tracking) for the decoding; its
    # tensors are cloned on the way out, since the PPO update later feeds them to autograd.
    sampler = _TokenSampler(temperature, top_k, top_p, nlpo_top_p, generator, shard)
    with torch.inference_mode() if lockstep is None else torch.no_grad():
        rollout = _decode(env, lm, example_indices, sampler, reference, lockstep or bool, decoding_backend,
                          env_stepping)
    return Rollout(**{key: value.clone() if isinstance(value, torch.Tensor) else value
                      for key, value in vars(rollout).items()})


def _decode(env: TextGenerationVectorEnv, lm: nn.Module, example_indices: Sequence[int], sampler: _TokenSampler,
            reference: nn.Module | None, every_process: Callable[[bool], bool], decoding_backend: DecodingBackend,
            env_stepping: EnvStepping) -> Rollout:
    """Reset the env on the examples, start the decoders on the prompts, run the stepping order that fits (see
    :func:`collect_rollout`'s ``env_stepping``) and assemble the :class:`Rollout`."""
    env = env.unwrapped
    task = env.task
    _check_rollout_env(env, example_indices)
    device = model_device(lm)
    observation, _ = env.reset(options={"example_index": np.asarray(example_indices, dtype=np.int64)})
    prompt_ids = torch.as_tensor(observation["prompt_ids"], device=device)
    prompt_mask = torch.as_tensor(observation["prompt_mask"], device=device).long()
    nucleus_model = reference if reference is not None and sampler.nlpo_top_p < 1 else None
    decoders = _Decoders.start(lm, nucleus_model, prompt_ids, prompt_mask, decoding_backend, task.max_new_tokens)
    episodes = _EpisodeState(env, multi_turn="agent_mask" in observation)
    if episodes.conversation is not None and every_process is not bool:
        # Feeding the user's turns runs a forward only where some row has one: not in step with other processes.
        raise ValueError("Multi-turn rollouts (an env with agent_mask) do not run in lockstep (FSDP2) yet.")
    if env_stepping not in ENV_STEPPINGS:
        raise ValueError(f"env_stepping must be one of {ENV_STEPPINGS}, got {env_stepping!r}.")
    # Deferring needs a decoding loop that reads nothing from the env's steps: no action masks, no user turns.
    independent = task.action_mask is None and episodes.conversation is None and every_process is bool
    if env_stepping == "deferred" and not independent:
        raise ValueError("env_stepping='deferred' needs an env without action mask, single-turn, and no lockstep: "
                         "the decoding reads each step's masks or user turns from the env.")
    deferred = env_stepping == "deferred" or (env_stepping == "auto" and independent and device.type == "cpu")
    samples = _Samples()
    if deferred:
        steps = _decode_then_step(decoders, episodes, sampler, samples)
    else:
        steps = _decode_interleaved(decoders, episodes, sampler, samples, every_process, device)
    return samples.rollout(prompt_ids, prompt_mask, episodes, steps, task.pad_token_id)


def _check_rollout_env(env: TextGenerationVectorEnv, example_indices: Sequence[int]) -> None:
    if len(example_indices) != env.num_envs:
        raise ValueError(f"Got {len(example_indices)} example indices for {env.num_envs} sub-envs.")
    if env.autoreset_mode is not AutoresetMode.DISABLED:
        raise ValueError(f"Rollouts need a vector env without autoreset (one episode per sub-env), got autoreset_mode="
                         f"{env.autoreset_mode}; make it with gymnasium.make_vec(..., vectorization_mode="
                         "'vector_entry_point', autoreset_mode=gymnasium.vector.AutoresetMode.DISABLED).")


def _decode_interleaved(decoders: _Decoders, episodes: _EpisodeState, sampler: _TokenSampler, samples: _Samples,
                        every_process: Callable[[bool], bool], device: torch.device) -> int:
    """The env steps right after each token is sampled (on a GPU the host steps it while the next forward pass
    runs); each step's env masks and a multi-turn env's user turns feed the next token. Returns the steps decoded."""
    task = episodes.env.task
    max_steps, eos = task.max_new_tokens, task.eos_token_id
    for t in range(max_steps):
        env_legal = torch.as_tensor(episodes.env.action_masks(), device=device) \
            if task.action_mask is not None else None
        tokens = samples.add(*sampler.sample(decoders, env_legal, task.vocab_size, eos), env_legal)
        actions = tokens.cpu().numpy()
        # Queue the next forward pass before stepping the env: on a GPU it runs while the host steps and scores the
        # episodes. Rows that already ended are fed their (ignored) sampled token. Skipped when every episode is
        # certain to end at this step (EOS or the length limit), where it would be wasted.
        # (On a multi-turn env EOS may only end a turn, and the user's reply comes next.)
        if not (t == max_steps - 1 or every_process(
                bool(episodes.conversation is None and (episodes.done | (actions == eos)).all()))):
            decoders.advance(tokens)
        # (In lockstep, a process whose episodes have all ended keeps decoding for the others, stepping nothing.)
        if not episodes.done.all():
            appended = episodes.step(t, actions)
            if appended is not None and t < max_steps - 1:
                # The user's replies the env appended go into the caches before the agent's next token.
                decoders.extend(*appended_tokens(episodes.conversation.ids, *appended, device))
        if every_process(bool(episodes.done.all())):
            break
    return t + 1


def _decode_then_step(decoders: _Decoders, episodes: _EpisodeState, sampler: _TokenSampler,
                      samples: _Samples) -> int:
    """Decode every token first, then step the env with each step's actions back to back (on a CPU ~4x cheaper:
    the env's code is not evicted from the caches between forward passes). Decoding stops where every episode is
    certain to have ended (EOS or the length limit), the single-turn env's rule, then checked against the env's own
    terminations. Returns the steps decoded."""
    task = episodes.env.task
    max_steps, eos = task.max_new_tokens, task.eos_token_id
    ending = np.zeros(episodes.env.num_envs, dtype=bool)  # the episodes that chose EOS
    for t in range(max_steps):
        tokens = samples.add(*sampler.sample(decoders, None, task.vocab_size, eos), None)
        # Rows that ended earlier are fed their (ignored) sampled token. (As little as possible runs here, between
        # the forward passes: the actions are read once, after the loop.)
        if t == max_steps - 1:
            break
        chosen = tokens.tolist()
        if eos in chosen:
            ending |= np.asarray(chosen) == eos
            if ending.all():
                break
        decoders.advance(tokens)
    pending = torch.stack(samples.tokens).cpu().numpy()  # (steps, B)
    for step, actions in enumerate(pending):
        if episodes.done.all():
            break
        episodes.step(step, actions)
    # The decoding stopped where the interleaved loop would have only if every episode ended where predicted: at its
    # first EOS, else at the last step.
    chose_eos = pending.T == eos
    predicted_steps = np.where(chose_eos.any(axis=1), chose_eos.argmax(axis=1) + 1, len(pending))
    if not episodes.done.all() or not np.array_equal(episodes.running.sum(axis=1), predicted_steps):
        raise RuntimeError("The env's episodes did not end at EOS or the token budget, which "
                           "env_stepping='deferred' relies on; roll out with env_stepping='interleaved'.")
    return t + 1


@dataclass(frozen=True)
class _TokenSampler:
    """How a rollout picks each token: temperature, top-k / top-p truncation, NLPO's nucleus, and the generator and
    shard of the fused sampler (:func:`textenvs.decoding.sample_tokens_with_logprobs`)."""

    temperature: float
    top_k: int
    top_p: float
    nlpo_top_p: float
    generator: torch.Generator | None
    shard: tuple[int, int]

    def sample(self, decoders: _Decoders, env_legal: torch.Tensor | None, vocab: int, eos: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The next token of every row, its logprob under the distribution sampled, and that distribution's legal
        set (None: the whole vocabulary)."""
        legal = env_legal
        if decoders.nucleus_source is not None:
            # NLPO: only the reference model's top-p tokens (and EOS, which the env always allows) are legal.
            nucleus = nlpo_mask(decoders.nucleus_source.logits, vocab, self.nlpo_top_p)
            nucleus[:, eos] = True
            legal = nucleus if legal is None else legal & nucleus
        logits = policy_logits(decoders.policy.logits, vocab, self.temperature, legal)
        # Top-k / top-p sampling restricts the legal set: its ids carry it into the logprobs stored here and into the
        # update, which then optimizes the very distribution that was sampled.
        truncated = truncation_mask(logits, self.top_k, self.top_p)
        if truncated is not None:
            legal = truncated if legal is None else legal & truncated
            logits = policy_logits(decoders.policy.logits, vocab, self.temperature, legal)
        tokens, logprobs = sample_tokens_with_logprobs(logits, self.generator, self.shard)
        return tokens, logprobs, legal


@dataclass
class _Decoders:
    """The policy's KV-cached decoder and, for NLPO, the reference's, fed the same tokens."""

    policy: CachedDecoder
    nucleus_source: CachedDecoder | None

    @classmethod
    def start(cls, lm: nn.Module, nucleus_model: nn.Module | None, prompt_ids: torch.Tensor,
              prompt_mask: torch.Tensor, backend: DecodingBackend, max_new_tokens: int) -> _Decoders:
        """Both decoders after their prompt pass (each distinct prompt encoded once: ``share_prompts``)."""
        decoding = {"backend": backend, "max_new_tokens": max_new_tokens, "share_prompts": True}
        return cls(CachedDecoder(lm, prompt_ids, prompt_mask, **decoding),
                   CachedDecoder(nucleus_model, prompt_ids, prompt_mask, **decoding)
                   if nucleus_model is not None else None)

    def advance(self, tokens: torch.Tensor) -> None:
        for decoder in (self.policy, self.nucleus_source):
            if decoder is not None:
                decoder.advance(tokens)

    def extend(self, tokens: torch.Tensor, mask: torch.Tensor) -> None:
        for decoder in (self.policy, self.nucleus_source):
            if decoder is not None:
                decoder.extend(tokens, mask)


class _EpisodeState:
    """The env's side of a rollout: which sub-envs ran at each step, their rewards, how and where each episode
    ended, and a multi-turn env's conversations. Token ids and logprobs stay on the model's device
    (:class:`_Samples`); what the env reports stays in numpy here and crosses over once at the end, so the only sync
    per step is the env's need for the actions on the host."""

    def __init__(self, env: TextGenerationVectorEnv, multi_turn: bool) -> None:
        batch, max_steps = env.num_envs, env.task.max_new_tokens
        self.env = env
        self.conversation = _ConversationColumns(batch, max_steps) if multi_turn else None
        self.running = np.zeros((batch, max_steps), dtype=bool)
        self.env_rewards = np.zeros((batch, max_steps), dtype=np.float32)
        self.ended_with_eos = np.zeros(batch, dtype=bool)
        self.records: list[EpisodeRecord | None] = [None] * batch
        self.done = np.zeros(batch, dtype=bool)

    def step(self, t: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Step the env with step ``t``'s actions and take in what it reports; on a multi-turn env, returns each
        row's ``(start, end)`` columns of the user reply the env appended (see :meth:`_ConversationColumns.record`)."""
        observation, reward, terminated, truncated, info = self.env.step(actions)
        self.running[:, t] = ~self.done
        self.env_rewards[:, t] = reward  # 0 for the idle sub-envs whose episode ended earlier
        appended = self.conversation.record(observation, self.running[:, t]) if self.conversation is not None \
            else None
        for slot in np.flatnonzero(terminated | truncated):
            self.ended_with_eos[slot] = info["finish_reason"][slot] == "stop"
            self.records[slot] = EpisodeRecord.from_step(info, slot, reward[slot], t + 1)
            self.done[slot] = True
        return appended


class _Samples:
    """The decoding side of a rollout, one tensor per step on the model's device: the tokens, their logprobs, the
    env's legal actions and the truncated sets sampled from (top-k / top-p / NLPO)."""

    def __init__(self) -> None:
        self.tokens: list[torch.Tensor] = []
        self.logprobs: list[torch.Tensor] = []
        self.env_masks: list[torch.Tensor] = []
        self.supports: list[torch.Tensor] = []

    def add(self, tokens: torch.Tensor, logprobs: torch.Tensor, legal: torch.Tensor | None,
            env_legal: torch.Tensor | None) -> torch.Tensor:
        """Keep one step's samples; returns its tokens."""
        self.tokens.append(tokens)
        self.logprobs.append(logprobs)
        if env_legal is not None:
            self.env_masks.append(env_legal)
        if legal is not env_legal:
            self.supports.append(support_indices(legal))
        return tokens

    def rollout(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, episodes: _EpisodeState, length: int,
                pad: int) -> Rollout:
        """The finished :class:`Rollout` of ``length`` steps (on a multi-turn env, over the conversations)."""
        device = prompt_ids.device
        # Drop the prompt columns that are padding in every row (left for causal prompts, right for encoder inputs).
        prompt_ids, prompt_mask = trim_padding_columns(prompt_ids, prompt_mask)
        action_masks = torch.stack(self.env_masks, dim=1) if self.env_masks else None
        sampling_support = stack_supports(self.supports) if self.supports else None
        env_rewards = episodes.env_rewards[:, :length]
        if episodes.conversation is not None:
            return episodes.conversation.rollout(
                prompt_ids, prompt_mask, episodes.running[:, :length], torch.stack(self.tokens, dim=1),
                torch.stack(self.logprobs, dim=1), env_rewards, action_masks, sampling_support,
                episodes.ended_with_eos, episodes.records, pad)
        generated_mask = torch.as_tensor(episodes.running[:, :length], device=device).long()
        generated_ids = torch.where(generated_mask.bool(), torch.stack(self.tokens, dim=1), pad)
        return Rollout(
            prompt_ids=prompt_ids, prompt_mask=prompt_mask,
            generated_ids=generated_ids, generated_mask=generated_mask, agent_mask=generated_mask,
            action_masks=action_masks, sampling_support=sampling_support,
            sample_logprobs=torch.stack(self.logprobs, dim=1) * generated_mask,
            env_rewards=torch.as_tensor(env_rewards, device=device),
            ended_with_eos=torch.as_tensor(episodes.ended_with_eos, device=device), records=episodes.records)


def pad_rollout(rollout: Rollout, prompt_width: int, length: int, support_width: int, pad_id: int,
                left_padded_prompt: bool) -> Rollout:
    """``rollout`` widened to ``prompt_width`` prompt columns (on the left of a causal prompt, the right of an encoder
    input), ``length`` generated columns and ``support_width`` support ids, with what each field holds where nothing
    happens: pad ids, 0 masks, logprobs and rewards, all-legal action masks, the pad id as the support. The result is
    the same batch to every computation (every new column is masked out), in shapes another batch can be stacked
    with (:func:`concatenate_rollouts`)."""

    def widen(tensor: torch.Tensor, width: int, fill: float | int | bool, dim: int = 1,
              left: bool = False) -> torch.Tensor:
        missing = width - tensor.shape[dim]
        if missing <= 0:
            return tensor
        shape = list(tensor.shape)
        shape[dim] = missing
        block = torch.full(shape, fill, dtype=tensor.dtype, device=tensor.device)
        return torch.cat([block, tensor] if left else [tensor, block], dim=dim)

    support = rollout.sampling_support
    if support is not None:
        extra = support_width - support.shape[2]
        if extra > 0:  # repeating the first id keeps each step's set (support_indices' padding convention)
            support = torch.cat([support, support[..., :1].expand(*support.shape[:2], extra)], dim=2)
        support = widen(support, length, pad_id)
    return Rollout(
        prompt_ids=widen(rollout.prompt_ids, prompt_width, pad_id, left=left_padded_prompt),
        prompt_mask=widen(rollout.prompt_mask, prompt_width, 0, left=left_padded_prompt),
        generated_ids=widen(rollout.generated_ids, length, pad_id),
        generated_mask=widen(rollout.generated_mask, length, 0),
        agent_mask=widen(rollout.agent_mask, length, 0),
        action_masks=widen(rollout.action_masks, length, True) if rollout.action_masks is not None else None,
        sampling_support=support,
        sample_logprobs=widen(rollout.sample_logprobs, length, 0.0),
        env_rewards=widen(rollout.env_rewards, length, 0.0),
        ended_with_eos=rollout.ended_with_eos, records=rollout.records)


def concatenate_rollouts(rollouts: Sequence[Rollout], pad_id: int, left_padded_prompt: bool) -> Rollout:
    """The episodes of several rollouts as one batch, in order (each padded to the widest with
    :func:`pad_rollout`): e.g. the rounds of DAPO's dynamic sampling, before the informative groups are picked."""
    width = lambda name, dim=1: max(getattr(r, name).shape[dim] if getattr(r, name) is not None else 0  # noqa: E731
                                    for r in rollouts)
    padded = [pad_rollout(rollout, width("prompt_ids"), width("generated_ids"), width("sampling_support", 2),
                          pad_id, left_padded_prompt) for rollout in rollouts]
    fields = {name: torch.cat([getattr(rollout, name) for rollout in padded])
              if getattr(padded[0], name) is not None else None
              for name in Rollout.__dataclass_fields__ if name != "records"}
    return Rollout(**fields, records=[record for rollout in padded for record in rollout.records])


def select_episodes(rollout: Rollout, rows: torch.Tensor) -> Rollout:
    """The episodes ``rows`` of ``rollout``, in that order (records too, where the rollout holds them)."""
    records = [rollout.records[int(row)] for row in rows] if len(rollout.records) == len(rollout.ended_with_eos) \
        else []
    return replace(TokenBatch.select(rollout, rows), records=records)


def stack_supports(step_supports: list[torch.Tensor]) -> torch.Tensor:
    """Each step's ``(B, K_t)`` support ids as one ``(B, T, K)`` tensor, ``K = max K_t``, each row padded by repeating
    its first id (:func:`textenvs.decoding.support_indices`'s convention)."""
    width = max(support.shape[1] for support in step_supports)
    return torch.stack([torch.cat([support, support[:, :1].expand(-1, width - support.shape[1])], dim=1)
                        for support in step_supports], dim=1)


class _ConversationColumns:
    """A multi-turn env's conversations as the rollout sees them: the env's ids, attention and agent masks (copied
    from each step's observation of the rows that stepped), and the column of each agent step's token.

    :param batch: sub-envs.
    :param budget: the env's conversation length ``max_new_tokens``.
    """

    def __init__(self, batch: int, budget: int) -> None:
        self.ids = np.zeros((batch, budget), dtype=np.int64)
        self.mask = np.zeros((batch, budget), dtype=np.int64)
        self.agent_mask = np.zeros((batch, budget), dtype=np.int64)
        self.next_column = np.zeros(batch, dtype=np.int64)
        self.step_columns: list[np.ndarray] = []

    def record(self, observation: dict[str, np.ndarray], stepped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take in the observation after a step of the rows ``stepped`` (still running before it); returns each
        row's ``(start, end)`` columns of the tokens the env appended after the agent's (a user reply; none for the
        rows that idle or whose episode ended)."""
        self.step_columns.append(self.next_column.copy())
        rows = np.flatnonzero(stepped)
        for key, target in (("generated_ids", self.ids), ("generated_mask", self.mask),
                            ("agent_mask", self.agent_mask)):
            target[rows] = observation[key][rows]
        start = self.next_column + 1
        end = np.where(stepped, self.mask.sum(axis=1), start)
        self.next_column = np.where(stepped, end, self.next_column)
        return start, end

    def rollout(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, running: np.ndarray,
                step_tokens: torch.Tensor, step_logprobs: torch.Tensor, step_rewards: np.ndarray,
                step_masks: torch.Tensor | None, step_supports: torch.Tensor | None, ended_with_eos: np.ndarray,
                records: list[EpisodeRecord], pad: int) -> Rollout:
        """The :class:`Rollout` over the conversations: per-step values ``(B, S, ...)`` moved to their columns
        (logprobs and rewards 0, action masks all legal, sampling supports the pad token alone, on the user's
        tokens: their logprobs are never used)."""
        device = step_tokens.device
        length = int(self.mask.sum(axis=1).max())
        rows, steps = np.nonzero(running)
        columns = np.stack(self.step_columns, axis=1)[rows, steps]
        if (self.agent_mask[rows, columns] != 1).any() or self.agent_mask.sum() != len(rows):
            raise RuntimeError("The multi-turn env's agent_mask does not match the columns of the agent's tokens.")
        index = (torch.as_tensor(rows, device=device), torch.as_tensor(columns, device=device))
        step_index = (index[0], torch.as_tensor(steps, device=device))

        def place(values: torch.Tensor, fill: float | bool) -> torch.Tensor:
            placed = torch.full((len(running), length, *values.shape[2:]), fill, dtype=values.dtype, device=device)
            placed[index] = values[step_index]
            return placed

        generated_mask = torch.as_tensor(self.mask[:, :length], device=device)
        agent_mask = torch.as_tensor(self.agent_mask[:, :length], device=device)
        generated_ids = torch.where(generated_mask.bool(), torch.as_tensor(self.ids[:, :length], device=device), pad)
        if not torch.equal(generated_ids[index], step_tokens[step_index]):
            raise RuntimeError("The multi-turn env's conversation does not hold the agent's tokens where it says.")
        return Rollout(
            prompt_ids=prompt_ids, prompt_mask=prompt_mask, generated_ids=generated_ids, generated_mask=generated_mask,
            agent_mask=agent_mask, action_masks=place(step_masks, True) if step_masks is not None else None,
            sampling_support=place(step_supports, pad) if step_supports is not None else None,
            sample_logprobs=place(step_logprobs, 0.0),
            env_rewards=place(torch.as_tensor(step_rewards, device=device), 0.0),
            ended_with_eos=torch.as_tensor(ended_with_eos, device=device), records=records)
