"""Turn user-supplied data into a :class:`TextDataset`: built-in names, JSONL/CSV files, aligned line pairs,
Hugging Face ``datasets`` objects or directories.

Field mapping: ``fields={"prompt": ..., "reference": ..., "id": ..., "metadata": ...}`` names the row columns that
hold each part; unspecified parts use the task's defaults (``TaskSpec.prompt_field`` / ``reference_field``,
``"id"``, ``"metadata"``). Rows without an id get ``"<split>-<row number>"``.

What a file must hold (anything else is refused with an error naming the file and the row or line):

- UTF-8 text (a BOM is allowed), plain or gzip; UTF-16, Latin-1 and truncated or fake ``.gz`` files are refused.
- A prompt with visible text (a string, or a list of turns for dialogue): an empty prompt is an error.
- References: a non-empty string or a list of them; an empty or blank reference string is an error. ``[]`` marks an
  example without references, which only a reference-free scorer accepts (``requires_references = False``, e.g.
  ``distinct_n``, ``slot_coverage``); the env refuses it with any other scorer when it is made.
- Metadata (optional): a JSON object, or a string holding one.
- CSV/TSV rows with exactly the header's number of fields; aligned line-pair files without blank lines.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Union

from textenvs.data.dataset import Example, TextDataset
from textenvs.tasks.base import TaskSpec
from textenvs.validation import DATASET_FIELD_KEYS, unknown_keys

DatasetSpec = Union[str, os.PathLike, TextDataset, Any]
"""A built-in name, a file or directory path, ``hf:<name>`` for ``datasets.load_dataset``, a
:class:`TextDataset`, or a ``datasets.Dataset`` / ``DatasetDict``."""

ROW_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
SPLIT_ALIASES = {"validation": ("validation", "val", "valid", "dev"), "test": ("test",), "train": ("train",)}


def read_text(path: Path) -> str:
    """The whole text of a UTF-8 file, plain or gzip; decoding and decompression errors name the file (and line)."""
    try:
        with (gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")) as handle:
            raw = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: not a complete gzip file ({type(error).__name__}: {error}); "
                         "it may be truncated or not gzip-compressed at all.") from None
    except OSError as error:
        raise OSError(f"{path}: cannot be read: {error}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError(f"{path}: is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                         "datasets must be UTF-8. Convert it, e.g. `iconv -f UTF-16 -t UTF-8`.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text (byte {raw[error.start]:#04x} at offset "
                         f"{error.start}); datasets must be UTF-8. Convert it, e.g. `iconv -f LATIN1 -t UTF-8`.") from None


def _lines(text: str) -> list[str]:
    """Lines split at "\\n" (or "\\r\\n") only: U+2028 and other Unicode breaks may sit inside a line's text."""
    return text.replace("\r\n", "\n").split("\n")


def _row_format(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    for suffix in ROW_FILE_SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:]
    raise ValueError(f"Cannot tell the format of {path}: expected one of {', '.join(ROW_FILE_SUFFIXES)} (optionally .gz).")


