"""Every textenvs metric scorer as a Hugging Face ``evaluate`` module, shipped inside the package.

``evaluate.load(evaluate_module_path("rouge"))`` works with no network: each ``<name>/<name>.py`` is a thin
``evaluate.Metric`` (see :mod:`textenvs.scorers.evaluate_modules.bridge`) over the registered scorer ``<name>``.
``compute(predictions=..., references=...)`` returns corpus-level values (:meth:`Scorer.corpus_score`);
``per_example=True`` returns per-example lists instead; other keyword arguments (``prompts``, ``metadata`` and
the scorer's constructor options) pass through.
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def available_modules() -> list[str]:
    """Names of the shipped evaluate modules, sorted."""
    return sorted(path.name for path in _ROOT.iterdir() if (path / f"{path.name}.py").is_file())


def evaluate_module_path(name: str) -> str:
    """Directory of the shipped evaluate module ``name``, for ``evaluate.load``."""
    if not (_ROOT / name / f"{name}.py").is_file():
        raise KeyError(f"No evaluate module {name!r} ships with textenvs. "
                       f"Available: {', '.join(available_modules())}.")
    return str(_ROOT / name)
