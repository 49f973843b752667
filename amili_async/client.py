"""AmiliClient: configuration, session lifecycle, and the user-facing methods."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self, Unpack

import aiohttp
from yarl import URL

from . import _sansio, endpoints, errors
from ._lifecycle import AsyncClosing
from ._request import Endpoint, RequestPath
from ._transport import RawResponse, Transport, default_user_agent
from .auth import (
    Auth,
    AuthContext,
    BasicAuth,
    BearerAuth,
    BindsContext,
    TokenProvider,
    TokenProviderAuth,
)
from .collection.resources import Collection
from .fanout import BatchFanOut, CreditorBatch
from .models import Batch
from .oauth import ClientCredentialsAuth
from .params import BatchQuery
from .polling.poller import ErrorCallback, SettlementPoller, Start
from .retry import RetryHook, RetryPolicy

if TYPE_CHECKING:
    from .polling.stores import CheckpointStore

__all__ = ["DEFAULT_ATTEMPT_TIMEOUT", "DEFAULT_MAX_RESPONSE_BYTES", "AmiliClient"]

DEFAULT_MAX_RESPONSE_BYTES: Final = 1 << 30  # 1 GiB: a 100,000-case batch is about 160 MB
# One attempt's deadline: a minute to connect and for the server to start answering, then the
# largest batch seen (160 MB) at a floor of 1 MB/s. A server trickling bytes cannot hold a request
# (or a poller's slot) longer than that.
_FIRST_BYTE_ALLOWANCE: Final = 60.0
_LARGEST_BATCH_BYTES: Final = 160e6
_MIN_THROUGHPUT_BYTES_PER_S: Final = 1e6
DEFAULT_ATTEMPT_TIMEOUT: Final = (
    _FIRST_BYTE_ALLOWANCE + _LARGEST_BATCH_BYTES / _MIN_THROUGHPUT_BYTES_PER_S
)


class AmiliClient(AsyncClosing):
    """An async client for Amili's AutoCollect API.

    Use it as an async context manager, which opens one pooled :class:`aiohttp.ClientSession` and
    closes it on exit:

    ```python
    async with AmiliClient(base_url="https://autocollect.example", token="...") as client:
        batch = await client.get_batch(creditor_id="923609016")
    ```

    Args:
        base_url: The service's root URL; the SDK adds ``/webapi/api/...``. Defaults to the
            ``AMILI_BASE_URL`` environment variable.
        token: A static bearer token. Defaults to ``AMILI_TOKEN``.
        username: With ``password``: HTTP Basic, the older variant of the legacy API. Default
            ``AMILI_USERNAME`` / ``AMILI_PASSWORD``.
        password: See ``username``.
        token_provider: An async callable returning a bearer token. It is called on first use and
            once more after a 401; a second 401 raises :class:`~amili_async.AuthenticationError`.
        client_id: With ``client_secret`` and ``token_url``: OAuth2 client credentials (the
            Collection API's scheme, accepted by the legacy API too), as
            [`ClientCredentialsAuth`][amili_async.ClientCredentialsAuth]. Each of the three
            defaults to ``AMILI_CLIENT_ID`` / ``AMILI_CLIENT_SECRET`` / ``AMILI_TOKEN_URL``; they
            are used when one of them is passed, or when no other credentials are given and
            ``AMILI_CLIENT_ID`` is set.
        client_secret: See ``client_id``.
        token_url: See ``client_id``.
        auth: Any :class:`~amili_async.auth.Auth` object, instead of the options above.
        session: An :class:`aiohttp.ClientSession` to use instead of creating one. The caller owns
            it: the client never closes it.
        timeout: Seconds one attempt may take in all, download included. The default (220 s) is a
            minute to the first byte plus a 160 MB batch at 1 MB/s; ``None`` removes the limit
            (the read timeout and the retry policy's ``total_timeout`` still apply).
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds to wait for the next bytes of a response.
        max_connections: Size of the connection pool.
        retry: The :class:`~amili_async.RetryPolicy` for idempotent requests.
        max_response_bytes: Larger bodies fail with
            :class:`~amili_async.errors.ResponseTooLargeError` (the whole body is held to decode it).
        verify: TLS verification: ``True`` (default), ``False`` (never in production) or an
            :class:`ssl.SSLContext` (e.g. for a private CA).
        user_agent: Appended to the SDK's ``User-Agent`` to identify your integration.
        trust_env: Let aiohttp read proxy settings from the environment.
        on_retry: Called before each retry's sleep with ``(attempt, error, delay)``; for metrics.

    Raises:
        ConfigurationError: No base URL, no credentials, or conflicting credentials.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        token_provider: TokenProvider | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = DEFAULT_ATTEMPT_TIMEOUT,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 60.0,
        max_connections: int = 20,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | ssl.SSLContext = True,
        user_agent: str | None = None,
        trust_env: bool = False,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.base_url = _base_url(base_url or os.environ.get("AMILI_BASE_URL"))
        oauth = _client_credentials(client_id, client_secret, token_url)
        self.auth = oauth or _auth(auth, token, username, password, token_provider)
        if oauth and any((auth, token, username, password, token_provider)):
            raise errors.ConfigurationError("give client credentials or another auth, not both")
        self.retry = retry or RetryPolicy()
        self.max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._verify: ssl.SSLContext | bool = verify
        self._user_agent = default_user_agent() + (f" {user_agent}" if user_agent else "")
        self._max_response_bytes = max_response_bytes
        self._trust_env = trust_env
        self._on_retry = on_retry
        self._transport: Transport | None = None
        self._requester: RequestPath | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"AmiliClient(base_url={str(self.base_url)!r}, auth={self.auth!r}, {state})"

    async def __aenter__(self) -> Self:
        self._ensure_transport()
        return self

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Close the session the client created (never one passed in). Closing twice is harmless,
        and so is closing from another event loop than the one the session was opened in (then
        the session is let go without awaiting the loop that is gone)."""
        self._closed = True
        session, self._session = self._session, None
        self._transport = self._requester = None
        if session is None or not self._owns_session or session.closed:
            return
        if self._loop is not None and self._loop is not _running_loop():
            session.detach()  # its loop is gone or elsewhere: nothing to await there
            return
        await session.close()

    @functools.cached_property
    def collection(self) -> Collection:
        """The Collection API (``{base_url}/collection/v1/``): ``batches``, ``invoices``,
        ``payments``, ``corrections``, ``settlements``, ``cases``. See the
        [Collection API guide](../guides/collection.md)."""
        return Collection(lambda: self.requester)

    @property
    def requester(self) -> RequestPath:
        """The client's [`RequestPath`][amili_async.endpoints.RequestPath]: makes any
        [`Endpoint`][amili_async.endpoints.Endpoint] call, decoded (``call``) or raw (``send``).
        Opens the session on first use.

        Raises:
            ClientClosedError: The client is closed.
            ConfigurationError: The client is used in another event loop than the one it opened
                its session in.
        """
        transport = self._ensure_transport()
        if self._requester is None:
            self._requester = RequestPath(transport, self.base_url)
        return self._requester

    def _ensure_transport(self) -> Transport:
        if self._closed:
            raise errors.ClientClosedError(
                "this AmiliClient is closed; create a new one (or use `async with AmiliClient(...)`)"
            )
        if self._transport is None:
            self._loop = _running_loop()
            self._transport = Transport(
                session=self._session or self._new_session(),
                auth=self.auth,
                retry=self.retry,
                timeout=self._timeout,
                ssl=self._verify,
                user_agent=self._user_agent,
                max_response_bytes=self._max_response_bytes,
                on_retry=self._on_retry,
            )
            self._bind_auth(self._transport)
        elif self._loop is not _running_loop():
            raise errors.ConfigurationError(
                "this AmiliClient was opened in another event loop; aiohttp sessions belong to "
                "one loop: create the client inside the loop that uses it (e.g. in the coroutine "
                "given to asyncio.run), one client per loop"
            )
        return self._transport

    def _bind_auth(self, transport: Transport) -> None:
        """Hand the auth object the client's session and settings, if it asks for them."""
        if isinstance(self.auth, BindsContext):
            self.auth.bind(
                AuthContext(
                    session=transport.session,
                    ssl=transport.ssl,
                    timeout=transport.timeout,
                    retry=transport.retry,
                    user_agent=transport.user_agent,
                )
            )

    def _new_session(self) -> aiohttp.ClientSession:
        # Created lazily so it binds to the running loop, not to whatever loop existed at __init__.
        connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self._verify)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=self._trust_env)
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> RawResponse:
        """Send a request to ``/webapi/api/<path>`` and return the raw 2xx response.

        The escape hatch for endpoints the SDK does not wrap yet (``params`` use wire names).
        GETs are retried per the client's policy; other methods only when ``idempotency_key`` is
        given. A declared [`Endpoint`][amili_async.endpoints.Endpoint] and
        [`requester`][amili_async.AmiliClient.requester] are the typed way to the same place.
        """
        endpoint = Endpoint(
            family=_sansio.LEGACY,
            method=method,
            path=path.replace("{", "{{").replace("}", "}}"),
            response=bytes,
            query={name: name for name in params or ()},
        )
        return await self.requester.send(
            endpoint,
            query=params,
            content=body,
            content_type=content_type,
            idempotency_key=idempotency_key,
        )

    async def get_batch(self, **params: Unpack[BatchQuery]) -> Batch:
        """``GET /webapi/api/Batch``: creditors, cases and settlements, typed.

        The keyword arguments are those of [`BatchQuery`][amili_async.params.BatchQuery]
        (``creditor_id``, ``include_closed``, ``last_settlement_id``, ...); only those given are
        sent. Without ``creditor_id`` the batch covers every creditor of the sender; an empty
        ``creditor_id`` is refused rather than read as "all". ``last_settlement_id`` asks for the
        settlements after that one (see the polling guide; :meth:`settlement_poller` does it for
        you).

        Raises:
            ConfigurationError: An unknown keyword, or an empty ``creditor_id``.
            APIError: An error status (a subclass per status).
            TransportError: The connection failed or timed out, after retries.
            DecodeError: The body is not the documented JSON; ``.path`` says where.
        """
        return await self.requester.call(endpoints.BATCH, query=_batch_query(params))

    async def get_batch_raw(self, **params: Unpack[BatchQuery]) -> RawResponse:
        """Like :meth:`get_batch` (same keyword arguments) but returns the raw response, to archive
        the exact payload or read headers. Decode it later with
        :func:`~amili_async.decode_batch`."""
        return await self.requester.send(endpoints.BATCH, query=_batch_query(params))

    def fetch_batches(
        self,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        **get_batch_params: Any,
    ) -> BatchFanOut:
        """Fetch many creditors' batches concurrently; yield each result as it completes.

        ```python
        async for result in client.fetch_batches(creditor_ids, concurrency=20):
            if result.ok:
                book(result.batch)
            else:
                log.warning("creditor %s failed: %s", result.creditor_id, result.error)
        ```

        Args:
            creditor_ids: Any iterable of creditor ids (consumed lazily: a generator of 10,000 ids
                is fine).
            concurrency: At most this many requests at once (a fixed pool of workers, not a task
                per id). Keep it at or below the client's ``max_connections``.
            deadline: Seconds for the whole fan-out; when it passes, what is in flight is
                cancelled and every creditor not yet fetched is yielded with a
                :class:`~amili_async.errors.TimeoutError`.
            **get_batch_params: Passed to every :meth:`get_batch` (``include_closed=True``, ...).

        Returns:
            An async iterator of :class:`~amili_async.fanout.CreditorBatch`, one per creditor id:
            an error for one creditor never stops the others. Leaving the loop early cancels the
            fetches in flight.
        """
        unknown = set(get_batch_params) - set(_sansio.BATCH_PARAM_NAMES) | (
            {"creditor_id"} & set(get_batch_params)
        )
        if unknown:
            raise errors.ConfigurationError(f"not a get_batch parameter here: {sorted(unknown)}")
        self._ensure_transport()
        return BatchFanOut(
            self, creditor_ids, concurrency=concurrency, deadline=deadline, params=get_batch_params
        )

    async def get_batches(
        self,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        **get_batch_params: Any,
    ) -> list[CreditorBatch]:
        """Like :meth:`fetch_batches`, but wait for all and return the results in the order of
        ``creditor_ids``."""
        ids = list(creditor_ids)
        by_id: dict[str, CreditorBatch] = {}
        fan_out = self.fetch_batches(
            ids, concurrency=concurrency, deadline=deadline, **get_batch_params
        )
        async with fan_out:
            async for result in fan_out:
                by_id[result.creditor_id] = result
        return [by_id[creditor_id] for creditor_id in ids]

    def settlement_poller(
        self,
        creditor_ids: Iterable[str],
        *,
        store: CheckpointStore,
        interval: float = 60.0,
        start: Start = "beginning",
        concurrency: int = 10,
        page_delay: float = 0.0,
        sender_id: str | None = None,
        on_error: ErrorCallback | None = None,
        jitter: float = 0.1,
        max_error_backoff: float = 900.0,
        dedupe_window: int = 10_000,
    ) -> SettlementPoller:
        """A :class:`~amili_async.SettlementPoller` that pulls every new settlement of
        ``creditor_ids``, resuming from the cursors in ``store``.

        ```python
        async with client.settlement_poller(ids, store=SQLiteCheckpointStore("cp.db")) as poller:
            async for event in poller:
                await book(event.settlement)
        ```

        See :class:`~amili_async.SettlementPoller` for the arguments and the delivery guarantee.
        """
        return SettlementPoller(
            self,
            creditor_ids,
            store=store,
            interval=interval,
            start=start,
            concurrency=concurrency,
            page_delay=page_delay,
            sender_id=sender_id,
            on_error=on_error,
            jitter=jitter,
            max_error_backoff=max_error_backoff,
            dedupe_window=dedupe_window,
        )

    async def ping(self) -> None:
        """``GET /webapi/api/Ping``: returns when the service is up and the credentials work."""
        await self.requester.call(endpoints.PING)


