"""WordNet 3.0 for NLTK, built from Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages.

No PyPI package ships WordNet, and NLTK's downloader needs the network. Debian ships the WordNet 3.0 database
files in ``/usr/share/wordnet``; NLTK's reader additionally needs ``lexnames`` (the lexicographer file table
of ``lexnames(5WN)``), and it refuses to follow symlinks out of its data roots. :func:`load_wordnet` therefore
copies the database once into ``<cache>/nltk_data/corpora/wordnet``, writes ``lexnames`` there, adds
``<cache>/nltk_data`` to ``nltk.data.path`` and returns a reader. ``scripts/install_wordnet.sh`` installs the
Debian packages.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

SOURCE_ENV = "WNSEARCHDIR"
"""Environment variable naming a WordNet 3.0 dict directory (WordNet's own name for it)."""
DEFAULT_SOURCE = Path("/usr/share/wordnet")
CACHE_ENV = "TEXTENVS_CACHE"
"""Environment variable overriding the cache directory (default ``$XDG_CACHE_HOME/textenvs``)."""
INSTALL_HINT = (
    "Install it with `sudo apt-get install -y wordnet-base wordnet-sense-index` (or run "
    "scripts/install_wordnet.sh), or set WNSEARCHDIR to a WordNet 3.0 dict directory."
)

POS_SUFFIXES = ("noun", "verb", "adj", "adv")
REQUIRED_FILES = tuple(f"{kind}.{pos}" for kind in ("index", "data") for pos in POS_SUFFIXES) + tuple(
    f"{pos}.exc" for pos in POS_SUFFIXES
)
"""What NLTK's reader opens on start-up besides ``lexnames``."""
OPTIONAL_FILES = ("index.sense", "cntlist.rev")
"""Sense keys (``lemma_from_key``) and sense counts (``Lemma.count``), from ``wordnet-sense-index``."""

LEXICOGRAPHER_FILES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
"""WordNet 3.0's lexicographer files in file-number order (``lexnames(5WN)``); the data files refer to them by
number only, so the names are fixed here."""
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


class WordNetNotFoundError(FileNotFoundError):
    """WordNet's database files are not installed where textenvs looks for them."""


def lexnames_text() -> str:
    """The ``lexnames`` file: number, lexicographer file name and syntactic category, tab-separated."""
    return "".join(f"{number:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
                   for number, name in enumerate(LEXICOGRAPHER_FILES))


def source_dir() -> Path:
    """The WordNet dict directory to read: ``$WNSEARCHDIR`` or Debian's ``/usr/share/wordnet``."""
    return Path(os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE)


def cache_dir() -> Path:
    """textenvs' cache directory: ``$TEXTENVS_CACHE``, else ``$XDG_CACHE_HOME/textenvs`` (``~/.cache/textenvs``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "textenvs"


def build_wordnet_corpus(source: Path | None = None, nltk_data: Path | None = None) -> Path:
    """Build (once) the NLTK ``corpora/wordnet`` directory from a WordNet dict directory and return its path.

    The build is rebuilt when the source files change (a stamp of their sizes and times is kept) and is
    atomic: it is assembled in a temporary directory and renamed into place.

    :param source: WordNet dict directory (default :func:`source_dir`).
    :param nltk_data: NLTK data root to build under (default ``<cache>/nltk_data``).
    :raises WordNetNotFoundError: when the source lacks a required file.
    """
    source = Path(source) if source is not None else source_dir()
    target = (Path(nltk_data) if nltk_data is not None else cache_dir() / "nltk_data") / "corpora" / "wordnet"
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise WordNetNotFoundError(
            f"METEOR needs WordNet 3.0, but {source} lacks {', '.join(missing)}. {INSTALL_HINT}")
    files = list(REQUIRED_FILES) + [name for name in OPTIONAL_FILES if (source / name).is_file()]
    stamp = json.dumps({name: [(source / name).stat().st_size, (source / name).stat().st_mtime_ns]
                        for name in files}, sort_keys=True)
    if (target / "SOURCE_STAMP").is_file() and (target / "SOURCE_STAMP").read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    try:
        for name in files:
            shutil.copyfile(source / name, staging / name)
        (staging / "lexnames").write_text(lexnames_text())
        (staging / "SOURCE_STAMP").write_text(stamp)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same build first; its copy is as good as ours.
            if not (target / "SOURCE_STAMP").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_wordnet(source: str | Path | None = None, nltk_data: str | Path | None = None) -> Any:
    """An NLTK ``WordNetCorpusReader`` over the Debian WordNet (built on first use, one reader per process).

    Arguments as in :func:`build_wordnet_corpus`; after this call ``nltk.corpus.wordnet`` finds the same data.
    """
    source = Path(source) if source is not None else source_dir()
    nltk_data = Path(nltk_data) if nltk_data is not None else cache_dir() / "nltk_data"
    return _load_wordnet(source.resolve(), nltk_data.resolve())


@functools.lru_cache(maxsize=None)
def _load_wordnet(source: Path, nltk_data: Path) -> Any:
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class WordNet30Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            # NLTK maps sense keys to its "wordnet" corpus for Open Multilingual WordNet data, reading
            # index.sense twice (seconds). No OMW data is loaded here; the database is WordNet 3.0 itself.
            return None

    corpus = build_wordnet_corpus(source, nltk_data)
    if str(nltk_data) not in nltk.data.path:
        nltk.data.path.append(str(nltk_data))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return WordNet30Reader(str(corpus), None)
