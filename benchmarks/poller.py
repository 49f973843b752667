"""The settlement poller's cost: CPU per settlement delivered against raw fetch + decode, the stores'
throughput, and what an idle poller costs against the bare requests it makes."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from amili_async import (
    AmiliClient,
    CheckpointStore,
    FileCheckpointStore,
    MemoryCheckpointStore,
    RetryPolicy,
    SQLiteCheckpointStore,
)
from amili_async.models.decoding import TypedDecoder
from amili_async.models.polling import SettlementPage

from ._report import Report
from ._server import server_process

_PAGE = TypedDecoder(SettlementPage)
AUTH = {"Authorization": "Bearer bench"}
IDLE_INTERVAL = 0.05
REPEATS = 3


async def run(report: Report, settlements: int, file_settlements: int, idle_requests: int) -> None:
    report.section(
        f"Poller: CPU per settlement ({settlements:,} settlements in pages of 500, every one acked)"
    )
    with tempfile.TemporaryDirectory() as workdir:
        ids_file = Path(workdir) / "ids.json"
        async with server_process(
            "sandbox",
            "--creditors",
            "1",
            "--cases",
            "10",
            "--settlements",
            str(settlements),
            "--ids-file",
            str(ids_file),
        ) as url:
            (creditor,) = json.loads(ids_file.read_text())
            raw_runs, memory_runs = [], []
            for _ in range(REPEATS):  # interleaved, medians: drift hits both alike
                raw_runs.append(await _raw_walk(url, creditor, settlements))
                memory_runs.append(await _poll(url, creditor, settlements, MemoryCheckpointStore()))
            raw_cpu = statistics.median(cpu for cpu, _ in raw_runs)
            memory_cpu = statistics.median(cpu for cpu, _ in memory_runs)
            memory_wall = statistics.median(wall for _, wall in memory_runs)
            sqlite_cpu, sqlite_wall = await _poll(
                url, creditor, settlements, SQLiteCheckpointStore(Path(workdir) / "cp.db")
            )
            file_cpu, file_wall = await _poll(
                url, creditor, file_settlements, FileCheckpointStore(Path(workdir) / "cp.json")
            )
    raw_per = raw_cpu / settlements
    rows = [
        [
            "raw aiohttp + msgspec walk (no events, no checkpoints)",
            f"{raw_per * 1e6:.1f} us",
            "1.00x",
            "-",
        ],
        [
            "poller + MemoryCheckpointStore",
            f"{memory_cpu / settlements * 1e6:.1f} us",
            f"{memory_cpu / raw_cpu:.2f}x",
            f"{settlements / memory_wall:,.0f}/s",
        ],
        [
            "poller + SQLiteCheckpointStore",
            f"{sqlite_cpu / settlements * 1e6:.1f} us",
            f"{sqlite_cpu / raw_cpu:.2f}x",
            f"{settlements / sqlite_wall:,.0f}/s",
        ],
        [
            f"poller + FileCheckpointStore ({file_settlements:,})",
            f"{file_cpu / file_settlements * 1e6:.1f} us",
            f"{file_cpu / file_settlements / raw_per:.2f}x",
            f"{file_settlements / file_wall:,.0f}/s",
        ],
    ]
    report.table(["consumer", "CPU / settlement", "vs raw", "acked settlements"], rows)
    report.note(
        "CPU is this process's (the server runs in another); the file store fsyncs a whole file per ack"
    )
    report.target(
        "poller CPU per settlement / raw fetch+decode (memory store)", memory_cpu / raw_cpu, 1.3
    )
    report.target(
        "SQLite store: acked settlements per second", settlements / sqlite_wall, 5000, at_most=False
    )
    await _idle(report, idle_requests)


async def _raw_walk(url: str, creditor: str, expected: int) -> tuple[float, float]:
    """What a hand-written poller would do: walk the cursor, decode each page, nothing else."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        started, wall = time.process_time(), time.perf_counter()
        cursor: str | None = None
        count = 0
        while True:
            params = {"creditorid": creditor, **({"lastsettlementid": cursor} if cursor else {})}
            async with session.get(f"{url}/webapi/api/Batch", params=params) as response:
                page = _PAGE(await response.read())
            if not page.settlements:
                break
            count += len(page.settlements)
            cursor = str(page.settlements[-1].id)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
    assert count == expected, (count, expected)
    return cpu, wall


async def _poll(url: str, creditor: str, count: int, store: CheckpointStore) -> tuple[float, float]:
    async with AmiliClient(base_url=url, token="bench", retry=RetryPolicy.none()) as client:
        poller = client.settlement_poller([creditor], store=store, interval=60, jitter=0)
        started, wall = time.process_time(), time.perf_counter()
        delivered = 0
        async with poller:
            async for event in poller:
                delivered += 1
                if delivered == count:
                    await event.ack()
                    break
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
    await store.close()
    return cpu, wall


