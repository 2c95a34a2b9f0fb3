"""Frame grammars of the v2 synthetic benchmark tasks: the one definition both the generators (which write outputs
from it) and the gold reward (which parses outputs with it) use, so the two cannot disagree.

A grammar is a set of *frames*, sentence templates of literal words and role slots, e.g. ``"{person} {verb} {count}
{object} [for {beneficiary}] in {city} on {day} ."``. Square brackets mark an optional group (a role the sentence may
leave out); ``{role:form}`` writes a role's value in another surface form (a verb's participle). Every slot is one
whitespace token. Parsing an output is matching it against every expansion of every frame: literal words must be
equal, a slot must hold a legal value of its role; what matches gives the role → value bindings the output states.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Sequence

_SLOT = re.compile(r"^\{(\w+)(?::(\w+))?\}$")


@dataclass(frozen=True)
class _Expansion:
    frame: int  # index of the frame it expands
    items: tuple[tuple[str, str, str | None], ...]  # ("word", word, None) or ("slot", role, form)
    roles: frozenset[str]


@dataclass(frozen=True)
class FrameGrammar:
    """The sentences a task accepts.

    :param name: the grammar's name; examples name it in ``metadata["grammar"]``.
    :param values: role → its legal values (what ``metadata["roles"]`` holds).
    :param frames: templates; frame 0 is the canonical one (the first of ``metadata["valid"]``).
    :param forms: form name → {value: surface} for ``{role:form}`` slots (a value without an entry is written as is).
    """

    name: str
    values: Mapping[str, frozenset[str]]
    frames: tuple[str, ...]
    forms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @cached_property
    def expansions(self) -> tuple[_Expansion, ...]:
        out = []
        for index, frame in enumerate(self.frames):
            groups = re.split(r"(\[[^\]]*\])", frame)
            optional = [i for i, group in enumerate(groups) if group.startswith("[")]
            for keep in itertools.product((True, False), repeat=len(optional)):
                kept = dict(zip(optional, keep))
                tokens = " ".join(group.strip("[]") for i, group in enumerate(groups) if kept.get(i, True)).split()
                items = []
                for token in tokens:
                    slot = _SLOT.match(token)
                    if slot:
                        if slot.group(1) not in self.values:
                            raise ValueError(f"Grammar {self.name!r}: frame {frame!r} names unknown role "
                                             f"{slot.group(1)!r}.")
                        items.append(("slot", slot.group(1), slot.group(2)))
                    else:
                        items.append(("word", token, None))
                roles = frozenset(item[1] for item in items if item[0] == "slot")
                out.append(_Expansion(index, tuple(items), roles))
        return tuple(out)

    @cached_property
    def _by_length(self) -> dict[int, list[_Expansion]]:
        table: dict[int, list[_Expansion]] = {}
        for expansion in self.expansions:
            table.setdefault(len(expansion.items), []).append(expansion)
        return table

    @cached_property
    def _readings(self) -> dict[str | None, dict[str, dict[str, str]]]:
        """form → role → {surface: value}: how a slot's token reads back as a value."""
        forms: list[str | None] = [None, *self.forms]
        return {form: {role: {self.surface(value, form): value for value in values}
                       for role, values in self.values.items()} for form in forms}

    def surface(self, value: str, form: str | None) -> str:
        """How ``value`` is written in a ``{role:form}`` slot."""
        return value if form is None else self.forms[form].get(value, value)

    def render(self, frame: int, roles: Mapping[str, str]) -> str:
        """Frame ``frame`` with exactly the roles in ``roles`` filled in.

        :raises ValueError: the frame has no expansion with exactly those roles, or a value is not legal for its role.
        """
        for role, value in roles.items():
            if value not in self.values.get(role, ()):
                raise ValueError(f"Grammar {self.name!r}: {value!r} is not a value of role {role!r}.")
        wanted = frozenset(roles)
        for expansion in self.expansions:
            if expansion.frame == frame and expansion.roles == wanted:
                return " ".join(item[1] if item[0] == "word" else self.surface(roles[item[1]], item[2])
                                for item in expansion.items)
        raise ValueError(f"Grammar {self.name!r}: frame {frame} cannot state exactly the roles {sorted(wanted)}.")

    def valid_outputs(self, roles: Mapping[str, str]) -> list[str]:
        """Every sentence of the grammar that states exactly ``roles`` (one per frame that can), canonical first."""
        outputs = []
        for frame in range(len(self.frames)):
            try:
                sentence = self.render(frame, roles)
            except ValueError:
                continue
            if sentence not in outputs:
                outputs.append(sentence)
        return outputs

    def parse(self, text: str) -> list[dict[str, str]]:
        """Every reading of ``text`` (whitespace tokens, lower-cased) as a sentence of the grammar: the role →
        value bindings of each expansion it matches. Empty when the text is not a sentence of the grammar."""
        tokens = text.lower().split()
        readings = []
        for expansion in self._by_length.get(len(tokens), ()):
            bound: dict[str, str] = {}
            for token, (kind, word, form) in zip(tokens, expansion.items):
                if kind == "word":
                    if token != word:
                        break
                else:
                    value = self._readings[form][word].get(token)
                    if value is None:
                        break
                    bound[word] = value
            else:
                if bound not in readings:
                    readings.append(bound)
        return readings

    def score(self, text: str, gold: Mapping[str, str]) -> float:
        """``correct / max(len(gold), len(stated))`` for the best reading of ``text``: a role stated with its gold
        value is correct; a missing role, a wrong value (a distractor, another role's value, a synonym) and a role
        the gold output does not have (an invented fact) each cost one. 0.0 when ``text`` is not a sentence of the
        grammar, whatever words it contains; 1.0 exactly for the valid outputs of ``gold``."""
        best = 0.0
        for bound in self.parse(text):
            correct = sum(bound.get(role) == value for role, value in gold.items())
            best = max(best, correct / max(len(gold), len(bound), 1))
        return best


def grammar(name: str) -> FrameGrammar:
    """The grammar named ``name`` (``metadata["grammar"]`` of a v2 example).

    :raises ValueError: for an unknown name, listing the known ones.
    """
    from textenvs.data.generators import dialogue_v2, summarization_v2, translation_v2

    grammars = {module.GRAMMAR.name: module.GRAMMAR for module in (translation_v2, summarization_v2, dialogue_v2)}
    if name not in grammars:
        raise ValueError(f"Unknown frame grammar {name!r}; known: {', '.join(grammars)}.")
    return grammars[name]


def check_roles(roles: Mapping[str, str], grammar_: FrameGrammar, where: str) -> None:
    """Refuse gold bindings the grammar cannot state (a generator bug, caught where the example is made)."""
    if not grammar_.valid_outputs(roles):
        raise ValueError(f"{where}: no frame of grammar {grammar_.name!r} states exactly {dict(roles)}.")


def pick(rng, choices: Sequence[str], exclude: Sequence[str] = ()) -> str:
    """A uniformly drawn choice not in ``exclude`` (the generators' way to draw distractors and invented values)."""
    return rng.choice([choice for choice in choices if choice not in exclude])
