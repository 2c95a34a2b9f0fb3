"""Every bad input of issue 13 (and its siblings) is refused with an error naming the argument, file or row."""

from __future__ import annotations

import gzip
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction

import textenvs
from textenvs.data.loaders import resolve_dataset
from textenvs.tasks.summarization import SummarizationEnv
from textenvs.tasks.translation import TranslationEnv, TranslationVectorEnv
from tests.helpers import toy_kwargs

SUMMARIZATION = SummarizationEnv.task_spec


# Env arguments ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, error, message", [
    ("max_new_tokens", 0, ValueError, r"max_new_tokens must be >= 1, got 0"),
    ("max_new_tokens", -3, ValueError, r"max_new_tokens must be >= 1, got -3"),
    ("max_new_tokens", 2.7, TypeError, r"max_new_tokens must be a positive integer, got 2.7"),
    ("max_new_tokens", 2.0, TypeError, r"max_new_tokens must be a positive integer, got 2.0"),
    ("max_new_tokens", "8", TypeError, r"max_new_tokens must be a positive integer, got '8'"),
    ("max_new_tokens", True, TypeError, r"max_new_tokens must be a positive integer, got True"),
    ("max_prompt_length", 0, ValueError, r"max_prompt_length must be >= 1, got 0"),
    ("max_prompt_length", 2.7, TypeError, r"max_prompt_length must be a positive integer, got 2.7"),
    ("split", 3, TypeError, r"split must be a non-empty string"),
    ("split", "", TypeError, r"split must be a non-empty string"),
    ("dataset_fields", ["prompt"], TypeError, r"dataset_fields must map"),
    ("dataset_languages", "de", TypeError, r"dataset_languages must be a \(source, target\) pair"),
    ("dataset_languages", ("de", "en", "fr"), TypeError, r"dataset_languages must be a \(source, target\) pair"),
    ("scorer_kwargs", ["n"], TypeError, r"scorer_kwargs must be a dict"),
])
def test_bad_env_arguments_name_the_argument(name, value, error, message):
    with pytest.raises(error, match=message):
        TranslationEnv(**toy_kwargs(**{name: value}))


def test_vector_env_num_envs_must_be_a_positive_integer():
    with pytest.raises(TypeError, match=r"num_envs must be a positive integer, got 2.5"):
        TranslationVectorEnv(num_envs=2.5, **toy_kwargs())
    with pytest.raises(ValueError, match=r"num_envs must be >= 1, got 0"):
        TranslationVectorEnv(num_envs=0, **toy_kwargs())


@pytest.mark.parametrize("make", [gym.make, lambda env_id, **kw: gym.make_vec(env_id, num_envs=2, **kw)])
def test_misspelled_env_argument_is_refused_with_a_suggestion(make):
    with pytest.raises(TypeError, match=r"Unknown env argument\(s\): 'datset' \(did you mean 'dataset'\?\)"):
        make("textenvs/Translation-v0", datset="multi30k")


@pytest.mark.parametrize("loader", [textenvs.load_env_dataset, textenvs.load_env_scorer])
def test_load_env_dataset_and_scorer_refuse_unknown_kwargs(loader):
    with pytest.raises(TypeError, match=r"'datset' \(did you mean 'dataset'\?\)"):
        loader("textenvs/Dialogue-v0", datset="x")
    with pytest.raises(TypeError, match=r"'scorer_kwarg' \(did you mean 'scorer_kwargs'\?\)"):
        loader("textenvs/Dialogue-v0", scorer_kwarg={})


def test_load_env_dataset_accepts_the_env_class_own_arguments():
    assert len(textenvs.load_env_dataset("textenvs/MultiTurnDialogue-v0", max_turns=3)) > 0
    with pytest.raises(TypeError, match=r"'max_turn' \(did you mean 'max_turns'\?\)"):
        textenvs.load_env_dataset("textenvs/MultiTurnDialogue-v0", max_turn=3)


def test_missing_tokenizer_directory_says_no_such_directory(tmp_path):
    for name in ("/nonexistent/dir", str(tmp_path / "missing"), "./not-here", "a/b/c"):
        with pytest.raises(FileNotFoundError, match=rf"tokenizer={name!r}: no such directory"):
            TranslationEnv(**toy_kwargs(tokenizer=name))
    file = tmp_path / "tokenizer.json"
    file.write_text("{}")
    with pytest.raises(FileNotFoundError, match="it is a file"):
        TranslationEnv(**toy_kwargs(tokenizer=str(file)))
    with pytest.raises(OSError, match=rf"tokenizer={str(tmp_path)!r}: cannot load a tokenizer from this directory"):
        TranslationEnv(**toy_kwargs(tokenizer=str(tmp_path)))


