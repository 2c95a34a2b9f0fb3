"""Agent names used by the benchmark runner and CLI, resolved lazily so an agent's dependencies (SB3, peft, ...)
load only when that agent runs."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import fields
from typing import Any, Mapping

from agents.base import Agent
from textenvs.validation import did_you_mean, unknown_keys

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


SETTINGS_CLASSES: dict[str, str] = {
    "ppo": "agents.ppo.config:PPOConfig",
    "grpo": "agents.grpo.config:GRPOConfig",
    "dr-grpo": "agents.grpo.config:GRPOConfig",
    "rloo": "agents.grpo.config:GRPOConfig",
    "sb3-ppo": "agents.sb3.config:SB3Config",
    "sb3-a2c": "agents.sb3.config:SB3Config",
    "sb3-maskable-ppo": "agents.sb3.config:SB3Config",
    "sb3-ppo-mlp": "agents.sb3.config:SB3Config",
}
"""The settings dataclass each registered agent's ``**config`` fills (with the agent class's ``defaults`` under
it), so :func:`check_agent_config` can judge a config without building the agent."""
_RUN_ARGUMENTS = ("self", "env_id", "env_kwargs", "seed", "env")
"""Constructor arguments and settings fields the runner itself supplies, never an agent config."""


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


def check_agent_config(name: str, config: Mapping[str, Any]) -> None:
    """Refuse constructor keyword arguments ``name``'s agent does not take (naming each with the closest valid one)
    and values its settings class refuses, without building the agent (no model or env is loaded): the benchmark
    runner checks every agent's config this way before the first run starts.

    An agent outside :data:`SETTINGS_CLASSES` whose constructor takes ``**config`` has its names judged only when
    it is built.

    :raises KeyError: unknown agent name. :raises TypeError: an unknown setting name.
    :raises ValueError: a setting value the agent's settings class refuses.
    """
    cls = agent_class(name)
    if not isinstance(config, Mapping):
        raise TypeError(f"agent_config for agent {name!r} must be a dict of constructor keyword arguments, got "
                        f"{type(config).__name__}: {config!r:.100}.")
    parameters = inspect.signature(cls.__init__).parameters
    explicit = [key for key, parameter in parameters.items() if key not in _RUN_ARGUMENTS
                and parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    settings_class = _settings_class(name)
    settings = [field.name for field in fields(settings_class) if field.name not in _RUN_ARGUMENTS] \
        if settings_class is not None else []
    if settings_class is None and takes_any:
        return
    unknown_keys(f"agent_config key(s) for agent {name!r}", config, explicit + settings)
    if settings_class is not None:
        given = {key: value for key, value in config.items() if key in settings}
        try:
            settings_class(**{**getattr(cls, "defaults", {}), **given})
        except (TypeError, ValueError) as error:
            raise ValueError(f"agent_config for agent {name!r}: {error}") from error


def _settings_class(name: str) -> type | None:
    target = SETTINGS_CLASSES.get(name)
    if target is None:
        return None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
