"""Pure decisions, no I/O: query strings, ``Retry-After``, status -> error, redirect safety.

Kept apart from the transport so each rule is tested with plain values and the I/O layer stays thin.
"""

from __future__ import annotations

import datetime
import email.utils
import http
import math
from collections.abc import Mapping

from yarl import URL

from . import errors

__all__ = [
    "BATCH_PARAM_NAMES",
    "build_query",
    "error_for_status",
    "parse_retry_after",
    "request_id_of",
    "same_origin",
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


def format_query_value(value: str | bool | int | datetime.date) -> str:
    """The wire form of one query value: ``true``/``false``, ISO 8601 dates, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):  # datetime is a date too: both have isoformat()
        return value.isoformat()
    return str(value)


def build_query(names: Mapping[str, str], values: Mapping[str, QueryValue]) -> dict[str, str]:
    """The query string for ``values`` (SDK keywords), under their wire ``names``; ``None`` is left
    out, so only what the caller gave is sent."""
    unknown = set(values) - set(names)
    if unknown:
        raise errors.ConfigurationError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    return {
        names[key]: format_query_value(value) for key, value in values.items() if value is not None
    }


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when
    absent or unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value, now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


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


def error_for_status(
    status: int,
    *,
    body: str,
    method: str,
    url: str,
    request_id: str | None,
    retry_after: float | None,
) -> errors.APIError:
    """The :class:`~amili_async.APIError` subclass for an error ``status``, with a message that
    names the status and, briefly, what the server said."""
    cls = _STATUS_ERRORS.get(status) or (errors.ServerError if status >= 500 else errors.APIError)
    message = f"HTTP {status} {_reason_phrase(status)}"
    if body.strip():
        message += f": {_one_line(body)}"
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


def same_origin(a: URL, b: URL) -> bool:
    """Whether two absolute URLs share scheme, host and port (credentials may follow a redirect
    only then)."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
