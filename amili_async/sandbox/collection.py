"""The sandbox's Collection API routes (``/collection/v1``) and its token endpoint.

Handlers parse and answer; the semantics are in ``collection_state``. Assumptions of the HTTP
face (the real API does not publish them):

* every answer is the envelope ``{"summary": {"status": "SUCCESS", "nextPageToken": ...},
  "data": ...}``; creates answer 202 with ``data: {"batchId", "batchUrl"}``; actions 202 with no
  body; errors are ``{"summary": {"status": "ERROR"}, "title", "status", "detail"}``;
* query parameter names are matched case-insensitively (an ASP.NET service does), dates are
  ``yyyy-MM-dd`` (a timestamp's date is taken), an empty value counts as not given;
* lists page by opaque tokens: a token names its list, filters and position and is refused (400)
  for any other list or when it was not issued; ``PageSize`` defaults to
  [`DEFAULT_PAGE_SIZE`][amili_async.sandbox.collection.DEFAULT_PAGE_SIZE] and is capped at
  [`MAX_PAGE_SIZE`][amili_async.sandbox.collection.MAX_PAGE_SIZE]; below 1 is a 400;
* filters: invoices ``From``/``To`` on the invoice date, cases ``FromCreatedAt``/``ToCreatedAt`` on
  the registration date, settlements ``fromDate``/``toDate`` on the settlement date (inclusive);
  ``SearchTerm`` matches the case number, invoice number, customer name or description, ignoring
  case; batches ``SubjectId`` matches an invoice or case id the batch touched, ``SortDirection``
  ``ASC`` (default: oldest first) or ``DESC``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from .collection_state import (
    BATCH_KINDS,
    CollectionState,
    ConflictError,
    NotFoundError,
    SandboxBatch,
)
from .generator import Json, encode_json
from .tokens import TOKEN_PATH, TokenIssuer

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PREFIX",
    "ROUTES",
    "CollectionApi",
    "route_name",
]

PREFIX: Final = "/collection/v1"
DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
_RESOURCES: Final = ("batches", "invoices", "payments", "corrections", "settlements", "cases")
ROUTES: Final = (
    "token",
    *(f"collection_{name}" for name in _RESOURCES),
    *(f"collection_{name}_post" for name in _RESOURCES),
)
"""The fault-injection route names of the Collection API: ``collection_<resource>`` for GETs,
``collection_<resource>_post`` for creates and actions, ``token`` for the token endpoint."""


def route_name(request: web.Request) -> str | None:
    """The fault-injection route of a request to the token endpoint or the Collection API."""
    if request.path == TOKEN_PATH:
        return "token"
    parts = request.path.removeprefix(PREFIX).strip("/").split("/")
    if not request.path.startswith(PREFIX + "/") or len(parts) < 3 or parts[0] != "orgs":
        return None
    if parts[2] not in _RESOURCES:
        return None
    return f"collection_{parts[2]}" + ("_post" if request.method == "POST" else "")


class _BadRequest(Exception):
    pass


class _PageTokens:
    """Opaque, signed page tokens: ``base64(position.signature)`` bound to one list and filters."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(16)

    def _signature(self, scope: str, position: int) -> str:
        digest = hmac.new(self._key, f"{scope}|{position}".encode(), hashlib.sha256)
        return digest.hexdigest()[:20]

    def make(self, scope: str, position: int) -> str:
        raw = f"{position}.{self._signature(scope, position)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def read(self, scope: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            position_text, _, signature = raw.partition(".")
            position = int(position_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _BadRequest(f"unknown page token {token!r}") from None
        if position < 0 or not hmac.compare_digest(signature, self._signature(scope, position)):
            raise _BadRequest(f"unknown page token {token!r} for this list")
        return position


class CollectionApi:
    """The Collection API of one sandbox: its routes, its state and its token issuer."""

    def __init__(self, state: CollectionState, tokens: TokenIssuer) -> None:
        self.state = state
        self.tokens = tokens
        self.default_page_size = DEFAULT_PAGE_SIZE
        self.max_page_size = MAX_PAGE_SIZE
        self._page_tokens = _PageTokens()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        org = PREFIX + "/orgs/{org_id}"
        router.add_post(TOKEN_PATH, self.tokens.handle)
        router.add_get(org + "/batches", self.list_batches)
        router.add_get(org + "/batches/{batch_id}", self.get_batch)
        for kind in BATCH_KINDS:
            router.add_post(f"{org}/{kind}", self._create(kind))
        router.add_get(org + "/invoices", self.list_invoices)
        router.add_get(org + "/invoices/{item_id}", self.get_invoice)
        router.add_post(org + "/invoices/{item_id}/{action}", self.act)
        router.add_get(org + "/cases", self.list_cases)
        router.add_post(org + "/cases/{item_id}/{action}", self.act)
        router.add_get(org + "/settlements", self.list_settlements)
        router.add_get(org + "/settlements/{settlement_id}", self.get_settlement)

    # -- handlers ---------------------------------------------------------------------------

    async def get_batch(self, request: web.Request) -> web.Response:
        return await _answer(
            lambda: self.state.batch(_org(request), request.match_info["batch_id"]).to_json()
        )

    async def list_batches(self, request: web.Request) -> web.Response:
        def listed() -> web.Response:
            query = _query(request)
            batches = [
                batch for batch in self.state.batches(_org(request)) if _batch_matches(batch, query)
            ]
            batches.sort(key=lambda b: b.created_at, reverse=_descending(query))
            return self._page(request, "batches", query, [b.to_json() for b in batches])

        return await _respond(listed)

    async def list_invoices(self, request: web.Request) -> web.Response:
        def listed() -> web.Response:
            query = _query(request)
            filters = _Filters(query, dates=("from", "to"), on="invoiceDate")
            invoices = [
                invoice
                for invoice in self.state.invoices(_org(request))
                if filters.match(
                    invoice,
                    status=invoice["status"],
                    type=invoice["type"],
                    invoicenumber=invoice["invoiceNumber"],
                    uniquesourceinvoiceid=invoice["uniqueSourceInvoiceId"],
                    customernumber=invoice["customerNumber"],
                )
            ]
            return self._page(request, "invoices", query, invoices)

        return await _respond(listed)

    async def get_invoice(self, request: web.Request) -> web.Response:
        return await _answer(
            lambda: self.state.invoice(_org(request), request.match_info["item_id"])
        )

    async def list_cases(self, request: web.Request) -> web.Response:
        def listed() -> web.Response:
            query = _query(request)
            filters = _Filters(query, dates=("fromcreatedat", "tocreatedat"), on="registeredAt")
            term = (query.get("searchterm") or "").lower()
            cases = [
                case
                for case in self.state.cases(_org(request))
                if filters.match(
                    case,
                    status=case["status"],
                    type=case["type"],
                    casenumber=str(case["caseNumber"]),
                    customernumber=case["debtors"][0].get("customerNumber"),
                    uniquesourceinvoiceid=case["invoices"][0]["uniqueSourceInvoiceId"],
                )
                and (not term or term in _searchable(case))
            ]
            return self._page(request, "cases", query, cases)

        return await _respond(listed)

    async def list_settlements(self, request: web.Request) -> web.Response:
        def listed() -> web.Response:
            query = _query(request)
            filters = _Filters(query, dates=("fromdate", "todate"), on="settlementDate")
            settlements = self.state.settlements(_org(request))
            if filters.dated:
                settlements = [s for s in settlements if filters.match(s)]
            return self._page(request, "settlements", query, settlements)

        return await _respond(listed)

    async def get_settlement(self, request: web.Request) -> web.Response:
        return await _answer(
            lambda: self.state.settlement(_org(request), request.match_info["settlement_id"])
        )

    async def act(self, request: web.Request) -> web.Response:
        def acted() -> web.Response:
            action = request.match_info["action"]
            self.state.act(_org(request), request.match_info["item_id"], action)
            return web.Response(status=202)

        return await _respond(acted)

    def _create(self, kind: str) -> Callable[[web.Request], Any]:
        async def create(request: web.Request) -> web.Response:
            try:
                document = json.loads(await request.read(), parse_float=Decimal)
            except (ValueError, UnicodeDecodeError) as exc:
                return _error(400, "Bad Request", f"the body is not valid JSON: {exc}")
            items = document.get(kind) if isinstance(document, dict) else None
            if not isinstance(items, list) or not items:
                return _error(
                    400, "Bad Request", f'the body must be {{"{kind}": [...]}}, not empty'
                )

            def created() -> web.Response:
                batch, _ = self.state.create(
                    _org(request),
                    kind,
                    items,
                    idempotency_key=request.headers.get("IdempotencyKey"),
                    created_by=self.tokens.client_id,
                )
                path = f"{PREFIX}/orgs/{batch.organization_id}/batches/{batch.id}"
                url = request.url.origin().with_path(path)
                return _envelope({"batchId": batch.id, "batchUrl": str(url)}, status=202)

            return await _respond(created)

        return create

    # -- paging -----------------------------------------------------------------------------

    def _page(
        self, request: web.Request, name: str, query: dict[str, str], items: list[Json]
    ) -> web.Response:
        size = self._page_size(query)
        scope = f"{name}:{_org(request).lower()}:{_scope(query)}"
        token = query.get("pagetoken")
        start = self._page_tokens.read(scope, token) if token else 0
        end = start + size
        next_token = self._page_tokens.make(scope, end) if end < len(items) else None
        return _envelope(items[start:end], next_page_token=next_token)

    def _page_size(self, query: dict[str, str]) -> int:
        text = query.get("pagesize")
        if not text:
            return self.default_page_size
        try:
            size = int(text)
        except ValueError:
            raise _BadRequest(f"PageSize must be an integer, got {text!r}") from None
        if size < 1:
            raise _BadRequest(f"PageSize must be at least 1, got {size}")
        return min(size, self.max_page_size)


# -- helpers ------------------------------------------------------------------------------------


def _org(request: web.Request) -> str:
    return request.match_info["org_id"]


def _query(request: web.Request) -> dict[str, str]:
    """Lower-cased names, empty values dropped."""
    return {name.lower(): value for name, value in request.query.items() if value != ""}


def _scope(query: dict[str, str]) -> str:
    """The filters a page token is bound to (everything but the page size and token)."""
    kept = sorted((k, v) for k, v in query.items() if k not in ("pagesize", "pagetoken"))
    return hashlib.sha256(repr(kept).encode()).hexdigest()[:16]


def _descending(query: dict[str, str]) -> bool:
    direction = query.get("sortdirection", "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise _BadRequest(f"SortDirection must be ASC or DESC, got {direction!r}")
    return direction == "DESC"


def _batch_matches(batch: SandboxBatch, query: dict[str, str]) -> bool:
    checks = (
        ("state", batch.status),
        ("type", BATCH_KINDS[batch.kind]),
        ("idempotencykey", batch.idempotency_key),
    )
    subject = query.get("subjectid")
    return all(name not in query or query[name] == value for name, value in checks) and (
        subject is None or subject.lower() in batch.subjects
    )


def _searchable(case: Json) -> str:
    invoice = case["invoices"][0]
    words = (
        str(case["caseNumber"]),
        invoice["invoiceNumber"],
        case["description"],
        *(debtor.get("fullName") for debtor in case["debtors"]),
    )
    return " ".join(str(word) for word in words if word).lower()


class _Filters:
    """Exact-match filters by lower-cased name, and an inclusive date range on one field."""

    def __init__(self, query: dict[str, str], *, dates: tuple[str, str], on: str) -> None:
        self._query = query
        self._from = _date(query, dates[0])
        self._to = _date(query, dates[1])
        self._field = on
        self.dated = self._from is not None or self._to is not None

    def match(self, item: Json, **values: Any) -> bool:
        for name, value in values.items():
            wanted = self._query.get(name)
            if wanted is not None and str(value) != wanted:
                return False
        if not self.dated:
            return True
        text = item.get(self._field)
        if not text:
            return False
        day = datetime.date.fromisoformat(str(text)[:10])
        return (self._from is None or day >= self._from) and (self._to is None or day <= self._to)


def _date(query: dict[str, str], name: str) -> datetime.date | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise _BadRequest(f"{name} must be a date (2026-03-12), got {value!r}") from None


def _envelope(data: Any, *, status: int = 200, next_page_token: str | None = None) -> web.Response:
    summary: Json = {"status": "SUCCESS"}
    if next_page_token is not None:
        summary["nextPageToken"] = next_page_token
    body = encode_json({"summary": summary, "data": data})
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, title: str, detail: str) -> web.Response:
    body = {"summary": {"status": "ERROR"}, "title": title, "status": status, "detail": detail}
    return web.Response(body=encode_json(body), status=status, content_type="application/json")


async def _respond(handler: Callable[[], web.Response]) -> web.Response:
    """Run a handler, turning the state's refusals into error answers."""
    try:
        return handler()
    except _BadRequest as bad:
        return _error(400, "Bad Request", str(bad))
    except NotFoundError as missing:
        return _error(404, "Not Found", str(missing))
    except ConflictError as conflict:
        return _error(409, "Conflict", str(conflict))


async def _answer(read: Callable[[], Json]) -> web.Response:
    return await _respond(lambda: _envelope(read()))
