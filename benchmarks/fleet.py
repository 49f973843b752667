"""Acked settlements per second through the real poller, PostgresCheckpointStore and a sandbox
serving settlements already paid (so the figure is throughput, not the payout rate), and what each
acked settlement costs the database.

* **One worker**, in this process: the default loop (``auto_ack=True``, book then
  ``await event.ack()``: one commit per settlement, in turn) and the polling guide's worker-pool
  recipe (``auto_ack=False``, ``POOL`` tasks booking and acking concurrently, so the store
  combines their saves), each with ``fsync`` on and off; a memory store row gives the ceiling of
  the poller and HTTP alone.
* **The fleet**: 1, 2 and 3 worker processes over ``CREDITORS`` creditors sharing one database,
  their leases settled before the clock starts.

Statements are counted by ``pg_stat_statements``, commits by ``pg_stat_database``, round trips by
asyncpg's query logger in every worker (one per statement sent; a statement's first use on a
connection adds a prepare). The sandbox runs in a process of its own.

``python -m benchmarks.fleet [--quick]`` runs it alone; ``python -m benchmarks --only fleet`` too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg

from amili_async import (
    AmiliClient,
    CheckpointStore,
    LeaseLostError,
    MemoryCheckpointStore,
    PostgresCheckpointStore,
    RetryPolicy,
    SettlementEvent,
    SettlementPoller,
)
from amili_async._pgserver import PostgresServer, throwaway_postgres
from amili_async.polling import postgres as _pg_store

from ._report import Report
from ._server import server_process

CREDITORS = 300
POOL = 16  # booking tasks of the worker-pool recipe
LEASE_TTL = 5.0
TARGET = 4_000
DURABLE = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_preload_libraries": "pg_stat_statements",
}

# -- round trips: asyncpg's query logger on every connection the store opens ---------------------

_round_trips = 0


def _count_round_trip(_query: object) -> None:
    global _round_trips
    _round_trips += 1


@contextlib.contextmanager
def _counting_round_trips() -> Iterator[None]:
    """Make the store's pool count every statement its connections send (a benchmark-only hook on
    the pool's ``init``: the store has no such option)."""
    durable = _pg_store._durable_commits

    async def init(connection: Any) -> None:
        await durable(connection)
        connection.add_query_logger(_count_round_trip)

    _pg_store._durable_commits = init
    try:
        yield
    finally:
        _pg_store._durable_commits = durable


# -- one worker's loop, either mode ----------------------------------------------------------------


@dataclass
class _Acks:
    count: int = 0
    lost: int = 0
    first: float = 0.0  # time.time() of the first delivery
    last: float = 0.0  # of the last ack


async def _consume(poller: SettlementPoller, mode: str, acks: _Acks, total: int | None) -> None:
    """Book (nothing) and ack every event; stop the poller after ``total`` acks (None: run until
    it is stopped)."""

    async def ack(event: SettlementEvent) -> None:
        try:
            await event.ack()
        except LeaseLostError:
            acks.lost += 1
            return
        acks.count += 1
        acks.last = time.time()
        if acks.count == total:
            poller.stop()

    if mode == "serial":  # the guide's loop: book, then ack, one settlement at a time
        async for event in poller:
            acks.first = acks.first or time.time()
            await ack(event)
        return
    queue: asyncio.Queue[SettlementEvent] = asyncio.Queue(maxsize=POOL)

    async def work() -> None:
        while True:
            event = await queue.get()
            try:
                await ack(event)
            finally:
                queue.task_done()

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(work()) for _ in range(POOL)]
        async for event in poller:
            acks.first = acks.first or time.time()
            await queue.put(event)
        await queue.join()
        for task in tasks:
            task.cancel()


def _client(url: str) -> AmiliClient:
    return AmiliClient(base_url=url, token="bench", retry=RetryPolicy.none())


def _poller(client: AmiliClient, ids: list[str], store: CheckpointStore, mode: str) -> Any:
    return client.settlement_poller(
        ids, store=store, interval=0.5, concurrency=10, auto_ack=mode == "serial"
    )


# -- the section ---------------------------------------------------------------------------------


async def main(quick: bool = False) -> None:
    report = Report()
    await run(report, quick)
    report.summary()


async def run(
    report: Report, quick: bool, *, creditors: int = CREDITORS, per_creditor: int | None = None
) -> None:
    """The section; ``creditors`` and ``per_creditor`` shrink it for the smoke test."""
    per_creditor = per_creditor or (10 if quick else 40)
    total = creditors * per_creditor
    with tempfile.TemporaryDirectory() as workdir:
        ids_file = Path(workdir) / "ids.json"
        async with server_process(
            "sandbox", "--creditors", str(creditors), "--cases", "1",
            "--settlements", str(per_creditor), "--ids-file", str(ids_file),
        ) as url:  # fmt: skip
            ids: list[str] = json.loads(ids_file.read_text())
            with throwaway_postgres(DURABLE) as server:
                admin = await asyncpg.connect(server.dsn())
                try:
                    await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    await _one_worker(report, url, ids, server, admin, total)
                    await _fleet(report, url, ids, server, admin, total)
                finally:
                    await admin.close()


