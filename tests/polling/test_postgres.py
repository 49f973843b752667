"""PostgresCheckpointStore against a real throwaway server (amili_async/_pgserver.py): the store contract, table
creation by several workers at once, and the leases: a fair split, takeover of a dead worker's
creditors, refusal of a stalled worker's late save, late joiners, release on close."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

import asyncpg
import pytest

from amili_async import (
    AmiliClient,
    CheckpointError,
    CheckpointStore,
    ConfigurationError,
    LeaseLostError,
    PostgresCheckpointStore,
)
from amili_async.polling import LeasingStore
from amili_async.polling.postgres import _Save
from amili_async.sandbox import SandboxServer

IDS = [f"9{n:08d}" for n in range(40)]
TTL = 0.5  # small, so expiry takes half a second; the tests only ever wait at least this long

Make = Callable[..., PostgresCheckpointStore]


@pytest.fixture
async def make(pg_dsn: str) -> AsyncIterator[Make]:
    """Stores on this test's database, all closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        def made(**options: object) -> PostgresCheckpointStore:
            store = PostgresCheckpointStore(pg_dsn, **options)  # type: ignore[arg-type]
            stack.push_async_callback(store.close)
            return store

        yield made


async def settle(
    stores: Sequence[PostgresCheckpointStore], ids: Sequence[str] = IDS, rounds: int = 4
) -> list[Mapping[str, int]]:
    """Sync every store in turn for a few rounds (as their pollers would); the last holdings."""
    held: list[Mapping[str, int]] = []
    for _ in range(rounds):
        held = [await store.sync_leases("", ids) for store in stores]
    return held


def assert_split(held: Sequence[Mapping[str, int]], ids: Sequence[str] = IDS) -> None:
    """Every creditor held by exactly one worker, none over its fair share."""
    owners = [creditor for holding in held for creditor in holding]
    assert sorted(owners) == sorted(ids)  # no overlap, nothing left out
    assert all(len(holding) <= math.ceil(len(ids) / len(held)) for holding in held)


# The plain CheckpointStore contract


async def test_round_trip_key_isolation_and_persistence(make: Make) -> None:
    store = make()
    assert isinstance(store, CheckpointStore)
    assert isinstance(store, LeasingStore)
    assert await store.load("", "923609016") is None
    await store.save("", "923609016", "cursor-1")
    await store.save("S2", "923609016", "cursor-2")
    await store.save("", "976317068", "cursor-3")
    await store.save("", "923609016", "cursor-4")
    await store.close()
    async with make() as reopened:
        assert await reopened.load("", "923609016") == "cursor-4"
        assert await reopened.load("S2", "923609016") == "cursor-2"
        assert await reopened.load("", "976317068") == "cursor-3"


async def test_concurrent_saves_end_with_the_last_value_per_key(make: Make) -> None:
    store = make(pool_size=4)
    await asyncio.gather(*(store.save("", f"c{n % 10}", f"v{n}") for n in range(200)))
    for key in range(10):
        assert await store.load("", f"c{key}") == f"v{190 + key}"