async def _idle(report: Report, requests: int) -> None:
    creditors = 100
    report.section(f"Idle poller: {creditors} creditors with nothing new, {requests:,} requests")
    with tempfile.TemporaryDirectory() as workdir:
        ids_file = Path(workdir) / "ids.json"
        async with server_process(
            "sandbox",
            "--creditors",
            str(creditors),
            "--cases",
            "1",
            "--settlements",
            "0",
            "--ids-file",
            str(ids_file),
        ) as url:
            ids: list[str] = json.loads(ids_file.read_text())
            burst_cpu = await _bare_burst(url, ids, requests)
            paced_cpu = await _bare_paced(url, ids, requests)
            poller_cpu, sleeping_cpu = await _idle_poller(url, ids, requests)
    report.table(
        ["what", "CPU"],
        [
            [
                f"{requests:,} bare aiohttp GETs, back to back (concurrency 10)",
                f"{burst_cpu * 1000:.0f} ms",
            ],
            [
                f"{requests:,} bare aiohttp GETs, paced like the poller",
                f"{paced_cpu * 1000:.0f} ms",
            ],
            [f"idle poller making {requests:,} polls", f"{poller_cpu * 1000:.0f} ms"],
            ["idle poller while it sleeps, per second", f"{sleeping_cpu * 1000:.2f} ms"],
            [
                f"per hour, {creditors} creditors at the default 60 s interval",
                f"{_per_hour(poller_cpu / requests, sleeping_cpu, creditors):.2f} s",
            ],
        ],
    )
    report.note(
        "the paced baseline makes the same requests on the poller's schedule (one task per creditor, "
        "GET then sleep the interval, at most 10 at once): spreading requests over time costs event-loop "
        f"wake-ups that a back-to-back burst amortises (poller / burst: {poller_cpu / burst_cpu:.2f}x)"
    )
    report.target(
        "idle poller CPU / the same bare requests, paced alike", poller_cpu / paced_cpu, 1.2
    )
    report.target("idle poller CPU while sleeping (ms per second)", sleeping_cpu * 1000, 1.0)


def _per_hour(cpu_per_poll: float, cpu_asleep_per_second: float, creditors: int) -> float:
    """CPU seconds an hour: one poll per creditor a minute, and the sleeping in between."""
    return cpu_per_poll * creditors * 60 + cpu_asleep_per_second * 3600


async def _bare_burst(url: str, ids: list[str], requests: int) -> float:
    semaphore = asyncio.Semaphore(10)
    async with aiohttp.ClientSession(headers=AUTH) as session:

        async def one(n: int) -> None:
            async with (
                semaphore,
                session.get(
                    f"{url}/webapi/api/Batch", params={"creditorid": ids[n % len(ids)]}
                ) as response,
            ):
                await response.read()

        started = time.process_time()
        await asyncio.gather(*(one(n) for n in range(requests)))
        return time.process_time() - started


async def _bare_paced(url: str, ids: list[str], requests: int) -> float:
    """A minimal hand-written poller: per creditor, GET then sleep; no decoding, no bookkeeping."""
    semaphore = asyncio.Semaphore(10)
    rounds = max(1, requests // len(ids))
    async with aiohttp.ClientSession(headers=AUTH) as session:

        async def creditor(creditor_id: str) -> None:
            for _ in range(rounds):
                async with (
                    semaphore,
                    session.get(
                        f"{url}/webapi/api/Batch", params={"creditorid": creditor_id}
                    ) as response,
                ):
                    await response.read()
                await asyncio.sleep(IDLE_INTERVAL)

        started = time.process_time()
        await asyncio.gather(*(creditor(c) for c in ids))
        return time.process_time() - started


async def _idle_poller(url: str, ids: list[str], requests: int) -> tuple[float, float]:
    async with AmiliClient(base_url=url, token="bench", retry=RetryPolicy.none()) as client:
        rounds = max(1, requests // len(ids))
        interval = 0.05
        poller = client.settlement_poller(
            ids, store=MemoryCheckpointStore(), interval=interval, jitter=0
        )
        started = time.process_time()
        async with poller:
            while poller.stats.requests < rounds * len(ids):
                await asyncio.sleep(0.01)
            busy = time.process_time() - started
            made = poller.stats.requests
        quiet = client.settlement_poller(
            ids, store=MemoryCheckpointStore(), interval=3600, jitter=0
        )
        async with quiet:
            while quiet.stats.requests < len(ids):
                await asyncio.sleep(0.01)
            before = time.process_time()
            await asyncio.sleep(2.0)
            sleeping = (time.process_time() - before) / 2.0
    # the 10 ms checks of this benchmark itself are part of `busy`; they cost far less than a poll
    return busy * requests / made, sleeping
