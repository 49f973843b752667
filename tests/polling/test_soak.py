"""Crash soak: kill the poller at random points, restart it on the same store, until drained.

Each round starts a poller on the shared store and consumes with a seeded random crash plan:
* a crash inside the consumer, after a settlement was booked but before it was acknowledged;
* a cancellation at a random moment (inside a fetch, a queue wait, or a checkpoint write).
New settlements are paid out between rounds. At the end: nothing missing, every settlement's first
booking in ledger order, and duplicates only where a crash hit, never more than one per crash.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from unittest import mock

import pytest

from amili_async import (
    AmiliClient,
    CheckpointError,
    CheckpointStore,
    FileCheckpointStore,
    MemoryCheckpointStore,
    RetryPolicy,
    SettlementEvent,
    SQLiteCheckpointStore,
)
from amili_async.sandbox import Fault, FaultPlan, SandboxServer

ROUNDS = 50
SOAK_BUDGET_SECONDS = 40.0


class Crash(Exception):
    """The consumer's process dies."""


StoreFactory = Callable[[Path], CheckpointStore]
STORES: dict[str, StoreFactory] = {
    "memory": lambda _: MemoryCheckpointStore(),
    "file": lambda tmp: FileCheckpointStore(tmp / "checkpoints.json"),
    "sqlite": lambda tmp: SQLiteCheckpointStore(tmp / "checkpoints.db"),
}


class InterruptedWrites:
    """Wraps a store so that some saves die halfway: before the write, or after it but before the
    caller hears back. With the file store, some die inside the write itself (between writing the
    temporary file and renaming it over the checkpoint)."""

    def __init__(self, inner: CheckpointStore, rng: random.Random, rate: float = 0.02) -> None:
        self.inner, self.rng, self.rate = inner, rng, rate
        self.interrupted = 0

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        return await self.inner.load(sender_id, creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        roll = self.rng.random()
        if roll < self.rate:
            self.interrupted += 1
            raise Crash("the process died before the write")
        if roll < 2 * self.rate and isinstance(self.inner, FileCheckpointStore):
            self.interrupted += 1
            with mock.patch("os.replace", side_effect=Crash("the process died mid-write")):
                await self.inner.save(sender_id, creditor_id, cursor)
        await self.inner.save(sender_id, creditor_id, cursor)
        if roll < 3 * self.rate:
            self.interrupted += 1
            raise Crash("the process died after the write, before the ack returned")

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InterruptedWrites]:
    made = InterruptedWrites(STORES[request.param](tmp_path), random.Random(99))
    yield made
    await made.close()


async def run_round(
    client: AmiliClient,
    creditor_ids: list[str],
    store: CheckpointStore,
    rng: random.Random,
    booked: list[tuple[str, str]],
) -> int:
    """One poller lifetime; returns 1 if it died with a booked event not yet acknowledged (the
    only kind of crash that may re-deliver), else 0."""
    crash_after = rng.randint(1, 40)  # bookings before the consumer crashes
    cancel_after = rng.uniform(0.005, 0.15)  # or the task is cancelled at this moment
    poller = client.settlement_poller(creditor_ids, store=store, interval=0.01, concurrency=4)
    in_hand: list[SettlementEvent] = []  # the last event booked

    async def consume() -> None:
        async with poller:
            async for event in poller:
                in_hand[:] = [event]
                booked.append((event.creditor_id, str(event.settlement.id)))
                if len(booked) % 7 == 0:
                    await event.ack()  # sometimes ack explicitly, as a booking transaction would
                crash_now = rng.random() < 1 / crash_after
                if crash_now:
                    raise Crash

    task = asyncio.create_task(consume())
    done, _ = await asyncio.wait({task}, timeout=cancel_after)
    if not done:
        task.cancel()
    # A store write that died ends the poller with a CheckpointError: a crash too.
    with pytest.raises((Crash, asyncio.CancelledError, CheckpointError)):
        await task
    return 1 if in_hand and not in_hand[0].acked else 0


@pytest.mark.soak
async def test_crash_soak_loses_nothing_and_duplicates_at_most_once_per_crash(
    store: InterruptedWrites,
) -> None:
    rng = random.Random(20261124)
    faults = FaultPlan(rate=0.05, kinds=(Fault.E503, Fault.E429, Fault.DROP), seed=7)
    booked: list[tuple[str, str]] = []
    crashes = 0
    started = time.monotonic()
    async with SandboxServer(
        creditors=4, seed=11, settlements=40, page_size=9, faults=faults
    ) as sandbox:
        retry = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)
        async with AmiliClient(base_url=sandbox.url, token=sandbox.token, retry=retry) as client:
            for round_number in range(ROUNDS):
                if round_number % 5 == 0:
                    sandbox.add_settlements(rng.choice(sandbox.creditor_ids), rng.randint(1, 15))
                crashes += await run_round(client, sandbox.creditor_ids, store, rng, booked)
                assert time.monotonic() - started < SOAK_BUDGET_SECONDS
            # a last, crash-free round drains what is left
            faults.rate = 0.0
            store.rate = 0.0
            ledger = {
                (cid, str(s["id"])) for cid in sandbox.creditor_ids for s in sandbox.ledger(cid)
            }
            final = client.settlement_poller(sandbox.creditor_ids, store=store, interval=0.01)
            complete = asyncio.Event()

            async def book_the_rest() -> None:
                async with final:
                    async for event in final:
                        booked.append((event.creditor_id, str(event.settlement.id)))
                        if set(booked) >= ledger:
                            complete.set()

            if set(booked) >= ledger:
                complete.set()
            consumer = asyncio.create_task(book_the_rest())
            async with asyncio.timeout(10):
                await complete.wait()
            final.stop()
            await consumer
            order = {
                cid: [str(s["id"]) for s in sandbox.ledger(cid)] for cid in sandbox.creditor_ids
            }

    missing = ledger - set(booked)
    duplicates = sum(n - 1 for n in Counter(booked).values())
    print(
        f"soak: {ROUNDS} rounds, {crashes} crashes injected ({store.interrupted} in store writes), "
        f"{len(ledger)} settlements, {len(booked)} bookings, {duplicates} duplicates, {len(missing)} lost"
    )
    assert not missing
    assert crashes < ROUNDS  # only rounds that died with an unacked event in hand count
    assert duplicates <= crashes
    for cid, ids in order.items():
        first_seen = list(dict.fromkeys(sid for c, sid in booked if c == cid))
        assert first_seen == ids, f"creditor {cid}: settlements first booked out of order"