async def test_a_cancelled_save_still_commits_whole(make: Make) -> None:
    store = make()
    await store.save("", "c", "old")
    task = asyncio.create_task(store.save("", "c", "new"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.save("", "c", "after")  # queued behind the shielded write, so it lands last
    assert await store.load("", "c") == "after"


async def test_close_is_idempotent_and_a_closed_store_refuses_work(make: Make) -> None:
    store = make()
    await store.save("", "c", "v")
    await store.close()
    await store.close()
    with pytest.raises(CheckpointError, match="closed"):
        await store.load("", "c")


async def test_a_poller_acks_into_the_store(pg_dsn: str) -> None:
    async with (
        SandboxServer(creditors=2, seed=3, settlements=4) as sandbox,
        AmiliClient(base_url=sandbox.url, token=sandbox.token) as client,
        PostgresCheckpointStore(pg_dsn) as store,
        client.settlement_poller(sandbox.creditor_ids, store=store, interval=0.01) as poller,
    ):
        event = await asyncio.wait_for(anext(aiter(poller)), 10)
        await event.ack()
        cursor = str(event.settlement.id)
        async with PostgresCheckpointStore(pg_dsn) as other:  # committed: another worker sees it
            assert await other.load("", event.creditor_id) == cursor


async def test_saves_in_flight_share_one_statement(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(pool_size=1)
    batches: list[int] = []
    write = store._batcher._write

    async def counted(connection: object, batch: Sequence[_Save]) -> set[tuple[str, str]]:
        batches.append(len(batch))
        return await write(connection, batch)

    monkeypatch.setattr(store._batcher, "_write", counted)
    await asyncio.gather(*(store.save("", creditor, f"v-{creditor}") for creditor in IDS))
    assert sum(batches) == len(IDS)
    assert len(batches) <= 2  # at most a first one alone, then all that waited for the connection
    assert [await store.load("", creditor) for creditor in IDS] == [f"v-{c}" for c in IDS]


async def test_one_batch_writes_what_it_may_and_refuses_the_rest(make: Make) -> None:
    mine, other = make(lease_ttl=30), make(lease_ttl=30)
    held = await settle([mine, other])
    await asyncio.gather(*(other.save_leased("", c, "other's", e) for c, e in held[1].items()))

    async def save(creditor: str) -> str:
        epoch = held[0].get(creditor, held[1].get(creditor, 0))
        try:
            await mine.save_leased("", creditor, "mine", epoch)
        except LeaseLostError:
            return "refused"
        return "saved"

    outcomes = await asyncio.gather(*(save(c) for c in IDS), mine.save("S2", IDS[0], "plain"))
    assert dict(zip(IDS, outcomes, strict=False)) == {
        c: "saved" if c in held[0] else "refused" for c in IDS
    }
    assert [await mine.load("", c) for c in IDS] == [
        "mine" if c in held[0] else "other's" for c in IDS
    ]
    assert await mine.load("S2", IDS[0]) == "plain"


async def test_a_database_error_is_a_checkpoint_error(make: Make, pg_dsn: str) -> None:
    store = make()
    await store.save("", "c", "v")
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute("DROP TABLE amili_checkpoints")
    await admin.close()
    results = await asyncio.gather(
        *(store.save("", f"c{n}", "v") for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, CheckpointError) for r in results)
    assert "amili_checkpoints" in str(results[0])


async def test_saves_recover_after_the_database_dropped_the_connections(
    make: Make, pg_dsn: str
) -> None:
    store = make()
    await store.save("", "c", "v1")
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'amili_async' AND pid <> pg_backend_pid()"
    )
    await admin.close()
    with contextlib.suppress(CheckpointError):  # the one that meets the dead connection
        await store.save("", "c", "v2")
    await store.save("", "c", "v3")
    assert await store.load("", "c") == "v3"


async def test_close_waits_for_the_saves_already_asked_for(pg_dsn: str) -> None:
    store = PostgresCheckpointStore(pg_dsn, pool_size=1)
    saves = [asyncio.create_task(store.save("", c, "v")) for c in IDS]
    await asyncio.sleep(0)  # every save is submitted
    await store.close()
    await asyncio.gather(*saves)
    async with PostgresCheckpointStore(pg_dsn) as reopened:
        assert {await reopened.load("", c) for c in IDS} == {"v"}


# Creating the tables


async def test_several_workers_start_at_once_on_an_empty_database(pg_dsn: str) -> None:
    stores = [PostgresCheckpointStore(pg_dsn) for _ in range(6)]
    try:
        await asyncio.gather(*(store.__aenter__() for store in stores))
        await asyncio.gather(*(s.save("", f"c{n}", f"v{n}") for n, s in enumerate(stores)))
        assert [await stores[0].load("", f"c{n}") for n in range(6)] == [f"v{n}" for n in range(6)]
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_different_tables_are_independent_fleets(make: Make, pg_dsn: str) -> None:
    fleet_a, fleet_b = make(table="fleet_a"), make(table="app.fleet_b")
    connection = await asyncpg.connect(pg_dsn)
    await connection.execute("CREATE SCHEMA app")
    await connection.close()
    held_a, held_b = await fleet_a.sync_leases("", IDS), await fleet_b.sync_leases("", IDS)
    assert sorted(held_a) == sorted(held_b) == IDS  # each alone in its fleet: all of them
    await fleet_a.save("", IDS[0], "a")
    await fleet_b.save("", IDS[0], "b")
    assert (await fleet_a.load("", IDS[0]), await fleet_b.load("", IDS[0])) == ("a", "b")


@pytest.mark.parametrize("table", ["", "a-b", "x;drop table y", "a.b.c", '"q"', "t" * 60])
def test_a_table_name_that_is_not_an_identifier_is_refused(table: str) -> None:
    with pytest.raises(ConfigurationError, match="table"):
        PostgresCheckpointStore("postgresql://h/db", table=table)


def test_bad_lease_ttl_and_pool_size_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="lease_ttl"):
        PostgresCheckpointStore("postgresql://h/db", lease_ttl=0)
    with pytest.raises(ConfigurationError, match="pool_size"):
        PostgresCheckpointStore("postgresql://h/db", pool_size=0)


# Leases


async def test_two_workers_split_40_creditors_without_overlap(make: Make) -> None:
    one, two = make(lease_ttl=30), make(lease_ttl=30)
    held = await settle([one, two])
    assert_split(held)
    assert [len(h) for h in held] == [20, 20]
    assert held == await settle([one, two], rounds=1)  # settled: renewing changes nothing


async def test_workers_syncing_at_the_same_moment_never_overlap(make: Make) -> None:
    stores = [make(lease_ttl=30) for _ in range(3)]
    for _ in range(6):
        held = await asyncio.gather(*(store.sync_leases("", IDS) for store in stores))
        owners = [creditor for holding in held for creditor in holding]
        assert len(owners) == len(set(owners))
    assert_split(held)


async def test_syncs_and_saves_of_several_workers_at_once_never_deadlock(make: Make) -> None:
    workers = [make(lease_ttl=30, pool_size=2) for _ in range(3)]
    held: list[Mapping[str, int]] = [{} for _ in workers]
    written: dict[str, str] = {}

    async def save_all(n: int, round_: int) -> None:
        async def one(creditor: str, epoch: int) -> None:
            cursor = f"w{n}-r{round_}"
            with contextlib.suppress(LeaseLostError):  # given up by a sync running alongside
                await workers[n].save_leased("", creditor, cursor, epoch)
                written[creditor] = cursor

        await asyncio.gather(*(one(c, e) for c, e in held[n].items()))

    for round_ in range(6):  # workers join one by one: leases move while saves are in flight
        active = range(min(round_ + 1, len(workers)))
        syncs = [workers[n].sync_leases("", IDS) for n in active]
        results = await asyncio.gather(*syncs, *(save_all(n, round_) for n in active))
        for n in active:
            held[n] = results[n]  # type: ignore[assignment]
    assert_split(await settle(workers))
    assert [await workers[0].load("", c) for c in IDS] == [written.get(c) for c in IDS]


async def test_a_worker_that_stops_renewing_loses_its_creditors(make: Make) -> None:
    survivor, dead = make(lease_ttl=TTL), make(lease_ttl=TTL)
    before = await settle([survivor, dead])
    assert_split(before)
    # Right after the dead worker's last renewal its leases are still its own.
    assert sorted(await survivor.sync_leases("", IDS)) == sorted(before[0])
    await asyncio.sleep(TTL * 1.2)  # its leases expire, and it no longer counts as live
    after = await survivor.sync_leases("", IDS)  # the first sync after expiry takes them all
    assert sorted(after) == IDS
    for creditor, epoch in before[1].items():
        assert after[creditor] == epoch + 1  # each takeover bumps the epoch


async def test_a_stalled_workers_late_save_is_refused_and_changes_nothing(make: Make) -> None:
    fresh, stalled = make(lease_ttl=TTL), make(lease_ttl=TTL)
    held = await stalled.sync_leases("", IDS)
    creditor = IDS[7]
    await stalled.save_leased("", creditor, "booked-by-stalled", held[creditor])
    await asyncio.sleep(TTL * 1.2)
    taken = await fresh.sync_leases("", IDS)
    await fresh.save_leased("", creditor, "booked-by-fresh", taken[creditor])

    with pytest.raises(LeaseLostError, match=creditor):
        await stalled.save_leased("", creditor, "late", held[creditor])
    with pytest.raises(LeaseLostError):  # its plain save is refused too: it leased this creditor
        await stalled.save("", creditor, "late")
    assert await fresh.load("", creditor) == "booked-by-fresh"
    assert creditor not in await stalled.sync_leases("", IDS)  # waking up, it holds none of them


async def test_a_save_racing_a_takeover_waits_for_it_and_is_refused(
    make: Make, pg_dsn: str
) -> None:
    store = make(lease_ttl=30)
    epoch = (await store.sync_leases("", IDS))[IDS[0]]
    admin = await asyncpg.connect(pg_dsn)
    try:
        takeover = admin.transaction()
        await takeover.start()
        await admin.execute(
            "UPDATE amili_checkpoints_leases SET worker_id = 'thief', epoch = epoch + 1 "
            "WHERE creditor_id = $1",
            IDS[0],
        )
        save = asyncio.create_task(store.save_leased("", IDS[0], "late", epoch))
        await asyncio.sleep(0.2)
        assert not save.done()  # blocked on the takeover's row lock, not decided on old data
        await takeover.commit()
        with pytest.raises(LeaseLostError):
            await save
    finally:
        await admin.close()
    assert await store.load("", IDS[0]) is None


async def test_an_expired_lease_nobody_took_stays_with_its_holder(make: Make) -> None:
    store = make(lease_ttl=TTL)
    held = await store.sync_leases("", IDS)
    await asyncio.sleep(TTL * 1.2)
    await store.save_leased("", IDS[0], "v", held[IDS[0]])  # still (this worker, that epoch)
    assert await store.sync_leases("", IDS) == held  # renewed, same epochs


async def test_a_late_joiner_gets_a_share_as_the_others_give_some_up(make: Make) -> None:
    first, second = make(lease_ttl=30), make(lease_ttl=30)
    assert_split(await settle([first, second]))
    joiner = make(lease_ttl=30)
    assert await joiner.sync_leases("", IDS) == {}  # all held; but it now counts as live
    held = await settle([first, second, joiner], rounds=2)
    assert_split(held)
    assert len(held[2]) == len(IDS) - 2 * math.ceil(len(IDS) / 3)  # 14 + 14 + 12


async def test_closing_releases_at_once(make: Make) -> None:
    staying, leaving = make(lease_ttl=30), make(lease_ttl=30)
    assert_split(await settle([staying, leaving]))
    await leaving.close()
    assert sorted(await staying.sync_leases("", IDS)) == IDS  # no wait for lease_ttl


async def test_release_leases_gives_them_up_at_once(make: Make) -> None:
    staying, leaving = make(lease_ttl=30), make(lease_ttl=30)
    held = await settle([staying, leaving])
    await leaving.release_leases("", list(held[1]))
    assert sorted(await staying.sync_leases("", IDS)) == IDS
    creditor = next(iter(held[1]))
    with pytest.raises(LeaseLostError):
        await leaving.save_leased("", creditor, "late", held[1][creditor])


async def test_the_guides_who_holds_what_query(make: Make, pg_dsn: str) -> None:
    one, two = make(lease_ttl=30), make(lease_ttl=30)
    held = await settle([one, two])
    guide = (Path(__file__).parents[2] / "docs/guides/many-machines.md").read_text()
    query = guide.split("```sql\n", 1)[1].split("```", 1)[0]
    admin = await asyncpg.connect(pg_dsn)
    try:
        rows = await admin.fetch(query)
    finally:
        await admin.close()
    assert {row["worker_id"]: row["creditors"] for row in rows} == {
        one.worker_id: len(held[0]),
        two.worker_id: len(held[1]),
    }


async def test_leases_on_creditors_no_longer_listed_are_given_up(make: Make) -> None:
    first, second = make(lease_ttl=30), make(lease_ttl=30)
    assert sorted(await first.sync_leases("", IDS)) == IDS
    assert sorted(await first.sync_leases("", IDS[:10])) == IDS[:10]
    taken = await second.sync_leases("", IDS)  # the 30 others were freed: it gets its 20 at once
    assert len(taken) == 20
    assert not set(taken) & set(IDS[:10])


async def test_senders_lease_independently(make: Make) -> None:
    store = make(lease_ttl=30)
    assert sorted(await store.sync_leases("S1", IDS)) == IDS
    assert sorted(await store.sync_leases("S2", IDS[:5])) == IDS[:5]
    await store.save("S3", IDS[0], "plain")  # a sender it leases nothing for: saved plainly
    assert await store.load("S3", IDS[0]) == "plain"


# Configuration, errors, durability


async def test_connection_errors_are_checkpoint_errors_without_the_password() -> None:
    store = PostgresCheckpointStore(f"postgresql://amili:hunter2secret@127.0.0.1:{closed_port()}/x")
    with pytest.raises(CheckpointError) as caught:
        await store.load("", "c")
    with pytest.raises(CheckpointError):
        await store.save("", "c", "v")  # through a writer: fails, does not hang
    await store.close()
    assert "hunter2secret" not in str(caught.value)
    assert "hunter2secret" not in repr(store)


def test_repr_redacts_key_value_passwords() -> None:
    store = PostgresCheckpointStore("host=db user=amili password=hunter2secret dbname=x")
    assert "hunter2secret" not in repr(store)
    assert "host=db" in repr(store)


async def test_saves_are_durable_even_on_a_database_that_commits_asynchronously(
    make: Make, pg_dsn: str
) -> None:
    admin = await asyncpg.connect(pg_dsn)
    database = await admin.fetchval("SELECT current_database()")
    await admin.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    await admin.close()
    store = make()
    for _ in range(3):  # also after a connection went back to the pool
        await store.save("", "c", "v")
        assert await store._run(lambda c: c.fetchval("SHOW synchronous_commit")) == "on"


def test_importing_amili_async_works_without_asyncpg() -> None:
    script = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "import amili_async\n"
        "try:\n"
        "    amili_async.PostgresCheckpointStore('postgresql://h/db')\n"
        "except amili_async.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "amili_async[postgres]" in result.stdout


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
