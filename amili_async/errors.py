"""The exception tree: every error the SDK lets a user see is an
[`AmiliError`][amili_async.errors.AmiliError].

```
AmiliError
├── ClientClosedError          the client was used after close()
├── ConfigurationError         missing base URL or credentials, bad arguments
├── CheckpointError            a checkpoint store that cannot be read or written safely
│   └── LeaseLostError         this worker no longer holds the creditor (shared stores)
├── CursorStalledError         a settlement cursor that stopped advancing while items came
├── UnknownCreditorError       a settlement poll answered without the creditor asked for
├── TokenProviderError         the token provider (or auth object) failed to give credentials
├── RedirectError              a redirect the SDK does not follow (unsafe, malformed, too many)
├── TransportError             connection failed, reset or timed out (no usable response)
│   └── TimeoutError           also a builtins.TimeoutError
├── ResponseTooLargeError      the body is over max_response_bytes
├── DecodeError                a response body that is not the documented JSON
└── APIError                   the server answered with an error status
    ├── BadRequestError        400
    ├── AuthenticationError    401
    ├── PermissionDeniedError  403
    ├── NotFoundError          404
    ├── ConflictError          409
    ├── UnprocessableEntityError 422
    ├── LockedError            423
    ├── RateLimitError         429 (``retry_after``)
    └── ServerError            5xx
```

Warnings are [`AmiliWarning`][amili_async.AmiliWarning]s
([`MissingCreditorWarning`][amili_async.MissingCreditorWarning]).

Messages carry the method, URL and status so a log line is actionable on its own; they never carry
credentials (the SDK never puts a secret into a URL, and headers are not part of any message).
"""

from __future__ import annotations

import builtins

__all__ = [
    "APIError",
    "AmiliError",
    "AmiliWarning",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "CursorStalledError",
    "DecodeError",
    "LeaseLostError",
    "LockedError",
    "MissingCreditorWarning",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "TimeoutError",
    "TokenProviderError",
    "TransportError",
    "UnknownCreditorError",
    "UnprocessableEntityError",
]

_BODY_EXCERPT = 500


class AmiliError(Exception):
    """Root of every error raised by amili_async.

    Attributes:
        message: A human readable explanation.
        status: The HTTP status of the response, when there was one.
        method: The HTTP method of the request, when there was one.
        url: The URL of the request (never holds credentials).
        request_id: The server's request id header (``X-Request-Id`` and friends), if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.method and self.url:
            parts.append(f"({self.method} {self.url})")
        if self.request_id:
            parts.append(f"[request id {self.request_id}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ClientClosedError(AmiliError):
    """The [`AmiliClient`][amili_async.AmiliClient] was used after it was closed."""


class ConfigurationError(AmiliError):
    """The client was configured wrongly (no base URL, no credentials, conflicting options)."""


class CheckpointError(AmiliError):
    """A checkpoint store cannot be read or written safely (e.g. a corrupt checkpoint file)."""


class LeaseLostError(CheckpointError):
    """This worker's lease on a creditor moved to another worker (a store shared by several
    pollers, such as PostgreSQL): the cursor was not saved, and the new holder carries on from the
    last cursor that was. Raised by a pending
    [`SettlementEvent.ack`][amili_async.SettlementEvent.ack]."""


class CursorStalledError(AmiliError):
    """The server answered a settlement poll with settlements but its cursor did not move.

    The poller takes nothing from that answer (none of its settlements counts as delivered),
    reports the error for that creditor (``on_error``, stats), backs off as after any failure and
    asks again from the same cursor, rather than loop on the same page."""


class UnknownCreditorError(AmiliError):
    """A settlement poll for a creditor came back with neither that creditor nor any settlement:
    the sender does not have that creditor (a typo, a creditor moved to another sender).

    The poller reports it for that creditor (``on_error``, its stats) and backs off as after any
    failure, rather than count an empty success forever; the other creditors go on."""

    def __init__(self, message: str, *, creditor_id: str) -> None:
        super().__init__(message)
        self.creditor_id = creditor_id


class TransportError(AmiliError):
    """No usable response: the connection failed, was reset, or the body could not be read whole.

    Safe to retry for idempotent requests; the default [`RetryPolicy`][amili_async.RetryPolicy]
    does.
    """


class ResponseTooLargeError(AmiliError):
    """The response body is larger than the client's ``max_response_bytes`` (msgspec decodes whole
    documents, so the cap bounds memory). Not retried."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """A connect, read or total deadline expired. Also a builtin ``TimeoutError``, so
    ``except TimeoutError`` written against the builtin catches it too."""


class TokenProviderError(AmiliError):
    """The token provider (or the [`Auth`][amili_async.auth.Auth] object) raised instead of giving
    credentials; the original exception is ``__cause__``.

    Not retried by the [`RetryPolicy`][amili_async.RetryPolicy]: a provider owns its own retries. A
    provider that raises an [`AmiliError`][amili_async.errors.AmiliError] itself (say a
    [`TransportError`][amili_async.errors.TransportError]) has that error passed through unchanged,
    retries included.
    """


class RedirectError(AmiliError):
    """The server redirected somewhere the SDK does not follow: a redirect of a request that is not
    a GET (following it could turn a POST into a GET), one without ``Location``, one to a location
    that is not an http(s) URL or that carries credentials, or too many of them. ``status`` is the
    3xx status when it is known. Not retried."""


class DecodeError(AmiliError):
    """The response body is not the documented JSON.

    Attributes:
        path: Where the first problem is, as a JSON path into the payload (``$.case[3].duedate``),
            or ``$`` when the body is not JSON at all.
        body: The raw bytes of the response, so the payload can be archived or inspected.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        body: bytes = b"",
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, method=method, url=url, request_id=request_id)
        self.path = path
        self.body = body


class APIError(AmiliError):
    """The server answered with an error status.

    Attributes:
        body: The response body as text (decoded leniently), for the details the server gave.
        retry_after: Seconds the server asked us to wait (``Retry-After``, on 429 and 503), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str = "",
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, method=method, url=url, request_id=request_id)
        self.status: int = status
        self.body = body
        self.retry_after = retry_after

    @property
    def body_excerpt(self) -> str:
        """The first 500 characters of the body, for log lines."""
        return self.body[:_BODY_EXCERPT]


class BadRequestError(APIError):
    """400: the server rejected the request (a bad parameter, an unknown settlement cursor)."""


class AuthenticationError(APIError):
    """401: the credentials are missing, wrong or expired (after one token refresh, if configured)."""


class PermissionDeniedError(APIError):
    """403: the credentials are valid but may not act for this sender or creditor."""


class NotFoundError(APIError):
    """404: no such resource."""


class ConflictError(APIError):
    """409: the request conflicts with the current state."""


class UnprocessableEntityError(APIError):
    """422: the request was understood but its content is invalid."""


class LockedError(APIError):
    """423: the resource is locked."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` holds the seconds the server asked us to wait."""


class ServerError(APIError):
    """5xx: the server failed. 502/503/504 (and 500 if configured) are retried for idempotent calls."""


class AmiliWarning(UserWarning):
    """Base of the SDK's warnings: filter them all with
    ``warnings.simplefilter("error", AmiliWarning)``."""


class MissingCreditorWarning(AmiliWarning):
    """An answer for ``creditor_id=X`` does not contain creditor X (an id the sender does not
    have?). Issued by [`get_batch`][amili_async.AmiliClient.get_batch]; the result says so too
    ([`Batch.has_creditor`][amili_async.Batch.has_creditor],
    [`CreditorBatch.missing`][amili_async.CreditorBatch.missing])."""
