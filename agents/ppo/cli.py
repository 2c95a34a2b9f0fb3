"""``textenvs train ppo``: every :class:`PPOConfig` field is a flag (``num_envs`` → ``--num-envs``), its docstring
the help text.

    textenvs train ppo --env textenvs/Translation-v0 --model default --out runs/ppo-translation --iterations 50
    textenvs train ppo --env textenvs/Translation-v0 --model runs/sft-multi30k/model --out runs/ppo-multi30k \\
        --env-kwargs '{"dataset": "../shared/data/multi30k", "dataset_languages": ["de", "en"]}'
    textenvs train ppo --out runs/ppo-translation --resume      # continue from the latest checkpoint

``--env`` and ``--out`` are required (``--no-save`` instead of ``--out`` trains without writing anything);
``--scorer NAME`` is short for ``--env-kwargs '{"scorer": "NAME"}'``. A misspelled env id, env argument or scorer
name, or a ``--model`` that is not a checkpoint directory, ends in one line naming it before any model is loaded.

A resumed run keeps the settings saved in ``<out>/config.json``; every flag given explicitly overrides its saved
value (listed when the run starts), except the settings that shape the checkpoint (:data:`RESUME_FIXED`), which a
resume refuses to change.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

from agents.ppo.config import PPOConfig, field_docs

REQUIRED_HELP = {"env": "(required)", "out": "(required, unless --no-save)"}
"""What the help shows instead of a default for the config fields the command requires."""
RESUME_FIXED = ("env", "env_kwargs", "model", "value_model", "lora_r", "lora_alpha")
"""Settings a checkpoint's weights and optimizer state depend on: ``--resume`` refuses to change them (those of them
the config class has: the same rule serves ``textenvs train grpo``)."""
CHECKPOINT_GLOB = "checkpoints/iteration_*.pt"


class UsageError(Exception):
    """A command-line mistake, reported in one line without a traceback."""


def build_parser(config_class: type = PPOConfig, prog: str = "textenvs train ppo",
                 description: str | None = __doc__) -> argparse.ArgumentParser:
    """One flag per field of the config dataclass ``config_class``, its docstring line the help text."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    docs = field_docs(config_class)
    hints = typing.get_type_hints(config_class)
    # Every flag's default is SUPPRESS, so parse_args returns only the flags actually given (a flag given with its
    # default value is still "given", which --resume needs to tell apart); the help shows the real default.
    defaults = _defaults(config_class)
    for field in fields(config_class):
        flag = _flag(field.name)
        default = defaults[field.name]
        kind = hints[field.name]
        # The command requires these although the config class has defaults (a library caller may rely on those).
        shown = REQUIRED_HELP.get(field.name, f"(default: {default!r})")
        help_text = f"{docs.get(field.name, '')} {shown}".replace("%", "%%")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        elif kind is dict:
            parser.add_argument(flag, type=_json_object, default=argparse.SUPPRESS, metavar="JSON", help=help_text)
        else:
            base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
            parse = (lambda text, base=base: None if text.lower() == "none" else base(text))
            parser.add_argument(flag, type=parse if base is not kind else base, default=argparse.SUPPRESS,
                                help=help_text)
    # Command-line conveniences that are not config fields: parse_config folds them into the config.
    parser.add_argument("--no-save", action="store_true", default=argparse.SUPPRESS,
                        help="train without --out: write no model, logs, plot or checkpoints (for a quick try)")
    parser.add_argument("--scorer", metavar="NAME", default=argparse.SUPPRESS,
                        help='reward scorer, a registered name (short for --env-kwargs \'{"scorer": "NAME"}\'; '
                             "default: the env's own)")
    return parser


def parse_config(parser: argparse.ArgumentParser, argv: list[str] | None, config_class: type) -> Any | None:
    """The ``config_class`` instance the flags describe (with ``--resume``, the saved run's settings with the given
    flags applied); None after printing the mistake in one line (``<prog>: <error>``) when the flags are invalid."""
    given = vars(parser.parse_args(argv))
    try:
        no_save = given.pop("no_save", False)
        scorer = given.pop("scorer", None)
        if given.get("resume"):
            arguments = _resumed(given, config_class, scorer)
        else:
            _require_env_and_out(given, no_save)
            if scorer is not None:
                given["env_kwargs"] = _with_scorer(given.get("env_kwargs", {}), scorer)
            arguments = {**_defaults(config_class), **given}
        config = config_class(**arguments)
        check_run_inputs(config)
        return config
    except (UsageError, ValueError, TypeError, gym.error.Error) as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return None


def check_run_inputs(config: Any) -> None:
    """Refuse a run whose env id, env arguments, scorer or model cannot work, before any model or data is loaded:
    these are the typos a run would otherwise report only as a traceback from deep inside the trainer.

    :raises gymnasium.error.NameNotFound: unknown env id (with the closest registered one).
    :raises TypeError: an env argument or scorer argument the env or scorer does not take (with the closest name).
    :raises ValueError: an unknown scorer name (with the closest names).
    :raises UsageError: ``model`` is neither ``"default"`` nor a Hugging Face checkpoint directory.
    """
    from textenvs import check_env_arguments

    check_env_arguments(config.env, config.env_kwargs)
    if config.model != "default":
        path = Path(config.model).expanduser()
        if not (path / "config.json").is_file():
            why = ("the directory has no config.json" if path.is_dir()
                   else "it is a file, not a directory" if path.exists() else "no such directory")
            raise UsageError(f"--model {config.model!r}: not a Hugging Face checkpoint directory ({why}). Give a "
                             "directory written by save_pretrained (e.g. <sft run>/model), or 'default' for the "
                             "env's shipped warm start.")


