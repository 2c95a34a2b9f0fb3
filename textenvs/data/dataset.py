"""The in-memory dataset every environment reads: a list of examples with prompts and references."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence


@dataclass(frozen=True)
class Example:
    """One task instance.

    :param id: identifier, unique within its split (the leaderboard keys predictions by it).
    :param prompt: the text the policy conditions on (already formatted for the task).
    :param references: one or more acceptable outputs; metric scorers compare predictions against all.
    :param metadata: task-specific facts a scorer may need (key facts, requested slots, ...); JSON-serializable.
    """

    id: str
    prompt: str
    references: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


class TextDataset(Sequence[Example]):
    """An immutable, indexable list of :class:`Example` with a name and split.

    :param examples: the examples; must be non-empty and have unique ids.
    :param name: dataset name shown in results and errors.
    :param split: split name (``train``, ``validation``, ``test``, ...).
    :param source: where the examples came from (file path, generator, ...), for error messages.
    """

    def __init__(self, examples: Sequence[Example], name: str, split: str, source: str = "") -> None:
        self.examples: tuple[Example, ...] = tuple(examples)
        self.name = name
        self.split = split
        self.source = source or name
        if not self.examples:
            raise ValueError(f"Dataset {name!r} split {split!r} ({self.source}) is empty.")
        seen: set[str] = set()
        for example in self.examples:
            if example.id in seen:
                raise ValueError(f"Dataset {name!r} split {split!r} ({self.source}) has duplicate id {example.id!r}.")
            seen.add(example.id)
        self._content_hash: str | None = None

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index):  # type: ignore[override]
        return self.examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return f"TextDataset(name={self.name!r}, split={self.split!r}, size={len(self)})"

    @property
    def content_hash(self) -> str:
        """SHA-256 over ids, prompts, references and metadata: identifies the exact data a result was computed on."""
        if self._content_hash is None:
            digest = hashlib.sha256()
            for example in self.examples:
                record = [example.id, example.prompt, list(example.references), example.metadata]
                digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
                digest.update(b"\n")
            self._content_hash = digest.hexdigest()
        return self._content_hash

    def select(self, indices: Sequence[int]) -> "TextDataset":
        """A new dataset with the examples at ``indices`` (e.g. a fixed evaluation subset)."""
        return TextDataset([self.examples[i] for i in indices], self.name, self.split, self.source)