def read_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, row)`` from a JSONL, JSON-array, CSV or TSV file, plain or gzip (1-based row numbers)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file {path} does not exist.")
    fmt = _row_format(path)
    text = read_text(path)
    if fmt in ("jsonl", "json"):
        for number, row in _json_lines(text, path) if fmt == "jsonl" else _json_array(text, path):
            if not isinstance(row, dict):
                raise ValueError(f"{path}, row {number}: expected a JSON object, got {type(row).__name__}.")
            yield number, row
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
        try:
            for number, row in enumerate(reader, start=1):
                # DictReader fills the columns a short row lacks with None and puts a long row's surplus under None.
                short = [column for column, value in row.items() if value is None]
                if short:
                    raise ValueError(f"{path}, row {number} (line {reader.line_num}): has fewer fields than the "
                                     f"header; no value for {short}.")
                if None in row:
                    raise ValueError(f"{path}, row {number} (line {reader.line_num}): has more fields than the "
                                     f"header ({reader.fieldnames}).")
                yield number, row
        except csv.Error as error:
            raise ValueError(f"{path}, line {reader.line_num}: malformed {fmt.upper()} ({error}).") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for every non-blank line of a JSON Lines file, plain or gzip (1-based line
    numbers); unreadable bytes and invalid JSON are errors naming the file and line."""
    path = Path(path)
    yield from _json_lines(read_text(path), path)


def _json_lines(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: invalid JSON ({error.msg}).") from None


def _json_array(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {error.lineno} column {error.colno}: invalid JSON ({error.msg}).") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: a .json dataset must hold a list of objects, got {type(rows).__name__}.")
    yield from enumerate(rows, start=1)


def rows_to_dataset(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    task: TaskSpec,
    name: str,
    split: str,
    source: str,
    fields: Mapping[str, str] | None = None,
) -> TextDataset:
    """Build a dataset from ``(row_number, row)`` pairs, mapping columns through ``fields``."""
    unknown_keys("dataset_fields key(s)", fields or {}, DATASET_FIELD_KEYS)
    mapping = {"prompt": task.prompt_field, "reference": task.reference_field, "id": "id", "metadata": "metadata"}
    mapping.update(fields or {})
    examples = []
    for number, row in rows:
        for part in ("prompt", "reference"):
            if mapping[part] not in row:
                raise KeyError(f"{source}, row {number}: missing field {mapping[part]!r} ({part}); row has "
                               f"{sorted(row)}. Pass fields={{'{part}': '<column>'}} to map another column.")
        try:
            prompt = task.format_prompt(row[mapping["prompt"]])
        except TypeError as error:
            raise TypeError(f"{source}, row {number}: {error}") from None
        if not prompt.strip():
            raise ValueError(f"{source}, row {number}: the prompt (field {mapping['prompt']!r}) is empty.")
        references = _references(row[mapping["reference"]], f"{source}, row {number}: field {mapping['reference']!r}")
        example_id = row.get(mapping["id"])
        metadata = _metadata(row.get(mapping["metadata"]), f"{source}, row {number}: field {mapping['metadata']!r}")
        examples.append(Example(str(example_id) if example_id not in (None, "") else f"{split}-{number}",
                                prompt, references, metadata))
    if not examples:
        raise ValueError(f"Dataset {source} (split {split!r}) has no rows.")
    return TextDataset(examples, name=name, split=split, source=source)


def _references(value: Any, where: str) -> tuple[str, ...]:
    """A row's references: a non-empty string, or a list of them (``[]``: no reference, for reference-free
    scorers; the env refuses it with a scorer that needs references)."""
    references = [value] if isinstance(value, str) else value
    if not isinstance(references, (list, tuple)) or not all(isinstance(r, str) for r in references):
        raise TypeError(f"{where} must be a string or a list of strings, got {type(value).__name__}: {value!r:.80}.")
    if not all(r.strip() for r in references):
        raise ValueError(f"{where}: a reference is empty. Give non-empty text, or [] for an example without "
                         "references (reference-free scorers only).")
    return tuple(references)


def _metadata(value: Any, where: str) -> dict[str, Any]:
    """A row's metadata: a JSON object, or a string holding one; missing or empty → ``{}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: invalid JSON in the metadata string ({error.msg} at column {error.colno}).") \
                from None
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: metadata must be a JSON object, got {type(value).__name__}: {value!r:.80}.")
    return dict(value)


def load_line_pairs(source_path: str | os.PathLike, target_path: str | os.PathLike, name: str, split: str,
                    id_prefix: str | None = None) -> TextDataset:
    """Aligned parallel files (Multi30k format): line i of ``target_path`` translates line i of ``source_path``."""
    sources = _lines(read_text(Path(source_path)))
    targets = _lines(read_text(Path(target_path)))
    for lines in (sources, targets):
        if lines and lines[-1] == "":  # the final newline ends the last line; it starts no new one
            lines.pop()
    if len(sources) != len(targets):
        raise ValueError(f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
                         "aligned files must have the same number of lines.")
    for path, lines in ((source_path, sources), (target_path, targets)):
        blank = next((number for number, line in enumerate(lines, start=1) if not line.strip()), None)
        if blank is not None:
            raise ValueError(f"{path}, line {blank}: empty line; every line must hold a "
                             f"{'prompt' if path is source_path else 'reference'}.")
    prefix = id_prefix or f"{name}-{split}"
    examples = [Example(f"{prefix}-{i:06d}", source, (target,))
                for i, (source, target) in enumerate(zip(sources, targets))]
    if not examples:
        raise ValueError(f"{source_path} is empty.")
    return TextDataset(examples, name=name, split=split, source=f"{source_path} + {target_path}")


def _split_files(directory: Path, split: str) -> list[Path]:
    """Files in ``directory`` whose name starts with the split (or one of its aliases)."""
    for alias in SPLIT_ALIASES.get(split, (split,)):
        found = sorted(p for p in directory.iterdir() if p.is_file() and (p.name == alias or p.name.startswith(alias + ".")
                       or p.name.startswith(alias + "_")))
        if found:
            return found
    return []


def _load_directory(directory: Path, task: TaskSpec, split: str, fields: Mapping[str, str] | None,
                    languages: tuple[str, str] | None) -> TextDataset:
    if (directory / "dataset_dict.json").exists() or (directory / "dataset_info.json").exists():
        import datasets

        return from_hf_dataset(datasets.load_from_disk(str(directory)), task, split, fields, name=directory.name)
    files = _split_files(directory, split)
    if not files:
        listing = ", ".join(sorted(p.name for p in directory.iterdir())) or "nothing"
        raise FileNotFoundError(f"No files for split {split!r} in {directory} (it holds: {listing}).")
    row_files = [p for p in files if any(p.name.endswith(s) or p.name.endswith(s + ".gz") for s in ROW_FILE_SUFFIXES)]
    if len(row_files) == 1:
        return rows_to_dataset(read_rows(row_files[0]), task, directory.name, split, str(row_files[0]), fields)
    if languages is not None:
        stem = _common_stem(files)
        source, target = (directory / f"{stem}.{lang}" for lang in languages)
        source, target = (p if p.exists() else p.with_name(p.name + ".gz") for p in (source, target))
        if source.exists() and target.exists():
            return load_line_pairs(source, target, directory.name, split)
    raise ValueError(f"Cannot tell which files of {directory} form split {split!r}: found {[p.name for p in files]}. "
                     "Expected one <split>.jsonl/.csv(.gz) file, or aligned <split>.<src>/<split>.<tgt> files "
                     "(pass dataset_languages=(source, target) for translation).")


