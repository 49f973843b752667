"""HmacSha256Verifier: the encodings it accepts, what it refuses, and that the secret stays hidden."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amili_async import ConfigurationError, Secret
from amili_async.webhooks import HmacSha256Verifier, WebhookVerifier, sign_webhook

SECRET = "whsec_SECRET_do_not_leak_77"
BODY = b'{"id":"e","type":"CASE","data":{}}'
DIGEST = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()


def signed(value: str, **more: str) -> dict[str, str]:
    return {"X-Webhook-Signature": value, **more}


@pytest.mark.parametrize(
    "signature",
    [
        DIGEST.hex(),
        DIGEST.hex().upper(),
        "sha256=" + DIGEST.hex(),
        "SHA256=" + DIGEST.hex(),
        base64.b64encode(DIGEST).decode(),
        "sha256=" + base64.b64encode(DIGEST).decode(),
        base64.urlsafe_b64encode(DIGEST).decode().rstrip("="),
        f"  {DIGEST.hex()} ",
    ],
)
def test_accepts_hex_and_base64_with_or_without_prefix(signature: str) -> None:
    verifier = HmacSha256Verifier(SECRET)
    assert isinstance(verifier, WebhookVerifier)
    assert verifier.verify(BODY, signed(signature))
    assert verifier.verify(BODY, {"x-webhook-signature": signature})  # any capitalisation


def test_sign_webhook_is_the_verified_scheme() -> None:
    assert sign_webhook(BODY, SECRET) == "sha256=" + DIGEST.hex()
    assert HmacSha256Verifier(Secret(SECRET)).verify(BODY, signed(sign_webhook(BODY, SECRET)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        signed(""),
        signed("sha256="),
        signed(DIGEST.hex()[:-2]),  # truncated hex
        signed(base64.b64encode(DIGEST[:-1]).decode()),  # truncated base64
        signed(DIGEST.hex() + "00"),  # too long
        signed(sign_webhook(BODY, "another secret")),
        signed("sha256=" + "z" * 64),
        signed("sha256=ÆØÅ"),
        {"X-Other-Signature": DIGEST.hex()},
    ],
)
def test_refuses_missing_wrong_or_truncated_signatures(headers: dict[str, str]) -> None:
    assert not HmacSha256Verifier(SECRET).verify(BODY, headers)


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
def test_any_change_of_the_body_fails(body: bytes, suffix: bytes) -> None:
    verifier = HmacSha256Verifier(SECRET)
    signature = sign_webhook(body, SECRET)
    assert verifier.verify(body, signed(signature))
    assert not verifier.verify(body + suffix, signed(signature))


def test_timestamp_tolerance() -> None:
    now = 1_800_000_000.0
    verifier = HmacSha256Verifier(SECRET, tolerance=300, clock=lambda: now)
    good = sign_webhook(BODY, SECRET)
    fresh_iso = datetime.datetime.fromtimestamp(now - 10, datetime.UTC).isoformat()
    assert verifier.verify(BODY, signed(good, **{"X-Webhook-Timestamp": str(int(now) - 299)}))
    assert verifier.verify(BODY, signed(good, **{"X-Webhook-Timestamp": fresh_iso}))
    assert verifier.verify(BODY, signed(good))  # no timestamp header: nothing to check
    for stale in (str(int(now) - 301), str(int(now) + 301), "nan", "not a time"):
        assert not verifier.verify(BODY, signed(good, **{"X-Webhook-Timestamp": stale}))
    custom = HmacSha256Verifier(
        SECRET,
        tolerance=datetime.timedelta(seconds=5),
        timestamp_header="X-Sent-At",
        clock=lambda: now,
    )
    assert not custom.verify(BODY, signed(good, **{"X-Sent-At": str(int(now) - 6)}))
    # without a tolerance the header is ignored
    assert HmacSha256Verifier(SECRET).verify(BODY, signed(good, **{"X-Webhook-Timestamp": "0"}))


def test_secret_never_printed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = HmacSha256Verifier(SECRET, tolerance=1)
    verifier.verify(BODY, signed("wrong"))
    assert SECRET not in repr(verifier)
    assert SECRET not in str(verifier)
    assert SECRET not in caplog.text
    assert not hasattr(verifier, "__dict__")


@pytest.mark.parametrize("kwargs", [{"secret": ""}, {"secret": SECRET, "tolerance": -1}])
def test_rejects_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        HmacSha256Verifier(**kwargs)  # type: ignore[arg-type]
