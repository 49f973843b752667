"""PostgresCheckpointStore: acked saves per second for one worker, and what each save costs the
database (statements, round trips, WAL flushes and bytes), on a throwaway local server with ``fsync``
on and ``synchronous_commit = on``: every acked save is flushed to disk before it returns.

``python -m benchmarks --only postgres [--quick]`` runs it alone; the ``fleet`` section
(``benchmarks/fleet.py``) measures the same store through the poller, one worker and several.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import asyncpg

from amili_async import PostgresCheckpointStore
from amili_async._pgserver import PostgresServer, throwaway_postgres

from ._report import Report

SENDER = ""
# A durable server, as in production: fsync and full-page writes on (the test fixtures turn
# them off for speed); pg_stat_statements counts the statements.
DURABLE = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_preload_libraries": "pg_stat_statements",
}
FAST = {"fsync": "off", "synchronous_commit": "on"}  # the store's own cost, without the disk
IN_FLIGHT = 16  # creditors acked concurrently in the "in flight" rows
CREDITORS = 300


async def main(quick: bool = False) -> None:
    report = Report()
    await run(report, quick)
    report.summary()


async def run(report: Report, quick: bool) -> None:
    saves = 2_000 if quick else 10_000
    report.section(
        f"PostgreSQL store: acked saves per second, one worker ({saves:,} saves per row, "
        f"each creditor's saves in order; {CREDITORS} creditors leased)"
    )
    ids = [f"9{n:08d}" for n in range(CREDITORS)]
    rows, rates = [], {}
    for disk, settings in (("fsync on (durable)", DURABLE), ("fsync off (no disk)", FAST)):
        with throwaway_postgres(settings) as server:
            for in_flight in (1, IN_FLIGHT):
                async with PostgresCheckpointStore(server.dsn()) as store:
                    held = await store.sync_leases(SENDER, ids)
                    await _acked_saves(store, held, IN_FLIGHT, IN_FLIGHT)  # connect, prepare
                    rate = await _acked_saves(store, held, saves, in_flight)
                rates[disk, in_flight] = rate
                rows.append([disk, str(in_flight), f"{rate:,.0f}", f"{1e6 / rate:,.0f} us"])
            if settings is DURABLE:
                cost = await _database_cost(server, ids, saves // 4)
    report.table(["server", "acks in flight", "saves / s", "wall / save"], rows)
    report.table(
        ["database cost", "statements", "round trips", "WAL bytes", "wall us (via proxy)"],
        [[name, *(_fmt(v) for v in values)] for name, values in cost.items()],
    )
    report.note(
        "synchronous_commit on: each statement is one transaction whose commit is flushed before "
        "the save returns; saves in flight together share one statement and one flush. Round "
        "trips counted by a loopback proxy, statements by pg_stat_statements."
    )
    report.target(
        f"PostgreSQL acked saves / s, one worker, {IN_FLIGHT} in flight, fsync on",
        rates["fsync on (durable)", IN_FLIGHT],
        4_000,
        at_most=False,
    )
    report.target(
        "PostgreSQL acked saves / s, one worker, one at a time, fsync off",
        rates["fsync off (no disk)", 1],
        4_000,
        at_most=False,
    )


async def _acked_saves(
    store: PostgresCheckpointStore, held: Mapping[str, int], saves: int, in_flight: int
) -> float:
    """Saves per second, ``in_flight`` creditors acked concurrently, each in order."""
    creditors = list(held)[:in_flight]
    per_creditor = saves // len(creditors)

    async def ack_in_turn(creditor: str) -> None:
        epoch = held[creditor]
        for n in range(per_creditor):
            await store.save_leased(SENDER, creditor, f"settlement-{n:08d}", epoch)

    started = time.perf_counter()
    await asyncio.gather(*(ack_in_turn(c) for c in creditors))
    return per_creditor * len(creditors) / (time.perf_counter() - started)


async def _database_cost(
    server: PostgresServer, ids: list[str], saves: int
) -> dict[str, tuple[float, ...]]:
    """Statements, round trips and WAL bytes per save_leased (alone, and with others in flight)
    and per sync_leases."""
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        async with _counting_proxy(server.port) as proxy:
            proxied = server.dsn().replace(f":{server.port}/", f":{proxy.port}/")
            async with PostgresCheckpointStore(proxied, lease_ttl=60) as store:
                held = await store.sync_leases(SENDER, ids)
                await _acked_saves(store, held, IN_FLIGHT, IN_FLIGHT)  # connect, prepare
                syncs = max(saves // 20, 5)

                async def sync() -> None:
                    for _ in range(syncs):
                        await store.sync_leases(SENDER, ids)

                results = {}
                for name, work, count in (
                    ("per save_leased, one at a time", _acked_saves(store, held, saves, 1), saves),
                    (
                        f"per save_leased, {IN_FLIGHT} in flight",
                        _acked_saves(store, held, saves, IN_FLIGHT),
                        saves,
                    ),
                    (f"per sync_leases ({len(ids)} creditors)", sync(), syncs),
                ):
                    before = await _counters(admin, proxy)
                    started = time.perf_counter()
                    await work
                    wall = time.perf_counter() - started
                    after = await _counters(admin, proxy)
                    per_call = [(a - b) / count for a, b in zip(after, before, strict=True)]
                    results[name] = (*per_call, wall / count * 1e6)
                return results
    finally:
        await admin.close()


async def _counters(admin: asyncpg.Connection, proxy: _Proxy) -> tuple[float, ...]:
    """Statements (all but the admin's), the proxy's client writes, the WAL position."""
    row = await admin.fetchrow(
        "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
        "        WHERE query NOT LIKE '%pg_stat_statements%'), "
        "       pg_current_wal_lsn() - '0/0'::pg_lsn"
    )
    assert row is not None
    statements, wal = row
    return float(statements), float(proxy.client_writes), float(wal)


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


@dataclass
class _Proxy:
    port: int = 0
    client_writes: int = 0


@contextlib.asynccontextmanager
async def _counting_proxy(upstream_port: int) -> AsyncIterator[_Proxy]:
    """A loopback TCP relay to the server that counts the client's writes: asyncpg sends each
    request in one write and waits for the answer, so writes are round trips."""
    proxy = _Proxy()
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool) -> None:
        try:
            while data := await reader.read(65536):
                if up:
                    proxy.client_writes += 1
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        for task in (
            asyncio.create_task(pipe(client_r, server_w, True)),
            asyncio.create_task(pipe(server_r, client_w, False)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
