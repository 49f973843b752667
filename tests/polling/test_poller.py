"""The settlement poller's contract, against a small scripted settlement server.

The sandbox-based end-to-end and crash-soak tests live in test_poller_sandbox.py and test_soak.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    ConfigurationError,
    CursorStalledError,
    MemoryCheckpointStore,
    PermissionDeniedError,
    RetryPolicy,
    SettlementEvent,
    SettlementPoller,
)

from ..conftest import TOKEN, FakeSleep, Recorded

Serve = Callable[..., Awaitable[tuple[str, Recorded]]]
MakeClient = Callable[["SettlementBackend"], Awaitable[tuple[AmiliClient, Recorded]]]


def settlement(creditor: str, number: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{creditor}/{number}")),
        "settlementNumber": number,
        "paymentAmount": f"{number}.25",
        "currency": "NOK",
        "organization": {"organizationNumber": creditor},
    }


class SettlementBackend:
    """Serves each creditor's settlements after the cursor, a page at a time, with misbehaviours."""

    def __init__(self, ledgers: dict[str, int], page_size: int = 3) -> None:
        self.ledgers = {
            c: [settlement(c, n) for n in range(1, count + 1)] for c, count in ledgers.items()
        }
        self.page_size = page_size
        self.repeat_cursor = False  # also send the cursor's own settlement again
        self.ignore_cursor: set[str] = set()
        self.status: dict[str, int] = {}
        self.fail_next: list[int] = []

    def pay(self, creditor: str, count: int = 1) -> None:
        ledger = self.ledgers[creditor]
        base = len(ledger)
        ledger.extend([settlement(creditor, base + n) for n in range(1, count + 1)])

    async def handler(self, request: web.Request) -> web.Response:
        creditor = request.query["creditorid"]
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0))
        if creditor in self.status:
            return web.json_response({"message": "no"}, status=self.status[creditor])
        ledger = self.ledgers[creditor]
        cursor = request.query.get("lastsettlementid")
        start = 0
        if cursor and creditor not in self.ignore_cursor:
            ids = [s["id"] for s in ledger]
            if cursor not in ids:
                return web.json_response({"message": "unknown lastsettlementid"}, status=400)
            start = ids.index(cursor) + (0 if self.repeat_cursor else 1)
        page = ledger[start : start + self.page_size]
        last = page[-1]["id"] if page else cursor
        body = {
            "creditor": [{"idnumber": creditor, "lastsettlementid": last}],
            "case": [{"ledgerref": "big case list the poller never decodes"}],
            "settlement": page,
        }
        return web.Response(body=json.dumps(body), content_type="application/json")


@pytest.fixture
async def backend_client(serve: Serve, fake_sleep: FakeSleep) -> AsyncIterator[MakeClient]:
    clients: list[AmiliClient] = []

    async def make(backend: SettlementBackend) -> tuple[AmiliClient, Recorded]:
        url, seen = await serve({"GET /webapi/api/Batch": backend.handler})
        client = AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep))
        clients.append(client)
        return client, seen

    yield make
    for client in clients:
        await client.close()


async def take(poller: SettlementPoller, count: int, within: float = 5.0) -> list[SettlementEvent]:
    """The next ``count`` events (bounded in time)."""

    async def collect() -> list[SettlementEvent]:
        events = []
        async for event in poller:
            events.append(event)
            if len(events) == count:
                break
        return events

    return await asyncio.wait_for(collect(), within)


def numbers(events: list[SettlementEvent]) -> list[int | None]:
    return [e.settlement.settlement_number for e in events]


async def test_delivers_every_settlement_in_order_and_saves_cursors(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 7, "B": 5}, page_size=3)
    client, seen = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A", "B"], store=store, interval=0.01) as poller:
        events = await take(poller, 12)
        await events[-1].ack()

    by_creditor = {c: [e for e in events if e.creditor_id == c] for c in "AB"}
    assert numbers(by_creditor["A"]) == [1, 2, 3, 4, 5, 6, 7]
    assert numbers(by_creditor["B"]) == [1, 2, 3, 4, 5]
    assert by_creditor["A"][0].settlement.payment_amount == Decimal("1.25")
    # every creditor's cursor is its last settlement: the other one's via the implicit ack
    assert await store.load("", "A") == backend.ledgers["A"][-1]["id"]
    assert await store.load("", "B") == backend.ledgers["B"][-1]["id"]
    assert poller.stats.settlements_delivered == 12
    assert poller.stats.requests >= 3 + 2  # at least the pages that carried them
    assert {r.query.get("creditorid") for r in seen.requests} == {"A", "B"}