# Reset options and actions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, error, message", [
    ([("example_index", 1)], TypeError, r"reset\(options=...\) must be a dict"),
    ("example_index=1", TypeError, r"reset\(options=...\) must be a dict"),
    ({"example_index": "abc"}, TypeError, r"options\['example_index'\] must be an integer in 0..\d+, got 'abc'"),
    ({"example_index": [1, 2]}, TypeError, r"options\['example_index'\] must be an integer .*got \[1, 2\]"),
    ({"example_index": 1.7}, TypeError, r"options\['example_index'\] must be an integer .*got 1.7"),
    ({"example_index": 1.0}, TypeError, r"options\['example_index'\] must be an integer .*got 1.0"),
    ({"example_index": True}, TypeError, r"options\['example_index'\] must be an integer .*got True"),
    ({"example_index": -1}, IndexError, r"options\['example_index'\]=-1 is out of range"),
    ({"example_index": 10**30}, IndexError, r"is out of range"),
    ({"exampel_index": 1}, TypeError, r"Unknown reset option\(s\): 'exampel_index' \(did you mean 'example_index'\?\)"),
])
def test_bad_reset_options_are_refused(options, error, message):
    env = TranslationEnv(**toy_kwargs())
    with pytest.raises(error, match=message):
        env.reset(seed=0, options=options)


def test_numpy_integer_example_index_is_accepted():
    env = TranslationEnv(**toy_kwargs())
    assert env.reset(options={"example_index": np.int64(1)})[1]["example_index"] == 1


@pytest.mark.parametrize("options, error, message", [
    ({"example_index": [0, 1, 2]}, ValueError, r"has 3 entries for 2 sub-environments"),
    ({"example_index": [0]}, ValueError, r"has 1 entries for 2 sub-environments"),
    ({"example_index": [0.0, 1.5]}, TypeError, r"options\['example_index'\]\[0\] must be an integer .*got 0.0"),
    ({"example_index": np.array([0.5, 1.0])}, TypeError, r"options\['example_index'\]\[0\] must be an integer"),
    ({"example_index": "01"}, TypeError, r"must be an integer or a sequence of 2 integers"),
    ({"example_index": [0, 99]}, IndexError, r"options\['example_index'\]\[1\]=99 is out of range"),
    ({"example_index": [[0, 1]]}, ValueError, r"has 1 entries for 2"),
    ({"exampel_index": 0}, TypeError, r"did you mean 'example_index'"),
    ([0, 1], TypeError, r"must be a dict"),
])
def test_bad_vector_reset_options_are_refused(options, error, message):
    env = TranslationVectorEnv(num_envs=2, **toy_kwargs())
    with pytest.raises(error, match=message):
        env.reset(seed=0, options=options)


def test_vector_example_index_forms_that_work():
    env = TranslationVectorEnv(num_envs=2, **toy_kwargs())
    assert list(env.reset(options={"example_index": 1})[1]["example_index"]) == [1, 1]
    assert list(env.reset(options={"example_index": np.array([1, 0])})[1]["example_index"]) == [1, 0]


@pytest.mark.parametrize("action", [[[5]], np.array([[5]]), [5, 6], np.zeros((0,), dtype=np.int64), np.array([5]),
                                    [5]])
def test_single_env_refuses_anything_but_one_token_id(action):
    env = TranslationEnv(**toy_kwargs())
    env.reset(seed=0)
    assert not env.action_space.contains(np.asarray(action)), "refused exactly where the space says 'not in it'"
    with pytest.raises(InvalidAction, match=r"Expected one token id \(a scalar\), got shape"):
        env.step(action)


def test_one_element_array_action_is_refused_with_a_hint_and_numpy_scalars_are_accepted():
    env = TranslationEnv(**toy_kwargs())
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"got shape \(1,\): \[5\]\. Pass action\[0\] \(or action\.item\(\)\)"):
        env.step(np.array([5]))
    for action in (np.int64(5), np.array(5), 5):
        assert env.action_space.contains(action)
        env.step(action)


