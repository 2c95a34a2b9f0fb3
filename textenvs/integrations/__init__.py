"""Bridges from textenvs to the training and serving stacks RL users already run.

- :mod:`textenvs.integrations.trl`: scorers as TRL reward functions, tasks as ``datasets.Dataset`` objects in the
  columns TRL's trainers read, and ``MultiTurnDialogue-v0`` behind TRL's ``environment_factory`` contract
  (``pip install "textenvs[trl]"``).
- :mod:`textenvs.integrations.openenv`: any textenvs env served as an OpenEnv environment, and a typed OpenEnv
  client for it (``pip install "textenvs[openenv]"``; ``textenvs serve-openenv --env ID``).

Each module imports its third-party package only when used, so ``import textenvs`` stays light.
"""
