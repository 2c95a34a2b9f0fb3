"""Trained policies kept by the benchmark, so a run submitted to the leaderboard can be verified: the server
regenerates the run's predictions from its policy (:mod:`leaderboard.verify`).

A run whose agent has a policy (:meth:`agents.base.Agent.save_policy`: PPO and the GRPO family) writes it after its
final evaluation as a ``save_pretrained`` directory, ``DIR/policies/<run>/`` (safetensors weights, model config,
tokenizer files and the trainer's config), and records the path and size in its results JSON.

How the files reach the driver's results directory depends on where the run executed:

- in the driver's process or a local worker pool, the worker writes straight into the results directory (same
  machine, same filesystem);
- in a Ray task, which may run on another machine, the worker saves into a temporary directory and returns the
  files' bytes with its result; the driver writes them. The policy then passes through Ray's object store and the
  driver's memory once: fine for the small models of the quick start (about 4.5 MB each), costly for models of
  gigabytes, for which ``save_policies: false`` (or a shared filesystem and the local backend) is the way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICIES_DIR = "policies"
"""Folder of a results directory holding one policy directory per run."""


@dataclass(frozen=True)
class PolicyDestination:
    """Where a run's policy goes.

    :param relative_path: the policy directory relative to the results directory (``policies/<run>``).
    :param directory: the absolute directory the worker writes into; None: the worker returns the files' bytes and
        the driver writes them (Ray tasks, which need no shared filesystem).
    """

    relative_path: str
    directory: str | None


@dataclass
class SavedPolicy:
    """A policy a run saved: its path relative to the results directory, its size, and (when shipped back from a
    Ray worker) the files still to write, by name."""

    relative_path: str
    size_bytes: int
    files: dict[str, bytes] | None = None


def destination(out_dir: str | os.PathLike, run: str, ship_bytes: bool) -> PolicyDestination:
    """The destination of run ``run``'s policy under results directory ``out_dir``."""
    relative = f"{POLICIES_DIR}/{run}"
    return PolicyDestination(relative, None if ship_bytes else str(Path(out_dir).resolve() / relative))


def save_run_policy(agent: Any, where: PolicyDestination | None) -> SavedPolicy | None:
    """Save ``agent``'s policy to ``where`` (nothing when ``where`` is None or the agent has no policy)."""
    if where is None:
        return None
    if where.directory is None:
        with tempfile.TemporaryDirectory(prefix="textenvs-policy-") as scratch:
            if agent.save_policy(Path(scratch)) is None:
                return None
            files = {path.name: path.read_bytes() for path in sorted(Path(scratch).iterdir()) if path.is_file()}
        return SavedPolicy(where.relative_path, sum(map(len, files.values())), files)
    target = Path(where.directory)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # Written beside the target and renamed, so a killed run leaves no half policy under the run's name.
    if agent.save_policy(partial) is None:
        shutil.rmtree(partial, ignore_errors=True)
        return None
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return SavedPolicy(where.relative_path, directory_size(target))


def write_shipped_policy(out_dir: str | os.PathLike, saved: SavedPolicy) -> None:
    """Write the files a Ray worker shipped back under ``out_dir`` (no-op for a policy the worker wrote itself)."""
    if saved.files is None:
        return
    target = Path(out_dir) / saved.relative_path
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, content in saved.files.items():
        (partial / Path(name).name).write_bytes(content)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    saved.files = None


def directory_size(directory: Path) -> int:
    """Bytes of every file under ``directory``."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def megabytes(size_bytes: int) -> str:
    """``4.5 MB`` (decimal megabytes, as file managers show them)."""
    return f"{size_bytes / 1e6:.1f} MB"
