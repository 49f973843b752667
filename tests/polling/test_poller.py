"""The settlement poller's contract, against a small scripted settlement server.

The sandbox-based crash soaks live in test_soak.py (the plain loop) and test_worker_pool.py (the
guide's worker-pool recipe with auto_ack=False).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import amili_async
from amili_async import (
    AmiliClient,
    AuthenticationError,
    CheckpointError,
    ClientClosedError,
    ConfigurationError,
    CursorStalledError,
    FileCheckpointStore,
    MemoryCheckpointStore,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
    SettlementEvent,
    SettlementPoller,
    SQLiteCheckpointStore,
)
from amili_async.polling import ClaimingStore, PollerOptions

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
        self.answer_once: dict[str, list[int]] = {}  # the next answer: these settlement numbers
        self.hold: dict[str, asyncio.Event] = {}  # answer only once the event is set

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
        if creditor in self.hold:
            await self.hold[creditor].wait()
        ledger = self.ledgers[creditor]
        cursor = request.query.get("lastsettlementid")
        if creditor in self.answer_once:
            page = [ledger[n - 1] for n in self.answer_once.pop(creditor)]
            return self.answer(creditor, page, cursor)
        start = 0
        if cursor and creditor not in self.ignore_cursor:
            ids = [s["id"] for s in ledger]
            if cursor not in ids:
                return web.json_response({"message": "unknown lastsettlementid"}, status=400)
            start = ids.index(cursor) + (0 if self.repeat_cursor else 1)
        return self.answer(creditor, ledger[start : start + self.page_size], cursor)

    def answer(self, creditor: str, page: list[dict[str, Any]], cursor: str | None) -> web.Response:
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


# -- auto_ack=False ---------------------------------------------------------------------------------


async def test_manual_acks_move_the_cursor_only_past_a_fully_acked_prefix(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 5}, page_size=5)
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    ids = [s["id"] for s in backend.ledgers["A"]]
    async with (
        asyncio.timeout(5),  # an ack that waited for another event's ack would hang here
        client.settlement_poller(["A"], store=store, interval=0.01, auto_ack=False) as poller,
    ):
        events = await take(poller, 5)  # asking for the next event acked nothing
        assert await store.load("", "A") is None

        await events[2].ack()  # an early ack: recorded, returns at once, saves nothing
        assert await store.load("", "A") is None and not events[2].acked
        await events[0].ack()
        assert await store.load("", "A") == ids[0]
        await events[1].ack()  # fills the gap: the cursor moves past 2 and the early 3
        assert await store.load("", "A") == ids[2]
        assert [e.acked for e in events] == [True, True, True, False, False]
        await events[4].ack()
        await events[4].ack()  # twice is harmless
        assert await store.load("", "A") == ids[2]
        await events[3].ack()
        assert await store.load("", "A") == ids[4]
        assert poller._outstanding == 0

    async with client.settlement_poller(["A"], store=store, interval=0.01) as poller:
        backend.pay("A")
        (event,) = await take(poller, 1)
    assert event.settlement.settlement_number == 6  # nothing acked came again


async def test_max_unacked_holds_the_loop_until_the_oldest_event_is_acked(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 6}, page_size=6)
    client, _ = await backend_client(backend)
    async with client.settlement_poller(
        ["A"], store=MemoryCheckpointStore(), interval=0.01, auto_ack=False, max_unacked=2
    ) as poller:
        first, second = await take(poller, 2)
        waiting = asyncio.create_task(anext(poller))
        for _ in range(20):  # the third event is fetched and queued; the loop must still wait
            await asyncio.sleep(0.005)
        assert not waiting.done()
        await second.ack()  # the cursor cannot pass it yet: the first is still out
        for _ in range(20):
            await asyncio.sleep(0.001)
        assert not waiting.done()
        await first.ack()
        third = await asyncio.wait_for(waiting, 5)
    assert third.settlement.settlement_number == 3


async def test_concurrent_acks_of_one_creditor_merge_into_few_saves(
    backend_client: MakeClient,
) -> None:
    class SlowStore(MemoryCheckpointStore):
        saves = 0

        async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
            self.saves += 1
            await asyncio.sleep(0.01)
            await super().save(sender_id, creditor_id, cursor)

    backend = SettlementBackend({"A": 200}, page_size=50)
    client, _ = await backend_client(backend)
    store = SlowStore()
    async with client.settlement_poller(
        ["A"], store=store, interval=0.01, auto_ack=False
    ) as poller:
        events = await take(poller, 200)
        # in order, so that every ack extends the acked prefix and wants a save of its own
        await asyncio.wait_for(asyncio.gather(*(e.ack() for e in events)), 10)
    assert await store.load("", "A") == backend.ledgers["A"][-1]["id"]  # the newest wins
    assert store.saves <= 10  # far fewer than 200: waiting acks merged into one save
    assert all(e.acked for e in events)


# -- a stalled page (item 2) ---------------------------------------------------------------------------


async def test_a_stalled_page_delivers_its_new_settlement_after_recovery(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 4}, page_size=1)
    client, _ = await backend_client(backend)
    reported: list[Exception] = []
    async with client.settlement_poller(
        ["A"],
        store=MemoryCheckpointStore(),
        interval=0.01,
        max_error_backoff=0.01,
        on_error=lambda _, error: reported.append(error),
    ) as poller:
        (first,) = await take(poller, 1)
        # asked from settlement 1: a new settlement, then the cursor's own one again
        backend.answer_once["A"] = [2, 1]
        rest = await take(poller, 3)
    assert numbers([first, *rest]) == [1, 2, 3, 4]
    assert len(reported) == 1 and isinstance(reported[0], CursorStalledError)


# -- claims (item 3) ------------------------------------------------------------------------------------


class ClaimingMemoryStore(MemoryCheckpointStore):
    """A fake ClaimingStore: records claims and releases, and can refuse."""

    def __init__(self, refuse: Exception | None = None) -> None:
        super().__init__()
        self.refuse = refuse
        self.calls: list[tuple[str, str, list[str]]] = []
        self.requests_at_claim = -1
        self.recorded: Recorded | None = None

    async def claim(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        self.calls.append(("claim", sender_id, list(creditor_ids)))
        if self.recorded is not None:
            self.requests_at_claim = self.recorded.count
        if self.refuse is not None:
            raise self.refuse

    async def release(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        self.calls.append(("release", sender_id, list(creditor_ids)))


async def test_a_claiming_store_is_claimed_before_any_fetch_and_released_on_close(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 2, "B": 1})
    client, seen = await backend_client(backend)
    store = ClaimingMemoryStore()
    store.recorded = seen
    assert isinstance(store, ClaimingStore)
    async with client.settlement_poller(
        ["A", "B"], store=store, interval=0.01, sender_id="S"
    ) as poller:
        assert store.calls == [("claim", "S", ["A", "B"])]
        await take(poller, 3)
    assert store.requests_at_claim == 0
    assert store.calls == [("claim", "S", ["A", "B"]), ("release", "S", ["A", "B"])]


@pytest.mark.parametrize(
    "refusal",
    [CheckpointError("creditor A is held by pid 42 on host x"), OSError("disk on fire")],
    ids=["held", "oserror"],
)
@pytest.mark.parametrize("entry", ["async with", "async for"])
async def test_a_refused_claim_surfaces_before_anything_is_fetched(
    backend_client: MakeClient, refusal: Exception, entry: str
) -> None:
    backend = SettlementBackend({"A": 2})
    client, seen = await backend_client(backend)
    store = ClaimingMemoryStore(refuse=refusal)
    poller = client.settlement_poller(["A"], store=store, interval=0.01)

    async def start() -> None:
        if entry == "async with":
            async with poller:
                pytest.fail("entered")  # pragma: no cover
        else:
            async for _ in poller:
                pytest.fail("delivered")  # pragma: no cover

    with pytest.raises(CheckpointError) as raised:
        await start()
    if isinstance(refusal, CheckpointError):
        assert raised.value is refusal  # the store's message names the holder
    else:
        assert "disk on fire" in str(raised.value) and repr(store) in str(raised.value)
    await poller.aclose()
    assert seen.count == 0
    assert [call[0] for call in store.calls] == ["claim"]  # nothing claimed: nothing released


# -- errors that end the poller (items 4, 5) ---------------------------------------------------------


class BrokenStore(MemoryCheckpointStore):
    def __init__(self, *, load: Exception | None = None, save: Exception | None = None) -> None:
        super().__init__()
        self.load_error, self.save_error = load, save

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        if self.load_error is not None:
            raise self.load_error
        return await super().load(sender_id, creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        if self.save_error is not None:
            raise self.save_error
        await super().save(sender_id, creditor_id, cursor)


async def drain(poller: SettlementPoller, within: float = 5.0) -> list[SettlementEvent]:
    events: list[SettlementEvent] = []
    async with asyncio.timeout(within):
        async for event in poller:
            events.append(event)
    return events


@pytest.mark.parametrize(
    "failure",
    [
        OSError(28, "No space left on device"),
        sqlite3.DatabaseError("database disk image is malformed"),
        CheckpointError("checkpoint file is not a valid checkpoint map"),
    ],
    ids=["oserror", "sqlite", "checkpoint"],
)
async def test_a_store_that_cannot_load_ends_the_poller(
    backend_client: MakeClient, failure: Exception
) -> None:
    client, seen = await backend_client(SettlementBackend({"A": 2, "B": 2}))
    poller = client.settlement_poller(["A", "B"], store=BrokenStore(load=failure), interval=0.01)
    with pytest.raises(CheckpointError) as raised:
        async with poller:
            await drain(poller)
    assert str(failure) in str(raised.value)
    assert seen.count == 0  # no creditor was polled from an unknown cursor
    assert poller._tasks == []


@pytest.mark.parametrize("auto_ack", [True, False])
async def test_a_store_that_cannot_save_ends_the_poller(
    backend_client: MakeClient, auto_ack: bool
) -> None:
    client, _ = await backend_client(SettlementBackend({"A": 5}))
    store = BrokenStore(save=sqlite3.OperationalError("attempt to write a readonly database"))
    async with client.settlement_poller(
        ["A"], store=store, interval=0.01, auto_ack=auto_ack
    ) as poller:
        first = await anext(poller)
        if auto_ack:
            with pytest.raises(CheckpointError, match="readonly"):
                await anext(poller)  # the implicit ack of the first event
        else:
            with pytest.raises(CheckpointError, match="readonly"):
                await first.ack()
        with pytest.raises(CheckpointError, match="readonly"):  # and the loop has ended
            await drain(poller)


async def test_closing_the_client_under_the_poller_ends_it(backend_client: MakeClient) -> None:
    client, _ = await backend_client(SettlementBackend({"A": 1}))
    async with client.settlement_poller(
        ["A"], store=MemoryCheckpointStore(), interval=0.01
    ) as poller:
        await take(poller, 1)
        await client.close()
        with pytest.raises(ClientClosedError):
            await drain(poller)


async def test_rejected_credentials_end_the_poller_but_other_errors_stay_per_creditor(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 1, "B": 1})
    backend.status["B"] = 404
    client, _ = await backend_client(backend)
    reported: list[str] = []
    async with client.settlement_poller(
        ["A", "B"],
        store=MemoryCheckpointStore(),
        interval=0.01,
        on_error=lambda cid, _: reported.append(cid),
    ) as poller:
        (event,) = await take(poller, 1)  # B's 404 did not stop A
        assert event.creditor_id == "A" and "B" in reported
        backend.status["A"] = 401
        with pytest.raises(AuthenticationError):
            await drain(poller)


# -- arguments (item 6) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creditor_ids", "options"),
    [
        ([""], {}),
        (["A", "  "], {}),
        ([None], {}),
        ([923609016], {}),
        ("923609016", {}),
        (["A"], {"concurrency": 0}),
        (["A"], {"concurrency": 2.5}),
        (["A"], {"concurrency": True}),
        (["A"], {"interval": 0}),
        (["A"], {"interval": -1}),
        (["A"], {"max_unacked": 0}),
        (["A"], {"poll_timeout": 0}),
        (["A"], {"start": "yesterday"}),
    ],
)
async def test_arguments_that_would_mean_everything_or_nothing_are_refused(
    backend_client: MakeClient, creditor_ids: Any, options: dict[str, Any]
) -> None:
    client, seen = await backend_client(SettlementBackend({}))
    with pytest.raises(ConfigurationError):
        client.settlement_poller(creditor_ids, store=MemoryCheckpointStore(), **options)
    assert seen.count == 0


def test_poller_options_declare_exactly_the_pollers_keywords() -> None:
    keywords = {
        name
        for name, parameter in inspect.signature(SettlementPoller.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "store"
    }
    assert set(PollerOptions.__annotations__) == keywords
    assert PollerOptions.__required_keys__ == frozenset()


# -- deadlines, lag, memory, backoff (items 8, 9, 16) --------------------------------------------------


async def test_a_poll_that_outlives_poll_timeout_is_reported_for_its_creditor(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 1, "B": 2})
    backend.hold["A"] = asyncio.Event()  # A's server never answers (until the test ends)
    client, _ = await backend_client(backend)
    reported: list[tuple[str, Exception]] = []
    try:
        async with client.settlement_poller(
            ["A", "B"],
            store=MemoryCheckpointStore(),
            interval=0.01,
            poll_timeout=0.05,
            on_error=lambda cid, error: reported.append((cid, error)),
        ) as poller:
            events = await take(poller, 2)
            for _ in range(200):
                if reported:
                    break
                await asyncio.sleep(0.01)
    finally:
        backend.hold["A"].set()
    assert {e.creditor_id for e in events} == {"B"}
    assert reported and reported[0][0] == "A"
    assert isinstance(reported[0][1], amili_async.TimeoutError)
    assert "poll_timeout" in str(reported[0][1])
    assert poller.stats.failing == ["A"]


async def test_the_kept_last_error_holds_no_frames(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 1})
    backend.status["A"] = 500
    client, _ = await backend_client(backend)
    had_traceback: list[bool] = []
    async with client.settlement_poller(
        ["A"],
        store=MemoryCheckpointStore(),
        interval=0.01,
        on_error=lambda _, error: had_traceback.append(error.__traceback__ is not None),
    ) as poller:
        for _ in range(200):
            if poller.stats.creditors["A"].last_error is not None:
                break
            await asyncio.sleep(0.01)
    kept = poller.stats.creditors["A"].last_error
    assert isinstance(kept, ServerError)
    assert had_traceback == [True]  # on_error still saw the whole error
    assert kept.__traceback__ is None and kept.__cause__ is None and kept.__context__ is None


async def test_the_error_backoff_is_jittered_and_capped(backend_client: MakeClient) -> None:
    client, _ = await backend_client(SettlementBackend({}))
    poller = client.settlement_poller(
        ["A"], store=MemoryCheckpointStore(), interval=10, jitter=0.2, max_error_backoff=100
    )
    third = {poller._error_backoff(3) for _ in range(50)}
    assert len(third) > 1 and all(32 <= d <= 40 for d in third)  # 40 s, less up to 20 %
    assert all(80 <= poller._error_backoff(30) <= 100 for _ in range(50))


@pytest.mark.parametrize("kind", ["file", "sqlite"])
async def test_a_corrupt_checkpoint_store_on_disk_ends_the_poller(
    backend_client: MakeClient, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"checkpoints.{kind}"
    path.write_bytes(b"\x00garbage, not a checkpoint map nor a database" * 100)
    store = FileCheckpointStore(path) if kind == "file" else SQLiteCheckpointStore(path)
    client, seen = await backend_client(SettlementBackend({"A": 1}))
    try:
        poller = client.settlement_poller(["A"], store=store, interval=0.01)
        with pytest.raises(CheckpointError):
            async with poller:
                await drain(poller)
    finally:
        await store.close()
    assert seen.count == 0
