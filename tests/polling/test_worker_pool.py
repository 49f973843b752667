"""The polling guide's worker-pool recipe (``auto_ack=False``), as written there, and its crash soak.

The soak abandons the pool mid-flight (workers cancelled while they book and ack, the poller closed
with events out), restarts a poller on the same store, and checks each round against the promise
of ``ack()``: once an event and every earlier one of its creditor are acked, the stored cursor is
past it. So nothing is lost, and only events handed out but not acked that way come again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from amili_async import (
    AmiliClient,
    CheckpointStore,
    MemoryCheckpointStore,
    RetryPolicy,
    SettlementEvent,
    SettlementPoller,
    SQLiteCheckpointStore,
)
from amili_async.sandbox import SandboxServer

Book = Callable[[SettlementEvent], Awaitable[None]]
Key = tuple[str, str]  # (creditor id, settlement id)
ROUNDS = 16
WORKERS = 6


# -- the recipe, as in docs/guides/polling.md ------------------------------------------------------


async def work(queue: asyncio.Queue[SettlementEvent], book: Book) -> None:
    while True:
        event = await queue.get()
        try:
            await book(event)  # idempotent on event.settlement.id
            await event.ack()
        finally:
            queue.task_done()


async def run_pool(poller: SettlementPoller, book: Book, workers: int = WORKERS) -> None:
    queue: asyncio.Queue[SettlementEvent] = asyncio.Queue(maxsize=workers)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(work(queue, book)) for _ in range(workers)]
        async for event in poller:
            await queue.put(event)
        await queue.join()  # the loop ended (poller.stop()): let the workers finish what they hold
        for task in tasks:
            task.cancel()


# -- tests -------------------------------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=4, seed=5, settlements=30, page_size=7) as server:
        yield server


def ledger_keys(sandbox: SandboxServer) -> dict[str, list[str]]:
    return {cid: [str(s["id"]) for s in sandbox.ledger(cid)] for cid in sandbox.creditor_ids}


async def test_the_worker_pool_recipe_books_everything_once_and_stores_every_cursor(
    sandbox: SandboxServer,
) -> None:
    ledger = ledger_keys(sandbox)
    everything = {(cid, sid) for cid, ids in ledger.items() for sid in ids}
    booked: list[Key] = []
    store = MemoryCheckpointStore()
    rng = random.Random(3)
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
        poller = client.settlement_poller(
            sandbox.creditor_ids, store=store, interval=0.01, auto_ack=False, max_unacked=10
        )

        async def book(event: SettlementEvent) -> None:
            await asyncio.sleep(rng.uniform(0, 0.002))  # workers finish out of order
            booked.append((event.creditor_id, str(event.settlement.id)))
            if set(booked) >= everything:
                poller.stop()

        async with poller, asyncio.timeout(20):
            await run_pool(poller, book)

    assert sorted(booked) == sorted(everything)  # every settlement, once
    for cid, ids in ledger.items():  # workers acked out of order, yet every cursor is the last id
        assert await store.load("", cid) == ids[-1]
    assert poller._outstanding == 0


class Round:
    """What one poller lifetime handed out and acked, to judge the store after its crash."""

    def __init__(self, resumed_after: dict[str, int]) -> None:
        self.resumed_after = resumed_after  # ledger index of each stored cursor at the start
        self.acked: set[Key] = set()  # events whose ack() returned


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    made: CheckpointStore = (
        MemoryCheckpointStore()
        if request.param == "memory"
        else SQLiteCheckpointStore(tmp_path / "checkpoints.db")
    )
    yield made
    await made.close()


@pytest.mark.soak
async def test_worker_pool_crash_soak_loses_nothing_and_redelivers_only_what_was_not_acked(
    sandbox: SandboxServer, store: CheckpointStore
) -> None:
    rng = random.Random(20261129)
    booked: list[Key] = []
    at_risk: set[Key] = set()  # handed out, and the store is not past them (as of the last crash)
    unexpected: list[Key] = []  # re-deliveries of events the store was already past
    stored: dict[str, int] = dict.fromkeys(sandbox.creditor_ids, -1)
    redelivered = 0
    async with AmiliClient(
        base_url=sandbox.url, token=sandbox.token, retry=RetryPolicy(initial_backoff=0.001)
    ) as client:

        def record(event: SettlementEvent) -> Key:
            nonlocal redelivered
            key = (event.creditor_id, str(event.settlement.id))
            if key in booked:
                redelivered += 1
                if key not in at_risk:
                    unexpected.append(key)
            booked.append(key)
            return key

        for _ in range(ROUNDS):
            for cid in rng.sample(sandbox.creditor_ids, 2):  # new payouts: work for every round
                sandbox.add_settlements(cid, rng.randint(5, 20))
            this = Round(dict(stored))
            poller = client.settlement_poller(
                sandbox.creditor_ids,
                store=store,
                interval=0.01,
                auto_ack=False,
                max_unacked=rng.choice([3, 10, 50]),
            )

            async def book(event: SettlementEvent, this: Round = this) -> None:
                await asyncio.sleep(rng.uniform(0, 0.004))  # a booking takes a while
                key = record(event)  # booked: a crash before this line books nothing
                await event.ack()  # the recipe acks again right after: harmless
                this.acked.add(key)

            async def pool(poller: SettlementPoller = poller, book: Book = book) -> None:
                async with poller:
                    await run_pool(poller, book)

            task = asyncio.create_task(pool())
            await asyncio.sleep(rng.uniform(0.005, 0.05))
            task.cancel()  # the process dies: workers mid-booking, mid-ack, events in the queue
            with pytest.raises(asyncio.CancelledError):
                await task
            stored, at_risk = await judge_the_store(store, ledger_keys(sandbox), booked, this)

        # a last round without a crash drains the rest
        everything = {(cid, sid) for cid, ids in ledger_keys(sandbox).items() for sid in ids}
        final = client.settlement_poller(
            sandbox.creditor_ids, store=store, interval=0.01, auto_ack=False
        )

        async def book_the_rest(event: SettlementEvent) -> None:
            record(event)
            if set(booked) >= everything:
                final.stop()

        try:
            async with final, asyncio.timeout(10):
                if set(booked) >= everything:
                    final.stop()
                await run_pool(final, book_the_rest)
        except TimeoutError:
            pass  # something never came: the assert below says what

    print(
        f"worker-pool soak: {ROUNDS} crashes, {len(everything)} settlements, {len(booked)} "
        f"bookings, {redelivered} re-deliveries, {len(everything - set(booked))} lost"
    )
    assert not everything - set(booked)
    assert unexpected == []


async def judge_the_store(
    store: CheckpointStore, ledger: dict[str, list[str]], booked: list[Key], this: Round
) -> tuple[dict[str, int], set[Key]]:
    """Check the promise of ``ack()`` after a crash; return each stored cursor's ledger index and
    the events handed out that may come again."""
    stored: dict[str, int] = {}
    at_risk: set[Key] = set()
    handed_out = set(booked)
    for cid, ids in ledger.items():
        cursor = await store.load("", cid)
        stored[cid] = ids.index(cursor) if cursor is not None else -1
        acked_through = this.resumed_after[cid]  # the round resumed right after it
        while acked_through + 1 < len(ids) and (cid, ids[acked_through + 1]) in this.acked:
            acked_through += 1
        assert stored[cid] >= acked_through, f"{cid}: acks returned, the cursor is not past them"
        at_risk |= {(cid, sid) for sid in ids[stored[cid] + 1 :] if (cid, sid) in handed_out}
    return stored, at_risk
