"""``textenvs train ppo``: every :class:`PPOConfig` field is a flag (``num_envs`` → ``--num-envs``), its docstring
the help text.

    textenvs train ppo --env textenvs/Translation-v0 --model default --out runs/ppo-translation --iterations 50
    textenvs train ppo --env textenvs/Translation-v0 --model runs/sft-multi30k/model --out runs/ppo-multi30k \\
        --env-kwargs '{"dataset": "../shared/data/multi30k", "dataset_languages": ["de", "en"]}'
    textenvs train ppo --out runs/ppo-translation --resume      # continue from the latest checkpoint
"""

from __future__ import annotations

import argparse
import json
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from agents.ppo.config import PPOConfig, field_docs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textenvs train ppo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    docs = field_docs()
    hints = typing.get_type_hints(PPOConfig)
    for field in fields(PPOConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not MISSING else field.default_factory()
        kind = hints[field.name]
        help_text = f"{docs.get(field.name, '')} (default: {default!r})".replace("%", "%%")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif kind is dict:
            parser.add_argument(flag, type=json.loads, default=default, metavar="JSON", help=help_text)
        else:
            base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
            parse = (lambda text, base=base: None if text.lower() == "none" else base(text))
            parser.add_argument(flag, type=parse if base is not kind else base, default=default, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = vars(build_parser().parse_args(argv))
    if arguments["resume"] and arguments["out"]:
        # A resumed run keeps its recorded settings; flags given now (e.g. more --iterations) override them.
        saved = json.loads((Path(arguments["out"]) / "config.json").read_text())
        given = {key: value for key, value in arguments.items() if value != _default(key)}
        arguments = {**{k: v for k, v in saved.items() if k in arguments}, **given}
    config = PPOConfig(**arguments)
    print(config.describe())
    from agents.ppo.trainer import PPOTrainer

    trainer = PPOTrainer(config)
    history = trainer.train()
    if history:
        last = history[-1]
        print(f"iteration {last['iteration']}: reward {last['charts/reward']:.4f}  kl {last['objective/kl']:.4f}  "
              f"entropy {last['policy/entropy']:.3f}")
    if config.out:
        print(f"model: {Path(config.out) / 'model'}   logs: {Path(config.out) / 'metrics.jsonl'}   "
              f"plot: {Path(config.out) / 'learning_curve.png'}")
    return 0


def _default(name: str):
    field = PPOConfig.__dataclass_fields__[name]
    return field.default if field.default is not MISSING else field.default_factory()
