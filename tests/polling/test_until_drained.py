"""``until_drained=True``: the catch-up job. Each creditor is drained once, everything fetched is
handed out (the last event acked, with auto_ack), then the ``async for`` ends by itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from amili_async import (
    AmiliClient,
    MemoryCheckpointStore,
    PermissionDeniedError,
    SettlementEvent,
    SettlementPoller,
)
from amili_async.polling import CheckpointStore

from ..conftest import Recorded
from .test_leases import FakeLeases, until
from .test_poller import MakeClient, SettlementBackend, settlement
from .test_poller import backend_client as backend_client  # the fixture

SENDER = ""


def catch_up(
    client: AmiliClient, ids: list[str], store: CheckpointStore, **options: Any
) -> SettlementPoller:
    # A short interval: a poller that polled again after a drain would do so within the test.
    return client.settlement_poller(
        ids, store=store, interval=0.01, jitter=0.0, until_drained=True, **options
    )


async def run_to_end(poller: SettlementPoller) -> list[SettlementEvent]:
    """Every event, until the ``async for`` ends by itself (bounded in time)."""

    async def collect() -> list[SettlementEvent]:
        return [event async for event in poller]

    return await asyncio.wait_for(collect(), 10.0)


def delivered(events: list[SettlementEvent]) -> dict[str, list[int]]:
    by_creditor: dict[str, list[int]] = {}
    for event in events:
        by_creditor.setdefault(event.creditor_id, []).append(
            event.settlement.settlement_number or 0
        )
    return by_creditor


def requests_for(seen: Recorded, creditor: str) -> int:
    return sum(1 for request in seen.requests if request.query["creditorid"] == creditor)


def last_id(creditor: str, number: int) -> str:
    return str(settlement(creditor, number)["id"])


async def test_ends_after_the_drains_with_everything_delivered_once_and_saved(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 7, "B": 0, "C": 4}, page_size=3)
    client, seen = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with catch_up(client, ["A", "B", "C"], store) as poller:
        events = await run_to_end(poller)
        # Saved before the iterator ended, as a stop() does: the last event in hand is acked.
        assert store.snapshot() == {(SENDER, "A"): last_id("A", 7), (SENDER, "C"): last_id("C", 4)}
        assert all(event.acked for event in events)
    assert delivered(events) == {"A": [1, 2, 3, 4, 5, 6, 7], "C": [1, 2, 3, 4]}
    assert poller.stats.settlements_delivered == 11
    # One drain each, up to its first empty page, and no poll after it.
    assert [requests_for(seen, c) for c in "ABC"] == [4, 1, 3]

    async with catch_up(client, ["A", "B", "C"], store) as again:
        assert await run_to_end(again) == []  # the second run delivers nothing and ends
    assert [requests_for(seen, c) for c in "ABC"] == [5, 2, 4]


async def test_a_failing_creditor_is_reported_once_and_does_not_block_the_end(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 2, "B": 5})
    backend.status["B"] = 403
    client, seen = await backend_client(backend)
    reported: list[tuple[str, Exception]] = []
    store = MemoryCheckpointStore()
    async with catch_up(
        client, ["A", "B"], store, on_error=lambda cid, exc: reported.append((cid, exc))
    ) as poller:
        events = await run_to_end(poller)
    assert delivered(events) == {"A": [1, 2]}
    assert [(cid, type(exc)) for cid, exc in reported] == [("B", PermissionDeniedError)]
    assert poller.stats.failing == ["B"]
    assert poller.stats.errors == 1
    assert requests_for(seen, "B") == 1  # not retried: it counts as done
    assert store.snapshot() == {(SENDER, "A"): last_id("A", 2)}


class PaysAfterTheFirstEmptyPage(SettlementBackend):
    """Pays creditor A two more settlements right after answering A with an empty page, and
    only then answers B: B's drain is still going when A's new settlements exist."""

    def __init__(self) -> None:
        super().__init__({"A": 3, "B": 4}, page_size=3)
        self.hold["B"] = asyncio.Event()
        self.paid_late = False

    async def handler(self, request: web.Request) -> web.Response:
        response = await super().handler(request)
        assert response.text is not None
        empty = json.loads(response.text)["settlement"] == []
        if request.query["creditorid"] == "A" and empty and not self.paid_late:
            self.paid_late = True
            self.pay("A", 2)
            self.hold["B"].set()
        return response


async def test_settlements_paid_after_a_creditors_empty_page_are_left_for_the_next_run(
    backend_client: MakeClient,
) -> None:
    backend = PaysAfterTheFirstEmptyPage()
    client, seen = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with catch_up(client, ["A", "B"], store) as poller:
        events = await run_to_end(poller)
    assert backend.paid_late
    assert delivered(events) == {"A": [1, 2, 3], "B": [1, 2, 3, 4]}
    assert requests_for(seen, "A") == 2  # its pages, then the empty one: never polled again
    assert store.snapshot()[SENDER, "A"] == last_id("A", 3)

    async with catch_up(client, ["A", "B"], store) as again:
        assert delivered(await run_to_end(again)) == {"A": [4, 5]}


async def test_with_manual_acks_it_ends_once_everything_is_handed_out(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 5, "B": 2}, page_size=2)
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with catch_up(client, ["A", "B"], store, auto_ack=False) as poller:
        events = await run_to_end(poller)  # ends without a single ack
        assert delivered(events) == {"A": [1, 2, 3, 4, 5], "B": [1, 2]}
        assert store.snapshot() == {}
        for event in reversed(events):  # acks still work after the end, in any order
            await event.ack()
        assert all(event.acked for event in events)
    assert store.snapshot() == {(SENDER, "A"): last_id("A", 5), (SENDER, "B"): last_id("B", 2)}


async def test_stopping_early_still_acks_the_event_in_hand(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 6})
    client, _ = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with catch_up(client, ["A"], store) as poller:
        async for event in poller:
            if event.settlement.settlement_number == 2:
                poller.stop()
    assert store.snapshot() == {(SENDER, "A"): last_id("A", 2)}


async def test_no_creditors_ends_at_once(backend_client: MakeClient) -> None:
    client, seen = await backend_client(SettlementBackend({}))
    async with catch_up(client, [], MemoryCheckpointStore()) as poller:
        assert await run_to_end(poller) == []
    assert seen.count == 0


async def test_the_default_poller_does_not_end_after_a_drain(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 2})
    client, seen = await backend_client(backend)
    store = MemoryCheckpointStore()
    async with client.settlement_poller(["A"], store=store, interval=0.01, jitter=0.0) as poller:
        got = [await asyncio.wait_for(anext(poller), 5.0) for _ in range(2)]
        following = asyncio.ensure_future(anext(poller))
        await until(lambda: seen.count >= 4, "A polled again after its drain")
        assert not following.done()  # still waiting for new settlements, not ended
        backend.pay("A")
        got.append(await asyncio.wait_for(following, 5.0))
    assert delivered(got) == {"A": [1, 2, 3]}


# -- with a LeasingStore ---------------------------------------------------------------------


async def test_with_leases_it_drains_the_creditors_held_after_the_first_sync(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 4, "B": 3})
    client, seen = await backend_client(backend)
    store = FakeLeases(lease_ttl=0.06)
    store.grants = {"A": 1}
    async with catch_up(client, ["A", "B"], store) as poller:
        events = await run_to_end(poller)
        assert store.cursor("A") == last_id("A", 4)
        store.grants["B"] = 1  # free now: a later sync offers it, the catch-up job ignores it
        await store.next_syncs()
        assert poller.stats.creditors_held == 1
    assert delivered(events) == {"A": [1, 2, 3, 4]}
    assert requests_for(seen, "B") == 0
    assert store.leased_saves[-1] == ("A", last_id("A", 4), 1)


async def test_with_leases_and_none_held_it_ends_at_once(backend_client: MakeClient) -> None:
    backend = SettlementBackend({"A": 4})
    client, seen = await backend_client(backend)
    store = FakeLeases()
    async with catch_up(client, ["A"], store) as poller:
        assert await run_to_end(poller) == []
    assert store.syncs >= 1
    assert seen.count == 0


async def test_with_leases_a_lease_lost_during_the_drain_ends_that_creditors_part(
    backend_client: MakeClient,
) -> None:
    backend = SettlementBackend({"A": 9, "B": 1}, page_size=3)
    backend.hold["A"] = asyncio.Event()  # A's first page waits until its lease is gone
    client, _ = await backend_client(backend)
    store = FakeLeases(lease_ttl=0.06)
    store.grants = {"A": 1, "B": 1}
    async with catch_up(client, ["A", "B"], store) as poller:
        ending = asyncio.ensure_future(run_to_end(poller))
        await until(lambda: poller.stats.settlements_delivered == 1, "B delivered")
        del store.grants["A"]  # another worker took A over
        await until(lambda: poller.stats.creditors_held == 1, "A dropped")
        backend.hold["A"].set()
        events = await ending
    assert delivered(events) == {"B": [1]}
