"""The fleet: acked settlements per second across 1, 2 and 3 worker PROCESSES sharing 300
creditors through one PostgreSQL (a throwaway local server, fsync on), each worker running the
polling guide's loop (book, then ``await event.ack()``), and what each acked settlement costs the
database.

``python -m benchmarks.fleet [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg

from amili_async._fleet import Fleet
from amili_async._pgserver import PostgresServer, throwaway_postgres
from amili_async.sandbox import SandboxServer

from ._report import Report

CREDITORS = 300
DURABLE = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_preload_libraries": "pg_stat_statements",
}


async def main(quick: bool = False) -> None:
    report = Report()
    await run(report, quick)
    report.summary()


async def run(report: Report, quick: bool) -> None:
    per_creditor = 20 if quick else 50
    total = CREDITORS * per_creditor
    report.section(
        f"The fleet: {total:,} settlements of {CREDITORS} creditors drained by 1-3 worker "
        "processes (one PostgreSQL, fsync on; each worker books then acks one at a time)"
    )
    rows = []
    with throwaway_postgres(DURABLE) as server:
        for workers in (1, 2, 3):
            rate, commits, statements = await _drain(server, workers, per_creditor, f"f{workers}")
            rows.append(
                [
                    str(workers),
                    f"{rate:,.0f}",
                    f"{rate / workers:,.0f}",
                    _f(commits),
                    _f(statements),
                ]
            )
    report.table(["workers", "acked / s", "per worker", "commits / ack", "statements / ack"], rows)
    report.note(
        "from the payout to the last delivery, the leases settled beforehand (a drain of what "
        "was paid while the fleet was down looks like this); statements counted by pg_stat_statements (each is one round trip once prepared), "
        "commits by pg_stat_database; lease syncs included"
    )


async def _drain(
    server: PostgresServer, workers: int, per_creditor: int, database: str
) -> tuple[float, float, float]:
    """Acked settlements per second, and commits and statements per acked settlement: the
    workers start and settle their shares first, then every creditor is paid ``per_creditor``
    settlements at once."""
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await admin.execute(f'CREATE DATABASE "{database}"')
        async with SandboxServer(creditors=CREDITORS, seed=7, settlements=0) as sandbox:
            with tempfile.TemporaryDirectory() as log_dir:
                fleet = Fleet(
                    dsn=server.dsn(database),
                    url=sandbox.url,
                    token=sandbox.token,
                    creditor_ids=sandbox.creditor_ids,
                    log_dir=Path(log_dir),
                    lease_ttl=5.0,
                    interval=0.25,
                )
                async with fleet:
                    for n in range(workers):
                        await fleet.start(f"w{n + 1}")
                    await _settled(fleet, workers)
                    before = await _counters(admin, database)
                    started = time.perf_counter()
                    for creditor_id in sandbox.creditor_ids:
                        sandbox.add_settlements(creditor_id, per_creditor)
                    total = CREDITORS * per_creditor
                    while len(fleet.deliveries) < total:
                        if time.perf_counter() - started > 120:
                            raise RuntimeError("the fleet did not drain in 120 s")
                        await asyncio.sleep(0.02)
                    elapsed = time.perf_counter() - started
                await asyncio.sleep(1.0)  # the workers' statistics reach the server as they exit
                after = await _counters(admin, database)
        commits, statements = ((a - b) / total for a, b in zip(after, before, strict=True))
        return total / elapsed, commits, statements
    finally:
        await admin.close()


async def _settled(fleet: Fleet, workers: int) -> None:
    """Wait until the workers hold every creditor, none over its fair share."""
    share = -(-CREDITORS // workers)
    deadline = time.perf_counter() + 60
    while True:
        held = [int(status.get("held", 0)) for status in fleet.status.values()]
        if len(held) == workers and sum(held) == CREDITORS and max(held) <= share:
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the leases did not settle in 60 s: {held}")
        await asyncio.sleep(0.1)


async def _counters(admin: asyncpg.Connection, database: str) -> tuple[float, float]:
    commits = await admin.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database
    )
    statements = await admin.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d "
        "ON d.oid = s.dbid WHERE d.datname = $1 AND s.query NOT ILIKE '%pg_stat%'",
        database,
    )
    return float(commits), float(statements)


def _f(value: float) -> str:
    return f"{value:.2f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
