"""Agents that learn on textenvs environments: our transformer PPO, supervised warm start, SB3 baselines and
non-learning baselines, all behind one :class:`agents.base.Agent` interface so benchmarks compare them directly."""
