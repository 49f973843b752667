"""Pure decisions, no I/O: query strings, ``Retry-After``, API families, error responses, redirects.

Kept apart from the transport so each rule is tested with plain values and the I/O layer stays thin.
An [`ApiFamily`][amili_async.endpoints.ApiFamily] is data: its URL prefix, its idempotency header,
how it turns an error response into our error tree and how it reads a page token. The transport
knows none of these.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import http
import math
from collections.abc import Callable, Mapping
from typing import Final

import msgspec
from yarl import URL

from . import errors

__all__ = [
    "BATCH_PARAM_NAMES",
    "COLLECTION",
    "DEFAULT_IDEMPOTENCY_HEADER",
    "LEGACY",
    "ApiFamily",
    "QueryValue",
    "build_query",
    "error_for_status",
    "format_query_value",
    "parse_retry_after",
    "request_id_of",
    "same_origin",
    "unfollowed_redirect",
]

# SDK keyword -> wire name of GET /webapi/api/Batch's query parameters.
BATCH_PARAM_NAMES: Mapping[str, str] = {
    "sender_id": "senderid",
    "creditor_id": "creditorid",
    "customer_ref": "customerref",
    "ledger_ref": "ledgerref",
    "include_closed": "includeclosed",
    "last_settlement_id": "lastsettlementid",
    "remittance_date": "remittancedate",
    "language_code": "languagecode",
}

QueryValue = str | bool | int | datetime.date | None

# Sent when a family documents no idempotency header of its own (the IETF draft's name).
DEFAULT_IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

_REQUEST_ID_HEADERS = ("X-Request-Id", "X-Amili-Request-Id", "Request-Id", "X-Correlation-Id")

_STATUS_ERRORS: Mapping[int, type[errors.APIError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    422: errors.UnprocessableEntityError,
    423: errors.LockedError,
    429: errors.RateLimitError,
}


# -- query strings -------------------------------------------------------------------------------


def format_query_value(value: object) -> str:
    """The wire form of one query value: ``true``/``false``, ISO 8601 dates, text as is."""
    if type(value) is str:  # the usual case first
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()  # the API takes yyyy-MM-dd
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def build_query(names: Mapping[str, str], values: Mapping[str, object]) -> dict[str, str]:
    """The query string for ``values`` (SDK keywords), under their wire ``names``; ``None`` is left
    out, so only what the caller gave is sent."""
    if not values.keys() <= names.keys():  # checked without building a set: a hot path
        unknown = values.keys() - names.keys()
        raise errors.ConfigurationError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    return {
        names[key]: format_query_value(value) for key, value in values.items() if value is not None
    }


# -- response headers ----------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when
    absent, unreadable or negative (then the usual backoff applies); a date in the past is 0."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value, now)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until_http_date(value: str, now: datetime.datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (when - now).total_seconds())


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's request id, from the first of the usual headers that is present."""
    return next((headers[name] for name in _REQUEST_ID_HEADERS if name in headers), None)


# -- error responses -----------------------------------------------------------------------------


def error_for_status(
    status: int,
    *,
    body: str,
    method: str,
    url: str,
    request_id: str | None,
    retry_after: float | None,
    detail: str | None = None,
) -> errors.APIError:
    """The [`APIError`][amili_async.errors.APIError] subclass for an error ``status``, with a
    message that names the status and, briefly, what the server said (``detail``, else the body's
    text)."""
    cls = _STATUS_ERRORS.get(status) or (errors.ServerError if status >= 500 else errors.APIError)
    message = f"HTTP {status} {_reason_phrase(status)}"
    said = body if detail is None else detail
    if said.strip():
        message += f": {_one_line(said)}"
    return cls(
        message,
        status=status,
        body=body,
        method=method,
        url=url,
        request_id=request_id,
        retry_after=retry_after,
    )


def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _text_detail(body: str) -> str | None:
    """The legacy API's error bodies are text (or JSON shown as it is): the whole body speaks."""
    return None


_JSON_ANY: Final = msgspec.json.Decoder()


