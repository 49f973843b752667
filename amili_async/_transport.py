"""One request: URL, headers, auth, send, status -> error, body -> bytes. Retries wrap it.

Everything aiohttp can raise is translated here, so nothing but :class:`~amili_async.AmiliError`
leaves the transport. Redirects are followed by hand: the ``Authorization`` header only goes to the
origin the user configured.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from . import _sansio, errors
from ._version import __version__
from .auth import Auth
from .retry import RetryHook, RetryPolicy

if TYPE_CHECKING:
    from .models.decoding import TypedDecoder

__all__ = ["RawResponse", "Transport", "decode_response", "default_user_agent"]

T = TypeVar("T")

logger = logging.getLogger("amili_async")

MAX_REDIRECTS: Final = 5
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_FOLLOWED: Final = frozenset({"GET", "HEAD"})
_URL_CACHE_SIZE: Final = 32
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def default_user_agent() -> str:
    """``amili_async/<version> aiohttp/<version>``."""
    return f"amili_async/{__version__} aiohttp/{aiohttp.__version__}"


class RawResponse:
    """A successful response as received: for archiving the exact payload or reading headers.

    Attributes:
        status: The HTTP status (2xx).
        headers: The response headers.
        body: The body, read once, exactly as sent.
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


def decode_response(raw: RawResponse, decoder: TypedDecoder[T]) -> T:
    """Decode a raw response, adding the request's context to a :class:`DecodeError`."""
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


@dataclasses.dataclass(kw_only=True)
class Transport:
    """Sends requests for one client over its session. Stateless apart from its configuration."""

    session: aiohttp.ClientSession
    base_url: URL
    auth: Auth
    retry: RetryPolicy
    timeout: aiohttp.ClientTimeout
    ssl: ssl.SSLContext | bool
    user_agent: str
    max_response_bytes: int
    on_retry: RetryHook | None = None

    _urls: dict[str, URL] = dataclasses.field(default_factory=dict, repr=False)
    # When a 429 said to wait, every request of this client waits (time.monotonic()), instead of
    # each task discovering the limit by itself.
    _cooldown_until: float = dataclasses.field(default=0.0, repr=False)

    def _url_for(self, path: str) -> URL:
        """``<base_url>/webapi/api/<path>``, built once per path."""
        url = self._urls.get(path)
        if url is None:
            url = self.base_url / "webapi" / "api" / path
            if len(self._urls) < _URL_CACHE_SIZE:  # a few fixed paths; ids in paths are not kept
                self._urls[path] = url
        return url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
    ) -> RawResponse:
        """Send one logical request, retried as the policy allows, and return its 2xx response.

        A non-idempotent method is retried only when it carries an ``idempotency_key`` (sent as
        ``Idempotency-Key``, the same on every attempt).
        """
        url = self._url_for(path)
        if params:
            url = url.with_query(params)
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        policy = retry or self.retry
        if method not in _IDEMPOTENT_METHODS and idempotency_key is None:
            policy = RetryPolicy.none()
        started = time.monotonic()
        if self._cooldown_until > started:
            await policy.sleep(self._cooldown_until - started)
        # The first attempt runs outside tenacity: most requests succeed at once, and that path
        # should cost nothing. A retryable failure is then replayed as tenacity's first attempt,
        # so attempts, waits and the time budget are counted exactly as if tenacity had run it.
        try:
            return await self._authorized_attempt(method, url, headers, body)
        except errors.AmiliError as error:
            if policy.max_attempts < 2 or not policy.is_retryable(error):
                raise
            first_failure: errors.AmiliError | None = error
        async for attempt in policy.retrying(_both(self.on_retry, on_retry)):
            with attempt:
                if first_failure is not None:
                    attempt.retry_state.start_time = started
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._authorized_attempt(method, url, headers, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _authorized_attempt(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """One attempt; a 401 is answered by one token refresh, which is not counted as a retry."""
        authorization = await self.auth.authorization()
        try:
            return await self._attempt(method, url, headers, body, authorization)
        except errors.AuthenticationError:
            if not await self.auth.refresh(authorization):
                raise
        return await self._attempt(method, url, headers, body, await self.auth.authorization())

    async def _attempt(
        self,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: bytes | None,
        authorization: str,
    ) -> RawResponse:
        """Send, following redirects by hand; translate whatever aiohttp raises into ours."""
        started = time.perf_counter()
        origin = url
        hop_headers = {**headers, "Authorization": authorization}
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with self.session.request(
                    method,
                    url,
                    headers=hop_headers,
                    data=body,
                    allow_redirects=False,
                    timeout=self.timeout,
                    ssl=self.ssl,
                ) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECT_STATUSES and location and method in _FOLLOWED:
                        url = url.join(URL(location))
                        if not _sansio.same_origin(url, origin):  # credentials stay at home
                            hop_headers.pop("Authorization", None)
                        continue
                    return await self._finish(method, resp, started)
        except errors.AmiliError:
            raise
        except TimeoutError as exc:  # aiohttp's timeouts subclass it
            raise errors.TimeoutError(
                f"request timed out ({type(exc).__name__})", method=method, url=str(url)
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise errors.ConfigurationError(f"invalid URL: {exc}", method=method) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.TransportError(
                f"connection failed: {type(exc).__name__}: {exc}", method=method, url=str(url)
            ) from exc
        raise errors.TransportError(
            f"more than {MAX_REDIRECTS} redirects", method=method, url=str(url)
        )

    async def _finish(
        self, method: str, resp: aiohttp.ClientResponse, started: float
    ) -> RawResponse:
        body = await self._read_body(method, resp)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = time.perf_counter() - started
            logger.debug(
                "%s %s -> %d (%d bytes, %.3fs)", method, resp.url, resp.status, len(body), elapsed
            )
        if resp.status >= 400:
            retry_after = _sansio.parse_retry_after(resp.headers.get("Retry-After"))
            if resp.status == 429 and retry_after:
                self._cool_down(retry_after)
            raise _sansio.error_for_status(
                resp.status,
                body=body.decode("utf-8", errors="replace"),
                method=method,
                url=str(resp.url),
                request_id=_sansio.request_id_of(resp.headers),
                retry_after=retry_after,
            )
        return RawResponse(resp.status, resp.headers, body, method, resp.url)

    def _cool_down(self, seconds: float) -> None:
        """Hold back this client's next requests for ``seconds`` (capped like a retry's wait)."""
        until = time.monotonic() + min(seconds, self.retry.max_retry_after)
        self._cooldown_until = max(self._cooldown_until, until)

    async def _read_body(self, method: str, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body, once. A declared length over the cap fails before reading; an
        undeclared one fails as soon as the cap is passed."""
        limit = self.max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise self._too_large(method, resp)
        if declared is not None:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise self._too_large(method, resp)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, resp: aiohttp.ClientResponse) -> errors.ResponseTooLargeError:
        return errors.ResponseTooLargeError(
            f"response body is over max_response_bytes={self.max_response_bytes}",
            status=resp.status,
            method=method,
            url=str(resp.url),
            request_id=_sansio.request_id_of(resp.headers),
        )


def _both(first: RetryHook | None, second: RetryHook | None) -> RetryHook | None:
    """One hook that calls both (the client's and the caller's), or whichever is set."""
    if first is None or second is None:
        return first or second

    def call_both(attempt: int, error: errors.AmiliError, delay: float) -> None:
        first(attempt, error, delay)
        second(attempt, error, delay)

    return call_both