@pytest.mark.parametrize("make, action", [
    (lambda: TranslationEnv(**toy_kwargs()), "a cat"),
    (lambda: TranslationEnv(**toy_kwargs()), np.array("a cat")),
    (lambda: gym.make_vec("textenvs/Translation-v0", num_envs=2, **toy_kwargs()), ["a cat", "a dog"]),
])
def test_a_string_action_on_a_token_level_env_points_to_text_action_wrapper(make, action):
    env = make()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"to act with whole strings, wrap the env: "
                                            r"textenvs\.TextActionWrapper\(env\)"):
        env.step(action)


# Dataset files ---------------------------------------------------------------------------------------------------

def _jsonl(tmp_path, rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _load(path):
    return resolve_dataset(SUMMARIZATION, path, "train")


def test_non_utf8_files_name_the_file_and_line(tmp_path):
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"document": "ok", "summary": "ok"}\n{"document": "café", "summary": "x"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.jsonl, line 2: not UTF-8 text \(byte 0xe9"):
        _load(latin1)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("document,summary\nx,y\n", encoding="utf-16")
    with pytest.raises(ValueError, match=r"utf16.csv: is UTF-16 text"):
        _load(utf16)
    gz = tmp_path / "latin1.jsonl.gz"
    gz.write_bytes(gzip.compress(latin1.read_bytes()))
    with pytest.raises(ValueError, match=r"latin1.jsonl.gz, line 2: not UTF-8"):
        _load(gz)


def test_broken_gzip_names_the_file(tmp_path):
    whole = gzip.compress(b'{"document": "a b", "summary": "a"}\n' * 50)
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match=r"truncated.jsonl.gz: not a complete gzip file"):
        _load(truncated)
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text('{"document": "a", "summary": "b"}\n')
    with pytest.raises(ValueError, match=r"fake.jsonl.gz: not a complete gzip file"):
        _load(fake)


@pytest.mark.parametrize("reference, error, message", [
    (3, TypeError, r"row 2: field 'summary' must be a string or a list of strings, got int"),
    (None, TypeError, r"row 2: field 'summary' must be a string or a list of strings, got NoneType"),
    (float("nan"), TypeError, r"row 2: field 'summary' must be a string or a list of strings, got float"),
    ({"a": "b"}, TypeError, r"row 2: field 'summary' must be a string or a list of strings, got dict"),
    (["ok", 4], TypeError, r"row 2: field 'summary' must be a string or a list of strings"),
    ("", ValueError, r"row 2: field 'summary': a reference is empty"),
    ([" ", "x"], ValueError, r"row 2: field 'summary': a reference is empty"),
])
def test_bad_references_name_file_and_row(tmp_path, reference, error, message):
    path = _jsonl(tmp_path, [{"document": "a", "summary": "b"}, {"document": "c", "summary": reference}])
    with pytest.raises(error, match=rf"data.jsonl, {message}"):
        _load(path)


@pytest.mark.parametrize("prompt", ["", "   ", [], ["", " "]])
def test_empty_prompt_names_file_and_row(tmp_path, prompt):
    path = _jsonl(tmp_path, [{"document": "a", "summary": "b"}, {"document": prompt, "summary": "x"}])
    with pytest.raises(ValueError, match=r"data.jsonl, row 2: the prompt \(field 'document'\) is empty"):
        _load(path)


@pytest.mark.parametrize("metadata, error, message", [
    ("{not json", ValueError, r"row 1: field 'metadata': invalid JSON in the metadata string"),
    (["a", "b"], TypeError, r"row 1: field 'metadata': metadata must be a JSON object, got list"),
    ('["a"]', TypeError, r"row 1: field 'metadata': metadata must be a JSON object, got list"),
    (7, TypeError, r"metadata must be a JSON object, got int"),
])
def test_bad_metadata_names_file_and_row(tmp_path, metadata, error, message):
    path = _jsonl(tmp_path, [{"document": "a", "summary": "b", "metadata": metadata}])
    with pytest.raises(error, match=message):
        _load(path)


@pytest.mark.parametrize("name, text, message", [
    ("short.csv", "document,summary\na,b\nc\n",
     r"short.csv, row 2 \(line 3\): has fewer fields than the header; no value for \['summary'\]"),
    ("long.tsv", "document\tsummary\na\tb\tc\n", r"long.tsv, row 1 \(line 2\): has more fields than the header"),
    ("broken.json", '[{"document": "a",\n "summary": }]', r"broken.json, line 2 column \d+: invalid JSON"),
    ("strings.json", '["a", "b"]', r"strings.json, row 1: expected a JSON object, got str"),
])
def test_malformed_row_files_name_the_file_and_row(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        _load(path)


def test_line_pair_files_refuse_blank_lines_and_bad_bytes(tmp_path):
    (tmp_path / "train.de").write_text("ein hund\n\neine katze\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("a dog\nx\na cat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.de, line 2: empty line; every line must hold a prompt"):
        resolve_dataset(TranslationEnv.task_spec, tmp_path, "train", languages=("de", "en"))
    (tmp_path / "train.de").write_bytes("ein hund\nkäse\n".encode("latin-1"))
    (tmp_path / "train.en").write_text("a dog\ncheese\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.de, line 2: not UTF-8"):
        resolve_dataset(TranslationEnv.task_spec, tmp_path, "train", languages=("de", "en"))


def test_empty_reference_list_needs_a_reference_free_scorer(tmp_path):
    path = _jsonl(tmp_path, [{"id": "e1", "document": "a b c", "summary": []}])
    assert _load(path)[0].references == ()
    with pytest.raises(ValueError, match=r"Example 'e1' of .*data.jsonl has no reference, but scorer 'rouge"):
        SummarizationEnv(**toy_kwargs(dataset=str(path), scorer="rouge"))
    env = SummarizationEnv(**toy_kwargs(dataset=str(path), scorer="distinct_n"))
    env.reset(seed=0)


# Siblings: seeds, scorer kwargs, masks, fields on fixed datasets, dataset types ----------------------------------

@pytest.mark.parametrize("seed, error, message", [
    (1.5, TypeError, r"seed must be an integer or a sequence of 2 integers"),
    ("ab", TypeError, r"seed must be an integer or a sequence of 2 integers"),
    (True, TypeError, r"seed must be an integer or a sequence"),
    (-1, TypeError, r"seed must be a non-negative integer or None, got -1"),
    ([1], ValueError, r"seed has 1 entries for 2 sub-environments"),
    ([1.5, 2], TypeError, r"seed\[0\] must be a non-negative integer or None, got 1.5"),
    ([0, True], TypeError, r"seed\[1\] must be a non-negative integer or None, got True"),
])
def test_bad_vector_seeds_name_the_seed(seed, error, message):
    env = TranslationVectorEnv(num_envs=2, **toy_kwargs())
    with pytest.raises(error, match=message):
        env.reset(seed=seed)


def test_vector_seed_forms_that_work():
    env = TranslationVectorEnv(num_envs=2, **toy_kwargs())
    first = env.reset(seed=np.int64(3))[1]["example_index"]
    assert list(env.reset(seed=[3, 4])[1]["example_index"]) == list(first)
    env.reset(seed=[None, 5])


def test_unknown_scorer_kwargs_name_the_scorer_and_suggest():
    with pytest.raises(TypeError, match=r"Unknown scorer_kwargs for scorer 'chrf': 'char_ordr' "
                                        r"\(did you mean 'char_order'\?\)"):
        TranslationEnv(**toy_kwargs(scorer="chrf", scorer_kwargs={"char_ordr": 4}))


def test_float_token_ids_in_an_action_mask_are_refused():
    with pytest.raises(TypeError, match=r"action_mask token ids must be integers, got dtype float64"):
        TranslationEnv(**toy_kwargs(action_mask=[1.5, 2.0]))


def test_fields_and_languages_are_refused_where_they_would_be_ignored():
    with pytest.raises(ValueError, match=r"dataset_fields apply to dataset files .* drop dataset_fields"):
        gym.make("textenvs/Translation-v0", dataset_fields={"prompt": "x"})
    with pytest.raises(ValueError, match=r"dataset_languages apply to dataset files"):
        TranslationEnv(**toy_kwargs(dataset_languages=("de", "en")))
    with pytest.raises(TypeError, match=r"Unknown dataset_fields key\(s\): 'promt' \(did you mean 'prompt'\?\)"):
        gym.make("textenvs/Translation-v0", dataset_fields={"promt": "x"})


def test_dataset_of_the_wrong_type_names_the_argument():
    with pytest.raises(TypeError, match=r"dataset must be a built-in name, a file or directory path, .* got int: 3"):
        TranslationEnv(**toy_kwargs(dataset=3))
