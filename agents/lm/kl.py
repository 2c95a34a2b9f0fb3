"""The KL penalty against the frozen reference: per-token estimators and the fixed / adaptive coefficient."""

from __future__ import annotations

import torch


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled tokens' logprobs (Schulman's estimators).

    ``k1 = log p - log q`` is unbiased but can be negative; ``k3 = (r - 1) - log r`` with ``r = q / p`` is unbiased,
    never negative and has lower variance. Both are exactly 0 where the two models agree.
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"KL estimator must be 'k1' or 'k3', got {estimator!r}.")


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def update(self, current_kl: float, num_episodes: int) -> None:
        pass

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController(FixedKLController):
    """Ziegler et al. (2019): move the coefficient so the per-episode KL tracks ``target``; the proportional error
    is clipped to ±20% and its effect spread over ``horizon`` episodes.

    :param value: initial coefficient.
    :param target: desired KL per episode (sum over its tokens).
    :param horizon: number of episodes over which a constant error changes the coefficient by a factor e^(error).
    """

    def __init__(self, value: float, target: float, horizon: int) -> None:
        super().__init__(value)
        self.target = float(target)
        self.horizon = int(horizon)

    def update(self, current_kl: float, num_episodes: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * num_episodes / self.horizon


def make_kl_controller(kl_coef: float, adaptive_kl_target: float | None, horizon: int) -> FixedKLController:
    """A fixed coefficient, or the adaptive controller when a target KL per episode is given."""
    if adaptive_kl_target is None:
        return FixedKLController(kl_coef)
    return AdaptiveKLController(kl_coef, adaptive_kl_target, horizon)