async def _one_worker(
    report: Report, url: str, ids: list[str], server: PostgresServer, admin: Any, total: int
) -> None:
    report.section(
        f"One worker: poller + PostgresCheckpointStore + sandbox (another process), {total:,} "
        f"settlements of {len(ids)} creditors already paid, every one acked"
    )
    rows, rates, latency = [], {}, {}
    async with _client(url) as client:
        memory = await _timed_run(client, ids, MemoryCheckpointStore(), "serial", total)
        rows.append(["memory store (no database)", _MODES["serial"], f"{memory.rate:,.0f}", *"---"])
        for fsync in ("on", "off"):
            await _set_fsync(admin, fsync)
            latency[fsync] = await _commit_latency(server.dsn(), f"latency_{fsync}")
            for mode in ("serial", "pool"):
                table = f"one_{mode}_{fsync}"
                with _counting_round_trips():
                    store = PostgresCheckpointStore(server.dsn(), table=table)
                    run = functools.partial(_timed_run, client, ids, store, mode, total)
                    cost = await _measured(admin, run)
                rates[mode, fsync] = cost.rate
                rows.append([f"PostgreSQL, fsync {fsync}", _MODES[mode], *cost.cells()])
        await _set_fsync(admin, "on")
        bare = await _median_wall(lambda: admin.fetchval("SELECT 1"))
    report.table(
        ["store", "acks", "acked / s", "statements / ack", "round trips / ack", "commits / ack"],
        rows,
    )
    report.note(
        f"one acked save alone (median of 200 in turn): {_us(latency['on'])} with fsync on, "
        f"{_us(latency['off'])} off; the serial loop waits for one each, so it cannot beat "
        f"{1 / latency['on']:,.0f}/s (on) and {1 / latency['off']:,.0f}/s (off) on this machine; "
        f"a bare SELECT 1 round trip takes {_us(bare)}"
    )
    report.note(
        f"pool: {POOL} tasks book and ack (auto_ack=False), the polling guide's recipe; the store "
        "writes the saves in flight together in one statement and one commit"
    )
    report.target(
        f"one worker, worker-pool recipe ({POOL} tasks), fsync on: acked settlements / s",
        rates["pool", "on"],
        TARGET,
        at_most=False,
    )


_MODES = {"serial": "serial (default loop)", "pool": f"pool of {POOL}"}


@dataclass
class _Cost:
    rate: float
    statements: float
    round_trips: float
    commits: float

    def cells(self) -> list[str]:
        return [
            f"{self.rate:,.0f}",
            f"{self.statements:.2f}",
            f"{self.round_trips:.2f}",
            f"{self.commits:.2f}",
        ]


async def _measured(admin: Any, work: Callable[[], Awaitable[_TimedRun]]) -> _Cost:
    """Run ``work`` (returning a rate and how many acks) between two readings of the counters."""
    global _round_trips
    await admin.execute("SELECT pg_stat_statements_reset()")
    commits_before = await _commits(admin)
    _round_trips = 0
    rate, acked = await work()
    round_trips = _round_trips
    await asyncio.sleep(0.3)  # closed backends report their commits as they exit
    commits = await _commits(admin) - commits_before
    statements = await _statements(admin)
    return _Cost(rate, statements / acked, round_trips / acked, commits / acked)


async def _timed_run(
    client: AmiliClient,
    ids: list[str],
    store: MemoryCheckpointStore | PostgresCheckpointStore,
    mode: str,
    total: int,
) -> _TimedRun:
    acks = _Acks()
    async with store, _poller(client, ids, store, mode) as poller:
        await _consume(poller, mode, acks, total)
    if acks.count != total:
        raise RuntimeError(f"acked {acks.count} of {total} settlements ({acks.lost} leases lost)")
    return _TimedRun(total / (acks.last - acks.first), total)


class _TimedRun(NamedTuple):
    rate: float  # acked per second, from the first delivery to the last ack
    acked: int


async def _set_fsync(admin: Any, value: str) -> None:
    await admin.execute(f"ALTER SYSTEM SET fsync = {value}")
    await admin.execute("SELECT pg_reload_conf()")
    await asyncio.sleep(0.2)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


async def _commit_latency(dsn: str, table: str) -> float:
    """The median wall time of one acked save, alone, with nothing else in flight."""
    async with PostgresCheckpointStore(dsn, table=table) as store:
        return await _median_wall(lambda: store.save("", "c", f"cursor-{time.time()}"))


