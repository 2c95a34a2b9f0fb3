"""Built-in generated datasets and the shipped tokenizer: determinism, splits, metadata, round trips."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from textenvs.data.builtin import (
    BUILTIN_DATASETS,
    SPLIT_SIZES,
    V0_DATASETS,
    _generate_split,
    load_builtin,
    translation_lexicon,
)
from textenvs.data.tokenizer import SPECIAL_TOKENS, load_builtin_tokenizer, train_tokenizer
from textenvs.scorers.text import contains_span, normalize_tokens

REPO_ROOT = Path(__file__).resolve().parents[2]

# Pinned: a change here means the generated data changed, and with it every result computed on it. If that is
# intended, update the hashes, regenerate the tokenizer (scripts/train_builtin_tokenizer.py) and say so.
TEST_SPLIT_HASHES = {
    "synthetic-translation": "64f9494e19b875fb50a3de8d4cb0de43c1c40495d2fcf7963a7c2ed6cf47309b",
    "synthetic-summarization": "800da54ada74d199d1325799341ec677d465254ece6f28cd7ce71fc6b09970d3",
    "synthetic-dialogue": "7d6b85604b5283bd30abb77e755b4fe6e8634d6447bc36e9272de15e5036d015",
}
SPLITS = tuple(SPLIT_SIZES)


def _texts(dataset):
    for example in dataset:
        yield example.prompt
        yield from example.references


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_sizes_names_and_ids(name):
    for split in SPLITS:
        dataset = load_builtin(name, split)
        assert (dataset.name, dataset.split, len(dataset)) == (name, split, SPLIT_SIZES[split])
        assert dataset[0].id == f"{split}-00000"


@pytest.mark.parametrize("name", V0_DATASETS)  # v1: every split pinned in test_builtin_v1.py
def test_generation_is_deterministic_and_pinned(name):
    cached = load_builtin(name, "test")
    assert load_builtin(name, "test") is cached  # in-process cache
    fresh = _generate_split.__wrapped__(name, "test")  # generated again, bypassing the cache
    assert fresh.examples == cached.examples
    assert fresh.content_hash == cached.content_hash == TEST_SPLIT_HASHES[name]


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_splits_are_disjoint_and_prompts_unique(name):
    prompts = {split: [example.prompt for example in load_builtin(name, split)] for split in SPLITS}
    for split, texts in prompts.items():
        assert len(set(texts)) == len(texts), f"duplicate prompts in {split}"
    assert not set(prompts["test"]) & set(prompts["train"])
    assert not set(prompts["validation"]) & set(prompts["train"])
    assert not set(prompts["test"]) & set(prompts["validation"])


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_text_is_normalized(name):
    for text in _texts(load_builtin(name, "test")):
        assert text == text.lower()
        for line in text.split("\n"):
            assert line == " ".join(line.split()), repr(line)  # single spaces, no leading/trailing space
        assert text.endswith((".", "?", "!"))


def test_translation_examples():
    for example in load_builtin("synthetic-translation", "test"):
        assert example.metadata == {}
        assert 1 <= len(example.references) <= 2  # two when a time adverbial may go first or last
        assert len(set(example.references)) == len(example.references)


def test_summarization_metadata_and_length():
    for example in load_builtin("synthetic-summarization", "test"):
        facts = example.metadata["key_facts"]
        assert len(facts) == 5 and all(isinstance(fact, str) and fact for fact in facts)
        (summary,) = example.references
        assert all(contains_span(summary.split(), fact.split()) for fact in facts)
        assert len(example.prompt.split()) <= 120
        assert 5 <= example.prompt.count(" .") <= 9  # sentences
        assert facts[0] in example.prompt.split(" . ")[0].split()  # the lead sentence names the main person


def test_dialogue_metadata_and_turns():
    acts = Counter()
    for example in load_builtin("synthetic-dialogue", "test"):
        turns = example.prompt.split("\n")
        assert 1 <= len(turns) <= 3 and turns[-1].startswith("user: ")
        assert all(turn.startswith(("user: ", "system: ")) for turn in turns)
        roles = [turn.split(":")[0] for turn in turns]
        assert all(a != b for a, b in zip(roles, roles[1:])), "turns alternate"
        meta = example.metadata
        assert meta["intent"] in ("book_restaurant", "book_taxi", "book_hotel")
        assert meta["act"] in ("confirm", "request") and meta["slots"]
        assert len(example.references) == (2 if meta["act"] == "confirm" else 1)
        for reference in example.references:  # every reference mentions every slot
            assert all(
                contains_span(normalize_tokens(reference), normalize_tokens(slot)) for slot in meta["slots"]
            )
        acts[meta["act"]] += 1
    assert min(acts.values()) > 0.3 * sum(acts.values())


def test_unknown_name_or_split_lists_what_exists():
    with pytest.raises(
        ValueError, match="synthetic-translation, synthetic-summarization, synthetic-dialogue"
    ):
        load_builtin("synthetic-poetry", "test")
    with pytest.raises(ValueError, match="'dev'.*train, validation, test"):
        load_builtin("synthetic-dialogue", "dev")


def test_data_is_not_trivial():
    """Copying or glossing the prompt does not solve the tasks (printed with ``pytest -s``)."""
    # Translation: a word-by-word lexicon lookup rarely puts the right word in the right place.
    lexicon = translation_lexicon()
    same_position = total = 0
    for example in load_builtin("synthetic-translation", "test"):
        gloss = " ".join(lexicon.get(word, word) for word in example.prompt.split()).split()
        reference = example.references[0].split()
        same_position += sum(word == gloss[i] for i, word in enumerate(reference) if i < len(gloss))
        total += len(reference)
    gloss_match = same_position / total
    # Summarization: the lead sentence rarely states every key fact.
    summaries = load_builtin("synthetic-summarization", "test")
    lead_has_all = sum(
        all(
            contains_span(example.prompt.split(" . ")[0].split(), fact.split())
            for fact in example.metadata["key_facts"]
        )
        for example in summaries
    ) / len(summaries)
    # Dialogue: the slot values of a confirmation rarely all appear verbatim in the context (numbers and times
    # are said in other words, values get corrected).
    confirmations = [e for e in load_builtin("synthetic-dialogue", "test") if e.metadata["act"] == "confirm"]
    verbatim = sum(
        all(contains_span(normalize_tokens(e.prompt), normalize_tokens(slot)) for slot in e.metadata["slots"])
        for e in confirmations
    ) / len(confirmations)
    print(
        f"\ntranslation gloss-in-place {gloss_match:.3f}, "
        f"summarization lead-has-all-facts {lead_has_all:.3f}, dialogue slots-verbatim {verbatim:.3f}"
    )
    assert gloss_match < 0.5
    assert lead_has_all < 0.5
    assert verbatim < 0.5


def test_translation_word_choice_depends_on_context():
    """One source verb form ("consume", past) is "ate" or "drank" depending on its object."""
    consumed = {word for word, gloss in translation_lexicon().items() if gloss == "ate"}
    english = set()
    for example in load_builtin("synthetic-translation", "train"):
        if consumed & set(example.prompt.split()) and " and " not in example.references[0]:
            english |= set(example.references[0].split()) & {"ate", "drank"}
    assert english == {"ate", "drank"}


# --------------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------------


def test_special_token_ids():
    tokenizer = load_builtin_tokenizer()
    assert [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS.values()] == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id) == (0, 1, 2)
    assert (tokenizer.unk_token_id, tokenizer.sep_token_id) == (3, 4)
    assert len(tokenizer) <= 2048


def test_builtin_round_trip_one_token_per_word():
    tokenizer = load_builtin_tokenizer()
    for name in BUILTIN_DATASETS:
        texts = list(_texts(load_builtin(name, "test"))) + list(_texts(load_builtin(name, "validation")))
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        for text, ids in zip(texts, encoded):
            assert tokenizer.unk_token_id not in ids, text
            assert tokenizer.decode(ids) == text
            assert len(ids) == len(text.split()) + text.count("\n"), f"a word split into pieces: {text!r}"


def test_eos_appended_with_special_tokens():
    tokenizer = load_builtin_tokenizer()
    text = "the dog sees a cat ."
    with_eos = tokenizer(text)["input_ids"]
    without = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert with_eos == without + [tokenizer.eos_token_id]
    assert tokenizer.decode(with_eos, skip_special_tokens=True) == text
    batch = tokenizer([text, "a cat ."], padding=True)["input_ids"]
    assert batch[1][-1] == tokenizer.pad_token_id != tokenizer.eos_token_id


def test_load_returns_independent_tokenizers():
    first, second = load_builtin_tokenizer(), load_builtin_tokenizer()
    first.padding_side = "left"
    assert second.padding_side == "right"


def test_save_pretrained_round_trip(tmp_path):
    tokenizer = load_builtin_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "user: i need a taxi to the zoo .\nsystem: what time would you like to leave ?\nuser: at 7 pm ."
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert reloaded.decode(reloaded(text)["input_ids"], skip_special_tokens=True) == text
    assert (reloaded.pad_token_id, reloaded.eos_token_id, reloaded.sep_token_id, len(reloaded)) == (
        0,
        1,
        4,
        len(tokenizer),
    )


def test_train_tokenizer_on_other_text():
    texts = ["Ein Hund läuft über die Wiese.", "A dog runs across the meadow.", "Zwei Hunde spielen."] * 20
    tokenizer = train_tokenizer(texts, vocab_size=300)
    assert len(tokenizer) <= 300
    assert [tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.sep_token_id] == [0, 1, 4]
    for text in texts[:3]:
        ids = tokenizer(text)["input_ids"]
        assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.unk_token_id in tokenizer("Ω")["input_ids"]  # unseen character
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(texts, vocab_size=5)


def test_shipped_tokenizer_is_what_the_script_produces():
    """Regenerating tokenizer.json reproduces the shipped bytes (so the script is the file's true source)."""
    path = REPO_ROOT / "scripts" / "train_builtin_tokenizer.py"
    spec = importlib.util.spec_from_file_location("train_builtin_tokenizer", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.build() == (REPO_ROOT / "textenvs" / "data" / "builtin" / "tokenizer.json").read_text(
        "utf-8"
    )
