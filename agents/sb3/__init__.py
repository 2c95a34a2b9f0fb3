"""Stable-Baselines3 baselines: stock PPO/A2C and sb3_contrib MaskablePPO with a Hugging Face transformer policy
(:mod:`agents.sb3.policies`), and the naive ``MultiInputPolicy`` floor (:mod:`agents.sb3.agents`).

Import the agents from :mod:`agents.sb3.agents` (or through :func:`agents.registry.make_agent`); this package
imports nothing itself, so ``agents.sb3.config`` stays cheap to load.
"""
