"""The poller's side of leases, against an in-memory LeasingStore whose leases the test hands out.

The real PostgreSQL store's fleet tests live in test_leases_postgres.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from amili_async import (
    AmiliClient,
    CheckpointError,
    LeaseLostError,
    MemoryCheckpointStore,
    SettlementEvent,
    SettlementPoller,
)
from amili_async.polling import LeasingStore

from ..conftest import Recorded
from .test_poller import MakeClient, SettlementBackend, settlement
from .test_poller import backend_client as backend_client  # the fixture

SENDER = ""


class FakeLeases(MemoryCheckpointStore):
    """A LeasingStore whose ``sync_leases`` answers ``grants``, as the test sets them."""

    def __init__(self, lease_ttl: float = 0.3) -> None:
        super().__init__()
        self.lease_ttl = lease_ttl
        self.grants: dict[str, int] = {}
        self.syncs = 0
        self.asked: list[list[str]] = []
        self.sync_error: Exception | None = None
        self.sync_hangs: asyncio.Event | None = None  # set: syncs wait for it
        self.leased_saves: list[tuple[str, str, int]] = []
        self.plain_saves: list[tuple[str, str]] = []
        self.released: list[list[str]] = []
        self.release_error: Exception | None = None
        self.on_sync: Callable[[], None] | None = None

    async def sync_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> Mapping[str, int]:
        self.syncs += 1
        self.asked.append(list(creditor_ids))
        if self.on_sync is not None:
            self.on_sync()
        if self.sync_hangs is not None:
            await self.sync_hangs.wait()
        if self.sync_error is not None:
            raise self.sync_error
        return {c: e for c, e in self.grants.items() if c in creditor_ids}

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        self.plain_saves.append((creditor_id, cursor))
        await super().save(sender_id, creditor_id, cursor)

    async def save_leased(self, sender_id: str, creditor_id: str, cursor: str, epoch: int) -> None:
        if self.grants.get(creditor_id) != epoch:
            raise LeaseLostError(f"creditor {creditor_id}: epoch {epoch} is over")
        self.leased_saves.append((creditor_id, cursor, epoch))
        await super().save(sender_id, creditor_id, cursor)

    async def release_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        self.released.append(list(creditor_ids))
        if self.release_error is not None:
            raise self.release_error
        for creditor_id in creditor_ids:
            self.grants.pop(creditor_id, None)

    def cursor(self, creditor_id: str) -> str | None:
        return self.snapshot().get((SENDER, creditor_id))

    async def next_syncs(self, count: int = 2) -> None:
        """Return once ``count`` more syncs have begun (so at least one more has been applied)."""
        await until(lambda: self.syncs >= self.syncs_seen + count, self)
        self.syncs_seen = self.syncs

    syncs_seen = 0


async def until(condition: Callable[[], bool], what: object) -> None:
    """Wait, bounded (10 s), for ``condition``."""
    deadline = time.monotonic() + 10.0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting on {what!r}")
        await asyncio.sleep(0.005)


def number(event: SettlementEvent) -> int:
    return event.settlement.settlement_number or 0


async def next_event(poller: SettlementPoller) -> SettlementEvent:
    async with asyncio.timeout(10):
        return await anext(poller)


def poller_of(
    client: AmiliClient, store: FakeLeases, ids: list[str], **options: Any
) -> SettlementPoller:
    return client.settlement_poller(ids, store=store, interval=0.05, jitter=0.0, **options)


def creditors_asked(seen: Recorded) -> set[str]:
    return {request.query["creditorid"] for request in seen.requests}


def test_the_fake_is_a_leasing_store() -> None:
    assert isinstance(FakeLeases(), LeasingStore)


async def test_polls_only_the_creditors_it_holds_after_a_first_sync(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 4, "B": 4})
    client, seen = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1}
    requests_at_first_sync: list[int] = []
    store.on_sync = lambda: requests_at_first_sync.append(seen.count)
    async with poller_of(client, store, ["A", "B"]) as poller:
        events = [await next_event(poller) for _ in range(4)]
        assert [(e.creditor_id, number(e), e.lease_epoch) for e in events] == [
            ("A", n, 1) for n in (1, 2, 3, 4)
        ]
        assert poller.stats.creditors_held == 1
        assert poller.stats.takeovers == 0  # epoch 1: nobody held it before
        await store.next_syncs()
        assert creditors_asked(seen) == {"A"}
        assert poller.stats.creditors["B"].lag is None  # not ours: neither lagging nor failing
    assert requests_at_first_sync[0] == 0  # the leases were synced before anything was fetched
    assert store.asked[0] == ["A", "B"]  # every worker asks for the whole list
    assert store.leased_saves[-1] == ("A", str(events[2].settlement.id), 1)  # the last in hand
    assert store.plain_saves == []  # every save went through save_leased with its epoch


async def test_a_lease_that_arrives_starts_the_creditor_and_counts_takeovers(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 1, "B": 2, "C": 1})
    client, _ = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1}
    await store.save(SENDER, "B", settlement("B", 1)["id"])  # where B's previous holder got to
    async with poller_of(client, store, ["A", "B", "C"]) as poller:
        assert (await next_event(poller)).creditor_id == "A"
        store.grants.update(B=4, C=1)  # B: held by others (epochs 2..3) since; C: by nobody
        got = sorted(
            [
                (e.creditor_id, number(e), e.lease_epoch)
                for e in [
                    await next_event(poller),
                    await next_event(poller),
                ]
            ]
        )
        assert got == [("B", 2, 4), ("C", 1, 1)]  # B resumes at its stored cursor
        assert poller.stats.creditors_held == 3
        assert poller.stats.takeovers == 1


async def test_a_lost_lease_stops_delivery_at_once_and_its_acks_fail(
    backend_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    backend = SettlementBackend({"A": 9, "B": 0}, page_size=3)
    client, seen = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1, "B": 1}
    async with poller_of(client, store, ["A", "B"]) as poller:
        first = await next_event(poller)
        await first.ack()
        second = await next_event(poller)  # more of A is fetched and queued behind it
        await until(lambda: seen.count >= 3, "A's pages queued")
        del store.grants["A"]  # another worker took A over
        await store.next_syncs()
        assert poller.stats.creditors_held == 1
        with pytest.raises(LeaseLostError, match="creditor A"):
            await second.ack()  # the consumer's explicit ack: refused, the cursor stays
        assert store.cursor("A") == str(first.settlement.id)
        assert not second.acked
        backend.pay("B")
        caplog.set_level(logging.WARNING, "amili_async")
        third = await next_event(poller)  # the implicit ack of `second` does not raise
        assert (third.creditor_id, number(third)) == ("B", 1)  # nothing more of A
    assert store.cursor("A") == str(first.settlement.id)
    assert "dropped the ack of" in caplog.text


async def test_a_refused_save_drops_the_creditor_until_the_lease_comes_back(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 6}, page_size=2)
    client, _ = await backend_client(backend)
    store = FakeLeases(lease_ttl=60.0)  # no sync before the save: the store's refusal tells
    store.grants = {"A": 1}
    async with poller_of(client, store, ["A"]) as poller:
        first = await next_event(poller)
        await first.ack()
        second = await next_event(poller)
        store.grants["A"] = 3  # moved on to another worker (epoch 2), and that one's gone too
        with pytest.raises(LeaseLostError):
            await second.ack()
        assert poller.stats.creditors_held == 0
        assert store.cursor("A") == str(first.settlement.id)
        # Nothing of A is delivered under the lost lease: the loop waits for the next sync.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await anext(poller)
        assert poller.stats.takeovers == 0
    # A poller that syncs again takes the creditor back and resumes at the stored cursor.
    store.grants = {"A": 3}  # (closing released it)
    async with poller_of(client, store, ["A"]) as poller:
        again = await next_event(poller)
        assert (number(again), again.lease_epoch) == (2, 3)
        assert poller.stats.takeovers == 1  # a new poller: epoch 3 was someone else's lease


async def test_a_lease_acquired_again_with_the_next_epoch_is_no_takeover(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 3}, page_size=1)
    client, _ = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1}
    async with poller_of(client, store, ["A"]) as poller:
        first = await next_event(poller)
        del store.grants["A"]  # given up (a rebalance)...
        await until(lambda: poller.stats.creditors_held == 0, "A to be given up")
        store.grants["A"] = 2  # ... and this worker took it again: nobody held it between
        again = await next_event(poller)
        assert (number(again), again.lease_epoch) == (number(first), 2)
        assert poller.stats.takeovers == 0
        del store.grants["A"]
        await until(lambda: poller.stats.creditors_held == 0, "A to be given up")
        store.grants["A"] = 4  # epoch 3 was another worker's
        await until(lambda: poller.stats.creditors_held == 1, "A to come back")
        assert poller.stats.takeovers == 1


async def test_a_sync_failure_is_retried_then_everything_held_is_dropped_after_lease_ttl(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 3, "B": 3}, page_size=1)
    client, _ = await backend_client(backend)
    store = FakeLeases(lease_ttl=0.4)
    store.grants = {"A": 2, "B": 2}  # taken over from an earlier worker (epoch 1)
    async with poller_of(client, store, ["A", "B"]) as poller:
        in_hand = await next_event(poller)
        assert poller.stats.takeovers == 2
        store.sync_error = CheckpointError("the database is down")
        failed_from = store.syncs
        await until(lambda: poller.stats.creditors_held == 0, "the leases to be dropped")
        assert store.syncs - failed_from >= 2  # retried in the meantime
        with pytest.raises(LeaseLostError):
            await in_hand.ack()
        store.sync_error = None  # the database is back: the same leases are taken up again
        await until(lambda: poller.stats.creditors_held == 2, "the leases to come back")
        assert poller.stats.takeovers == 2  # the same epochs: nobody else held them since
        redelivered = await next_event(poller)
        assert redelivered.lease_epoch == 2
        assert (redelivered.creditor_id, number(redelivered)) == (in_hand.creditor_id, 1)


async def test_a_sync_that_hangs_past_lease_ttl_drops_everything_held(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 3})
    client, _ = await backend_client(backend)
    store = FakeLeases(lease_ttl=0.3)
    store.grants = {"A": 1}
    async with poller_of(client, store, ["A"]) as poller:
        await next_event(poller)
        store.sync_hangs = asyncio.Event()  # a sync that never answers
        await until(lambda: poller.stats.creditors_held == 0, "the leases to be dropped")
        store.sync_hangs.set()
        store.sync_hangs = None
        await until(lambda: poller.stats.creditors_held == 1, "the leases to come back")


async def test_closing_releases_every_lease_and_survives_a_failed_release(
    backend_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    backend = SettlementBackend({"A": 2, "B": 2})
    client, _ = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1}
    async with poller_of(client, store, ["A", "B"]) as poller:
        event = await next_event(poller)
    assert store.released == [["A", "B"]]
    assert poller.stats.creditors_held == 0
    with pytest.raises(LeaseLostError):
        await event.ack()  # released: another worker delivers it again
    store.grants = {"A": 1}
    store.release_error = CheckpointError("connection reset")
    caplog.set_level(logging.WARNING, "amili_async")
    async with poller_of(client, store, ["A", "B"]) as poller:
        await next_event(poller)
    assert "failed to release its leases" in caplog.text


async def test_manual_acks_a_lost_creditors_events_stop_counting_as_unacked(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 4, "B": 0}, page_size=4)
    client, _ = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 1, "B": 1}
    async with poller_of(client, store, ["A", "B"], auto_ack=False, max_unacked=2) as poller:
        out = [await next_event(poller), await next_event(poller)]  # max_unacked reached
        del store.grants["A"]
        backend.pay("B")
        event = await next_event(poller)  # not stuck behind A's void events
        assert event.creditor_id == "B"
        await event.ack()
        for void in out:
            with pytest.raises(LeaseLostError):
                await void.ack()
        assert store.cursor("A") is None
        assert store.cursor("B") == str(event.settlement.id)


async def test_start_now_saves_the_walked_cursor_under_the_lease(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 3})
    client, _ = await backend_client(backend)
    store = FakeLeases()
    store.grants = {"A": 2}
    async with poller_of(client, store, ["A"], start="now") as poller:
        await until(lambda: bool(store.leased_saves), "the walked cursor")
        backend.pay("A")
        assert number(await next_event(poller)) == 4
    assert store.leased_saves[0] == ("A", settlement("A", 3)["id"], 2)


async def test_a_store_without_leases_holds_every_creditor(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 1, "B": 1})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A", "B"], store=store) as poller:
        event = await next_event(poller)
        assert event.lease_epoch is None
        assert poller.stats.creditors_held == 2
        assert "2 creditors held, 0 takeovers" in poller.stats.summary()
