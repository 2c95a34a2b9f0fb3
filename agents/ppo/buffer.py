"""PPO's rollout buffer: one batch of finished episodes as padded token tensors, and the GAE advantages computed on
it (per agent action, never across a multi-turn env's user turns); the running reward statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from agents.distributed import stratified_minibatches
from agents.lm.batch import TokenBatch
from agents.lm.stats import AllReduce, masked_whiten, no_all_reduce


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
                gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over right-padded token sequences ``(B, T)``.

    ``δ_t = r_t + γ V_{t+1} - V_t`` and ``A_t = δ_t + γλ A_{t+1}``, with ``V`` and ``r`` zeroed on padding, so the
    state after an episode's last token (EOS or truncation) is worth 0. Returns ``(advantages, returns = A + V)``.
    """
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(values[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = delta + gamma * gae_lambda * next_advantage
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    advantages = advantages * mask
    return advantages, advantages + values


def agent_gae(rewards: torch.Tensor, values: torch.Tensor, agent_mask: torch.Tensor, gamma: float,
              gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`compute_gae` over each row's agent tokens only (``agent_mask`` = 1), as if the tokens between them
    (a multi-turn env's user turns) were not there: the agent positions are moved to the front of their row in order,
    GAE runs on that compacted sequence, and the results go back to their columns (0 elsewhere). So γ and λ discount
    per agent action, never across a user turn, and a user token's value is never bootstrapped from.

    When the agent tokens are a prefix of each row (single-turn envs) the compaction is the identity permutation and
    the results are exactly :func:`compute_gae`'s.
    """
    # A stable sort of "not agent" puts each row's agent columns first, in their order.
    order = torch.argsort((agent_mask == 0).to(torch.int8), dim=1, stable=True)
    compact_mask = agent_mask.gather(1, order)
    advantages, returns = compute_gae(rewards.gather(1, order), values.gather(1, order), compact_mask, gamma,
                                      gae_lambda)
    return (torch.zeros_like(advantages).scatter(1, order, advantages),
            torch.zeros_like(returns).scatter(1, order, returns * compact_mask))


class RunningMoments:
    """Running mean and standard deviation of a stream of scalars (parallel Welford update); normalizes rewards."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, values: np.ndarray) -> None:
        batch_mean, batch_var, batch_count = float(np.mean(values)), float(np.var(values)), len(values)
        delta, total = batch_mean - self.mean, self.count + batch_count
        self.mean += delta * batch_count / total
        self.var = (self.var * self.count + batch_var * batch_count + delta ** 2 * self.count * batch_count / total) / total
        self.count = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var))

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


@dataclass(kw_only=True)
class RolloutBuffer(TokenBatch):
    """One rollout batch as PPO trains on it: the episodes' tokens (:class:`~agents.lm.batch.TokenBatch`) and, all
    ``(B, T)`` over generated tokens, what scoring and GAE add. Its minibatches (:meth:`minibatches`) and their
    micro-batches are RolloutBuffers too.

    :param logprobs: sampling policy's logprobs of the tokens (teacher-forced, no gradient).
    :param ref_logprobs: reference model's logprobs of the same tokens.
    :param values: value estimates of the states before each token.
    :param rewards: per-token rewards (score + KL penalty).
    :param agent_mask: float, 1 on the tokens the agent chose: the loss mask (every loss, the entropy, the KL and the
        advantage whitening average over it). ``generated_mask`` on single-turn envs; on a multi-turn env 0 on the
        user's turns.
    :param advantages: / :param returns: GAE's, once :meth:`compute_advantages` ran.
    """

    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    agent_mask: torch.Tensor
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    def compute_advantages(self, gamma: float, gae_lambda: float, whiten: bool,
                           all_reduce: AllReduce = no_all_reduce) -> None:
        """Fill :attr:`advantages` (GAE over the agent's tokens, optionally whitened over them: over the global
        batch's tokens with ``all_reduce``, the sum over processes) and :attr:`returns`."""
        advantages, self.returns = agent_gae(self.rewards, self.values, self.agent_mask, gamma, gae_lambda)
        self.advantages = masked_whiten(advantages, self.agent_mask, all_reduce=all_reduce) if whiten \
            else advantages

    def minibatches(self, num_minibatches: int, rng: np.random.Generator, global_size: int | None = None,
                    rows: slice | None = None) -> Iterator[RolloutBuffer]:
        """One epoch: ``num_minibatches`` equal minibatches, reshuffled (a stratified shuffle, see
        :func:`agents.distributed.stratified_minibatches`). With ``global_size`` and ``rows``, this buffer holds
        ``rows`` of a global batch of ``global_size`` episodes and yields its share of each global minibatch."""
        for indices in stratified_minibatches(global_size or len(self), num_minibatches, rng, rows):
            yield self.select(torch.as_tensor(indices, device=self.generated_ids.device))