def _common_stem(files: list[Path]) -> str:
    stems = {p.name.split(".")[0] for p in files}
    if len(stems) != 1:
        raise ValueError(f"Ambiguous split files: {[p.name for p in files]}.")
    return stems.pop()


def from_hf_dataset(dataset: Any, task: TaskSpec, split: str, fields: Mapping[str, str] | None = None,
                    name: str | None = None) -> TextDataset:
    """Convert a ``datasets.Dataset`` (or pick ``split`` from a ``DatasetDict``)."""
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        chosen = next((alias for alias in SPLIT_ALIASES.get(split, (split,)) if alias in dataset), None)
        if chosen is None:
            raise KeyError(f"DatasetDict has no split {split!r}; it has {sorted(dataset)}.")
        dataset = dataset[chosen]
    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"Expected a datasets.Dataset or DatasetDict, got {type(dataset).__name__}.")
    label = name or (dataset.info.dataset_name if dataset.info and dataset.info.dataset_name else "hf-dataset")
    return rows_to_dataset(enumerate(dataset, start=1), task, label, split, f"datasets:{label}", fields)


def resolve_dataset(task: TaskSpec, spec: DatasetSpec | None, split: str, fields: Mapping[str, str] | None = None,
                    languages: tuple[str, str] | None = None, options: Mapping[str, Any] | None = None) -> TextDataset:
    """Resolve any supported dataset specification into a :class:`TextDataset` for ``split``.

    :param task: the task whose field names and prompt formatting apply.
    :param spec: ``None`` (the task's built-in default), a built-in name, a file path (JSONL/JSON/CSV/TSV, optionally
        gzip), a directory (``<split>.jsonl[.gz]``, aligned ``<split>.<src>[.gz]`` / ``<split>.<tgt>[.gz]`` files, or a
        ``datasets`` ``save_to_disk`` directory), ``"hf:<name>"`` for ``datasets.load_dataset``, a :class:`TextDataset`,
        or a ``datasets`` object.
    :param split: split to load; ``validation`` also finds ``val``/``valid``/``dev`` files, ``test`` finds ``test_*``.
    :param fields: column mapping (see module docstring).
    :param languages: ``(source, target)`` language suffixes for aligned line-pair files.
    :param options: difficulty knobs of a built-in v1 dataset (:func:`textenvs.data.builtin.load_builtin`); they
        apply to built-in datasets only.
    """
    from textenvs.data import booking_goals
    from textenvs.data.builtin import BUILTIN_DATASETS, load_builtin

    if spec is None:
        spec = task.default_dataset
    if options and not (isinstance(spec, str) and spec in BUILTIN_DATASETS):
        raise ValueError(f"dataset_options {dict(options)} apply to built-in datasets only, not to {spec!r}.")
    if isinstance(spec, TextDataset) or isinstance(spec, str) and spec in BUILTIN_DATASETS:
        ignored = [name for name, value in (("dataset_fields", fields), ("dataset_languages", languages)) if value]
        if ignored:
            raise ValueError(f"{' and '.join(ignored)} apply to dataset files and datasets objects; the dataset "
                             f"{getattr(spec, 'name', spec)!r} has fixed fields, so drop {', '.join(ignored)}.")
    if isinstance(spec, TextDataset):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text in BUILTIN_DATASETS:
            return load_builtin(text, split, **(options or {}))
        if text == booking_goals.NAME:
            return booking_goals.load_booking_goals(split)
        if text == booking_goals.NAME_V1:
            return booking_goals.load_booking_goals_v1(split)
        if text.startswith("hf:"):
            import datasets

            return from_hf_dataset(datasets.load_dataset(text[3:], split=split), task, split, fields, name=text[3:])
        path = Path(text).expanduser()
        if path.is_dir():
            return _load_directory(path, task, split, fields, languages)
        if path.is_file():
            return rows_to_dataset(read_rows(path), task, path.name.split(".")[0], split, str(path), fields)
        raise ValueError(f"Unknown dataset {text!r}: not a built-in dataset ({', '.join(BUILTIN_DATASETS)}), "
                         "not an existing file or directory, and not 'hf:<name>'.")
    if not hasattr(spec, "column_names"):  # not a datasets object either
        raise TypeError(f"dataset must be a built-in name, a file or directory path, 'hf:<name>', a TextDataset or a "
                        f"datasets object; got {type(spec).__name__}: {spec!r:.80}.")
    return from_hf_dataset(spec, task, split, fields)
