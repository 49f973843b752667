"""The sandbox's webhook deliveries, received by a WebhookReceiver over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from amili_async import AmiliClient, Secret
from amili_async.sandbox import SandboxServer, WebhookEndpoint
from amili_async.webhooks import (
    BatchCompleted,
    CaseEvent,
    HmacSha256Verifier,
    SettlementCreated,
    WebhookEvent,
    WebhookReceiver,
)

SECRET = "whsec_sandbox_SECRET_31"


class Booked:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.fail_next = 0

    async def __call__(self, event: WebhookEvent) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("not booked")
        self.events.append(event)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=2, cases=10, settlements=3, seed=5) as server:
        yield server


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[str, Booked]]:
    booked = Booked()
    app = web.Application()
    WebhookReceiver(booked, verifier=HmacSha256Verifier(SECRET)).add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/amili/webhooks")), booked
    await server.close()


async def test_settlements_delivered_once_each_despite_repeats(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    sandbox.add_webhook(url, secret=SECRET, duplicate_rate=1.0)
    creditor = sandbox.creditor_ids[0]
    paid = sandbox.add_settlements(creditor, 3)
    await sandbox.webhooks.join()
    delivered = [e.settlement_id for e in booked.events if isinstance(e, SettlementCreated)]
    assert sorted(map(str, delivered)) == sorted(s["id"] for s in paid)
    assert len(booked.events) == 3  # every event came twice, each was handled once
    deliveries = sandbox.webhooks.deliveries
    assert len(deliveries) == 6 and {d.status for d in deliveries} == {200}
    assert sum(d.repeat for d in deliveries) == 3
    event = booked.events[0]
    assert isinstance(event, SettlementCreated)
    settlement = next(s for s in paid if s["id"] == event.settlement_id)
    assert event.case_number == settlement["caseNumber"]
    assert event.organization_id == settlement["organization"]["id"]
    assert event.settlement_date is not None
    assert event.settlement_date.isoformat() == settlement["settlementDate"][:10]
    assert event.idempotency_key and event.request_id and event.source == "COLLECTION"


async def test_live_payouts_are_delivered(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    sandbox.add_webhook(url, secret=SECRET)
    before = {c: len(sandbox.ledger(c)) for c in sandbox.creditor_ids}
    sandbox.start_payouts(200.0, seed=1)
    for _ in range(200):  # bounded: at most ~2 s
        if sum(len(sandbox.ledger(c)) - before[c] for c in sandbox.creditor_ids) >= 3:
            break
        await asyncio.sleep(0.01)
    await sandbox.stop_payouts_and_wait()
    await sandbox.webhooks.join()
    new = {s["id"] for c in sandbox.creditor_ids for s in sandbox.ledger(c)[before[c] :]}
    assert len(new) >= 3
    assert {e.settlement_id for e in booked.events if isinstance(e, SettlementCreated)} == new


async def test_post_batch_case_is_delivered_as_case_event(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    sandbox.add_webhook(url, secret=SECRET)
    creditor = sandbox.creditor_ids[1]
    document = {"case": [{"creditorid": creditor, "ledgerref": "ERP-9", "originalprincipal": 10}]}
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
        await client.request(
            "POST", "Batch", body=json.dumps(document).encode(), content_type="application/json"
        )
        (case,) = (await client.get_batch(creditor_id=creditor, ledger_ref="ERP-9")).cases
    await sandbox.webhooks.join()
    [event] = booked.events
    assert isinstance(event, CaseEvent)
    assert event.type == "CASE"
    # sent as a JSON number (as documented), so the legacy number's leading zero is gone
    assert event.case_number is not None and case.case_number is not None
    assert int(event.case_number) == int(case.case_number)
    assert event.status == "REGISTERED"
    assert event.invoices[0]["invoiceNumber"] == "ERP-9"


async def test_failed_delivery_is_redelivered_with_backoff(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    booked.fail_next = 2
    sandbox.add_webhook(url, secret=SECRET, backoff=0.001)
    event_id = sandbox.webhooks.deliver(
        "BATCH_COMPLETED", {"batchId": "b-1", "organizationId": "o-1", "status": "SUCCESS"}
    )
    await sandbox.webhooks.join()
    assert [(d.attempt, d.status) for d in sandbox.webhooks.deliveries] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    [event] = booked.events
    assert isinstance(event, BatchCompleted)
    assert (event.id, event.batch_id, event.status) == (event_id, "b-1", "SUCCESS")


async def test_redelivery_is_bounded_and_wrong_secret_is_refused(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    endpoint_ = sandbox.add_webhook(url, secret="not the secret", max_attempts=3, backoff=0.001)
    assert "not the secret" not in repr(endpoint_)
    sandbox.webhooks.deliver("BATCH_COMPLETED", {"batchId": "b"})
    await sandbox.webhooks.join()
    assert [d.status for d in sandbox.webhooks.deliveries] == [401, 401, 401]
    assert booked.events == []


async def test_unreachable_endpoint_and_filters(sandbox: SandboxServer) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sandbox.add_webhook(
        f"http://127.0.0.1:{port}/hook",
        secret=SECRET,
        max_attempts=2,
        backoff=0.001,
        event_types={"BATCH_COMPLETED"},
    )
    assert sandbox.webhooks.deliver("CASE", {}) is None  # filtered out
    sandbox.webhooks.deliver("BATCH_COMPLETED", {})
    await sandbox.webhooks.join()
    assert [(d.attempt, d.status) for d in sandbox.webhooks.deliveries] == [(1, 0), (2, 0)]
    with pytest.raises(ValueError, match="duplicate_rate"):
        sandbox.add_webhook("http://127.0.0.1:1/", secret=SECRET, duplicate_rate=2)


async def test_collection_batch_completion_hook(
    sandbox: SandboxServer, endpoint: tuple[str, Booked]
) -> None:
    url, booked = endpoint
    sandbox.add_webhook(url, secret=SECRET)
    finished = {
        "batchId": "7d3c1c0e-0000-4000-8000-000000000001",
        "type": "INVOICE",
        "status": "PARTIAL",
        "organizationId": "org-7",
        "succeeded": [{"$type": "invoiceSuccess"}],
        "failed": [],
    }
    sandbox.webhooks.batch_completed(finished)
    await sandbox.webhooks.join()
    [event] = booked.events
    assert isinstance(event, BatchCompleted)
    assert (event.batch_id, event.organization_id, event.status) == (
        finished["batchId"],
        "org-7",
        "PARTIAL",
    )


def test_backoff_doubles_up_to_its_cap() -> None:
    endpoint = WebhookEndpoint("http://127.0.0.1:1/", Secret("s"), backoff=0.1, max_backoff=0.5)
    assert [endpoint.delay(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