async def test_resumes_from_the_saved_cursor_and_redelivers_only_the_unacked_event(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 6})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A"], store=store, interval=0.01) as poller:
        first = await take(poller, 3)  # the third is never acked: we leave the loop
    assert numbers(first) == [1, 2, 3]
    assert await store.load("", "A") == backend.ledgers["A"][1]["id"]

    async with client.settlement_poller(["A"], store=store, interval=0.01, start="now") as poller:
        rest = await take(poller, 4)
    assert numbers(rest) == [3, 4, 5, 6]  # a saved cursor wins over start="now"


async def test_explicit_ack_stores_the_cursor_before_returning(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 3})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A"], store=store, interval=0.01) as poller:
        (event,) = await take(poller, 1)
        acked_on_delivery = event.acked
        await event.ack()
        assert not acked_on_delivery and event.acked
        assert await store.load("", "A") == str(event.settlement.id)


async def test_the_cursor_never_moves_backwards(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 3})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A"], store=store, interval=0.01) as poller:
        events: list[SettlementEvent] = []
        async for event in poller:  # collect without letting the loop ack anything in between
            events.append(event)
            if len(events) == 1:
                break
        second = await take(poller, 1)
        await second[0].ack()
        await events[0].ack()  # an older ack after a newer one changes nothing
    assert await store.load("", "A") == str(second[0].settlement.id)


async def test_start_now_skips_what_was_paid_before(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 5, "B": 0})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(
        ["A", "B"], store=store, interval=0.01, start="now"
    ) as poller:
        for _ in range(100):  # wait (bounded) until the walk to the end has been saved
            if await store.load("", "A"):
                break
            await asyncio.sleep(0.01)
        assert await store.load("", "A") == backend.ledgers["A"][-1]["id"]
        backend.pay("A", 2)
        backend.pay("B", 1)
        events = await take(poller, 3)
    assert sorted((e.creditor_id, e.settlement.settlement_number) for e in events) == [
        ("A", 6),
        ("A", 7),
        ("B", 1),
    ]


async def test_repeated_settlements_are_dropped(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 5}, page_size=2)
    backend.repeat_cursor = True  # every page starts with the previous page's last settlement
    client, seen = await backend_client(backend)
    async with client.settlement_poller(
        ["A"], store=MemoryCheckpointStore(), interval=0.01
    ) as poller:
        events = await take(poller, 5)
        asked = seen.count
        for _ in range(200):  # let it ask again (bounded): nothing new may come
            if seen.count >= asked + 3:
                break
            await asyncio.sleep(0.01)
        assert seen.count >= asked + 3  # it did poll again, and again
        assert poller._queue.empty() and poller._current is not None
        assert poller._current.next == poller._current.end
    assert numbers(events) == [1, 2, 3, 4, 5]
    assert poller.stats.duplicates_dropped >= 3


async def test_a_stalled_cursor_is_reported_not_looped_on(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 2, "B": 2}, page_size=2)
    backend.ignore_cursor.add("A")  # A's server answers the same page whatever the cursor
    client, _ = await backend_client(backend)
    reported: list[tuple[str, Exception]] = []
    async with client.settlement_poller(
        ["A", "B"],
        store=MemoryCheckpointStore(),
        interval=0.01,
        on_error=lambda cid, error: reported.append((cid, error)),
    ) as poller:
        events = await take(poller, 4)
        for _ in range(100):
            if reported:
                break
            await asyncio.sleep(0.01)
    assert sorted((e.creditor_id, e.settlement.settlement_number) for e in events) == [
        ("A", 1),
        ("A", 2),
        ("B", 1),
        ("B", 2),
    ]
    assert reported and reported[0][0] == "A"
    assert isinstance(reported[0][1], CursorStalledError)
    assert poller.stats.creditors["A"].consecutive_failures >= 1


