"""WebhookReceiver over real HTTP on 127.0.0.1: the order of checks, exactly-once handling,
failures, concurrency and the body limit."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from amili_async.webhooks import (
    HmacSha256Verifier,
    SettlementCreated,
    SQLiteWebhookDedupe,
    WebhookDedupe,
    WebhookEvent,
    WebhookReceiver,
    WebhookVerifier,
    sign_webhook,
)

SECRET = "whsec_SECRET_do_not_leak_77"
PATH = "/amili/webhooks"
Serve = Callable[[WebhookReceiver], Awaitable[TestClient[web.Request, web.Application]]]


def settlement_body(settlement_id: str = "s-1") -> bytes:
    data = {"settlementId": settlement_id, "organizationId": "org", "settlementDate": "2026-03-12"}
    return json.dumps(
        {"id": f"evt-{settlement_id}", "type": "SETTLEMENT_CREATED", "data": data}
    ).encode()


def headers(body: bytes, key: str | None = "key-1", secret: str = SECRET) -> dict[str, str]:
    sent = {"Content-Type": "application/json", "X-Webhook-Signature": sign_webhook(body, secret)}
    if key is not None:
        sent["IdempotencyKey"] = key
    return sent


class Handler:
    """Records the events it is given; fails or blocks on demand."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.failures = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, event: WebhookEvent) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("booking failed")
        self.events.append(event)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(receiver: WebhookReceiver) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        receiver.add_routes(app)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def receiver_for(handler: Handler, dedupe: WebhookDedupe | None = None) -> WebhookReceiver:
    return WebhookReceiver(handler, verifier=HmacSha256Verifier(SECRET), dedupe=dedupe)


async def test_valid_delivery_is_handled_and_answered_200(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    body = settlement_body()
    response = await client.post(
        PATH, data=body, headers={**headers(body), "X-Amili-Request-Id": "r-1"}
    )
    assert response.status == 200
    [event] = handler.events
    assert isinstance(event, SettlementCreated)
    assert (event.settlement_id, event.idempotency_key, event.request_id) == ("s-1", "key-1", "r-1")


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, "truncate", "wrong secret"],
)
async def test_bad_signature_is_401_and_handler_not_called(
    serve: Serve, signature: str | None
) -> None:
    handler = Handler()
    receiver = receiver_for(handler)
    client = await serve(receiver)
    body = settlement_body()
    sent = headers(body, secret="wrong secret" if signature == "wrong secret" else SECRET)
    if signature is None:
        del sent["X-Webhook-Signature"]
    elif signature == "truncate":
        sent["X-Webhook-Signature"] = sent["X-Webhook-Signature"][:-4]
    elif signature != "wrong secret":
        sent["X-Webhook-Signature"] = signature
    response = await client.post(PATH, data=body, headers=sent)
    assert response.status == 401
    assert handler.events == []
    assert not handler.entered.is_set()
    assert not await receiver.dedupe.seen("key-1")  # nothing stored
    # the same delivery, correctly signed, is then handled: the 401 left no trace
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 200
    assert len(handler.events) == 1


