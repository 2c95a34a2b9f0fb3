"""Chat-template prompts: render a prompt (or a whole conversation) with the tokenizer's own chat template.

Used by every env through ``chat_template=True`` (and ``system_prompt=...``) and by the multi-turn dialogue env to
append turns token-in, token-out. Only causal models read chat-formatted prompts, so seq2seq mode refuses them.

Token consistency: the template's text is tokenized in one piece, and everything appended later (a user turn) is
tokenized as a string that *starts with a special token* (the one that ends the agent's turn). Special tokens split
a tokenizer's input before pre-tokenization, so such a piece gets exactly the ids it gets inside the whole rendered
conversation. :class:`ChatFormat` checks this once, on a probe conversation, and refuses templates where it fails.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

_PLACEHOLDER = "\x00content\x00"  # stands for a message's content when splitting the template's text around it

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": text}``."""


class ChatFormat:
    """A tokenizer's chat template, resolved once: renders prompts and conversations and encodes them.

    :param tokenizer: a Hugging Face tokenizer whose ``chat_template`` is set.
    :param system_prompt: content of a leading system message (``None``: no system message).
    :raises ValueError: when the tokenizer has no chat template (the message says how to set one).
    """

    def __init__(self, tokenizer: Any, system_prompt: str | None = None) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"chat_template=True, but tokenizer {_name(tokenizer)!r} has no chat template. Use a chat model's tokenizer, set "
                "one (tokenizer.chat_template = '<jinja string>'), or pass chat_template=False for the plain layout.")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise TypeError(f"system_prompt must be a string or None, got {type(system_prompt).__name__}.")
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.unknown_characters = unknown_characters(tokenizer, system_prompt or "")
        """Characters of the system prompt the tokenizer cannot encode (they become its unknown token)."""
        if self.unknown_characters:
            # A warning, not an error: the env works (the model reads the unknown token there, as it would for the
            # same text tokenized by hand), but a system prompt the model cannot read is rarely what was meant.
            warnings.warn(f"system_prompt {system_prompt!r:.80} has characters tokenizer {_name(tokenizer)!r} does "
                          f"not know: {_listed(self.unknown_characters)}; each becomes "
                          f"{getattr(tokenizer, 'unk_token', None) or 'its unknown token'} in every prompt. Rewrite "
                          "them (the built-in tokenizer knows lowercase text only) or use a tokenizer that knows them.",
                          stacklevel=3)
        self._overhead = len(self.encode(self.messages("")))

    def messages(self, user_content: str) -> list[Message]:
        """The messages of a single-turn prompt: the system message (if any) and one user message."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt is not None else []
        return [*system, {"role": "user", "content": user_content}]

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The template's text of ``messages`` (ending with the assistant header when ``add_generation_prompt``)."""
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=add_generation_prompt,
                                                  tokenize=False)
        if not isinstance(text, str):
            raise TypeError(f"The chat template rendered {type(text).__name__}, expected a string.")
        return text

    def encode(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of the rendered ``messages``: the template text tokenized in one piece, no extra specials
        (templates write their own BOS)."""
        return self.tokenizer.encode(self.render(messages, add_generation_prompt), add_special_tokens=False)

    def user_content(self, prompt_ids: Sequence[int]) -> str:
        """The user message's text inside prompt ids made by :meth:`encode_prompt` (after any truncation)."""
        prefix, suffix = self.render(self.messages(_PLACEHOLDER)).split(_PLACEHOLDER)
        text = self.tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        if not (text.startswith(prefix) and text.endswith(suffix)):
            # The template's own text as it decodes: characters the tokenizer does not know (e.g. uppercase in the
            # system prompt with the lowercase built-in tokenizer) come back as its unknown token.
            prefix, suffix = (self.tokenizer.decode(self.tokenizer.encode(part, add_special_tokens=False),
                                                    skip_special_tokens=False) for part in (prefix, suffix))
        if not (text.startswith(prefix) and text.endswith(suffix)):
            unknown = unknown_characters(self.tokenizer, self.render(self.messages("")))
            raise ValueError(f"Prompt {text!r:.200} does not decode to the chat template around a user message"
                             + (f"; the template's text has characters the tokenizer does not know: "
                                f"{_listed(unknown)}." if unknown else "."))
        return text[len(prefix):len(text) - len(suffix)]

    def content_budget(self, max_prompt_length: int) -> int:
        """How many content tokens fit in a prompt of ``max_prompt_length`` ids around the template's own tokens."""
        if self._overhead >= max_prompt_length:
            raise ValueError(f"The chat template alone takes {self._overhead} tokens; max_prompt_length="
                             f"{max_prompt_length} leaves no room for the prompt. Raise max_prompt_length.")
        return max_prompt_length - self._overhead

    def encode_prompt(self, content_ids: list[int], max_prompt_length: int, truncation: str) -> list[int]:
        """Ids of the single-turn prompt whose user message is ``content_ids`` (decoded), at most
        ``max_prompt_length`` ids.

        The content already fits :meth:`content_budget`; when the template's tokens around it merge differently
        from the content alone and the prompt still overflows, more content is cut on the ``truncation`` side
        (``"error"`` raises instead).
        """
        while True:
            ids = self.encode(self.messages(self.tokenizer.decode(content_ids, skip_special_tokens=False)))
            excess = len(ids) - max_prompt_length
            if excess <= 0:
                return ids
            if truncation == "error":
                raise ValueError(f"The chat-rendered prompt has {len(ids)} tokens; max_prompt_length="
                                 f"{max_prompt_length}. Raise max_prompt_length or set prompt_truncation.")
            content_ids = content_ids[excess:] if truncation == "left" else content_ids[:-excess]


def unknown_characters(tokenizer: Any, text: str) -> list[str]:
    """The distinct characters of ``text`` (in order of appearance) that ``tokenizer`` cannot encode: each alone
    encodes to its unknown token, or does not decode back to itself."""
    unk = getattr(tokenizer, "unk_token_id", None)
    found: list[str] = []
    for character in dict.fromkeys(text):
        if character.isspace():
            continue
        ids = tokenizer.encode(character, add_special_tokens=False)
        decoded = tokenizer.decode(ids, skip_special_tokens=True).strip()
        if (unk is not None and unk in ids) or decoded != character:
            found.append(character)
    return found


def _listed(characters: Sequence[str]) -> str:
    return ", ".join(repr(character) for character in characters)


def _name(tokenizer: Any) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
