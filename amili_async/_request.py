"""The one request path every endpoint takes: an [`Endpoint`][amili_async.endpoints.Endpoint] declares a
call, [`RequestPath`][amili_async.endpoints.RequestPath] makes it.

An endpoint is data (family, method, path template, query names, response type); adding one is a
declaration, not code:

```python
PING = Endpoint(family=LEGACY, method="GET", path="Ping", response=type(None))
await client.requester.call(PING)
```

Every endpoint has its raw face too: [`RequestPath.send`][amili_async.endpoints.RequestPath.send] returns
the [`RawResponse`][amili_async.RawResponse] (status, headers, exact bytes) that
[`RequestPath.call`][amili_async.endpoints.RequestPath.call] decodes.
"""

from __future__ import annotations

import dataclasses
import datetime
import string
import types
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypedDict, TypeVar, Unpack

import msgspec
from yarl import URL

from . import _sansio, errors
from ._transport import BodySink, RawResponse, Request, Transport, decode_response
from .models.decoding import TypedDecoder
from .models.timezones import Localizing
from .retry import RetryHook

__all__ = ["Endpoint", "RequestPath", "SendOptions", "decoder_for"]

T = TypeVar("T")
U = TypeVar("U")

_NO_QUERY: Final[Mapping[str, str]] = types.MappingProxyType({})
# Decimal as a JSON number with exactly its digits (never through float).
_JSON: Final = msgspec.json.Encoder(decimal_format="number")
_URL_CACHE_SIZE: Final = 64


@dataclasses.dataclass(frozen=True, kw_only=True)
class Endpoint(Generic[T]):
    """One API operation, declared once.

    Attributes:
        family: The API generation ([`LEGACY`][amili_async.endpoints.LEGACY] or
            [`COLLECTION`][amili_async.endpoints.COLLECTION]): its prefix and error rules.
        method: The HTTP method.
        path: A template relative to the family's prefix: ``"Batch"``,
            ``"orgs/{org_id}/batches/{batch_id}"`` (values are URL-quoted; none may be empty).
        response: What a 2xx body decodes into (decoders are built once per type). ``bytes``: the
            body as is; ``type(None)``: the body is ignored.
        query: SDK keyword -> wire name of the query parameters it takes.
        docs: A line for the reference docs and error messages.
    """

    family: _sansio.ApiFamily
    method: str
    path: str
    response: type[T]
    query: Mapping[str, str] = dataclasses.field(default_factory=lambda: _NO_QUERY)
    docs: str | None = None
    _fields: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _literal: str | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_literal", None if fields else self.path.format())

    def __repr__(self) -> str:
        return f"Endpoint({self.method} {self.family.prefix}/{self.path} -> {self.response!r})"

    def returning(self, response: type[U]) -> Endpoint[U]:
        """The same operation decoded into another type (a narrower view of the payload)."""
        return Endpoint(
            family=self.family,
            method=self.method,
            path=self.path,
            response=response,
            query=self.query,
            docs=self.docs,
        )

    def render_path(self, values: Mapping[str, object] | None) -> str:
        """The path with its ``{placeholders}`` filled in, URL-quoted."""
        if self._literal is not None:
            return self._literal
        given = values or {}
        missing = [name for name in self._fields if given.get(name) in (None, "")]
        if missing:
            raise errors.ConfigurationError(
                f"{self.method} {self.path} needs a non-empty {', '.join(missing)}"
            )
        return self.path.format_map(
            {name: urllib.parse.quote(str(given[name]), safe="") for name in self._fields}
        )


_DECODERS: dict[object, Callable[[bytes], Any]] = {bytes: bytes, type(None): lambda body: None}
_ZONED_DECODERS: dict[tuple[object, datetime.tzinfo], Callable[[bytes], Any]] = {}


def decoder_for(response: type[T], timezone: datetime.tzinfo | None = None) -> Callable[[bytes], T]:
    """The decoder of one response type, built on first use and kept (``bytes``: the body as is;
    ``type(None)``: ignored). With a ``timezone``, naive timestamps come out aware in it (see
    [`AmiliClient`][amili_async.AmiliClient]'s ``timezone``); one decoder per (type, zone)."""
    decoder = _DECODERS.get(response)
    if decoder is None:
        decoder = _DECODERS[response] = TypedDecoder(response)
    if timezone is None or response in (bytes, type(None)):
        return decoder
    key = (response, timezone)
    zoned = _ZONED_DECODERS.get(key)
    if zoned is None:
        zoned = _ZONED_DECODERS[key] = Localizing(decoder, timezone)
    return zoned


