"""Built-in splits are kept on disk between processes (issue 28 item 7: generating a 20,000-example train split cost
every new process about a second before its first reset, 12-17 s for v2 dialogue), exactly as generated."""

from __future__ import annotations

import pytest

from textenvs.data import builtin


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(builtin.CACHE_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})  # as in a new process
    return tmp_path


def refuse_to_generate(*args, **kwargs):
    raise AssertionError("the split was generated instead of read from the cache")


def test_a_split_is_read_back_from_disk_exactly_as_generated(cache_dir, monkeypatch):
    generated = builtin.load_builtin("synthetic-translation-v1", "test", synonym_rate=0.3)
    files = list(cache_dir.glob("synthetic-translation-v1-test-*.pkl"))
    assert len(files) == 1
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})
    monkeypatch.setattr(builtin, "_generate_split", refuse_to_generate)
    read = builtin.load_builtin("synthetic-translation-v1", "test", synonym_rate=0.3)
    assert read.content_hash == generated.content_hash and list(read) == list(generated)
    assert read.name == generated.name and read.split == generated.split


def test_knobs_code_and_off_give_other_entries_or_none(cache_dir, monkeypatch):
    builtin.load_builtin("synthetic-translation-v1", "test")
    builtin.load_builtin("synthetic-translation-v1", "test", synonym_rate=0.3)
    assert len(list(cache_dir.glob("*.pkl"))) == 2, "other knobs, another entry"
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})
    monkeypatch.setattr(builtin, "_generator_source_digest", lambda: "changed generator code")
    builtin.load_builtin("synthetic-translation-v1", "test")
    assert len(list(cache_dir.glob("*.pkl"))) == 3, "changed generator code must not read the old entry"
    monkeypatch.setenv(builtin.CACHE_DIR_VARIABLE, "off")
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})
    builtin.load_builtin("synthetic-summarization-v1", "test")
    assert len(list(cache_dir.glob("*.pkl"))) == 3


def test_a_damaged_entry_is_regenerated_and_rewritten(cache_dir, monkeypatch):
    generated = builtin.load_builtin("synthetic-dialogue", "test")
    (entry,) = cache_dir.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})
    again = builtin.load_builtin("synthetic-dialogue", "test")
    assert again.content_hash == generated.content_hash
    monkeypatch.setattr(builtin, "_IN_PROCESS", {})
    monkeypatch.setattr(builtin, "_generate_split", refuse_to_generate)
    assert builtin.load_builtin("synthetic-dialogue", "test").content_hash == generated.content_hash
