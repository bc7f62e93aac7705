"""`aigw.slots_maker.maker`: a native positional constructor builds what the class itself builds."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, strategies as st

from aigw import _codec
from aigw.pipeline import Answer, GatewayRequest, StepPlan, StepRequest
from aigw.slots_maker import maker, slot_writer
from aigw.types import Attempt, Call, LogRecord, UpstreamRequest, Usage

#: The classes the request path builds with makers.
HOT = (LogRecord, Call, StepPlan, Attempt, Answer, StepRequest, GatewayRequest, UpstreamRequest, Usage)

values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.binary(max_size=8),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def fields_of(cls: type) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
@given(data=st.data())
def test_a_maker_builds_what_the_class_builds_from_the_same_positional_fields(cls, data):
    fs = fields_of(cls)
    required = sum(1 for f in fs if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    n = data.draw(st.integers(required, len(fs)))
    args = [data.draw(values) for _ in range(n)]
    made, built = maker(cls)(*args), cls(*args)
    assert type(made) is cls
    for f in fs:
        assert getattr(made, f.name) == getattr(built, f.name), f.name
    assert made == built


def test_a_field_left_out_gets_a_fresh_value_from_its_default_factory():
    make = maker(LogRecord)
    first, second = make("a", 1.0, "gw", "websocket"), make("b", 2.0, "gw", "websocket")
    assert first.attempts == [] and first.attempts is not second.attempts
    assert maker(Call)("openai", "chat/completions", b"").headers == {}


def test_a_field_left_out_gets_the_same_default_object_the_class_gives():
    assert maker(Answer)("e", "l", 0, 200, "application/json").headers is Answer("e", "l", 0, 200, "application/json").headers


def test_a_custom_default_factory_is_called_once_per_instance():
    calls = []

    @dataclass(slots=True)
    class Counted:
        a: int
        tags: list = field(default_factory=lambda: calls.append(1) or ["x"])

    made = maker(Counted)(1)
    assert made.tags == ["x"] and calls == [1]


def test_too_few_or_too_many_fields_is_a_type_error():
    make = maker(Call)
    with pytest.raises(TypeError, match="Call takes 3 to 8 fields, got 2"):
        make("openai", "chat/completions")
    with pytest.raises(TypeError, match="got 9"):
        make("openai", "chat/completions", b"", {}, "", "POST", False, None, "extra")


def test_a_maker_of_all_defaults_builds_from_no_arguments():
    @dataclass(slots=True)
    class Defaults:
        a: int = 1
        b: list = field(default_factory=list)

    made = maker(Defaults)()
    assert (made.a, made.b) == (1, [])


def test_the_maker_function_takes_no_keyword_arguments():
    with pytest.raises(TypeError, match="keyword"):
        maker(Call)("openai", "chat/completions", b"", headers={})


def test_calling_the_maker_object_builds_what_its_function_builds():
    @dataclass(slots=True)
    class Three:
        a: Any
        b: int = 2
        c: list = field(default_factory=list)

    native = _codec.SlotsMaker(Three, [("a", 0, None), ("b", 1, 2), ("c", 2, list)])
    assert native(1) == native.as_function()(1) == Three(1)
    assert native(1, 5, [9]) == native.as_function()(1, 5, [9]) == Three(1, 5, [9])
    with pytest.raises(TypeError, match="takes 1 to 3 fields, got 0"):
        native()


def test_the_maker_function_keeps_its_maker_alive():
    native = _codec.SlotsMaker(Usage, [(f.name, 1, f.default) for f in dataclasses.fields(Usage)])
    make = native.as_function()
    assert make.__self__ is native
    del native
    gc.collect()
    assert make(3) == Usage(3) and isinstance(make.__self__, _codec.SlotsMaker)


def test_a_factory_that_raises_leaves_no_half_built_instance_behind():
    @dataclass(slots=True)
    class Fails:
        a: Any
        b: list = field(default_factory=lambda: 1 / 0)

    marker = type("Marker", (), {})()
    ref = weakref.ref(marker)
    with pytest.raises(ZeroDivisionError):
        maker(Fails)(marker)
    del marker
    gc.collect()
    assert ref() is None  # the half-built instance let go of its first field


def test_instances_are_freed_with_their_fields():
    marker = type("Marker", (), {})()
    ref = weakref.ref(marker)
    made = maker(Call)("openai", "chat/completions", b"", {"k": marker})
    del marker
    assert ref() is not None
    del made
    assert ref() is None


def test_a_frozen_dataclass_is_built_and_stays_frozen():
    @dataclass(slots=True, frozen=True)
    class Point:
        x: int
        y: int = 0

    made = maker(Point)(1)
    assert made == Point(1, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.x = 2


def test_fields_inherited_from_a_slots_dataclass_are_filled():
    @dataclass(slots=True)
    class Base:
        a: int

    @dataclass(slots=True)
    class Child(Base):
        b: str = "b"

    assert maker(Child)(1) == Child(1) and maker(Child)(1, "c").b == "c"


@pytest.mark.parametrize(
    "cls, why",
    [
        (dataclass(type("Plain", (), {"__annotations__": {"a": int}})), "no __slots__"),
        (type("NotADataclass", (), {"__slots__": ("a",)}), "not a dataclass"),
    ],
)
def test_a_class_without_slots_or_not_a_dataclass_is_refused(cls, why):
    with pytest.raises(TypeError, match=why):
        maker(cls)


def test_a_class_whose_construction_does_more_than_store_fields_is_refused():
    @dataclass(slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(slots=True)
    class OwnInit:
        a: int

        def __init__(self, a: int) -> None:
            self.a = a * 2

    @dataclass(slots=True)
    class NotInInit:
        a: int
        b: int = field(default=0, init=False)

    @dataclass(slots=True)
    class WithInitVar:
        a: int
        scale: dataclasses.InitVar[int] = 1

    for cls, why in ((PostInit, "__post_init__"), (OwnInit, "not the one @dataclass generates"), (NotInInit, "init=False"), (WithInitVar, "InitVar")):
        with pytest.raises(TypeError, match=why):
            maker(cls)


def test_the_native_side_refuses_a_name_that_is_not_a_slot_of_the_class():
    @dataclass(slots=True)
    class One:
        a: int

    with pytest.raises(ValueError, match="not a slot"):
        _codec.SlotsMaker(One, [("a", 0, None), ("__init__", 1, None)])
    with pytest.raises(ValueError, match="after a field with a default"):
        _codec.SlotsMaker(One, [("a", 1, 0), ("a", 0, None)])


def test_the_native_side_refuses_a_slot_of_an_unrelated_class():
    @dataclass(slots=True)
    class Other:
        a: int

    @dataclass(slots=True)
    class Mine:
        b: int

    Mine.a = Other.__dict__["a"]  # another class's descriptor, reachable by name
    with pytest.raises(ValueError, match="another class"):
        _codec.SlotsMaker(Mine, [("a", 0, None)])


def test_the_native_side_refuses_a_class_with_its_own_new():
    class WithNew:
        __slots__ = ("a",)

        def __new__(cls):
            return super().__new__(cls)

    with pytest.raises(TypeError, match="own __new__"):
        _codec.SlotsMaker(WithNew, [("a", 0, None)])


class Plain:
    __slots__ = ("a", "b", "__weakref__")

    def __init__(self, a: int) -> None:
        self.a, self.b = a, "default"


def test_a_slot_writer_sets_given_and_fixed_slots_without_running_init():
    made = slot_writer(Plain, ("a",), {"b": "fixed"})(7)
    assert type(made) is Plain and (made.a, made.b) == (7, "fixed")
    assert weakref.ref(made)() is made  # the __weakref__ slot works as for any instance


def test_a_slot_writer_must_name_every_slot_once():
    with pytest.raises(TypeError, match=r"slots not named \['b'\]"):
        slot_writer(Plain, ("a",), {})
    with pytest.raises(TypeError, match=r"names not slots \['c'\]"):
        slot_writer(Plain, ("a",), {"b": 1, "c": 2})


def test_a_slot_writer_refuses_a_class_with_its_own_new():
    class WithNew(Plain):
        __slots__ = ()

        def __new__(cls, *args):
            return super().__new__(cls)

    with pytest.raises(TypeError, match="own __new__"):
        slot_writer(WithNew, ("a",), {"b": 1})