async def test_a_failing_creditor_is_reported_and_does_not_stop_the_others(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 2, "B": 3})
    backend.status["A"] = 403
    client, _ = await backend_client(backend)
    reported: list[tuple[str, Exception]] = []

    async def on_error(creditor_id: str, error: Exception) -> None:
        reported.append((creditor_id, error))

    async with client.settlement_poller(
        ["A", "B"], store=MemoryCheckpointStore(), interval=0.01, on_error=on_error
    ) as poller:
        events = await take(poller, 3)
    assert {e.creditor_id for e in events} == {"B"}
    assert reported[0][0] == "A" and isinstance(reported[0][1], PermissionDeniedError)
    assert poller.stats.failing == ["A"]
    assert poller.stats.errors >= 1
    # A never succeeded: its lag counts from the start, and max_lag sees it
    assert poller.stats.creditors["A"].last_success_at is None
    lag_a, lag_b = poller.stats.lag("A"), poller.stats.lag("B")
    assert lag_a is not None and lag_b is not None
    max_lag = poller.stats.max_lag
    assert max_lag is not None and max_lag >= lag_a


async def test_transient_failures_are_retried_and_counted(
    backend_client: MakeClient, fake_sleep: FakeSleep
) -> None:
    backend = SettlementBackend({"A": 2})
    backend.fail_next = [503, 502]
    client, _ = await backend_client(backend)
    async with client.settlement_poller(
        ["A"], store=MemoryCheckpointStore(), interval=0.01
    ) as poller:
        events = await take(poller, 2)
    assert numbers(events) == [1, 2]
    assert poller.stats.retries == 2 and poller.stats.errors == 0
    assert len(fake_sleep.delays) == 2


async def test_stop_ends_the_loop(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 10}, page_size=2)
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    seen: list[SettlementEvent] = []
    async with client.settlement_poller(["A"], store=store, interval=0.01) as poller:
        async with asyncio.timeout(5):
            async for event in poller:
                seen.append(event)
                if len(seen) == 3:
                    poller.stop()
    assert numbers(seen) == [1, 2, 3]
    assert await store.load("", "A") == str(seen[-1].settlement.id)  # acked on the way out


async def test_cancelling_the_consumer_leaves_nothing_running(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 0})
    client, _ = await backend_client(backend)
    poller = client.settlement_poller(["A"], store=MemoryCheckpointStore(), interval=0.01)

    async def consume() -> None:
        async with poller:
            async for _ in poller:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert poller._tasks == []


async def test_sender_id_is_sent_and_keys_the_checkpoints(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 1})
    client, seen = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(
        ["A"], store=store, interval=0.01, sender_id="S9"
    ) as poller:
        (event,) = await take(poller, 1)
        await event.ack()
    assert seen.requests[0].query["senderid"] == "S9"
    assert await store.load("S9", "A") == str(event.settlement.id)
    assert await store.load("", "A") is None


async def test_bad_arguments(backend_client: MakeClient) -> None:
    client, _ = await backend_client(SettlementBackend({}))
    with pytest.raises(ConfigurationError, match="start"):
        client.settlement_poller(["A"], store=MemoryCheckpointStore(), start="yesterday")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        client.settlement_poller(["A"], store=MemoryCheckpointStore(), concurrency=0)


def test_the_dedupe_memory_is_bounded_by_whole_pages() -> None:
    from amili_async.polling.poller import _Creditor
    from amili_async.polling.stats import CreditorStats

    state = _Creditor(None, "A", {}, dedupe_window=5, stats=CreditorStats())  # type: ignore[arg-type]
    for page in ([1, 2, 3], [4, 5, 6], [7, 8]):
        state.remember(page)
    assert state.seen == {4, 5, 6, 7, 8}  # the oldest page went once more than 5 were held
    state.remember(list(range(9, 30)))
    assert state.seen == set(range(9, 30))  # the newest page is always kept whole
