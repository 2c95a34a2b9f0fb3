"""textenvs: Gymnasium environments for text generation with token-level actions and pluggable reward scorers.

>>> import gymnasium, textenvs
>>> env = gymnasium.make("textenvs/Translation-v0")
>>> observation, info = env.reset(seed=0)
"""

from importlib import metadata as _metadata

from textenvs.core import GenerationTask, TextGenerationEnv, load_tokenizer
from textenvs.data.dataset import Example, TextDataset
from textenvs.evaluation import EpisodeRecord, generate_split, summarize
from textenvs.registration import (ENV_ALIASES, ENV_IDS, check_env_arguments, env_class, env_reward_ceiling,
                                   load_env_dataset, load_env_scorer, register_envs, resolve_env_id)
from textenvs.vector import TextGenerationVectorEnv
from textenvs.wrappers import TextActionWrapper

try:
    __version__ = _metadata.version("textenvs")
    """The installed distribution's version (pyproject.toml is the one place it is set)."""
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

register_envs()

__all__ = [
    "ENV_ALIASES", "ENV_IDS", "Example", "EpisodeRecord", "GenerationTask", "TextDataset", "TextGenerationEnv",
    "TextActionWrapper", "TextGenerationVectorEnv",
    "check_env_arguments", "env_class", "env_reward_ceiling", "generate_split", "load_env_dataset", "load_env_scorer",
    "load_tokenizer", "register_envs", "resolve_env_id", "summarize", "__version__",
]
