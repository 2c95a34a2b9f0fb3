"""Subword tokenizers for the environments: the shipped one of the built-in datasets, a trainer for any text.

Every tokenizer made here is a byte-pair-encoding model (HF ``tokenizers``) wrapped in a
``transformers.PreTrainedTokenizerFast`` with the same conventions:

- special tokens :data:`SPECIAL_TOKENS` with fixed ids: ``<pad>`` 0, ``</s>`` 1, ``<s>`` 2, ``<unk>`` 3,
  ``<sep>`` 4 (pad is distinct from EOS, so a padded position is never mistaken for the end of a generation);
- Metaspace pre-tokenization and decoding, so ``decode(encode(text)) == text`` for normalized text
  (single spaces between tokens, newlines kept, NFKC characters seen in training);
- ``add_special_tokens=True`` appends ``</s>`` (T5-style ``"$A </s>"``), which a seq2seq encoder expects;
- ``save_pretrained`` / ``AutoTokenizer.from_pretrained`` round trip.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS: dict[str, str] = {"pad": "<pad>", "eos": "</s>", "bos": "<s>", "unk": "<unk>", "sep": "<sep>"}
"""Special token of each role; their ids are their positions here (pad 0, eos 1, bos 2, unk 3, sep 4)."""

BUILTIN_TOKENIZER_PATH = Path(__file__).parent / "builtin" / "tokenizer.json"
"""The shipped tokenizer of the built-in datasets; ``scripts/train_builtin_tokenizer.py`` regenerates it."""


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on ``texts`` (deterministic: the same texts give the same tokenizer).

    :param texts: training texts (e.g. the prompts and references of a train split).
    :param vocab_size: maximum vocabulary size, special tokens included (smaller when the texts allow fewer
        merges).
    :param min_frequency: a pair must occur this often to be merged.
    :returns: the tokenizer, with pad/eos/bos/unk/sep set.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}."
        )
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk"]))
    tokenizer.normalizer = normalizers.NFKC()
    # Newlines (dialogue turns) become tokens of their own; a word after one gets no "▁" prefix, which is what
    # makes decoding reproduce the text exactly.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
            pre_tokenizers.Metaspace(prepend_scheme="first"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    eos = SPECIAL_TOKENS["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, tokenizer.token_to_id(eos))]
    )
    return _wrap(tokenizer)


def load_builtin_tokenizer() -> PreTrainedTokenizerFast:
    """The tokenizer shared by all built-in datasets (``textenvs/data/builtin/tokenizer.json``).

    The file is read once per process; each call returns an independent wrapper, so one caller changing e.g.
    ``padding_side`` does not affect another.
    """
    return _wrap(_builtin_backend())


@lru_cache(maxsize=1)
def _builtin_backend() -> Tokenizer:
    if not BUILTIN_TOKENIZER_PATH.is_file():
        raise FileNotFoundError(
            f"Built-in tokenizer {BUILTIN_TOKENIZER_PATH} is missing; "
            "run `python scripts/train_builtin_tokenizer.py`."
        )
    return Tokenizer.from_file(str(BUILTIN_TOKENIZER_PATH))


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,  # copied by the wrapper
        pad_token=SPECIAL_TOKENS["pad"],
        eos_token=SPECIAL_TOKENS["eos"],
        bos_token=SPECIAL_TOKENS["bos"],
        unk_token=SPECIAL_TOKENS["unk"],
        sep_token=SPECIAL_TOKENS["sep"],
        # The default clean-up would glue punctuation to words ("dog ." → "dog.") and break the round trip.
        clean_up_tokenization_spaces=False,
    )