async def test_tampered_body_is_401(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    sent = headers(settlement_body("s-1"))
    response = await client.post(PATH, data=settlement_body("s-2"), headers=sent)
    assert response.status == 401
    assert handler.events == []


async def test_unparseable_body_is_400_after_verification(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    body = b'{"data": {}}'  # no event type anywhere
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 400
    assert (await client.post(PATH, data=b"[", headers=headers(b"["))).status == 400
    assert (await client.post(PATH, data=b"[", headers=headers(b"{"))).status == 401  # verify first
    assert handler.events == []


async def test_repeated_delivery_is_handled_once(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    body = settlement_body()
    statuses = [
        (await client.post(PATH, data=body, headers=headers(body))).status for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    assert len(handler.events) == 1
    other = settlement_body("s-2")
    assert (await client.post(PATH, data=other, headers=headers(other, key="key-2"))).status == 200
    assert len(handler.events) == 2


async def test_without_idempotency_key_the_event_id_dedupes(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    body = settlement_body()
    for _ in range(2):
        assert (await client.post(PATH, data=body, headers=headers(body, key=None))).status == 200
    assert len(handler.events) == 1


async def test_handler_failure_is_500_then_redelivery_succeeds(serve: Serve) -> None:
    handler = Handler()
    handler.failures = 1
    receiver = receiver_for(handler)
    client = await serve(receiver)
    body = settlement_body()
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 500
    assert not await receiver.dedupe.seen("key-1")
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 200
    assert len(handler.events) == 1
    assert await receiver.dedupe.seen("key-1")


async def test_concurrent_deliveries_run_the_handler_once(serve: Serve) -> None:
    handler = Handler()
    handler.gate = asyncio.Event()
    client = await serve(receiver_for(handler))
    body = settlement_body()
    first = asyncio.create_task(client.post(PATH, data=body, headers=headers(body)))
    await asyncio.wait_for(handler.entered.wait(), 10)
    second = asyncio.create_task(client.post(PATH, data=body, headers=headers(body)))
    await asyncio.sleep(0.05)  # let the second arrive and wait (the test passes either way)
    assert not second.done()
    handler.gate.set()
    responses = await asyncio.gather(first, second)
    assert [r.status for r in responses] == [200, 200]
    assert len(handler.events) == 1


async def test_concurrent_delivery_runs_fresh_when_the_first_fails(serve: Serve) -> None:
    handler = Handler()
    handler.gate = asyncio.Event()
    handler.failures = 1
    client = await serve(receiver_for(handler))
    body = settlement_body()
    first = asyncio.create_task(client.post(PATH, data=body, headers=headers(body)))
    await asyncio.wait_for(handler.entered.wait(), 10)
    second = asyncio.create_task(client.post(PATH, data=body, headers=headers(body)))
    await asyncio.sleep(0.05)
    handler.gate.set()
    responses = await asyncio.gather(first, second)
    assert [r.status for r in responses] == [500, 200]
    assert len(handler.events) == 1


async def test_many_concurrent_deliveries_of_one_key(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler))
    body = settlement_body()
    responses = await asyncio.gather(
        *(client.post(PATH, data=body, headers=headers(body)) for _ in range(20))
    )
    assert {r.status for r in responses} == {200}
    assert len(handler.events) == 1


async def test_repeated_delivery_across_restart_with_sqlite(serve: Serve, tmp_path: Path) -> None:
    body = settlement_body()
    handled: list[WebhookEvent] = []
    for _ in range(2):  # two receiver "processes" in a row, sharing the database file
        handler = Handler()
        async with SQLiteWebhookDedupe(tmp_path / "dedupe.db") as store:
            client = await serve(receiver_for(handler, store))
            assert (await client.post(PATH, data=body, headers=headers(body))).status == 200
            await client.close()
        handled += handler.events
    assert len(handled) == 1


class BrokenStore:
    async def seen(self, key: str) -> bool:
        raise OSError("disk gone")

    async def remember(self, key: str) -> None:
        raise OSError("disk gone")

    async def close(self) -> None:
        pass


async def test_store_failure_before_handling_is_500(serve: Serve) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler, BrokenStore()))
    body = settlement_body()
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 500
    assert handler.events == []


async def test_body_over_the_limit_is_413(serve: Serve) -> None:
    handler = Handler()
    receiver = WebhookReceiver(handler, verifier=HmacSha256Verifier(SECRET), max_body_bytes=1000)
    client = await serve(receiver)
    body = json.dumps({"type": "CASE", "data": {"fields": ["x" * 2000]}}).encode()
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(100):
            yield b" " * 100

    response = await client.post(PATH, data=chunks(), headers=headers(b"irrelevant"))
    assert response.status == 413
    assert handler.events == []
    small = settlement_body()
    assert (await client.post(PATH, data=small, headers=headers(small))).status == 200


async def test_413_is_answered_before_the_body_is_read(serve: Serve) -> None:
    handler = Handler()
    client = await serve(WebhookReceiver(handler, max_body_bytes=1000))

    async def endless() -> AsyncIterator[bytes]:
        yield b"{" * 100
        await asyncio.sleep(3600)  # never sends the rest: only an early answer ends the test
        yield b""

    headers_ = {"Content-Length": "10000000", "Content-Type": "application/json"}
    response = await asyncio.wait_for(client.post(PATH, data=endless(), headers=headers_), 10)
    assert response.status == 413
    assert handler.events == []


async def test_receiver_without_verifier_accepts_unsigned(serve: Serve) -> None:
    handler = Handler()
    client = await serve(WebhookReceiver(handler))
    body = settlement_body()
    assert (await client.post(PATH, data=body, headers={"IdempotencyKey": "k"})).status == 200
    assert len(handler.events) == 1


def test_configuration_errors_and_repr() -> None:
    from amili_async import ConfigurationError

    async def noop(event: Any) -> None:
        return None

    with pytest.raises(ConfigurationError):
        WebhookReceiver(noop, max_body_bytes=0)
    assert SECRET not in repr(WebhookReceiver(noop, verifier=HmacSha256Verifier(SECRET)))


class TimestampedVerifier:
    """The guide's example of another scheme: signs "<timestamp>.<body>"."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        stamp = headers.get("X-Webhook-Timestamp", "")
        expected = hmac.new(self._key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Webhook-Signature", ""), expected)


async def test_a_custom_verifier_plugs_in(serve: Serve) -> None:
    handler = Handler()
    verifier = TimestampedVerifier(SECRET)
    assert isinstance(verifier, WebhookVerifier)
    client = await serve(WebhookReceiver(handler, verifier=verifier))
    body = settlement_body()
    signature = hmac.new(SECRET.encode(), b"1800000000." + body, hashlib.sha256).hexdigest()
    good = {"X-Webhook-Timestamp": "1800000000", "X-Webhook-Signature": signature}
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 401
    assert (await client.post(PATH, data=body, headers=good)).status == 200
    assert len(handler.events) == 1


class ForgetfulStore(BrokenStore):
    async def seen(self, key: str) -> bool:
        return False


async def test_store_failure_after_handling_still_answers_200(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Handler()
    client = await serve(receiver_for(handler, ForgetfulStore()))
    body = settlement_body()
    assert (await client.post(PATH, data=body, headers=headers(body))).status == 200
    assert len(handler.events) == 1  # booked: a 500 would only invite a second booking
    assert "could not be stored" in caplog.text
