"""Pollers sharing creditors through a real PostgreSQL server (the throwaway one of the ``pg_dsn``
fixture) and the sandbox: the split, a takeover, a stalled worker's late ack. The crash soak with
worker processes is in test_fleet_soak.py."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import pytest

from amili_async import (
    AmiliClient,
    LeaseLostError,
    PostgresCheckpointStore,
    RetryPolicy,
    SettlementPoller,
)
from amili_async._fleet import Delivery, reconcile
from amili_async.sandbox import SandboxServer

TTL = 1.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait, bounded (30 s), for ``condition``."""
    deadline = time.monotonic() + 30.0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Worker:
    """One poller with its own client and store, booking into a shared list of deliveries and
    acking each settlement as the polling guide shows."""

    def __init__(
        self, name: str, sandbox: SandboxServer, dsn: str, deliveries: list[Delivery]
    ) -> None:
        self.name = name
        self.client = AmiliClient(
            base_url=sandbox.url, token=sandbox.token, retry=RetryPolicy(initial_backoff=0.01)
        )
        self.store = PostgresCheckpointStore(dsn, lease_ttl=TTL)
        self.poller: SettlementPoller = self.client.settlement_poller(
            sandbox.creditor_ids, store=self.store, interval=0.1
        )
        self.deliveries = deliveries
        self.delivered = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.poller.__aenter__()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.poller:
            s = event.settlement
            self.deliveries.append(
                Delivery(
                    self.name,
                    event.creditor_id,
                    str(s.id),
                    s.settlement_number or 0,
                    str(s.payment_amount),
                    event.lease_epoch or 0,
                )
            )
            self.delivered += 1
            try:
                await event.ack()
            except LeaseLostError:
                continue  # the creditor's new holder delivers it again

    async def close(self) -> None:
        await self.poller.aclose()
        if self._task is not None:
            await self._task
        await self.store.close()
        await self.client.close()


@pytest.fixture
async def fleet(pg_dsn: str) -> AsyncIterator[Callable[[SandboxServer, int], Any]]:
    """Start workers over a sandbox; every one is closed after the test."""
    workers: list[Worker] = []

    async def start(sandbox: SandboxServer, count: int) -> tuple[list[Worker], list[Delivery]]:
        deliveries: list[Delivery] = []
        for n in range(count):
            worker = Worker(f"w{n}", sandbox, pg_dsn, deliveries)
            workers.append(worker)
            await worker.start()
        return workers[-count:], deliveries

    yield start
    for worker in workers:
        await worker.close()


