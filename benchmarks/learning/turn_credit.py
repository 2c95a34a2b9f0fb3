"""PPO trained with the per-turn reward of ``textenvs/MultiTurnDialogue-v1`` (its env kwarg ``turn_reward``) while
``textenvs bench`` evaluates without it.

The bench builds the agent's training env and its evaluation envs (final test, eval curve) from the same
``env_kwargs``; with ``turn_reward`` there, every evaluation's ``reward`` would include the turn rewards and no
longer be the env's goal score. Giving the weight to the agent instead keeps the bench's env kwargs those of the
terminal-reward runs, so the two are compared on one measure::

    "agents": ["benchmarks.learning.turn_credit:TurnCreditPPOAgent"],
    "agent_config": {"benchmarks.learning.turn_credit:TurnCreditPPOAgent": {"turn_reward": 0.5, ...}}
"""

from __future__ import annotations

from typing import Any

from agents.ppo.agent import PPOAgent


class TurnCreditPPOAgent(PPOAgent):
    """:class:`~agents.ppo.agent.PPOAgent` whose training env alone gets ``turn_reward`` (v1 only).

    :param turn_reward: weight of the per-turn reward in training (0.0: the terminal reward only, plain PPO).
    :param config: anything :class:`~agents.ppo.agent.PPOAgent` takes.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 turn_reward: float = 0.0, **config: Any) -> None:
        self.turn_reward = float(turn_reward)
        super().__init__(env_id, {**(env_kwargs or {}), "turn_reward": self.turn_reward}, seed, **config)

    def config(self) -> dict[str, Any]:
        """PPO's reported settings and the training-only ``turn_reward`` (the run file's env kwargs omit it)."""
        return {**super().config(), "turn_reward": self.turn_reward}
