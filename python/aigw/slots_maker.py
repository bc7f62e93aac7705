"""Dataclass instances built in one native call, for the objects every request makes.

`maker(cls)` returns a callable taking `cls`'s fields positionally, in field order, and
building the instance as `cls(*args)` would: the same class, the same values, the defaults (and
fresh `default_factory` values) for fields left out. `slot_writer` is the same for a plain
`__slots__` class whose `__init__` has a common outcome worth building without it. It skips `type.__call__` and the
generated Python `__init__` (a frame and a store per field): a `LogRecord` is ~3× cheaper to
make (`benches/README.md`). The native side (`aigw._codec.SlotsMaker`) checks the slot layout
it writes into; this side checks that nothing else of the class's construction is skipped. What
both hand out is the maker's builtin function (`SlotsMaker.as_function`), which the interpreter
calls with its argument array, without packing a tuple.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence, TypeVar

from aigw import _codec

__all__ = ["maker", "slot_writer"]

T = TypeVar("T")

_REQUIRED, _DEFAULT, _FACTORY = 0, 1, 2


def maker(cls: type[T]) -> Callable[..., T]:
    """A positional-only constructor of `cls`, equivalent to `cls(*args)`. `cls` must be a
    `@dataclass(slots=True)` whose `__init__` is the generated one, with no `__post_init__`,
    no `__new__` of its own and no `init=False` or `InitVar` field; TypeError otherwise."""
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"{cls!r} is not a dataclass")
    name = cls.__qualname__
    if "__slots__" not in cls.__dict__:
        raise TypeError(f"{name} has no __slots__ (use @dataclass(slots=True))")
    if not cls.__dataclass_params__.init or getattr(cls.__init__, "__code__", None) is None or cls.__init__.__code__.co_filename != "<string>":  # type: ignore[attr-defined]
        raise TypeError(f"{name}.__init__ is not the one @dataclass generates")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{name} has a __post_init__")
    if cls.__new__ is not object.__new__:
        raise TypeError(f"{name} has its own __new__")
    declared = cls.__dataclass_fields__  # type: ignore[attr-defined]
    if any(f._field_type is dataclasses._FIELD_INITVAR for f in declared.values()):  # type: ignore[attr-defined]
        raise TypeError(f"{name} has an InitVar field")
    fields: list[tuple[str, int, Any]] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            raise TypeError(f"{name}.{f.name} is init=False")
        if f.default is not dataclasses.MISSING:
            fields.append((f.name, _DEFAULT, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, _FACTORY, f.default_factory))
        else:
            fields.append((f.name, _REQUIRED, None))
    return _codec.SlotsMaker(cls, fields).as_function()


def slot_writer(cls: type[T], given: Sequence[str], fixed: Mapping[str, Any]) -> Callable[..., T]:
    """A constructor of a plain `__slots__` class that does not run its `__init__`: the slots
    named in `given` take the arguments, in order (all required), the slots in `fixed` these
    values (shared: give immutable ones). Every slot the class and its bases declare (but
    `__weakref__` and `__dict__`) must be named once, so a slot added later cannot be left
    unset: TypeError otherwise, when the writer is made."""
    declared = [name for klass in cls.__mro__ for name in _slots_of(klass) if name not in ("__weakref__", "__dict__")]
    named = [*given, *fixed]
    if sorted(named) != sorted(declared):
        missing, extra = set(declared) - set(named), set(named) - set(declared)
        raise TypeError(f"{cls.__qualname__}: slots not named {sorted(missing)}, names not slots {sorted(extra)}")
    if cls.__new__ is not object.__new__:
        raise TypeError(f"{cls.__qualname__} has its own __new__")
    fields = [(name, _REQUIRED, None) for name in given] + [(name, _DEFAULT, value) for name, value in fixed.items()]
    return _codec.SlotsMaker(cls, fields).as_function()


def _slots_of(klass: type) -> tuple[str, ...]:
    slots = klass.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)
