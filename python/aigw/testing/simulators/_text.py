"""Deterministic reply text, token counts and embeddings shared by every simulator.

The rule every simulator follows (so tests can compute the expected values themselves):

* the reply is the text of the **last user message** (``reply_for``), or a fixed ``reply`` knob;
* a reply is streamed as exactly ``chunks`` pieces whose concatenation is the reply
  (``split_reply``), cut on word boundaries when there are enough words;
* one token is one whitespace-separated word (``count_tokens``); prompt tokens are the words of
  every input text (system prompt included), completion tokens the words of the reply;
* a ``max_tokens``-style limit truncates the reply to that many words (finish reason "length").
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

EMPTY_PROMPT_REPLY = "(empty prompt)"
_WORD = re.compile(r"\s*\S+\s*")


def count_tokens(text: str) -> int:
    """Return the simulated token count of ``text``: its number of whitespace-separated words."""
    return len(text.split())


def text_of(content: Any) -> str:
    """Return the plain text of a message ``content`` in any provider's shape.

    Accepts a string, a list of parts (``{"type": "text"|"input_text"|"output_text", "text": …}``
    or Gemini's ``{"text": …}``), or a Gemini ``{"parts": [...]}`` object. Non-text parts are
    ignored; parts are joined with a space.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if "parts" in content:
            return text_of(content["parts"])
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return " ".join(t for t in (text_of(part) for part in content) if t)
    return ""


def split_reply(text: str, chunks: int) -> list[str]:
    """Split ``text`` into exactly ``max(chunks, 1)`` pieces whose concatenation is ``text``.

    Pieces are cut between words when there are at least as many words as chunks, otherwise
    between characters; only a text shorter than ``chunks`` characters yields empty pieces.
    """
    n = max(chunks, 1)
    units = _WORD.findall(text)
    if "".join(units) != text or len(units) < n:
        units = list(text)
    pieces: list[str] = []
    start = 0
    for i in range(n):
        size = len(units) // n + (1 if i < len(units) % n else 0)
        pieces.append("".join(units[start : start + size]))
        start += size
    return pieces


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """Return ``text`` cut to at most ``limit`` words (spacing kept) and whether it was cut."""
    if limit is None or count_tokens(text) <= limit:
        return text, False
    units = _WORD.findall(text)
    return "".join(units[: max(limit, 0)]).rstrip(), True


def embedding_vector(text: str, dimensions: int = 8) -> list[float]:
    """Return a deterministic unit-free vector for ``text``: values in [-1, 1) from SHA-256.

    Values are exactly representable as float32 (multiples of 1/128), so base64 round trips are
    lossless and tests can compare with ``==``.
    """
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 128) / 128 for b in digest)
        counter += 1
    return out[:dimensions]


def embedding_base64(vector: list[float]) -> str:
    """Encode ``vector`` the way OpenAI's ``encoding_format: "base64"`` does (little-endian f32)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
