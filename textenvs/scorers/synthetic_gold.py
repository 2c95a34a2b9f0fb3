"""The gold reward of the v2 synthetic benchmark tasks: parse the output with the task's frame grammar and check
every role against the example's gold values."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from textenvs.scorers.base import Scorer, metadata_field


def _roles(value: Any, where: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not value or not all(
            isinstance(role, str) and isinstance(text, str) for role, text in value.items()):
        raise ValueError(f"{where} must be a non-empty dict of role -> value strings, got {value!r:.80}")
    return value


def _grammar_name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be the name of a frame grammar, got {value!r:.80}")
    return value


class SyntheticGoldScorer(Scorer):
    """Gold score of ``textenvs/Synthetic*-v2``: the output is parsed with the frame grammar named by
    ``metadata["grammar"]`` (:mod:`textenvs.data.generators.frames`) and its role bindings compared with
    ``metadata["roles"]``: ``correct / max(gold roles, stated roles)`` for its best reading, so a wrong value (a
    distractor's, another role's, a loose synonym), a missing role and an invented one each cost one role. Text the
    grammar does not accept scores 0.0 whatever words it contains: a bare list of values, shuffled words, an output
    said twice, a hedge listing several values for one role, a copy of the source. Every valid output of the example
    (each frame, each valid order: ``metadata["valid"]``) scores exactly 1.0. References are not used.

    Returns ``synthetic_gold`` (the reward) and ``grammatical`` (1.0 where the output is a sentence of the grammar).
    """

    name = "synthetic_gold"
    primary = "synthetic_gold"
    requires_references = False

    def compute(self, predictions, references, prompts, metadata):
        from textenvs.data.generators.frames import grammar

        names = metadata_field(metadata, "grammar", self.name, _grammar_name)
        golds = metadata_field(metadata, "roles", self.name, _roles)
        grammars = {name: grammar(name) for name in set(names)}
        scores = [grammars[name].score(prediction, gold) for prediction, name, gold in zip(predictions, names, golds)]
        parsed = [bool(grammars[name].parse(prediction)) for prediction, name in zip(predictions, names)]
        return {"synthetic_gold": np.array(scores, dtype=np.float64),
                "grammatical": np.array(parsed, dtype=np.float64)}

    def score_names(self):
        return ["synthetic_gold", "grammatical"]
