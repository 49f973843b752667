"""Webhook signatures: the [`WebhookVerifier`][amili_async.webhooks.WebhookVerifier] protocol and
the HMAC-SHA256 scheme we assume Amili uses.

Amili names the header (``X-Webhook-Signature``) but not the method. We assume the common one:
HMAC-SHA256 of the raw request body with the shared secret, sent as hex or base64, with or without
a ``sha256=`` prefix. If Amili's turns out different, pass your own verifier to
[`WebhookReceiver`][amili_async.webhooks.WebhookReceiver]: anything with a ``verify(body,
headers) -> bool`` method will do.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from ..auth import Secret
from ..errors import ConfigurationError
from .events import header

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "HmacSha256Verifier",
    "WebhookVerifier",
    "sign_webhook",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
"""The header Amili sends the signature in (seen; the method is not published)."""
TIMESTAMP_HEADER = "X-Webhook-Timestamp"  # assumed name: Amili publishes none
"""The header of the signing time (assumed name: Amili publishes none)."""
_PREFIX = "sha256="
_DIGEST_SIZE = hashlib.sha256().digest_size


@runtime_checkable
class WebhookVerifier(Protocol):
    """Decides whether a delivery really comes from Amili, before anything else looks at it."""

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """``True`` when ``body`` with these ``headers`` is authentic. Must not raise for a
        malformed or missing signature: that is a ``False``."""
        ...


def _key(secret: str | Secret) -> bytes:
    return (secret.reveal() if isinstance(secret, Secret) else secret).encode()


def sign_webhook(body: bytes, secret: str | Secret) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` under the assumed scheme: ``sha256=`` and the
    hex HMAC-SHA256 of the raw body. Useful to test your endpoint; the sandbox signs with it."""
    return _PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


class HmacSha256Verifier:
    """Checks ``X-Webhook-Signature``: HMAC-SHA256 of the raw body with the shared secret.

    The signature may be hex or base64 (standard or URL-safe), with or without a ``sha256=``
    prefix; it is compared in constant time. A missing, malformed or truncated signature fails.

    With ``tolerance``, a delivery whose timestamp header (unix seconds or ISO 8601) is further
    than that from now fails too; a delivery without the header is still accepted, since Amili
    has not said it sends one. The timestamp is not part of the signed content (as far as we
    know), so this catches stale replays by accident, not a forger.

    Args:
        secret: The shared secret; kept in a [`Secret`][amili_async.Secret], never printed.
        tolerance: Seconds (or a ``timedelta``) a timestamp may differ from now; ``None``: no
            check.
        timestamp_header: Where the timestamp is read from.
        signature_header: Where the signature is read from.
        clock: Returns the current unix time; for tests.
    """

    __slots__ = ("_clock", "_secret", "_signature_header", "_timestamp_header", "_tolerance")

    def __init__(
        self,
        secret: str | Secret,
        *,
        tolerance: float | datetime.timedelta | None = None,
        timestamp_header: str = TIMESTAMP_HEADER,
        signature_header: str = SIGNATURE_HEADER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret if isinstance(secret, Secret) else Secret(secret)
        if not self._secret.reveal():
            raise ConfigurationError("the webhook secret is empty")
        if isinstance(tolerance, datetime.timedelta):
            tolerance = tolerance.total_seconds()
        if tolerance is not None and not tolerance >= 0:
            raise ConfigurationError("tolerance must be zero or more seconds")
        self._tolerance = tolerance
        self._timestamp_header = timestamp_header
        self._signature_header = signature_header
        self._clock = clock

    def __repr__(self) -> str:
        return f"HmacSha256Verifier(secret={self._secret!r}, tolerance={self._tolerance!r})"

    __str__ = __repr__

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """``True`` when the signature matches ``body`` and the timestamp (if checked) is fresh."""
        provided = _signature_bytes(header(headers, self._signature_header))
        if provided is None:
            return False
        expected = hmac.new(_key(self._secret), body, hashlib.sha256).digest()
        return hmac.compare_digest(provided, expected) and self._fresh(headers)

    def _fresh(self, headers: Mapping[str, str]) -> bool:
        if self._tolerance is None:
            return True
        stamp = header(headers, self._timestamp_header)
        if stamp is None:
            return True
        sent = _unix_time(stamp)
        return sent is not None and abs(self._clock() - sent) <= self._tolerance


def _signature_bytes(value: str | None) -> bytes | None:
    """The 32 signature bytes from a hex or base64 header value, else ``None``."""
    if value is None:
        return None
    text = value.strip()
    if text[: len(_PREFIX)].lower() == _PREFIX:
        text = text[len(_PREFIX) :]
    if len(text) == 2 * _DIGEST_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass  # 64 characters of base64 is possible in principle; try it
    raw = _base64(text)
    return raw if raw is not None and len(raw) == _DIGEST_SIZE else None


def _base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not."""
    canonical = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(canonical + "=" * (-len(canonical) % 4), validate=True)
    except ValueError:  # binascii.Error is a ValueError; so is a non-ASCII str
        return None


def _unix_time(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    return seconds if math.isfinite(seconds) else None
