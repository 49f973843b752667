"""Decoders, built once at import time, and the translation of msgspec's errors into ours.

msgspec reports where validation failed as ``... - at `$.case[3].duedate```, using wire names. We keep
that path (it points into the payload the user can look at) and the raw bytes on
[`DecodeError`][amili_async.errors.DecodeError].
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Generic, TypeVar

import msgspec

from .._types import Buffer
from ..errors import DecodeError
from .batch import Batch
from .timezones import localize

__all__ = ["TypedDecoder", "decode_batch", "to_decode_error"]

T = TypeVar("T")

_AT_PATH = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_EXCERPT = 80
# Anything else msgspec or a type's constructor may raise on hostile input (a huge exponent, a
# pathological nesting) must still surface as a DecodeError, never as a bare builtin.
_OTHER_DECODE_FAILURES = (ValueError, OverflowError, RecursionError, decimal.InvalidOperation)


def to_decode_error(exc: BaseException, body: Buffer) -> DecodeError:
    """Our [`DecodeError`][amili_async.errors.DecodeError] for a failed decode of ``body``, with the
    JSON path of the problem."""
    raw = bytes(body)
    detail = str(exc) or type(exc).__name__
    match = _AT_PATH.search(detail)
    if match:
        path = match["path"]
        detail = detail[: match.start()]
    else:
        path = "$"
    message = f"response body does not match the documented JSON at {path}: {detail}"
    if not isinstance(exc, msgspec.ValidationError):
        message += f" (body starts with {raw[:_EXCERPT]!r}, {len(raw)} bytes)"
    return DecodeError(message, path=path, body=raw)


class TypedDecoder(Generic[T]):
    """A msgspec JSON decoder for one type that raises only
    [`DecodeError`][amili_async.errors.DecodeError]."""

    __slots__ = ("_decoder",)

    def __init__(self, type_: type[T]) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type_)

    def __call__(self, data: Buffer) -> T:
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, *_OTHER_DECODE_FAILURES) as exc:
            raise to_decode_error(exc, data) from None


_BATCH = TypedDecoder(Batch)


def decode_batch(data: Buffer, *, timezone: datetime.tzinfo | None = None) -> Batch:
    """Decode a stored ``GET /webapi/api/Batch`` payload into a [`Batch`][amili_async.Batch].

    Args:
        data: The JSON body (``bytes``, ``bytearray`` or ``memoryview``).
        timezone: Make every naive timestamp aware in this zone (the wall time is kept; aware
            ones stay as sent), as [`AmiliClient`][amili_async.AmiliClient]'s ``timezone=`` does
            for responses. Default: as sent.

    Raises:
        DecodeError: The body is not JSON or does not match the documented shape; ``.path`` says
            where (``$.case[3].duedate``) and ``.body`` holds the raw bytes.
    """
    batch = _BATCH(data)
    return batch if timezone is None else localize(batch, timezone)
