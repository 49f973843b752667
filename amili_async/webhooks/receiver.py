"""[`WebhookReceiver`][amili_async.webhooks.WebhookReceiver]: an aiohttp endpoint that hands each
Amili event to your handler once, and answers 2xx only when the handler has finished with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..errors import ConfigurationError, DecodeError
from .dedupe import MemoryWebhookDedupe, WebhookDedupe
from .events import WebhookEvent, parse_webhook
from .verification import WebhookVerifier

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_PATH", "WebhookHandler", "WebhookReceiver"]

logger = logging.getLogger("amili_async.webhooks")

DEFAULT_PATH = "/amili/webhooks"
"""The path [`WebhookReceiver.add_routes`][amili_async.webhooks.WebhookReceiver.add_routes] serves by default."""
DEFAULT_MAX_BODY_BYTES = 1_000_000
"""The default ``max_body_bytes`` (1 MB): larger bodies are refused with 413, unread."""
_CHUNK = 64 * 1024

WebhookHandler = Callable[[WebhookEvent], Awaitable[object]]
"""An async callable taking the event; its return value is ignored, raising means "not handled"."""


class _TooLarge(Exception):
    pass


class WebhookReceiver:
    """Receives Amili's webhook deliveries and calls ``handler`` once per event.

    For each delivery, in this order:

    1. the body is read, at most ``max_body_bytes`` of it (more: **413**, unread);
    2. ``verifier`` checks it (failure: **401**; nothing else happens);
    3. it is parsed (failure: **400**);
    4. if its key (the ``IdempotencyKey`` header, else the event's ``id``) was handled before:
       **200** without calling the handler;
    5. ``handler(event)`` runs; when it returns, the key is remembered and the answer is **200**.
       If it raises, the answer is **500** (Amili delivers again) and the key is not remembered.

    Two concurrent deliveries of one key never run the handler twice: the second waits for the
    first's outcome, then answers 200 (the first succeeded) or runs as a fresh delivery (it
    failed). That guard is per receiver object; see the guide for several processes.

    Args:
        handler: ``async def handler(event) -> None``; book the event there (idempotently, as
            a second line of defence).
        verifier: Checks signatures; ``None`` accepts every delivery (a warning is logged: use
            it only behind something else that authenticates Amili).
        dedupe: Remembers handled keys; default: a
            [`MemoryWebhookDedupe`][amili_async.webhooks.MemoryWebhookDedupe] (lost on restart;
            use [`SQLiteWebhookDedupe`][amili_async.webhooks.SQLiteWebhookDedupe] to keep them).
            The receiver does not close a store it was given.
        max_body_bytes: Larger bodies are refused with 413.
    """

    def __init__(
        self,
        handler: WebhookHandler,
        *,
        verifier: WebhookVerifier | None = None,
        dedupe: WebhookDedupe | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_body_bytes < 1:
            raise ConfigurationError("max_body_bytes must be at least 1")
        if verifier is None:
            logger.warning("webhook receiver without a verifier: every delivery is trusted")
        self.handler = handler
        self.verifier = verifier
        self.dedupe: WebhookDedupe = dedupe if dedupe is not None else MemoryWebhookDedupe()
        self.max_body_bytes = max_body_bytes
        # key -> resolved with True once the delivery handling it succeeded, False if it failed
        self._in_flight: dict[str, asyncio.Future[bool]] = {}

    def __repr__(self) -> str:
        return f"WebhookReceiver(verifier={self.verifier!r}, dedupe={self.dedupe!r})"

    def add_routes(self, app: web.Application, path: str = DEFAULT_PATH) -> None:
        """Mount [`handle`][amili_async.webhooks.WebhookReceiver.handle] as ``POST path`` on
        ``app``."""
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp request handler: mount it with ``app.router.add_post(path,
        receiver.handle)`` (or [`add_routes`][amili_async.webhooks.WebhookReceiver.add_routes])."""
        try:
            body = await self._read(request)
        except _TooLarge:
            return _answer(413, f"body over {self.max_body_bytes} bytes")
        if self.verifier is not None and not self.verifier.verify(body, request.headers):
            logger.warning("webhook rejected: bad or missing signature (%s)", _origin(request))
            return _answer(401, "invalid signature")
        try:
            event = parse_webhook(body, request.headers)
        except DecodeError as exc:
            logger.warning("webhook rejected: %s (%s)", exc.message, _origin(request))
            return _answer(400, f"not a webhook event: {exc.path}")
        key = event.idempotency_key or event.id
        if key is None:
            return await self._call(event)
        return await self._once(key, event)

    async def _read(self, request: web.Request) -> bytes:
        """The body, refusing it as soon as it is known to be too large."""
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            raise _TooLarge
        body = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self.max_body_bytes:
                raise _TooLarge
        return bytes(body)

    async def _once(self, key: str, event: WebhookEvent) -> web.Response:
        """Handle ``event`` unless ``key`` was handled; one delivery per key at a time."""
        while (pending := self._in_flight.get(key)) is not None:
            if await asyncio.shield(pending):
                return self._duplicate(event, key)
            # it failed: loop (a third delivery may have taken the key meanwhile), then run fresh
        # No await between the loop's last check and this line: we hold the key now.
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = outcome
        succeeded = False
        try:
            if await self.dedupe.seen(key):
                succeeded = True
                return self._duplicate(event, key)
            response = await self._call(event)
            if response.status == 200:
                succeeded = True
                await self._remember(key)
            return response
        except Exception:  # the store failed: Amili should try again
            logger.exception("webhook %s %s: dedupe store failed", event.type, key)
            return _answer(500, "dedupe store failed")
        finally:
            del self._in_flight[key]
            outcome.set_result(succeeded)

    def _duplicate(self, event: WebhookEvent, key: str) -> web.Response:
        logger.info("webhook %s %s: repeated delivery, already handled", event.type, key)
        return _answer(200, "duplicate")

    async def _call(self, event: WebhookEvent) -> web.Response:
        try:
            await self.handler(event)
        except Exception:
            logger.exception("webhook %s %s: handler failed", event.type, event.id)
            return _answer(500, "handler failed")
        return _answer(200, "handled")

    async def _remember(self, key: str) -> None:
        # The handler has booked the event: answer 200 even if the key cannot be stored, since a
        # 500 would only invite the redelivery that is now the risk.
        try:
            await self.dedupe.remember(key)
        except Exception:
            logger.exception("webhook %s: handled, but its key could not be stored", key)


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status)


def _origin(request: web.Request) -> str:
    return f"from {request.remote}"
