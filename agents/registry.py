"""Agent names used by the benchmark runner and CLI, resolved lazily so an agent's dependencies (SB3, peft, ...)
load only when that agent runs."""

from __future__ import annotations

import importlib
from typing import Any

from agents.base import Agent
from textenvs.validation import did_you_mean

AGENTS: dict[str, str] = {
    "ppo": "agents.ppo.agent:PPOAgent",                      # ours: transformer PPO from the warm start
    "grpo": "agents.grpo.agent:GRPOAgent",                   # ours: GRPO (group-normalized advantages), no critic
    "dr-grpo": "agents.grpo.agent:DrGRPOAgent",              # ours: Dr. GRPO (no std, constant length normalization)
    "rloo": "agents.grpo.agent:RLOOAgent",                   # ours: RLOO (leave-one-out baseline)
    "greedy": "agents.baselines:GreedyAgent",                # warm-start (reference) model, greedy decoding
    "sampled": "agents.baselines:SampledAgent",              # warm-start (reference) model, sampling
    "random": "agents.baselines:RandomAgent",                # uniform random tokens
    "sb3-ppo": "agents.sb3.agents:SB3PPOAgent",              # stock SB3 PPO, transformer policy
    "sb3-a2c": "agents.sb3.agents:SB3A2CAgent",              # stock SB3 A2C, transformer policy
    "sb3-maskable-ppo": "agents.sb3.agents:SB3MaskablePPOAgent",  # sb3_contrib MaskablePPO, top-p masks (NLPO idea)
    "sb3-ppo-mlp": "agents.sb3.agents:SB3MultiInputPPOAgent",  # naive MultiInputPolicy floor
}


def available() -> list[str]:
    return sorted(AGENTS)


def agent_class(name: str) -> type[Agent]:
    """The class behind an agent name: a registered name, or ``module:Class`` for any :class:`~agents.base.Agent`.

    :raises KeyError: an unknown registered name (the message lists the registered ones).
    :raises ImportError: the agent's module or one of its dependencies cannot be imported.
    :raises TypeError: ``module:Class`` names something that is not an ``Agent`` subclass.
    """
    if ":" not in name and name not in AGENTS:
        raise KeyError(f"Unknown agent {name!r}.{did_you_mean(name, AGENTS)} Available: {', '.join(available())}.")
    module, _, attribute = AGENTS.get(name, name).partition(":")
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except AttributeError as error:
        raise ImportError(f"Agent {name!r}: module {module!r} has no attribute {attribute!r}.") from error
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"Agent {name!r} is {cls!r}, not a subclass of agents.base.Agent.")
    return cls


def make_agent(name: str, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0,
               **config: Any) -> Agent:
    """Build the agent registered as ``name`` for ``env_id``; ``config`` goes to its constructor."""
    return agent_class(name)(env_id=env_id, env_kwargs=env_kwargs, seed=seed, **config)
