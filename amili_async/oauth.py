"""OAuth2 client credentials, the Collection API's authentication.

[`ClientCredentialsAuth`][amili_async.ClientCredentialsAuth] fetches a token from the token URL
(``POST``, form-encoded ``grant_type=client_credentials``, ``client_id``, ``client_secret``),
caches it until shortly before it expires, and shares one token request between every caller that
needs a token at the same time. It never shows the secret or a token in a repr, a log line or an
exception (the token endpoint's answers are not put into errors beyond its ``error`` and
``error_description``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp
import msgspec

from . import _sansio, errors
from ._transport import default_user_agent
from .auth import AuthContext, Secret
from .retry import RetryPolicy

__all__ = ["ClientCredentialsAuth"]

logger = logging.getLogger("amili_async.auth")

REFRESH_MARGIN: Final = 60.0
"""A token is replaced this many seconds before it expires..."""
_MIN_LIFETIME_SHARE: Final = 0.5
"""...or, for a token that lives less than two margins, once half its lifetime has passed."""
_REDACTED: Final = "**********"
_DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=30.0)


class _TokenAnswer(msgspec.Struct, gc=False):
    access_token: str
    token_type: str | None = None
    expires_in: int | float | str | None = None
    expires_on: int | float | str | None = None


class _TokenError(msgspec.Struct, gc=False):
    error: str | None = None
    error_description: str | None = None


_ANSWER = msgspec.json.Decoder(_TokenAnswer)
_ERROR = msgspec.json.Decoder(_TokenError)


@dataclasses.dataclass(frozen=True)
class _Token:
    header: Secret  # "Bearer <token>"
    renew_at: float  # on the auth's clock: when to fetch the next one
    expires_at: float  # on the auth's clock: when the server stops taking it


class ClientCredentialsAuth:
    """OAuth2 client credentials: a bearer token fetched from ``token_url`` and renewed as needed.

    ```python
    auth = ClientCredentialsAuth(client_id, client_secret, "https://auth.amili.no/token")
    async with AmiliClient(base_url, auth=auth) as client:
        ...
    ```

    Or let the client build it: ``AmiliClient(base_url, client_id=..., client_secret=...,
    token_url=...)`` (or the ``AMILI_CLIENT_ID``, ``AMILI_CLIENT_SECRET``, ``AMILI_TOKEN_URL``
    environment variables).

    * The token is reused until 60 s before it expires (by ``expires_in``, else ``expires_on``; a
      token that lives under two minutes until half its lifetime; one with neither until the API
      rejects it). When getting the next one fails, the current token is used until it really
      expires (the failure is logged as a warning).
    * Concurrent calls that need a token wait on one token request.
    * After a 401, [`refresh`][amili_async.ClientCredentialsAuth.refresh] drops the rejected token
      and fetches one new token, shared by every call rejected with that same token.
    * The token endpoint's 400 and 401 raise
      [`AuthenticationError`][amili_async.AuthenticationError] with its ``error`` and
      ``error_description``; its 5xx, 429 and transport errors are retried like a GET (in a
      client: as part of the call that needs the token, under the client's policy).

    Args:
        client_id: The OAuth2 client id (not secret; shown in the repr).
        client_secret: The client secret.
        token_url: The token endpoint, e.g. ``https://auth.amili.no/token`` (staging
            ``https://auth.staging.amili.no/token``).
        session: The session for token requests until a client binds its own; without either,
            each token request opens a short-lived session.
        retry: The retry policy of token requests made outside a client (default:
            [`RetryPolicy()`][amili_async.RetryPolicy]); a client's calls retry with its own.
        clock: Seconds on a monotonic clock (inject one in tests).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | Secret,
        token_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (client_id and client_secret and token_url):
            raise errors.ConfigurationError(
                "client credentials need client_id, client_secret and token_url"
            )
        self.client_id = client_id
        self.token_url = token_url
        self._secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self._session = session
        self._retry = retry or RetryPolicy()
        self._timeout = _DEFAULT_TIMEOUT
        self._ssl: ssl.SSLContext | bool = True
        self._user_agent = default_user_agent()
        self._clock = clock
        self._token: _Token | None = None
        self._pending: asyncio.Future[_Token] | None = None
        self.token_requests = 0
        """How many token requests were sent (retries included), for metrics and tests."""

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuth(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"client_secret=Secret('{_REDACTED}'))"
        )

    __str__ = __repr__

    def bind(self, context: AuthContext) -> None:
        """Send token requests over the client's session and settings (the client calls this when
        it opens its transport).

        A bound auth makes one token request per attempt of the API call that needs the token:
        that call's retries (the client's policy) retry the token request too, instead of
        multiplying with retries of its own."""
        self._session = context.session
        self._retry = context.retry.without_retries()
        self._timeout = context.timeout
        self._ssl = context.ssl
        self._user_agent = context.user_agent

    async def authorization(self) -> str:
        """``Bearer <token>``, fetching a token first when there is none or it is about to
        expire."""
        token = self._token
        if token is None or self._clock() >= token.renew_at:
            try:
                token = await self._shared_fetch()
            except errors.AmiliError as failure:
                if token is None or self._clock() >= token.expires_at:
                    raise
                # The margin before expiry is there for this: keep working on the current token.
                logger.warning("OAuth2 token renewal failed, using the current token: %s", failure)
        return token.header.reveal()

    async def refresh(self, rejected: str) -> bool:
        """The API answered 401 to ``rejected``: drop that token and get a new one (unless another
        call already did). Returns whether the new value differs from the rejected one."""
        current = self._token
        if current is not None and current.header.reveal() != rejected:
            return True  # already replaced since that request went out
        if current is not None:
            self._token = None
        token = await self._shared_fetch()
        return token.header.reveal() != rejected

    def invalidate(self) -> None:
        """Forget the cached token: the next call fetches a new one."""
        self._token = None

    # -- the token request --------------------------------------------------------------------

    async def _shared_fetch(self) -> _Token:
        """One token request for every caller that asks while it is in flight."""
        pending = self._pending
        if pending is None or pending.done():
            pending = self._pending = asyncio.ensure_future(self._fetch())
            pending.add_done_callback(self._forget_pending)
        # shield: a caller that is cancelled does not cancel the request the others wait on
        return await asyncio.shield(pending)

    def _forget_pending(self, future: asyncio.Future[_Token]) -> None:
        if self._pending is future:
            self._pending = None
        if not future.cancelled():
            future.exception()  # retrieved: every waiter may have been cancelled

    async def _fetch(self) -> _Token:
        started = self._clock()
        answer = await self._retry.run(self._request_token, label="token request")
        lifetime = _lifetime(answer)
        token = self._token = _Token(
            Secret(f"Bearer {answer.access_token}"),
            renew_at=started + _reuse_for(lifetime),
            expires_at=started + lifetime,
        )
        logger.debug("fetched an OAuth2 token for client %s", self.client_id)
        return token

    async def _request_token(self) -> _TokenAnswer:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.reveal(),
        }
        self.token_requests += 1
        try:
            if self._session is not None and not self._session.closed:
                return await self._post(self._session, form)
            async with aiohttp.ClientSession() as session:
                return await self._post(session, form)
        except errors.AmiliError:
            raise
        except TimeoutError as exc:
            raise errors.TimeoutError(
                "token request timed out", method="POST", url=self.token_url
            ) from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise errors.TransportError(
                f"token request failed: {type(exc).__name__}", method="POST", url=self.token_url
            ) from exc

    async def _post(self, session: aiohttp.ClientSession, form: dict[str, str]) -> _TokenAnswer:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        async with session.post(
            self.token_url, data=form, headers=headers, timeout=self._timeout, ssl=self._ssl
        ) as resp:
            body = await resp.read()
            if resp.status >= 400:
                raise self._error(resp, body)
        try:
            return _ANSWER.decode(body)
        except msgspec.DecodeError:
            # Neither the body nor msgspec's message may be shown: both could hold the token.
            raise errors.DecodeError(
                "the token endpoint's answer is not a JSON object with an access_token",
                status=resp.status,
                method="POST",
                url=self.token_url,
            ) from None

    def _error(self, resp: aiohttp.ClientResponse, body: bytes) -> errors.APIError:
        text = body.decode("utf-8", errors="replace").replace(self._secret.reveal(), _REDACTED)
        request_id = _sansio.request_id_of(resp.headers)
        if resp.status in (400, 401):
            return errors.AuthenticationError(
                f"the token endpoint refused the client credentials (HTTP {resp.status}): "
                f"{_describe(text)}",
                status=resp.status,
                body=text,
                method="POST",
                url=self.token_url,
                request_id=request_id,
            )
        return _sansio.error_for_status(
            resp.status,
            body=text,
            method="POST",
            url=self.token_url,
            request_id=request_id,
            retry_after=_sansio.parse_retry_after(resp.headers.get("Retry-After")),
        )


def _describe(text: str) -> str:
    """``error: error_description`` from an OAuth2 error body, or a note that it had none."""
    try:
        answer = _ERROR.decode(text)
    except msgspec.DecodeError:
        return "no OAuth2 error in the answer"
    parts = [part for part in (answer.error, answer.error_description) if part]
    return ": ".join(parts) or "no OAuth2 error in the answer"


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _lifetime(answer: _TokenAnswer) -> float:
    """Seconds a token lives from when it was asked for: ``expires_in``, else ``expires_on``
    (unix time), else until the API rejects it."""
    lifetime = _seconds(answer.expires_in)
    if lifetime is None:
        expires_on = _seconds(answer.expires_on)
        if expires_on is None:
            return float("inf")
        lifetime = expires_on - time.time()
    return max(0.0, lifetime)


def _reuse_for(lifetime: float) -> float:
    """Seconds to reuse a token that lives ``lifetime`` seconds."""
    if lifetime < 2 * REFRESH_MARGIN:
        return max(0.0, lifetime * _MIN_LIFETIME_SHARE)
    return lifetime - REFRESH_MARGIN