def _require_env_and_out(given: dict[str, Any], no_save: bool) -> None:
    """A new run names its env and where it goes: a forgotten --env would quietly train on the config's default
    env, and a forgotten --out would train and then save nothing."""
    from textenvs import ENV_IDS

    if "env" not in given:
        raise UsageError(f"--env is required: the environment to train on, one of {', '.join(ENV_IDS)}.")
    if no_save and given.get("out") is not None:
        raise UsageError("--no-save and --out contradict each other: give one of them.")
    if not no_save and given.get("out") is None:
        raise UsageError("--out is required: the run directory for the model, logs, plot and checkpoints (or "
                         "--no-save to train without writing anything).")


def _with_scorer(env_kwargs: dict[str, Any], scorer: str) -> dict[str, Any]:
    """``env_kwargs`` with ``--scorer`` applied; a different scorer in both places is refused, not silently chosen."""
    if env_kwargs.get("scorer", scorer) != scorer:
        raise UsageError(f"--scorer {scorer!r} and --env-kwargs' scorer {env_kwargs['scorer']!r} disagree: give "
                         "the scorer once.")
    return {**env_kwargs, "scorer": scorer}


def main(argv: list[str] | None = None) -> int:
    config = parse_config(build_parser(), argv, PPOConfig)
    if config is None:
        return 2
    from agents.ppo.trainer import PPOTrainer

    return train_and_report(PPOTrainer(config), config, lambda last: (
        f"iteration {last['iteration']}: reward {last['charts/reward']:.4f}  kl {last['objective/kl']:.4f}  "
        f"entropy {last['policy/entropy']:.3f}"))


def train_and_report(trainer: Any, config: Any, summarize: Callable[[dict[str, Any]], str]) -> int:
    """Run ``trainer.train()``; on the main process, print the settings and distributed layout first and, after,
    ``summarize(last history record)`` and where the model, logs and plot went. Every rank returns 0."""
    if not trainer.dist.is_main:
        trainer.train()
        return 0
    print(config.describe())
    print(trainer.dist.describe(config.num_envs))
    history = trainer.train()
    if history:
        print(summarize(history[-1]))
    if config.out:
        print(f"model: {Path(config.out) / 'model'}   logs: {Path(config.out) / 'metrics.jsonl'}   "
              f"plot: {Path(config.out) / 'learning_curve.png'}")
    return 0


def _defaults(config_class: type = PPOConfig) -> dict[str, Any]:
    return {field.name: field.default if field.default is not MISSING else field.default_factory()
            for field in fields(config_class)}


def _json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _resumed(given: dict[str, Any], config_class: type = PPOConfig, scorer: str | None = None) -> dict[str, Any]:
    """The saved settings of the run in ``--out`` with every explicitly given flag applied (see module docstring);
    ``scorer`` (``--scorer``) is applied to the given ``--env-kwargs``, or else to the saved ones."""
    if not given.get("out"):
        raise UsageError("--resume needs --out, the run directory holding the checkpoints.")
    out = Path(given["out"])
    if not out.is_dir():
        raise UsageError(f"--resume: the run directory {out} does not exist; start the run without --resume.")
    saved_path = out / "config.json"
    if not saved_path.is_file():
        raise UsageError(f"--resume: {out} holds no config.json, so it is not a run directory of this command.")
    if not any(out.glob(CHECKPOINT_GLOB)):
        raise UsageError(f"--resume: {out} has no checkpoint yet (none in {out / 'checkpoints'}); the run stopped "
                         "before its first one. Start it again without --resume.")
    try:
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"--resume: cannot read {saved_path}: {error}") from None
    if scorer is not None:  # against the saved env kwargs it is a change (refused below), not a contradiction
        given["env_kwargs"] = (_with_scorer(given["env_kwargs"], scorer) if "env_kwargs" in given
                               else {**(saved.get("env_kwargs") or {}), "scorer": scorer})
    defaults = _defaults(config_class)
    unknown = sorted(set(saved) - set(defaults))
    if unknown:
        raise UsageError(f"--resume: {saved_path} has settings this version does not know: {unknown}.")
    changed = {name: value for name, value in given.items() if name in saved and saved[name] != value}
    fixed = [name for name in RESUME_FIXED if name in changed]
    if fixed:
        raise UsageError("--resume cannot change the settings the checkpoint was built with: " + "; ".join(
            f"{_flag(name)} was {saved[name]!r}, given {changed[name]!r}" for name in fixed)
            + ". Drop these flags, or start a new run in another --out directory.")
    for name, value in changed.items():
        if name != "resume":
            print(f"resuming with {_flag(name)} {value!r} (saved run: {saved[name]!r})", file=sys.stderr)
    return {**defaults, **saved, **given}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
