"""The sandbox's HTTP face: the legacy API's routes, auth, faults and a request log.

Handlers only parse and answer; the semantics live in ``state``. Middlewares, outermost first:
the request log and in-flight count, the fixed latency, fault injection, authentication.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import dataclasses
import datetime
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from .attachments import stream_generated
from .collection import CollectionApi, route_name
from .faults import Fault, FaultPlan
from .state import SandboxState, UnknownCursorError
from .tokens import TOKEN_PATH

__all__ = ["DEFAULT_REQUEST_LOG_SIZE", "RequestRecord", "SandboxApp"]

DEFAULT_REQUEST_LOG_SIZE: Final = 10_000
"""How many requests a sandbox remembers by default (about 350 bytes each)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ROUTE_NAMES = {
    ("GET", "Batch"): "batch",
    ("POST", "Batch"): "batch_post",
    ("GET", "Ping"): "ping",
    ("GET", "Attachment"): "attachment",
    ("POST", "Attachment"): "attachment",
}
_JSON_TYPES = ("application/json", "application/json-patch+json", "text/json")
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 - Web server received an invalid response</title>"
    "</head><body><h1>Server Error</h1><h2>502 - Web server received an invalid response while "
    "acting as a gateway or proxy server.</h2></body></html>"
)


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it (never its credentials).

    Attributes:
        method: The HTTP method.
        path: The URL path.
        query: The query parameters (names lower-cased).
        status: The status answered (0 for a dropped connection).
        fault: The fault injected, if any.
        at: ``time.monotonic()`` when it arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    fault: Fault | None
    at: float


REQUEST_ID: Final = web.RequestKey("request_id", str)
FAULT: Final = web.RequestKey("fault", Fault)


