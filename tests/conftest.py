"""Shared fixtures. Tests never touch the network: HF caches point into a temporary directory."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

_HF_HOME = tempfile.mkdtemp(prefix="textenvs-hf-home-")
os.environ.setdefault("HF_HOME", _HF_HOME)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
# Tests live in folders by package (tests/envs, tests/agents, ...) and share tests/helpers.py as `tests.helpers`.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
SHARED_DATA = Path(os.environ.get("TEXTENVS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets beside the checkout (../shared/data); tests that need them skip where it is absent."""
    if not (SHARED_DATA / "multi30k").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set TEXTENVS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_split():
    """The Dialogue-v0 test split (built in), which the leaderboard tests answer; loaded once per session."""
    from textenvs import load_env_dataset

    return load_env_dataset("textenvs/Dialogue-v0", "test")


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch():
    """Two shared cores: one torch thread keeps parallel test workers from thrashing."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield
