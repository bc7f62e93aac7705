"""A remembered pure function whose hit costs one subscript: `memo[key]`.

`functools.lru_cache` costs a call of a C object that takes its arguments as a tuple (3.11 has
no vectorcall for it), builds its key and moves the entry in its LRU list: ~370 instructions
per hit. The request path asks a handful of such questions per request (a content type's
media type and framing, whether it is text, a joined URL), each of a few distinct answers
per gateway. A `Memo` is a dict: a hit is the interpreter's subscript, with no call at all.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict, Generic[K, V]):  # type: ignore[type-arg]
    """`memo[key]` is `compute(key)`, remembered for the first `maxsize` distinct keys (later
    keys are computed every time, so a client's text cannot grow it). What `compute` raises
    propagates and is not remembered."""

    __slots__ = ("compute", "maxsize")

    def __init__(self, compute: Callable[[K], V], maxsize: int) -> None:
        super().__init__()
        self.compute = compute
        self.maxsize = maxsize

    def __missing__(self, key: K) -> V:
        value = self.compute(key)
        if len(self) < self.maxsize:
            self[key] = value
        return value

    def __repr__(self) -> str:
        return f"<Memo of {getattr(self.compute, '__qualname__', self.compute)!r}: {len(self)} of {self.maxsize}>"
