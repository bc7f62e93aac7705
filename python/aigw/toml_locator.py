"""Find the line where a key is written in a TOML document (tomllib reports no positions).

Used only to put `file:line` in configuration errors, so it favours being simple and never
failing over covering every corner of TOML: it reads the document line by line, tracks the
current `[table]` / `[[array]]` header, records each `key = value` (dotted and quoted keys
included, and the keys of one-line inline tables), and skips the inside of multi-line strings.
A key it cannot place is answered with the line of its nearest written parent, or None.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["KeyLocator"]

_SEGMENT = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=\s*")
_SEGMENT_RE = re.compile(_SEGMENT)
_KEY_AT = re.compile(rf"\s*({_DOTTED})\s*=\s*")


def _split_dotted(dotted: str) -> tuple[str, ...]:
    """`a."b.c".d` -> ("a", "b.c", "d"), with quoted segments decoded as TOML decodes them."""
    out = []
    for match in _SEGMENT_RE.finditer(dotted):
        seg = match.group(0)
        if seg[0] in "\"'":
            try:
                seg = next(iter(tomllib.loads(f"{seg} = 0")))
            except (tomllib.TOMLDecodeError, StopIteration):
                seg = seg[1:-1]
        out.append(seg)
    return tuple(out)


def _skip_value(text: str, i: int) -> int:
    """Index just past the scalar/array value starting at `i` inside an inline table."""
    depth = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            end = text.find(ch, i + 1)
            while ch == '"' and end > 0 and text[end - 1] == "\\":
                end = text.find(ch, end + 1)
            i = n if end < 0 else end + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:
                return i
            depth -= 1
        elif ch == "," and depth == 0:
            return i
        i += 1
    return i


def _scan_inline_table(text: str, i: int, prefix: tuple[str, ...], line: int, out: dict) -> int:
    """Record the keys of the inline table whose `{` is at `text[i]`; return the index after `}`."""
    i += 1
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n or text[i] == "}":
            return i + 1
        match = _KEY_AT.match(text, i)
        if match is None:
            return n
        path = prefix + _split_dotted(match.group(1))
        out.setdefault(path, line)
        i = match.end()
        if i < n and text[i] == "{":
            i = _scan_inline_table(text, i, path, line, out)
        else:
            i = _skip_value(text, i)
    return i


class KeyLocator:
    """Answers "on which line is this key?" for one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        closing: str | None = None  # the delimiter ending the multi-line string we are inside
        for number, line in enumerate(text.splitlines(), start=1):
            if closing is not None:
                if closing in line:
                    closing = None
                continue
            header = _HEADER.match(line)
            if header is not None:
                table = _split_dotted(header.group(2))
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign is None:
                continue
            path = table + _split_dotted(assign.group(1))
            self._lines.setdefault(path, number)
            rest = line[assign.end():]
            for quote in ('"""', "'''"):
                if rest.startswith(quote) and quote not in rest[3:]:
                    closing = quote
            if rest.startswith("{"):
                _scan_inline_table(rest, 0, path, number, self._lines)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line where `path` is written, else that of its nearest written parent, else None.

        Integer segments (positions in arrays) are ignored: an array item is reported on the
        line of its array.
        """
        keys = tuple(p for p in path if isinstance(p, str))
        while keys:
            line = self._lines.get(keys)
            if line is not None:
                return line
            keys = keys[:-1]
        return None
