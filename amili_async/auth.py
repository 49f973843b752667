"""Authentication: a static bearer token, HTTP Basic, or an async token provider.

Secrets live in [`Secret`][amili_async.auth.Secret], whose ``repr``/``str`` never show the value, so
a client, an auth object or a traceback's locals can be printed or logged without leaking them.

An auth object may also implement ``bind(context)`` (see [`BindsContext`][amili_async.auth.BindsContext]):
the client calls it with an [`AuthContext`][amili_async.auth.AuthContext] when it opens its
session, so an auth that fetches tokens over HTTP (OAuth2 client credentials) uses the client's own
session, TLS settings, timeouts and retry policy.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aiohttp

    from .retry import RetryPolicy

__all__ = [
    "Auth",
    "AuthContext",
    "BasicAuth",
    "BearerAuth",
    "BindsContext",
    "Secret",
    "TokenProvider",
    "TokenProviderAuth",
]

TokenProvider = Callable[[], Awaitable[str]]


class Secret:
    """A string that does not print itself. ``reveal()`` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value; use it only to build a header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@runtime_checkable
class Auth(Protocol):
    """What the transport asks of an authentication scheme."""

    async def authorization(self) -> str:
        """The ``Authorization`` header value for the next request."""
        ...

    async def refresh(self, rejected: str) -> bool:
        """The server answered 401 to ``rejected``; return ``True`` when a new value is worth one
        more attempt."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthContext:
    """What a client hands to ``auth.bind(context)`` when it opens its session.

    Attributes:
        session: The client's ``aiohttp.ClientSession`` (the client owns it: do not close it).
        ssl: The client's TLS setting, to pass as ``ssl=`` to aiohttp.
        timeout: The client's per-attempt timeouts.
        retry: The client's [`RetryPolicy`][amili_async.RetryPolicy].
        user_agent: The client's ``User-Agent`` header value.
    """

    session: aiohttp.ClientSession
    ssl: ssl.SSLContext | bool
    timeout: aiohttp.ClientTimeout
    retry: RetryPolicy
    user_agent: str


@runtime_checkable
class BindsContext(Protocol):
    """The optional hook of an auth object: called by the client, once per session it opens,
    before the first request. An auth without it is used as it is."""

    def bind(self, context: AuthContext) -> None:
        """Keep what the auth needs from ``context`` (typically the session, to POST to a token
        URL)."""
        ...


class BearerAuth:
    """A static bearer token (``Authorization: Bearer <token>``), the current legacy API's scheme."""

    def __init__(self, token: str | Secret) -> None:
        secret = token if isinstance(token, Secret) else Secret(token)
        self._header = Secret(f"Bearer {secret.reveal()}")  # built once: sent on every request

    async def authorization(self) -> str:
        return self._header.reveal()

    async def refresh(self, rejected: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "BearerAuth(token=Secret('**********'))"


class BasicAuth:
    """HTTP Basic with the user id and password an ERP gets when AutoCollect is activated (the older
    variant of the legacy API)."""

    def __init__(self, username: str, password: str | Secret) -> None:
        self.username = username
        self._password = password if isinstance(password, Secret) else Secret(password)

    async def authorization(self) -> str:
        pair = f"{self.username}:{self._password.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    async def refresh(self, rejected: str) -> bool:
        return False

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=Secret('**********'))"


class TokenProviderAuth:
    """A bearer token from an async callable, cached until the server rejects it.

    After a 401 the provider is asked once more; concurrent requests that were rejected with the same
    token share that one refresh instead of each calling the provider.
    """

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._token: Secret | None = None
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        if self._token is None:
            async with self._lock:
                if self._token is None:
                    self._token = Secret(await self._provider())
        return f"Bearer {self._token.reveal()}"

    async def refresh(self, rejected: str) -> bool:
        async with self._lock:
            if self._token is not None and f"Bearer {self._token.reveal()}" != rejected:
                return True  # another request already refreshed it
            self._token = Secret(await self._provider())
        return f"Bearer {self._token.reveal()}" != rejected

    def __repr__(self) -> str:
        return f"TokenProviderAuth(provider={self._provider!r})"