class _BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclasses.dataclass
class SandboxApp:
    """The aiohttp application of one sandbox, with its knobs and its request log.

    The log keeps the last ``request_log_size`` requests only: a sandbox serving a poller for
    days must not grow without a bound. ``request_count`` counts every request.
    """

    state: SandboxState
    token: str
    username: str
    password: str
    faults: FaultPlan
    latency: float = 0.0
    page_size: int = 500
    request_log_size: int = DEFAULT_REQUEST_LOG_SIZE
    requests: collections.deque[RequestRecord] = dataclasses.field(init=False)
    request_count: int = 0
    collection: CollectionApi | None = None  # the Collection API and its token endpoint
    in_flight: int = 0
    max_in_flight: int = 0
    _request_ids: itertools.count[int] = dataclasses.field(
        default_factory=lambda: itertools.count(1)
    )

    def __post_init__(self) -> None:
        if self.request_log_size < 0:
            raise ValueError(f"request_log_size must be 0 or more, got {self.request_log_size}")
        self.requests = collections.deque(maxlen=self.request_log_size)

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._observe, self._inject_fault, self._authenticate])
        app.router.add_get("/webapi/api/Batch", self.get_batch)
        app.router.add_post("/webapi/api/Batch", self.post_batch)
        app.router.add_get("/webapi/api/Ping", self.ping)
        app.router.add_get("/webapi/api/Attachment", self.get_attachment)
        app.router.add_get("/webapi/api/Attachment/{id}", self.get_attachment)
        app.router.add_post("/webapi/api/Attachment", self.post_attachment)
        if self.collection is not None:
            self.collection.add_routes(app.router)
        return app

    # -- middlewares ----------------------------------------------------------------------------

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = f"sbx-{next(self._request_ids):06d}"
        request[REQUEST_ID] = request_id
        arrived = time.monotonic()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status = 0
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _error(exc.status, exc.reason, request)
            status = response.status
            if not response.prepared:
                response.headers["X-Request-Id"] = request_id
            return response
        finally:
            self.in_flight -= 1
            query = {k.lower(): v for k, v in request.query.items()}
            record = RequestRecord(
                request.method, request.path, query, status, request.get(FAULT), arrived
            )
            self.requests.append(record)
            self.request_count += 1

    @web.middleware
    async def _inject_fault(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route_name(request)
        fault = self.faults.draw(route) if route else None
        if fault is None:
            return await handler(request)
        request[FAULT] = fault
        if fault is Fault.SLOW:
            await asyncio.sleep(self.faults.slow_seconds)
            return await handler(request)
        if fault in (Fault.E500, Fault.E502, Fault.E503, Fault.E429):
            return self._status_fault(int(fault.value), request)
        if fault is Fault.MALFORMED:
            return web.Response(
                body=b'{"batchid": "SBX-MALFORMED", "creditor": [}',
                content_type="application/json",
            )
        if fault is Fault.HTML:
            return web.Response(text=_HTML_ERROR_PAGE, content_type="text/html")
        response = await handler(request)
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
            return response
        body = response.body
        if fault is Fault.TRUNCATE:
            return web.Response(body=body[: len(body) // 2], content_type=response.content_type)
        return await _drop_mid_body(request, response, body)

    def _status_fault(self, status: int, request: web.Request) -> web.Response:
        response = _error(status, "injected fault", request)
        if status in (429, 503):
            response.headers["Retry-After"] = f"{self.faults.retry_after:g}"
        return response

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == TOKEN_PATH:  # authenticated by its form
            return await handler(request)
        if not self._authorized(request.headers.get("Authorization", "")):
            response = _error(401, "missing or invalid credentials", request)
            response.headers["WWW-Authenticate"] = (
                'Bearer realm="amili-sandbox", Basic realm="amili-sandbox"'
            )
            return response
        return await handler(request)

    def _authorized(self, header: str) -> bool:
        # aiohttp hands undecodable header bytes over as lone surrogates: they can match nothing,
        # and encoding them would raise (a 500 instead of the 401 they deserve).
        try:
            credentials = header.encode()
        except UnicodeError:
            return False
        scheme, _, value = credentials.partition(b" ")
        if scheme.lower() == b"bearer":
            oauth = self.collection is not None and self.collection.tokens.accepts(value.decode())
            return oauth or hmac.compare_digest(value, self.token.encode())
        if scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(value, validate=True)
            except binascii.Error:
                return False
            expected = f"{self.username}:{self.password}".encode()
            return hmac.compare_digest(decoded, expected)
        return False

    # -- handlers -----------------------------------------------------------------------------

    async def get_batch(self, request: web.Request) -> web.Response:
        query = {k.lower(): v for k, v in request.query.items()}
        try:
            body = self.state.batch_json(
                sender_id=query.get("senderid"),
                creditor_id=query.get("creditorid"),
                customer_ref=query.get("customerref"),
                ledger_ref=query.get("ledgerref"),
                include_closed=_boolean(query, "includeclosed"),
                last_settlement_id=query.get("lastsettlementid") or None,
                remittance_date=_date(query, "remittancedate"),
                language_code=query.get("languagecode"),
                page_size=self.page_size,
            )
        except _BadParameter as bad:
            return _error(400, str(bad), request, parameter=bad.parameter)
        except UnknownCursorError as unknown:
            return _error(400, str(unknown), request, parameter="lastsettlementid")
        return web.Response(body=body, content_type="application/json")

    async def post_batch(self, request: web.Request) -> web.Response:
        if request.content_type not in _JSON_TYPES:
            return _error(415, f"expected JSON, got {request.content_type!r}", request)
        sender = request.query.get("senderid")
        if sender is not None and sender != self.state.sender_id:
            return _error(403, f"sender {sender!r} is not this account's sender", request)
        try:
            document = json.loads(await request.read(), parse_float=Decimal)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return _error(400, f"the body is not valid JSON: {exc}", request)
        except RecursionError:
            return _error(400, "the body is not valid JSON: nested too deeply", request)
        if not isinstance(document, dict):
            return _error(400, "the body must be a JSON object (a batch document)", request)
        return _json(self.state.apply_batch(document))

    async def ping(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "senderid": self.state.sender_id})

    async def get_attachment(self, request: web.Request) -> web.StreamResponse:
        attachment_id = request.match_info.get("id") or request.query.get("id", "")
        if attachment_id in self.state.generated_attachments:
            size, media_type = self.state.generated_attachments[attachment_id]
            return await stream_generated(request, attachment_id, size, media_type)
        found = self.state.attachment(attachment_id)
        if found is None:
            return _error(404, f"no attachment {attachment_id!r}", request)
        content, content_type = found
        return web.Response(body=content, content_type=content_type)

    async def post_attachment(self, request: web.Request) -> web.Response:
        content = await request.read()
        if not content:
            return _error(400, "the attachment is empty", request)
        content_type = request.content_type or "application/octet-stream"
        return _json({"id": self.state.add_attachment(content, content_type)})


def _route_name(request: web.Request) -> str | None:
    if not request.path.startswith("/webapi/"):
        return route_name(request)  # the Collection API's and the token endpoint's
    resource = request.path.rstrip("/").split("/")
    if len(resource) < 4 or resource[1:3] != ["webapi", "api"]:
        return None
    return _ROUTE_NAMES.get((request.method, resource[3]))


async def _drop_mid_body(
    request: web.Request, response: web.Response, body: bytes
) -> web.StreamResponse:
    """Send the headers and half the body, then cut the connection."""
    stream = web.StreamResponse(status=response.status, headers={"Content-Length": str(len(body))})
    stream.content_type = response.content_type
    stream.headers["X-Request-Id"] = request[REQUEST_ID]
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return stream


def _json(value: Any, status: int = 200) -> web.Response:
    from .generator import encode_json

    return web.Response(body=encode_json(value), status=status, content_type="application/json")


def _error(status: int, message: str, request: web.Request, **extra: str) -> web.Response:
    return _json({"message": message, **extra, "requestId": request.get(REQUEST_ID)}, status)


def _boolean(query: dict[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _BadParameter(name, f"{name} must be true or false, got {value!r}")


def _date(query: dict[str, str], name: str) -> datetime.date | None:
    value = query.get(name)
    if not value:
        return None
    try:
        if "T" in value:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _BadParameter(
            name, f"{name} must be an ISO 8601 date (2026-03-12), got {value!r}"
        ) from None
