"""Small in-test fixtures: a word-level tokenizer and a toy dataset, so env tests do not depend on built-in data."""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast

from textenvs.data.dataset import Example, TextDataset

TOY_PAIRS = [
    ("ein hund sieht eine katze", "a dog sees a cat"),
    ("die katze schläft", "the cat sleeps"),
    ("ein mann liest ein buch", "a man reads a book"),
    ("zwei kinder spielen im park", "two children play in the park"),
    ("eine frau trinkt kaffee", "a woman drinks coffee"),
]


def word_tokenizer(texts=None, eos: bool = True, pad: bool = True, sep: bool = True) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = texts or [t for pair in TOY_PAIRS for t in pair]
    specials = ["<pad>", "</s>", "<unk>", "<sep>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    kwargs = {"unk_token": "<unk>"}
    if pad:
        kwargs["pad_token"] = "<pad>"
    if eos:
        kwargs["eos_token"] = "</s>"
    if sep:
        kwargs["sep_token"] = "<sep>"
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **kwargs)


def toy_dataset(split: str = "train") -> TextDataset:
    return TextDataset([Example(f"toy-{i}", src, (tgt,)) for i, (src, tgt) in enumerate(TOY_PAIRS)], "toy", split)


def toy_kwargs(**overrides):
    kwargs = dict(tokenizer=word_tokenizer(), dataset=toy_dataset(), max_prompt_length=10, max_new_tokens=6)
    kwargs.update(overrides)
    return kwargs
