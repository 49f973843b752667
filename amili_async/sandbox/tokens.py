"""The sandbox's OAuth2 token endpoint: client credentials in, short-lived bearer tokens out.

``POST /token`` with the form ``grant_type=client_credentials``, ``client_id``, ``client_secret``
answers like Amili's auth server (``access_token``, ``token_type``, ``not_before``,
``expires_in``, ``expires_on``, ``resource``). A wrong grant type or a missing field is a 400
(``unsupported_grant_type`` / ``invalid_request``), wrong credentials a 401 (``invalid_client``).
The tokens it issued are accepted by every route of both APIs until they expire or
[`revoke_all`][amili_async.sandbox.tokens.TokenIssuer.revoke_all] is called.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import time
from typing import Final

from aiohttp import web

from .generator import encode_json

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "TOKEN_PATH", "TokenIssuer"]

TOKEN_PATH: Final = "/token"  # noqa: S105 - a path, not a secret
DEFAULT_CLIENT_ID: Final = "sandbox-client"
DEFAULT_CLIENT_SECRET: Final = "sandbox-client-secret"  # noqa: S105 - a public sandbox credential
_MAX_TOKENS: Final = 10_000  # a long-running sandbox forgets the oldest beyond this


@dataclasses.dataclass
class TokenIssuer:
    """Issues and checks the sandbox's OAuth2 tokens.

    Attributes:
        client_id: The client id accepted.
        client_secret: The client secret accepted.
        ttl: Lifetime of a token in seconds (``expires_in``).
        issued: How many tokens were issued so far.
    """

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    ttl: float = 3600.0
    issued: int = 0
    _tokens: dict[str, float] = dataclasses.field(default_factory=dict, repr=False)

    def accepts(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired or been revoked."""
        expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def revoke_all(self) -> None:
        """Every token issued so far is rejected from now on (401)."""
        self._tokens.clear()

    def issue(self) -> str:
        """A new token, valid for ``ttl`` seconds."""
        token = "sbx_at_" + secrets.token_urlsafe(24)
        if len(self._tokens) >= _MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        self._tokens[token] = time.monotonic() + self.ttl
        self.issued += 1
        return token

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /token``."""
        form = await request.post()
        grant, client_id, secret = (
            form.get("grant_type"),
            form.get("client_id"),
            form.get("client_secret"),
        )
        if grant != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        if not isinstance(client_id, str) or not isinstance(secret, str):
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            return _oauth_error(401, "invalid_client", "unknown client or wrong client secret")
        now = int(time.time())
        answer = {
            "access_token": self.issue(),
            "token_type": "Bearer",
            "not_before": now,
            "expires_in": int(self.ttl) if self.ttl == int(self.ttl) else self.ttl,
            "expires_on": now + int(self.ttl),
            "resource": "amili-sandbox",
        }
        return web.Response(body=encode_json(answer), content_type="application/json")


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = encode_json({"error": error, "error_description": description})
    return web.Response(body=body, status=status, content_type="application/json")
