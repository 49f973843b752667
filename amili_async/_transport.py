"""One request over the client's session: retries around small steps, each testable alone.

A call is: wait out the client's 429 cool-down, then per attempt: credentials (a failing provider
becomes [`TokenProviderError`][amili_async.TokenProviderError]), send (aiohttp follows redirects of
GETs and drops ``Authorization`` across origins), refuse a redirect it did not follow, read the
body under the size cap (counted on decoded bytes), turn an error status into the family's error,
and note a 429's cool-down; a 401 earns one credentials refresh. Everything aiohttp can raise is
translated here, so nothing but [`AmiliError`][amili_async.AmiliError] leaves the transport.

Credentials stay wrapped in [`Secret`][amili_async.Secret] until aiohttp takes them: no frame of
this module holds a plain-text token in its locals.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import itertools
import logging
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Final, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from . import _sansio, errors
from ._version import __version__
from .auth import Auth, Secret
from .retry import RetryHook, RetryPolicy

__all__ = [
    "BodySink",
    "Cooldown",
    "RawResponse",
    "Request",
    "Transport",
    "decode_response",
    "default_user_agent",
    "read_capped",
]

T = TypeVar("T")

logger = logging.getLogger("amili_async.transport")

MAX_REDIRECTS: Final = 5
_FOLLOWED: Final = frozenset({"GET", "HEAD"})
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_call_numbers = itertools.count(1)


def default_user_agent() -> str:
    """``amili_async/<version> aiohttp/<version>``."""
    return f"amili_async/{__version__} aiohttp/{aiohttp.__version__}"


class RawResponse:
    """A successful response as received: for archiving the exact payload or reading headers.

    Attributes:
        status: The HTTP status (2xx).
        headers: The response headers.
        body: The body, read once, exactly as sent (after any ``Content-Encoding`` is undone).
        method: The request method.
    """

    __slots__ = ("_url", "body", "headers", "method", "status")

    def __init__(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes, method: str, url: URL
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.method = method
        self._url = url

    def __repr__(self) -> str:
        return f"RawResponse({self.method} {self.url} -> {self.status}, {len(self.body)} bytes)"

    @property
    def url(self) -> str:
        """The final request URL (after any redirect)."""
        return str(self._url)

    @property
    def request_id(self) -> str | None:
        """The server's request id header, if any."""
        return _sansio.request_id_of(self.headers)

    @property
    def content_type(self) -> str:
        """The media type, without parameters (``application/json``)."""
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


def decode_response(raw: RawResponse, decoder: Callable[[bytes], T]) -> T:
    """Decode a raw response, adding the request's context to a
    [`DecodeError`][amili_async.errors.DecodeError]."""
    try:
        return decoder(raw.body)
    except errors.DecodeError as exc:
        if raw.content_type and "json" not in raw.content_type:
            exc.message = f"expected JSON but got {raw.content_type!r}; {exc.message}"
        exc.status, exc.method, exc.url, exc.request_id = (
            raw.status,
            raw.method,
            raw.url,
            raw.request_id,
        )
        raise


BodySink = Callable[[AsyncIterable[bytes], int | None], Awaitable[object]]
"""Where a 2xx body goes instead of memory: called with the body's chunks and the number of bytes
to expect (``None`` when unknown), e.g. to stream a download to a file."""