def _batch_query(params: BatchQuery) -> BatchQuery:
    """The query as given, once an empty ``creditor_id`` (which a server reads as "every
    creditor") is refused."""
    if params.get("creditor_id") == "":
        raise errors.ConfigurationError(
            "creditor_id is empty; leave it out (or None) to ask for every creditor"
        )
    return params


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _base_url(value: str | None) -> URL:
    if not value:
        raise errors.ConfigurationError(
            "no base URL: pass base_url=... or set AMILI_BASE_URL to the service's root URL"
        )
    url = URL(value.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.ConfigurationError(f"base_url must be an http(s) URL, got {value!r}")
    if url.user or url.password:
        raise errors.ConfigurationError("put credentials in token=/username=, not in base_url")
    return url


def _auth(
    auth: Auth | None,
    token: str | None,
    username: str | None,
    password: str | None,
    token_provider: TokenProvider | None,
) -> Auth:
    given = [x for x in (auth, token, username or password, token_provider) if x]
    if len(given) > 1:
        raise errors.ConfigurationError(
            "give one of auth=, token=, username=/password= or token_provider="
        )
    if auth is not None:
        return auth
    if token_provider is not None:
        return TokenProviderAuth(token_provider)
    if username or password:
        return _basic(username, password)
    token = token or os.environ.get("AMILI_TOKEN")
    if token:
        return BearerAuth(token)
    oauth = _client_credentials(os.environ.get("AMILI_CLIENT_ID"), None, None)
    if oauth is not None:
        return oauth
    env_user, env_password = os.environ.get("AMILI_USERNAME"), os.environ.get("AMILI_PASSWORD")
    if env_user or env_password:
        return _basic(env_user, env_password)
    raise errors.ConfigurationError(
        "no credentials: pass token=... (or set AMILI_TOKEN), username=/password=, "
        "client_id=/client_secret=/token_url= (or AMILI_CLIENT_ID, ...), token_provider= or auth="
    )


def _client_credentials(
    client_id: str | None, client_secret: str | None, token_url: str | None
) -> ClientCredentialsAuth | None:
    """OAuth2 client credentials when any of the three is given, each falling back to its
    environment variable; ``None`` when none is given."""
    if not (client_id or client_secret or token_url):
        return None
    env = os.environ.get
    client_id = client_id or env("AMILI_CLIENT_ID")
    client_secret = client_secret or env("AMILI_CLIENT_SECRET")
    token_url = token_url or env("AMILI_TOKEN_URL")
    if not (client_id and client_secret and token_url):
        raise errors.ConfigurationError(
            "client credentials need client_id, client_secret and token_url (or AMILI_CLIENT_ID, "
            "AMILI_CLIENT_SECRET, AMILI_TOKEN_URL)"
        )
    return ClientCredentialsAuth(client_id, client_secret, token_url)


def _basic(username: str | None, password: str | None) -> BasicAuth:
    if not (username and password):
        raise errors.ConfigurationError("HTTP Basic needs both username and password")
    return BasicAuth(username, password)