async def holders(dsn: str) -> dict[str, str]:
    """Who holds which creditor now, from the database (the many-machines guide's view)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT creditor_id, worker_id FROM amili_checkpoints_leases "
            "WHERE worker_id IS NOT NULL AND expires_at > now()"
        )
    finally:
        await connection.close()
    return {row["creditor_id"]: row["worker_id"] for row in rows}


def ledgers(sandbox: SandboxServer) -> dict[str, list[dict[str, Any]]]:
    return {c: sandbox.ledger(c) for c in sandbox.creditor_ids}


def all_delivered(sandbox: SandboxServer, deliveries: Sequence[Delivery]) -> Callable[[], bool]:
    def done() -> bool:
        ids = {d.settlement_id for d in deliveries}
        return all(str(s["id"]) in ids for c in sandbox.creditor_ids for s in sandbox.ledger(c))

    return done


async def test_two_pollers_split_40_creditors_and_both_deliver(pg_dsn: str, fleet: Any) -> None:
    async with SandboxServer(creditors=40, seed=4, settlements=2) as sandbox:
        (one, two), deliveries = await fleet(sandbox, 2)
        sandbox.start_payouts(30.0, seed=4)
        await until(
            lambda: one.poller.stats.creditors_held == two.poller.stats.creditors_held == 20,
            "an even split",
        )
        await asyncio.sleep(1.0)  # payouts go on, to both
        await sandbox.stop_payouts_and_wait()
        await until(all_delivered(sandbox, deliveries), "every settlement to be delivered")
        held = await holders(pg_dsn)
        assert sorted(held) == sorted(sandbox.creditor_ids)  # each held once, by one worker
        by_worker = {w: sorted(c for c, h in held.items() if h == w) for w in set(held.values())}
        assert sorted(len(creditors) for creditors in by_worker.values()) == [20, 20]
        assert one.delivered > 0
        assert two.delivered > 0
        report = reconcile(deliveries, ledgers(sandbox))
    assert report.lost == []
    assert report.unexplained == []  # a creditor delivered by both only across a takeover
    assert report.redelivered <= one.poller.stats.takeovers + two.poller.stats.takeovers


class SyncLog:
    """Wraps a store's ``sync_leases``: when each sync was sent and what it returned; once
    ``stop`` is set, syncs never answer (the worker stops renewing)."""

    def __init__(self, store: PostgresCheckpointStore) -> None:
        self.inner = store.sync_leases
        self.answered: list[tuple[float, float, Mapping[str, int]]] = []  # sent, answered, held
        self.stop = False
        store.sync_leases = self  # type: ignore[method-assign]

    async def __call__(self, sender_id: str, creditor_ids: Sequence[str]) -> Mapping[str, int]:
        if self.stop:
            await asyncio.Event().wait()
        sent = time.monotonic()
        held = await self.inner(sender_id, creditor_ids)
        self.answered.append((sent, time.monotonic(), held))
        return held


async def test_a_worker_that_stops_renewing_loses_its_creditors_within_two_ttl(
    pg_dsn: str, fleet: Any
) -> None:
    async with SandboxServer(creditors=40, seed=5, settlements=1) as sandbox:
        (survivor, stuck), deliveries = await fleet(sandbox, 2)
        survivor_log, stuck_log = SyncLog(survivor.store), SyncLog(stuck.store)
        await until(
            lambda: survivor.poller.stats.creditors_held == stuck.poller.stats.creditors_held == 20,
            "an even split",
        )
        await until(lambda: len(stuck_log.answered) > 0, "a renewal")
        takeovers_before = survivor.poller.stats.takeovers
        stuck_log.stop = True
        await until(lambda: survivor.poller.stats.creditors_held == 40, "the takeover")
        # The stuck worker stopped delivering on its own once it could not renew for lease_ttl.
        await until(lambda: stuck.poller.stats.creditors_held == 0, "the stuck worker to let go")
        last_renewal, renewed_by, theirs = stuck_log.answered[-1]
        assert len(theirs) == 20
        # The protocol: the survivor's first sync after the stuck worker's leases expired took
        # them all; it syncs every lease_ttl / 3, so that is within 2 x lease_ttl of the renewal.
        expired_by = renewed_by + TTL
        first_after = next(held for sent, _, held in survivor_log.answered if sent > expired_by)
        assert set(theirs) <= set(first_after)
        taken = next(sent for sent, _, held in survivor_log.answered if set(theirs) <= set(held))
        assert taken - last_renewal <= 2 * TTL
        assert survivor.poller.stats.takeovers - takeovers_before == 20
        sandbox.start_payouts(40.0, seed=5)
        await asyncio.sleep(0.5)
        await sandbox.stop_payouts_and_wait()
        await until(all_delivered(sandbox, deliveries), "every settlement to be delivered")
        report = reconcile(deliveries, ledgers(sandbox))
    assert report.lost == []
    assert report.unexplained == []


async def test_a_stalled_workers_late_ack_raises_and_leaves_the_cursor(pg_dsn: str) -> None:
    """A worker whose whole process freezes (a long pause, a stopped VM) while it holds an event
    wakes up after another worker took the creditor over: its ack is refused."""
    got_event = threading.Event()
    wake_up = threading.Event()
    seen: dict[str, Any] = {}

    async def stalled_worker(url: str, token: str, creditor_ids: list[str]) -> None:
        async with (
            AmiliClient(base_url=url, token=token) as client,
            PostgresCheckpointStore(pg_dsn, lease_ttl=TTL) as store,
            client.settlement_poller(creditor_ids, store=store, interval=0.1) as poller,
        ):
            event = await anext(poller)
            seen["event"] = event
            got_event.set()
            wake_up.wait(30)  # blocks this worker's whole event loop: nothing of it runs
            try:
                await event.ack()
            except LeaseLostError as exc:
                seen["error"] = exc

    async with SandboxServer(creditors=1, seed=6, settlements=3) as sandbox:
        creditor = sandbox.creditor_ids[0]
        stalled = asyncio.create_task(
            asyncio.to_thread(
                asyncio.run, stalled_worker(sandbox.url, sandbox.token, sandbox.creditor_ids)
            )
        )
        try:
            assert await asyncio.to_thread(got_event.wait, 30)
            async with (
                AmiliClient(base_url=sandbox.url, token=sandbox.token) as client,
                PostgresCheckpointStore(pg_dsn, lease_ttl=TTL) as store,
                client.settlement_poller(
                    sandbox.creditor_ids, store=store, interval=0.1, auto_ack=False
                ) as poller,
            ):
                async with asyncio.timeout(20):
                    again = await anext(poller)  # taken over once the stalled lease expired
                stalled_event = seen["event"]
                assert again.settlement.id == stalled_event.settlement.id
                assert (again.lease_epoch or 0) > (stalled_event.lease_epoch or 0)
                assert await store.load("", creditor) is None
                wake_up.set()
                await stalled
                assert isinstance(seen.get("error"), LeaseLostError)
                assert await store.load("", creditor) is None  # the late ack moved nothing
                await again.ack()  # the new holder's ack counts
                assert await store.load("", creditor) == str(again.settlement.id)
        finally:
            wake_up.set()
            with contextlib.suppress(Exception):
                await stalled
