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
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from .._types import Buffer

__all__ = ["Localizing", "localize"]

T = TypeVar("T")

_Inspected = msgspec.inspect.Type


_Localizer = Callable[[msgspec.Struct, datetime.tzinfo], None]
_LOCALIZERS: dict[type, _Localizer] = {}


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
    writes ``__init__``): a loop over field names costs a third more on a 10,000-case batch."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    lines = ["def localize_struct(struct, zone):"]
    for field in info.fields:
        name = field.name
        if _may_be_datetime(field.type):
            lines += [
                f"    stamp = struct.{name}",
                "    if isinstance(stamp, datetime) and stamp.tzinfo is None:",
                f"        force_setattr(struct, {name!r}, stamp.replace(tzinfo=zone))",
            ]
        if _may_hold_struct(field.type):
            lines += [f"    inner = struct.{name}", "    if inner:", "        walk(inner, zone)"]
    lines.append("    return None")
    namespace: dict[str, object] = {
        "datetime": datetime.datetime,
        "force_setattr": msgspec.structs.force_setattr,
        "walk": _walk,
    }
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from field names only
    made = _LOCALIZERS[cls] = namespace["localize_struct"]  # type: ignore[assignment]
    return made


def _may_be_datetime(kind: _Inspected) -> bool:
    """``datetime``, ``datetime | None`` or another union with ``datetime`` in it."""
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_may_be_datetime(t) for t in kind.types)
    return isinstance(kind, msgspec.inspect.DateTimeType)


def _may_hold_struct(kind: _Inspected) -> bool:
    """Whether a value of this type may be (or hold) a Struct, once decoded. ``Any`` and
    ``msgspec.Raw`` count: a generic field or a ``__post_init__`` may put Structs there."""
    inspect = msgspec.inspect
    if isinstance(kind, inspect.StructType | inspect.AnyType | inspect.RawType):
        return True
    if isinstance(kind, inspect.UnionType):
        return any(_may_hold_struct(t) for t in kind.types)
    if isinstance(kind, inspect.ListType | inspect.VarTupleType | inspect.SetType):
        return _may_hold_struct(kind.item_type)
    if isinstance(kind, inspect.TupleType):
        return any(_may_hold_struct(t) for t in kind.item_types)
    if isinstance(kind, inspect.DictType):
        return _may_hold_struct(kind.value_type)
    return False


class Localizing(Generic[T]):
    """A decoder followed by [`localize`][amili_async.models.timezones.localize]: the decoder of
    one response type for a client with a ``timezone``."""

    __slots__ = ("_decode", "_zone")

    def __init__(self, decode: Callable[[Buffer], T], zone: datetime.tzinfo) -> None:
        self._decode = decode
        self._zone = zone

    def __call__(self, data: Buffer) -> T:
        value = self._decode(data)
        _walk(value, self._zone)
        return value

