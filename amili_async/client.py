"""AmiliClient: configuration, session lifecycle, and the user-facing methods."""

from __future__ import annotations

import asyncio
import datetime
import functools
import os
import ssl
import warnings
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self, Unpack

import aiohttp
from yarl import URL

from . import _sansio, endpoints, errors
from ._files import write_atomically
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
from .fanout import BATCH_OPTION_NAMES, BatchFanOut, CreditorBatch
from .models import Batch
from .models.documents import BatchDocument, BatchResult, batch_document_json
from .oauth import ClientCredentialsAuth
from .params import BatchOptions, BatchQuery
from .polling.poller import PollerOptions, SettlementPoller
from .retry import RetryHook, RetryPolicy

if TYPE_CHECKING:
    from .polling.stores import CheckpointStore

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AmiliClient",
]

DEFAULT_MAX_CONNECTIONS: Final = 20
# What users paste from the API docs by mistake: the SDK adds these itself.
_API_PREFIXES: Final = ("/webapi/api", "/collection/v1")

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

    Use it as an async context manager, which opens one pooled `aiohttp.ClientSession` and
    closes it on exit:

    ```python
    async with AmiliClient(base_url="https://autocollect.example", token="...") as client:
        batch = await client.get_batch(creditor_id="923609016")
    ```

    Args:
        base_url: The service's root URL; the SDK adds ``/webapi/api/...`` (and
            ``/collection/v1/...``). A URL that already holds one of those (``.../webapi/api``,
            ``.../webapi/api/Batch``) is refused with a
            [`ConfigurationError`][amili_async.ConfigurationError] naming the root to pass. Defaults to the
            ``AMILI_BASE_URL`` environment variable.
        token: A static bearer token. Defaults to ``AMILI_TOKEN``.
        username: With ``password``: HTTP Basic, the older variant of the legacy API. Default
            ``AMILI_USERNAME`` / ``AMILI_PASSWORD``.
        password: See ``username``.
        token_provider: An async callable returning a bearer token. It is called on first use and
            once more after a 401; a second 401 raises
            [`AuthenticationError`][amili_async.AuthenticationError].
        client_id: With ``client_secret`` and ``token_url``: OAuth2 client credentials (the
            Collection API's scheme, accepted by the legacy API too), as
            [`ClientCredentialsAuth`][amili_async.ClientCredentialsAuth]. Each of the three
            defaults to ``AMILI_CLIENT_ID`` / ``AMILI_CLIENT_SECRET`` / ``AMILI_TOKEN_URL``; they
            are used when one of them is passed, or when no other credentials are given and
            ``AMILI_CLIENT_ID`` is set.
        client_secret: See ``client_id``.
        token_url: See ``client_id``.
        auth: Any [`Auth`][amili_async.Auth] object, instead of the options above.
        session: An `aiohttp.ClientSession` to use instead of creating one. The caller owns
            it: the client never closes it, and configures its pool and tracing itself
            (``max_connections`` and ``trace_configs`` are refused with it).
        timeout: Seconds one attempt may take in all, download included. The default (220 s) is a
            minute to the first byte plus a 160 MB batch at 1 MB/s; ``None`` removes the limit
            (the read timeout and the retry policy's ``total_timeout`` still apply).
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds to wait for the next bytes of a response.
        max_connections: Size of the connection pool (default 20) of the session the client
            creates.
        retry: The [`RetryPolicy`][amili_async.RetryPolicy] for idempotent requests.
        max_response_bytes: Larger bodies fail with
            [`ResponseTooLargeError`][amili_async.ResponseTooLargeError] (the whole body is held to
            decode it).
        verify: TLS verification: ``True`` (default), ``False`` (never in production) or an
            `ssl.SSLContext` (e.g. for a private CA).
        user_agent: Appended to the SDK's ``User-Agent`` to identify your integration.
        trust_env: Let aiohttp read proxy settings from the environment.
        on_retry: Called before each retry's sleep with ``(attempt, error, delay)``; for metrics.
        trace_configs: `aiohttp.TraceConfig` objects for the session the client creates, e.g.
            OpenTelemetry's ``create_trace_config()`` (see the observability guide).
        timezone: A `datetime.tzinfo` (``ZoneInfo("Europe/Oslo")``): every naive timestamp of a
            decoded response (batches, poller pages, Collection API models) is made aware in it,
            keeping its wall time, so all timestamps of a batch compare and sort. Aware ones stay
            as sent. Default ``None``: every timestamp as sent (naive ones naive).

    Raises:
        ConfigurationError: No base URL, a base URL with the API's path in it, no credentials,
            conflicting credentials, or ``max_connections`` / ``trace_configs`` given with a
            ``session``.
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
        max_connections: int | None = None,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | ssl.SSLContext = True,
        user_agent: str | None = None,
        trust_env: bool = False,
        on_retry: RetryHook | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        timezone: datetime.tzinfo | None = None,
    ) -> None:
        self.base_url = _base_url(base_url or os.environ.get("AMILI_BASE_URL"))
        oauth = _client_credentials(client_id, client_secret, token_url)
        self.auth = oauth or _auth(auth, token, username, password, token_provider)
        if oauth and any((auth, token, username, password, token_provider)):
            raise errors.ConfigurationError("give client credentials or another auth, not both")
        self.retry = retry or RetryPolicy()
        _check_own_session(session, max_connections, trace_configs)
        if timezone is not None and not isinstance(timezone, datetime.tzinfo):
            raise errors.ConfigurationError(
                f"timezone must be a datetime.tzinfo such as ZoneInfo('Europe/Oslo'), "
                f"not {timezone!r}"
            )
        self.max_connections = max_connections or DEFAULT_MAX_CONNECTIONS
        self.timezone = timezone
        self._trace_configs = list(trace_configs or ())
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
        """Whether [`close`][amili_async.AmiliClient.close] was called."""
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
            self._requester = RequestPath(transport, self.base_url, timezone=self.timezone)
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
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=self._trust_env, trace_configs=self._trace_configs
        )
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
        settlements after that one (see the polling guide;
        [`settlement_poller`][amili_async.AmiliClient.settlement_poller] does it for you).

        With a ``creditor_id`` the answer should hold that creditor; when it does not (an id the
        sender does not have, a typo), a
        [`MissingCreditorWarning`][amili_async.MissingCreditorWarning] is issued and
        [`Batch.has_creditor`][amili_async.Batch.has_creditor] says ``False``.

        Raises:
            ConfigurationError: An unknown keyword, or an empty ``creditor_id``.
            APIError: An error status (a subclass per status).
            TransportError: The connection failed or timed out, after retries.
            DecodeError: The body is not the documented JSON; ``.path`` says where.
        """
        batch = await self.requester.call(endpoints.BATCH, query=_batch_query(params))
        creditor_id = params.get("creditor_id")
        if creditor_id and not batch.has_creditor(creditor_id):
            warnings.warn(
                f"the batch for creditor_id={creditor_id!r} does not contain that creditor "
                "(an id the sender does not have?)",
                errors.MissingCreditorWarning,
                stacklevel=2,
            )
        return batch

    async def get_batch_raw(self, **params: Unpack[BatchQuery]) -> RawResponse:
        """Like [`get_batch`][amili_async.AmiliClient.get_batch] (same keyword arguments) but
        returns the raw response, to archive the exact payload or read headers. Decode it later
        with [`decode_batch`][amili_async.decode_batch]."""
        return await self.requester.send(endpoints.BATCH, query=_batch_query(params))

    def fetch_batches(
        self,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        **params: Unpack[BatchOptions],
    ) -> BatchFanOut:
        """Fetch many creditors' batches concurrently; yield each result as it completes.

        ```python
        async with client.fetch_batches(creditor_ids, concurrency=20) as results:
            async for result in results:
                if result.ok:
                    book(result.batch)
                else:
                    log.warning("creditor %s failed: %s", result.creditor_id, result.error)
        ```

        One use of the generic [`FanOut`][amili_async.FanOut]; see the fan-out guide.

        Args:
            creditor_ids: Any iterable of creditor ids (consumed lazily: a generator of 10,000 ids
                is fine). An empty or blank id yields that creditor's result with a
                [`ConfigurationError`][amili_async.ConfigurationError] (it would ask for every
                creditor), without stopping the others.
            concurrency: At most this many requests at once (a fixed pool of workers, not a task
                per id). Keep it at or below the client's ``max_connections``.
            deadline: Seconds for the whole fan-out; when it passes, what is in flight is
                cancelled and every creditor not yet fetched is yielded with a
                [`TimeoutError`][amili_async.TimeoutError].
            **params: `amili_async.params.BatchOptions`, sent on every
                [`get_batch`][amili_async.AmiliClient.get_batch] (``include_closed=True``, ...).

        Returns:
            An async iterator of [`CreditorBatch`][amili_async.CreditorBatch], exactly one per
            creditor id: an error for one creditor never stops the others. ``async with`` (or
            ``aclose()``) cancels the fetches in flight at once when the loop is left early.

        Raises:
            ConfigurationError: ``creditor_ids`` is a single ``str``, ``concurrency`` is not a
                positive integer, ``deadline`` is negative, or a keyword is not a batch option.
        """
        unknown = set(params) - BATCH_OPTION_NAMES
        if unknown:
            raise errors.ConfigurationError(f"not a get_batch parameter here: {sorted(unknown)}")
        self._ensure_transport()
        return BatchFanOut(
            self, creditor_ids, concurrency=concurrency, deadline=deadline, params=params
        )

    async def get_batches(
        self,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        **params: Unpack[BatchOptions],
    ) -> list[CreditorBatch]:
        """Like [`fetch_batches`][amili_async.AmiliClient.fetch_batches], but wait for all and
        return the results in the order of ``creditor_ids``, one per position (an id given twice
        is fetched twice)."""
        fan_out = self.fetch_batches(
            creditor_ids, concurrency=concurrency, deadline=deadline, **params
        )
        return await fan_out.gather()

    def settlement_poller(
        self,
        creditor_ids: Iterable[str],
        *,
        store: CheckpointStore,
        **options: Unpack[PollerOptions],
    ) -> SettlementPoller:
        """A [`SettlementPoller`][amili_async.SettlementPoller] that pulls every new settlement of
        ``creditor_ids``, resuming from the cursors in ``store``.

        ```python
        async with client.settlement_poller(ids, store=SQLiteCheckpointStore("cp.db")) as poller:
            async for event in poller:
                await book(event.settlement)  # the next step of the loop acks this event
        ```

        See [`SettlementPoller`][amili_async.SettlementPoller] for the options (``interval``,
        ``auto_ack``, ``max_unacked``, ...), their defaults and the delivery guarantee.
        """
        return SettlementPoller(self, creditor_ids, store=store, **options)

    async def ping(self) -> None:
        """``GET /webapi/api/Ping``: returns when the service is up and the credentials work."""
        await self.requester.call(endpoints.PING)

    # -- legacy API: POST Batch and attachments ---------------------------------------------------
    # Shapes assumed from the GET shapes (see docs/guides/batch-and-attachments.md). POSTs carry
    # no idempotency key on this API, so they are never retried once they may have been received.

    async def post_batch(
        self, document: BatchDocument | Mapping[str, Any], *, sender_id: str
    ) -> BatchResult:
        """``POST /webapi/api/Batch``: send a batch document (new creditors, invoices, payments,
        credits, messages to the case handler).

        ```python
        result = await client.post_batch(
            BatchDocument(cases=[NewCase(creditor_id="923609016", ledger_ref="10001",
                                         original_principal=Decimal("1250.00"))]),
            sender_id="MY-SENDER",
        )
        for error in result.errors:
            log.warning("%s #%s refused: %s", error.object_name, error.object_index, error.message)
        ```

        Args:
            document: A [`BatchDocument`][amili_async.BatchDocument] or a plain ``dict`` in the
                wire shape (for what the typed document does not cover).
            sender_id: The sender account (``senderid``).

        Returns:
            The service's status object; refused objects are in ``.errors`` (by list name and
            index) and raise nothing: check ``.ok``.

        Raises:
            APIError: The document as a whole was refused (400, 401, 403, 415, ...).
            TransportError: The request failed; it is **not** retried, since the legacy API has
                no idempotency key and the batch may have been stored. Look it up (e.g. with
                ``get_batch(ledger_ref=...)``) before sending it again.
            DecodeError: The answer is not the documented status object.
        """
        if isinstance(document, BatchDocument):
            wire: Any = batch_document_json(document)
        elif isinstance(document, Mapping):
            wire = dict(document)
        else:
            raise errors.ConfigurationError("document must be a BatchDocument or a dict")
        return await self.requester.call(
            endpoints.BATCH_POST,
            query={"sender_id": sender_id},
            json=wire,
            content_type="application/json-patch+json",
        )

    async def get_attachment(self, attachment_id: str) -> bytes:
        """``GET /webapi/api/Attachment?id=...``: a document linked from a case's history
        (``CaseHistory.attachment_id``), held in memory. For large files use
        [`download_attachment`][amili_async.AmiliClient.download_attachment].

        Raises:
            NotFoundError: No such attachment.
            ResponseTooLargeError: Larger than the client's ``max_response_bytes``.
        """
        return await self.requester.call(
            endpoints.ATTACHMENT, query={"attachment_id": attachment_id}
        )

    async def download_attachment(self, attachment_id: str, path: str | os.PathLike[str]) -> int:
        """Stream an attachment to ``path``; returns its size in bytes.

        Memory stays flat whatever the size (one chunk at a time). The file is written beside
        ``path`` under a temporary name and renamed over it only when complete: a failed
        download leaves ``path`` as it was and no partial file. Retried like any GET (each
        attempt starts over).

        Raises:
            NotFoundError: No such attachment.
            TransportError: The download broke off, after retries.
            AmiliError: ``path`` cannot be written.
        """
        destination = Path(path)
        written = 0

        async def to_file(chunks: AsyncIterable[bytes], expected_size: int | None) -> None:
            nonlocal written
            written = await write_atomically(destination, chunks, expected_size=expected_size)

        query = {"attachment_id": attachment_id}
        await self.requester.send(endpoints.ATTACHMENT, query=query, sink=to_file)
        return written

    async def upload_attachment(
        self, content: bytes, *, content_type: str = "application/pdf"
    ) -> str:
        """``POST /webapi/api/Attachment``: upload a document; returns its new id.

        The upload's shape is not published: we assume the raw file as the body with its media
        type, answered by ``{"id": ...}``. Not retried (no idempotency key).
        """
        uploaded = await self.requester.call(
            endpoints.ATTACHMENT_UPLOAD, content=content, content_type=content_type
        )
        return str(uploaded.id)


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
    path = url.path.rstrip("/").lower() + "/"
    for prefix in _API_PREFIXES:
        at = path.find(prefix + "/")  # whole segments: "/webapi/api-gateway" is not the API's
        if at >= 0:
            root = str(url.with_path(url.path[:at] or "/", encoded=True)).rstrip("/")
            raise errors.ConfigurationError(
                f"base_url contains {prefix!r}, which the SDK adds itself: pass the service's "
                f"root URL, base_url={root!r}"
            )
    return url


def _check_own_session(
    session: aiohttp.ClientSession | None,
    max_connections: int | None,
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
) -> None:
    """Options that configure the session the client creates mean nothing with the user's own:
    refused rather than silently ignored."""
    if max_connections is not None and (
        isinstance(max_connections, bool)
        or not isinstance(max_connections, int)
        or max_connections < 1
    ):
        raise errors.ConfigurationError(
            f"max_connections must be an int >= 1, not {max_connections!r}"
        )
    if session is None:
        return
    given = [
        name
        for name, value in (("max_connections", max_connections), ("trace_configs", trace_configs))
        if value is not None
    ]
    if given:
        raise errors.ConfigurationError(
            f"{' and '.join(given)} configure the session the client creates; with your own "
            "session=, set them on it (aiohttp.TCPConnector(limit=...), "
            "ClientSession(trace_configs=...)) instead"
        )


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
