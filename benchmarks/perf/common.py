"""What the perf benchmarks share: the model/shape flags, and what every one records beside its figures (hardware,
versions, date, the command)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def environment_record() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for package in ("textenvs", "torch", "transformers", "gymnasium", "numpy", "trl", "stable-baselines3"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "cpu": cpu, "cores": os.cpu_count(),
            "gpu": gpu, "python": platform.python_version(), "versions": versions}


def write_results(path: str | Path, figures: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment_record(), **figures}, indent=2) + "\n", encoding="utf-8")
    return path


def model_argument_parser(description: str | None) -> argparse.ArgumentParser:
    """A perf script's parser (``description``: its module docstring, shown as written) with the flags choosing the
    benchmark model and the shape of its prompts: ``--size``, ``--device``, ``--dtype``, ``--prompt-tokens``,
    ``--new-tokens``; read ``--dtype`` back with :func:`torch_dtype`. The script adds its own flags."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny", help="GPT-2 size from agents.models.CAUSAL_SIZES")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=tuple(_DTYPES))
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    return parser


def torch_dtype(name: str) -> Any:
    """The torch dtype a ``--dtype`` value names (``fp32`` or ``bf16``)."""
    import torch

    return getattr(torch, _DTYPES[name])


_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