def _json_detail(body: str) -> str | None:
    """What a Collection API error body says: ``title``, ``detail``, ``message``, the ``errors``
    and ``summary.status``; ``None`` (the text as is) when the body is not such a JSON object."""
    try:
        document = _JSON_ANY.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    parts = [
        str(document[key])
        for key in ("title", "detail", "message")
        if document.get(key) not in ("", None)
    ]
    parts.extend(_error_texts(document.get("errors")))
    summary = document.get("summary")
    if isinstance(summary, dict) and summary.get("status"):
        parts.append(f"status {summary['status']}")
    return "; ".join(parts) if parts else None


def _error_texts(value: object) -> list[str]:
    """``errors`` as a list of strings or objects with a ``message``, or a field -> messages map."""
    if isinstance(value, list):
        return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in value]
    if isinstance(value, dict):
        return [f"{field}: {messages}" for field, messages in value.items()]
    return []


_PAGE_TOKEN: Final = msgspec.json.Decoder(dict[str, object])


def _no_page_token(body: bytes) -> str | None:
    return None


def _summary_page_token(body: bytes) -> str | None:
    """``summary.nextPageToken`` of a Collection API envelope; ``None`` (or empty) ends the list."""
    try:
        summary = _PAGE_TOKEN.decode(body).get("summary")
    except (msgspec.DecodeError, RecursionError):
        return None
    token = summary.get("nextPageToken") if isinstance(summary, dict) else None
    return token if isinstance(token, str) and token else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiFamily:
    """One generation of the API, as data: where it lives and how it speaks.

    Attributes:
        name: A short name for messages (``"legacy"``, ``"collection"``).
        prefix: The path under the base URL (``"webapi/api"``, ``"collection/v1"``).
        idempotency_header: The request header that carries an idempotency key; ``None`` when the
            API documents none (the SDK then sends ``Idempotency-Key``).
        describe_error: Pure: the text of an error body -> what the server said, or ``None`` to
            quote the body as it is.
        page_token: Pure: a 2xx body -> the token of the next page, or ``None`` on the last one.
    """

    name: str
    prefix: str
    idempotency_header: str | None = None
    describe_error: Callable[[str], str | None] = _text_detail
    page_token: Callable[[bytes], str | None] = _no_page_token

    def error_for(
        self, status: int, headers: Mapping[str, str], body: bytes, *, method: str, url: str
    ) -> errors.APIError:
        """The error for an error response (pure: status, headers and body in, error out)."""
        text = body.decode("utf-8", errors="replace")
        return error_for_status(
            status,
            body=text,
            detail=self.describe_error(text),
            method=method,
            url=url,
            request_id=request_id_of(headers),
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )

    @property
    def key_header(self) -> str:
        """The header an idempotency key is sent in."""
        return self.idempotency_header or DEFAULT_IDEMPOTENCY_HEADER


LEGACY: Final = ApiFamily(name="legacy", prefix="webapi/api")
"""The legacy API under ``/webapi/api``: text error bodies, no paging, no documented idempotency
header."""

COLLECTION: Final = ApiFamily(
    name="collection",
    prefix="collection/v1",
    idempotency_header="IdempotencyKey",
    describe_error=_json_detail,
    page_token=_summary_page_token,
)
"""The Collection API under ``/collection/v1``: JSON error bodies, ``summary.nextPageToken``
paging, ``IdempotencyKey`` header."""


# -- redirects -----------------------------------------------------------------------------------


def unfollowed_redirect(
    status: int, headers: Mapping[str, str], *, method: str, url: str
) -> errors.RedirectError | None:
    """A 3xx that reached us was not followed (a redirect to a non-GET, or one without
    ``Location``): an error, never a success or a body to decode."""
    if not 300 <= status < 400:
        return None
    location = headers.get("Location")
    reason = (
        f"to {location!r} not followed for {method} (it could change the request)"
        if location
        else "without a Location header"
    )
    return errors.RedirectError(
        f"HTTP {status} redirect {reason}",
        status=status,
        method=method,
        url=url,
        request_id=request_id_of(headers),
    )


def same_origin(a: URL, b: URL) -> bool:
    """Whether two absolute URLs share scheme, host and port (credentials may follow a redirect
    only then)."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