class SendOptions(TypedDict, total=False):
    """What a call carries besides its endpoint (all optional).

    Attributes:
        path: Values for the path's ``{placeholders}`` (URL-quoted; none may be empty).
        query: Query values by SDK keyword; ``None`` values are left out; dates are sent as
            ``yyyy-MM-dd``, booleans as ``true``/``false``. An unknown keyword raises
            [`ConfigurationError`][amili_async.ConfigurationError] before anything is sent.
        json: A body to encode as JSON (msgspec; ``Decimal`` as a number with its exact digits).
        idempotency_key: Sent in the family's idempotency header, the same on every attempt. A
            POST (or other non-idempotent method) is retried only when it has one.
        on_retry: Called before each retry's sleep with ``(attempt, error, delay)``, after the
            client's own hook: the documented way to count retries.
        content: A body already encoded (instead of ``json``).
        content_type: The body's media type (default for ``json``: ``application/json``).
        sink: Where a 2xx body goes instead of memory: an async callable taking the body's
            chunks and the number of bytes to expect (``None`` when unknown); the returned
            [`RawResponse`][amili_async.RawResponse] then has an empty body. Error bodies are
            read as usual. Each retried attempt calls it afresh.
    """

    path: Mapping[str, object] | None
    query: Mapping[str, object] | None
    json: object
    idempotency_key: str | None
    on_retry: RetryHook | None
    content: bytes | None
    content_type: str | None
    sink: BodySink | None


class RequestPath:
    """Makes [`Endpoint`][amili_async.endpoints.Endpoint] calls over one client's transport.

    Get it from [`AmiliClient.requester`][amili_async.AmiliClient.requester]. With a
    ``timezone``, [`call`][amili_async.endpoints.RequestPath.call] returns naive timestamps aware
    in it.
    """

    __slots__ = ("_base_url", "_timezone", "_transport", "_urls")

    def __init__(
        self, transport: Transport, base_url: URL, *, timezone: datetime.tzinfo | None = None
    ) -> None:
        self._transport = transport
        self._base_url = base_url
        self._timezone = timezone
        self._urls: dict[tuple[str, str], URL] = {}

    def __repr__(self) -> str:
        return f"RequestPath({str(self._base_url)!r})"

    async def send(self, endpoint: Endpoint[Any], **options: Unpack[SendOptions]) -> RawResponse:
        """Make the call and return the raw 2xx response (status, headers, exact bytes).

        The keyword arguments are those of [`SendOptions`][amili_async.endpoints.SendOptions].

        Raises:
            ConfigurationError: An unknown query keyword or a missing path value (nothing sent).
            APIError: An error status (the family reads the body).
            TransportError: The connection failed or timed out, after retries.
        """
        content = options.get("content")
        content_type = options.get("content_type")
        json = options.get("json")
        if json is not None:
            if content is not None:
                raise errors.ConfigurationError("give json= or content=, not both")
            content, content_type = _encode(json), content_type or "application/json"
        url = self._url(endpoint, options.get("path"))
        query = options.get("query")
        if query:
            url = url.with_query(_sansio.build_query(endpoint.query, query))
        request = Request(
            method=endpoint.method,
            url=url,
            family=endpoint.family,
            body=content,
            content_type=content_type,
            idempotency_key=options.get("idempotency_key"),
            sink=options.get("sink"),
        )
        return await self._transport.send(request, on_retry=options.get("on_retry"))

    async def call(self, endpoint: Endpoint[T], **options: Unpack[SendOptions]) -> T:
        """Like [`send`][amili_async.endpoints.RequestPath.send], then decode the body into
        ``endpoint.response``.

        Raises:
            DecodeError: The body is not the documented JSON; ``.path`` says where.
        """
        raw = await self.send(endpoint, **options)
        return decode_response(raw, decoder_for(endpoint.response, self._timezone))

    def _url(self, endpoint: Endpoint[Any], values: Mapping[str, object] | None) -> URL:
        """``<base_url>/<prefix>/<path>``; kept for fixed paths (ids in paths are not kept)."""
        rendered = endpoint.render_path(values)
        key = (endpoint.family.prefix, rendered)
        url = self._urls.get(key)
        if url is None:
            url = self._base_url.joinpath(
                endpoint.family.prefix, _quote_literal(rendered), encoded=True
            )
            if not endpoint._fields and len(self._urls) < _URL_CACHE_SIZE:
                self._urls[key] = url
        return url


def _encode(body: object) -> bytes:
    """The JSON of a request body; what msgspec cannot encode is the caller's mistake."""
    try:
        return _JSON.encode(body)
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.ConfigurationError(f"json= cannot be encoded as JSON: {exc}") from exc


def _quote_literal(path: str) -> str:
    """Quote what a path may hold that a URL may not (spaces...), leaving escapes and ``/``."""
    return urllib.parse.quote(path, safe="/%:@!$&'()*+,;=-._~")
