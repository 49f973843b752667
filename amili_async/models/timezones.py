"""Naive timestamps made aware in one zone, after a decode.

A .NET server may send a timestamp without an offset (``2024-03-01T12:00:00``) next to one with
(``...Z``); Python refuses to compare the two. With a zone chosen by the user
(``AmiliClient(timezone=ZoneInfo("Europe/Oslo"))``), every naive timestamp of a decoded response
gets that zone attached (``replace(tzinfo=...)``: the wall time is kept, nothing is converted, so
``0001-01-01T00:00:00`` cannot overflow); an aware one is left as sent.

The pass touches only what can hold a timestamp: per Struct type it works out once which fields
are datetimes and which may hold Structs (nested, in lists, in dicts, or decoded later from
``msgspec.Raw``), and skips every other field.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

import msgspec

__all__ = ["Localizing", "localize"]

T = TypeVar("T")

_Inspected = msgspec.inspect.Type


_Localizer = Callable[[msgspec.Struct, datetime.tzinfo], None]
_LOCALIZERS: dict[type, _Localizer] = {}
# Building is rare (once per type) and must not interleave: decodes may run in several threads.
_BUILDING = threading.RLock()


def localize(value: T, zone: datetime.tzinfo) -> T:
    """``value`` (a decoded Struct, or a list or dict of them) with every naive datetime field of
    every Struct in it made aware in ``zone``, in place; returned for convenience."""
    _walk(value, zone)
    return value


def _walk(value: object, zone: datetime.tzinfo) -> None:
    if isinstance(value, msgspec.Struct):
        cls = type(value)
        (_LOCALIZERS.get(cls) or _localizer(cls))(value, zone)
    elif isinstance(value, list | tuple):
        known = _LOCALIZERS.get
        for item in value:  # the hot loop (cases, history): one lookup per Struct
            localize_item = known(type(item))
            if localize_item is None:
                _walk(item, zone)
            else:
                localize_item(item, zone)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, zone)


def _localizer(cls: type[msgspec.Struct]) -> _Localizer:
    """The function that localizes one Struct type, its fields unrolled (as ``dataclasses``
    writes ``__init__``): a loop over field names costs a third more on a 10,000-case batch.
    Fields whose type cannot hold a timestamp (a ``Contact``, a ``Distribution``) are skipped."""
    with _BUILDING:
        made = _LOCALIZERS.get(cls)
        return made if made is not None else _build_localizer(cls)


def _build_localizer(cls: type[msgspec.Struct]) -> _Localizer:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    lines = ["def localize_struct(struct, zone):"]
    for field in info.fields:
        lines += _field_lines(field.name, field.type)
    lines.append("    return None")
    namespace: dict[str, object] = {
        "datetime": datetime.datetime,
        "force_setattr": msgspec.structs.force_setattr,
        "walk": _walk,
        "known": _LOCALIZERS.get,
    }
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from field names only
    made = _LOCALIZERS[cls] = cast(_Localizer, namespace["localize_struct"])
    return made


def _field_lines(name: str, kind: _Inspected) -> list[str]:
    """The generated code for one field (``name`` is a Python identifier: a Struct field)."""
    lines = []
    if _may_be_datetime(kind):
        check = (
            "stamp is not None" if _is_optional_datetime(kind) else "isinstance(stamp, datetime)"
        )
        lines += [
            f"    stamp = struct.{name}",
            f"    if {check} and stamp.tzinfo is None:",
            f"        force_setattr(struct, {name!r}, stamp.replace(tzinfo=zone))",
        ]
    if not _may_hold_timestamp(kind):
        return lines
    lines += [f"    inner = struct.{name}", "    if inner:"]
    if _optional(kind, msgspec.inspect.ListType):  # the hot loops (cases, history): inlined
        return [
            *lines,
            "        if type(inner) is list:",
            "            for item in inner:",
            "                localize_item = known(type(item))",
            "                if localize_item is None:",
            "                    walk(item, zone)",
            "                else:",
            "                    localize_item(item, zone)",
            "        else:",
            "            walk(inner, zone)",
        ]
    return [*lines, "        walk(inner, zone)"]


def _optional(kind: _Inspected, wanted: type) -> bool:
    """``kind`` is ``wanted`` or ``wanted | None``."""
    if isinstance(kind, msgspec.inspect.UnionType):
        members = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        return len(members) == 1 and isinstance(members[0], wanted)
    return isinstance(kind, wanted)


def _is_optional_datetime(kind: _Inspected) -> bool:
    return _optional(kind, msgspec.inspect.DateTimeType)


def _may_be_datetime(kind: _Inspected) -> bool:
    """``datetime``, ``datetime | None`` or another union with ``datetime`` in it."""
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_may_be_datetime(t) for t in kind.types)
    return isinstance(kind, msgspec.inspect.DateTimeType)


_HOLDS_TIMESTAMPS: dict[type, bool] = {}
_WORKING_OUT: set[type] = set()


def _may_hold_timestamp(kind: _Inspected) -> bool:
    """Whether a value of this type may be or hold a Struct with a timestamp field, once decoded.
    ``Any`` and ``msgspec.Raw`` count: a generic field or a ``__post_init__`` may put Structs
    there."""
    inspect = msgspec.inspect
    if isinstance(kind, inspect.StructType):
        return _struct_holds_timestamps(kind)
    if isinstance(kind, inspect.AnyType | inspect.RawType):
        return True
    if isinstance(kind, inspect.UnionType):
        return any(_may_hold_timestamp(t) for t in kind.types)
    if isinstance(kind, inspect.ListType | inspect.VarTupleType | inspect.SetType):
        return _may_hold_timestamp(kind.item_type)
    if isinstance(kind, inspect.TupleType):
        return any(_may_hold_timestamp(t) for t in kind.item_types)
    if isinstance(kind, inspect.DictType):
        return _may_hold_timestamp(kind.value_type)
    return False


def _struct_holds_timestamps(kind: msgspec.inspect.StructType) -> bool:
    cls = kind.cls
    known = _HOLDS_TIMESTAMPS.get(cls)
    if known is not None:
        return known
    if cls in _WORKING_OUT:
        return False  # a recursive type: its other fields decide
    _WORKING_OUT.add(cls)
    try:
        holds = any(_may_be_datetime(f.type) or _may_hold_timestamp(f.type) for f in kind.fields)
    finally:
        _WORKING_OUT.discard(cls)
    if holds or not _WORKING_OUT:  # a "no" reached inside a cycle may be wrong: not kept
        _HOLDS_TIMESTAMPS[cls] = holds
    return holds


class Localizing(Generic[T]):
    """A decoder followed by [`localize`][amili_async.models.timezones.localize]: the decoder of
    one response type for a client with a ``timezone``."""

    __slots__ = ("_decode", "_zone")

    def __init__(self, decode: Callable[[bytes], T], zone: datetime.tzinfo) -> None:
        self._decode = decode
        self._zone = zone

    def __call__(self, data: bytes) -> T:
        value = self._decode(data)
        _walk(value, self._zone)
        return value
