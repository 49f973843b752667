"""What we compare ``decode_batch`` against, derived from our own models so the schema is the same.

* the exact floor: the same Structs (names, renames, optional fields, ``Decimal``, ``datetime``,
  ``UUID``, the same enums) as plain ``gc=False`` Structs: not frozen, no ``__post_init__``;
* the float floor: the same with ``float`` money;
* pydantic v2 models a user would write instead: aliases, ``Decimal``, ``datetime``, ``UUID``.

Deriving them by introspection (instead of writing them out again) guarantees they stay the same
schema as the SDK's models.
"""

from __future__ import annotations

import decimal
import functools
import types
import typing
from typing import Any

import msgspec

from amili_async.models import Batch
from amili_async.models.polling import SettlementPage

Mapper = typing.Callable[[Any], Any]


def _map_type(annotation: Any, struct: Mapper, money: Any) -> Any:
    """``annotation`` with nested Structs replaced by ``struct(cls)`` and Decimal by ``money``."""
    if annotation is decimal.Decimal:
        return money
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return struct(annotation)
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        mapped = tuple(_map_type(a, struct, money) for a in typing.get_args(annotation))
        return functools.reduce(lambda a, b: a | b, mapped)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return list[_map_type(item, struct, money)]  # type: ignore[misc]
    return annotation


@functools.cache
def plain_struct(cls: type[msgspec.Struct], money: Any = decimal.Decimal) -> type[msgspec.Struct]:
    """The plain ``gc=False`` twin of one of our Structs (recursively), with ``money`` as the money
    type."""
    fields = []
    for field in msgspec.structs.fields(cls):
        annotation = _map_type(field.type, lambda c: plain_struct(c, money), money)
        default = (
            field.default
            if field.default is not msgspec.NODEFAULT
            else msgspec.field(default_factory=list)
        )
        fields.append((field.encode_name, annotation, default))
    return msgspec.defstruct(f"Plain{cls.__name__}", fields, gc=False, kw_only=True)


def exact_floor() -> type[msgspec.Struct]:
    return plain_struct(Batch, decimal.Decimal)


def float_floor() -> type[msgspec.Struct]:
    return plain_struct(Batch, float)


def page_floor() -> type[msgspec.Struct]:
    return plain_struct(SettlementPage, decimal.Decimal)


@functools.cache
def pydantic_model(cls: type[msgspec.Struct]) -> Any:
    """A pydantic v2 model equivalent to one of our Structs: aliases for wire names, every field
    optional, lists defaulting to empty, ``Decimal`` money."""
    import pydantic

    definitions: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        annotation = _map_type(field.type, pydantic_model, decimal.Decimal)
        spec: Any
        if field.default is msgspec.NODEFAULT:  # the list fields
            spec = pydantic.Field(default_factory=list, alias=field.encode_name)
        else:
            spec = pydantic.Field(None, alias=field.encode_name)
        definitions[field.name] = (annotation, spec)
    return pydantic.create_model(f"Pydantic{cls.__name__}", **definitions)


def pydantic_batch() -> Any:
    return pydantic_model(Batch)