async def _median_wall(call: Callable[[], Awaitable[object]], repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


async def _commits(admin: Any) -> float:
    return float(
        await admin.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def _statements(admin: Any) -> float:
    return float(
        await admin.fetchval(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
            "WHERE query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_reload_conf%'"
        )
    )


# -- the fleet: worker processes -----------------------------------------------------------------


async def _fleet(
    report: Report, url: str, ids: list[str], server: PostgresServer, admin: Any, total: int
) -> None:
    report.section(
        f"The fleet: {total:,} settlements of {len(ids)} creditors already paid, drained by 1-3 "
        "worker processes on one PostgreSQL (fsync on), leases settled before the clock starts"
    )
    rows = []
    for mode in ("serial", "pool"):
        for workers in (1, 2, 3):
            drain = functools.partial(_drain, url, ids, server, workers, mode, total)
            cost = await _measured(admin, drain)
            rows.append([_MODES[mode], str(workers), *cost.cells(), f"{cost.rate / workers:,.0f}"])
    report.table(
        [
            "acks",
            "workers",
            "acked / s",
            "statements / ack",
            "round trips / ack",
            "commits / ack",
            "per worker",
        ],
        rows,
    )
    report.note(
        "every worker process runs its own sandbox client and poller; the machine's cores are "
        "shared by the workers, the sandbox and PostgreSQL; lease syncs and cursor loads included"
    )


async def _drain(
    url: str, ids: list[str], server: PostgresServer, workers: int, mode: str, total: int
) -> _TimedRun:
    table = f"fleet_{mode}_{workers}"
    async with contextlib.AsyncExitStack() as stack:
        procs = [
            await stack.enter_async_context(_worker_process(url, ids, server.dsn(), table, mode))
            for _ in range(workers)
        ]
        share = -(-len(ids) // workers)
        deadline = time.monotonic() + 60
        while True:  # until the leases settle: every creditor held, none over its share
            held = [await proc.read("held") for proc in procs]
            if sum(held) == len(ids) and max(held) <= share:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the leases did not settle in 60 s: {held}")
        started = time.time()
        for proc in procs:
            proc.send("go")
        acked = [0] * workers
        while sum(acked) < total:
            acked = [await proc.read("acked") for proc in procs]
            if time.time() - started > 300:
                raise RuntimeError(f"the fleet did not drain in 300 s: {acked} of {total}")
        for proc in procs:
            proc.send("stop")
        finals = [await proc.final() for proc in procs]
    round_trips = sum(int(f["round_trips"]) for f in finals)
    global _round_trips
    _round_trips += round_trips
    return _TimedRun(total / (max(float(f["last"]) for f in finals) - started), total)


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    latest: dict[str, Any]

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())

    async def read(self, key: str) -> int:
        """The worker's newest report of ``key``."""
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("a fleet worker died")
        self.latest = json.loads(line)
        return int(self.latest.get(key, 0))

    async def final(self) -> dict[str, Any]:
        while "round_trips" not in self.latest:
            await self.read("acked")
        return self.latest


@contextlib.asynccontextmanager
async def _worker_process(
    url: str, ids: list[str], dsn: str, table: str, mode: str
) -> AsyncIterator[_Worker]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.fleet", "--worker", "--dsn", dsn, "--url", url,
        "--table", table, "--mode", mode, *ids,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield _Worker(process, {})
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _worker(args: argparse.Namespace) -> None:
    """One fleet worker: sync leases until told ``go``, then poll and ack, reporting every 50 ms;
    on ``stop`` (or end of input) close and report the round trips it made."""
    global _round_trips
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(**record: object) -> None:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()

    acks = _Acks()
    with _counting_round_trips():
        store = PostgresCheckpointStore(args.dsn, table=args.table, lease_ttl=LEASE_TTL)
        async with store, _client(args.url) as client:
            go = asyncio.create_task(reader.readline())
            while not go.done():
                held = await store.sync_leases("", args.creditors)
                say(held=len(held))
                await asyncio.wait([go], timeout=0.1)
            _round_trips = 0  # from here on: the measured drain
            poller = _poller(client, args.creditors, store, args.mode)
            async with poller:
                consume = asyncio.create_task(_consume(poller, args.mode, acks, None))
                stop = asyncio.create_task(reader.readline())
                while not stop.done():
                    say(acked=acks.count, last=acks.last)
                    await asyncio.wait([stop, consume], timeout=0.05)
                    if consume.done():
                        consume.result()  # a failure ends the worker loudly
                poller.stop()
                await consume
    say(acked=acks.count, last=acks.last, lost=acks.lost, round_trips=_round_trips)


def _cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn")
    parser.add_argument("--url")
    parser.add_argument("--table")
    parser.add_argument("--mode", choices=["serial", "pool"])
    parser.add_argument("creditors", nargs="*")
    args = parser.parse_args()
    asyncio.run(_worker(args) if args.worker else main(args.quick))


if __name__ == "__main__":
    _cli()