@dataclasses.dataclass(kw_only=True, slots=True)  # not frozen: a frozen __init__ costs µs
class Request:
    """One logical request, as the request path hands it to the transport (``url`` whole, query
    included)."""

    method: str
    url: URL
    family: _sansio.ApiFamily
    body: bytes | None = None
    content_type: str | None = None
    idempotency_key: str | None = None
    sink: BodySink | None = None


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, once, refused with ``ResponseTooLargeError`` as soon as it passes ``limit``
    bytes. The count is of decoded bytes as they are read: a gzip body is held to the cap after
    inflating, not by its ``Content-Length`` (a 260 KB bomb does not become 256 MiB in memory)."""
    declared = resp.content_length
    encoded = "Content-Encoding" in resp.headers
    if declared is not None and not encoded:
        if declared > limit:
            raise _too_large(resp, limit)
        return await resp.read()  # exact length known: aiohttp reads it once, no copy of ours
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _too_large(resp, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """The number of bytes to expect, when ``Content-Length`` counts what will be read."""
    return None if "Content-Encoding" in resp.headers else resp.content_length


def _too_large(resp: aiohttp.ClientResponse, limit: int) -> errors.ResponseTooLargeError:
    return errors.ResponseTooLargeError(
        f"response body is over max_response_bytes={limit}",
        status=resp.status,
        method=resp.method,
        url=str(resp.url),
        request_id=_sansio.request_id_of(resp.headers),
    )


@dataclasses.dataclass
class Cooldown:
    """When a 429 said how long to wait, every request of the client waits that long (instead of
    each task discovering the limit by itself). Times are ``time.monotonic()``."""

    max_wait: float
    until: float = 0.0

    def note(self, error: errors.APIError, label: str) -> None:
        """Start (or extend) the cool-down a 429 with ``Retry-After`` asks for, and log it."""
        if error.status != 429 or not error.retry_after:
            return
        seconds = min(error.retry_after, self.max_wait)
        self.until = max(self.until, time.monotonic() + seconds)
        logger.warning(
            "[%s] HTTP 429 on %s %s (request id %s): holding back this client's requests for %.2fs",
            label,
            error.method,
            error.url,
            error.request_id,
            seconds,
        )

    def remaining(self) -> float:
        """Seconds left of the cool-down that is running (0 or less: none)."""
        return self.until - time.monotonic()


@dataclasses.dataclass(kw_only=True)
class Transport:
    """Sends requests for one client over its session. Knows no API prefix: URLs come whole.
    Its only state besides the configuration is the client's 429 cool-down."""

    session: aiohttp.ClientSession
    auth: Auth
    retry: RetryPolicy
    timeout: aiohttp.ClientTimeout
    ssl: ssl.SSLContext | bool
    user_agent: str
    max_response_bytes: int
    on_retry: RetryHook | None = None
    cooldown: Cooldown = dataclasses.field(init=False, repr=False)
    _no_retry: RetryPolicy = dataclasses.field(init=False, repr=False)
    # aiohttp keeps the connect and read timeouts; the attempt's total deadline is ours, one timer
    # that also ends the attempt when the call's total_timeout runs out first.
    _socket_timeout: aiohttp.ClientTimeout = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cooldown = Cooldown(max_wait=self.retry.max_retry_after)
        self._no_retry = self.retry.without_retries()
        given = self.timeout
        self._socket_timeout = aiohttp.ClientTimeout(
            connect=given.connect,
            sock_connect=given.sock_connect,
            sock_read=given.sock_read,
            ceil_threshold=given.ceil_threshold,
        )

    async def send(self, request: Request, *, on_retry: RetryHook | None = None) -> RawResponse:
        """Send one logical request, retried as the policy allows, and return its 2xx response.

        A method that is not idempotent is retried only when it carries an idempotency key (sent
        in the family's header, the same on every attempt).
        """
        policy = self.retry
        if request.method not in _IDEMPOTENT_METHODS and request.idempotency_key is None:
            policy = self._no_retry
        label = f"call {next(_call_numbers)}"
        total = policy.total_timeout
        call_end = None if total is None else asyncio.get_running_loop().time() + total
        headers = self._headers(request)
        pause = self.cooldown.remaining()
        if pause > 0:
            await policy.sleep(pause)
        return await policy.run(
            self._timed_attempt,
            request,
            headers,
            label,
            call_end,
            on_retry=_both(self.on_retry, on_retry),
            label=label,
        )

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        if request.idempotency_key:
            headers[request.family.key_header] = request.idempotency_key
        return headers

    async def _timed_attempt(
        self, request: Request, headers: Mapping[str, str], label: str, call_end: float | None
    ) -> RawResponse:
        """One attempt within its deadline: the client's ``timeout`` from now, or the end of the
        call's ``total_timeout`` if that comes first (then the policy makes no further attempt)."""
        own = self.timeout.total
        attempt_end = None if own is None else asyncio.get_running_loop().time() + own
        ends_call = call_end is not None and (attempt_end is None or call_end < attempt_end)
        if ends_call:
            attempt_end = call_end
        deadline = asyncio.timeout_at(attempt_end)
        try:
            async with deadline:
                return await self._authorized_attempt(request, headers, label)
        except builtins.TimeoutError:
            if not deadline.expired():
                raise  # a connect or read timeout, already ours
            what = (
                f"total_timeout={self.retry.total_timeout}s of the call"
                if ends_call
                else f"timeout={own}s of the attempt"
            )
            raise errors.TimeoutError(
                f"request took longer than the {what}", method=request.method, url=str(request.url)
            ) from None

    async def _authorized_attempt(
        self, request: Request, headers: Mapping[str, str], label: str
    ) -> RawResponse:
        """One attempt; a 401 is answered by one credentials refresh, not counted as a retry."""
        authorization = await self._authorization()
        try:
            return await self._attempt(request, headers, authorization, label)
        except errors.AuthenticationError:
            if not await self._refreshed(authorization):
                raise
        authorization = await self._authorization()
        return await self._attempt(request, headers, authorization, label)

    async def _authorization(self) -> Secret:
        return Secret(await _from_auth(self.auth.authorization()))

    async def _refreshed(self, rejected: Secret) -> bool:
        return await _from_auth(self.auth.refresh(rejected.reveal()))

    async def _attempt(
        self, request: Request, headers: Mapping[str, str], authorization: Secret, label: str
    ) -> RawResponse:
        """Send once; translate whatever aiohttp raises into ours."""
        if self.session.closed:
            raise _closed(request)
        started = time.perf_counter()
        try:
            async with self.session.request(
                request.method,
                request.url,
                headers={**headers, "Authorization": authorization.reveal()},
                data=request.body,
                allow_redirects=request.method in _FOLLOWED,
                max_redirects=MAX_REDIRECTS + 1,  # aiohttp counts the one it refuses
                timeout=self._socket_timeout,
                ssl=self.ssl,
            ) as resp:
                return await self._finish(request, resp, started, label)
        except errors.AmiliError:
            raise
        except Exception as exc:
            raise self._translate(exc, request) from exc

    def _translate(self, exc: Exception, request: Request) -> errors.AmiliError:
        """Our error for what aiohttp (or the socket under it) raised."""
        method, url = request.method, str(request.url)
        if isinstance(exc, aiohttp.TooManyRedirects):
            return errors.RedirectError(
                f"more than {MAX_REDIRECTS} redirects", method=method, url=url
            )
        if isinstance(exc, aiohttp.RedirectClientError):
            return errors.RedirectError(f"redirect not followed: {exc}", method=method, url=url)
        if self.session.closed:
            return _closed(request)
        if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it
            return errors.TimeoutError(
                f"request timed out ({type(exc).__name__})", method=method, url=url
            )
        if isinstance(exc, aiohttp.InvalidURL):
            return errors.ConfigurationError(f"invalid URL: {exc}", method=method, url=url)
        if isinstance(exc, aiohttp.ClientError | OSError):
            return errors.TransportError(
                f"connection failed: {type(exc).__name__}: {exc}", method=method, url=url
            )
        if isinstance(exc, ValueError) and "credentials" in str(exc):
            # aiohttp refuses a redirect whose Location carries user:password@
            return errors.RedirectError(
                "redirect to a URL with credentials not followed", method=method, url=url
            )
        return errors.TransportError(
            f"request failed: {type(exc).__name__}: {exc}", method=method, url=url
        )

    async def _finish(
        self, request: Request, resp: aiohttp.ClientResponse, started: float, label: str
    ) -> RawResponse:
        method = request.method
        if 300 <= resp.status < 400:
            redirect = _sansio.unfollowed_redirect(
                resp.status, resp.headers, method=method, url=str(resp.url)
            )
            if redirect is not None:
                raise redirect
        if request.sink is not None and resp.status < 300:
            await request.sink(resp.content.iter_any(), _plain_length(resp))
            return RawResponse(resp.status, resp.headers, b"", method, resp.url)
        body = await read_capped(resp, self.max_response_bytes)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "[%s] %s %s -> %d (%d bytes, %.3fs, request id %s)",
                label,
                method,
                resp.url,
                resp.status,
                len(body),
                time.perf_counter() - started,
                _sansio.request_id_of(resp.headers),
            )
        if resp.status >= 400:
            error = request.family.error_for(
                resp.status, resp.headers, body, method=method, url=str(resp.url)
            )
            self.cooldown.note(error, label)
            raise error
        return RawResponse(resp.status, resp.headers, body, method, resp.url)


def _closed(request: Request) -> errors.ClientClosedError:
    return errors.ClientClosedError(
        "the AmiliClient was closed while this request was being made",
        method=request.method,
        url=str(request.url),
    )


def _both(first: RetryHook | None, second: RetryHook | None) -> RetryHook | None:
    """One hook that calls both (the client's and the caller's), or whichever is set."""
    if first is None or second is None:
        return first or second

    def call_both(attempt: int, error: errors.AmiliError, delay: float) -> None:
        first(attempt, error, delay)
        second(attempt, error, delay)

    return call_both


async def _from_auth(answer: Awaitable[T]) -> T:
    """What an auth object raises becomes a ``TokenProviderError``; an AmiliError passes through."""
    try:
        return await answer
    except errors.AmiliError:
        raise
    except Exception as exc:
        raise errors.TokenProviderError(
            f"the token provider failed: {type(exc).__name__}: {exc}"
        ) from exc
