"""Fan-out: 200 creditors at 20 ms server latency, concurrency 20, 1,000-case bodies, against the
ideal ceil(200/20) x 20 ms + 200 x the decode time of one body; httpx for reference.

Every contender does the same work on the clock: 200 requests, reads, decodes into the same
models, all 200 results kept alive until the clock stops and freed after it. They take turns going
first (the order rotates every round), and the heap is collected before every run.
"""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from amili_async import AmiliClient, Batch, RetryPolicy, decode_batch
from amili_async.models.decoding import TypedDecoder

from ._payloads import batch_payload
from ._report import Report, Timing, clock, median_time, ms, paired_ratio, since
from ._server import server_process, server_stats

CREDITORS = 200
CONCURRENCY = 20
LATENCY = 0.02
ROUNDS = 6  # a multiple of the number of contenders: each goes first, second, last alike
_DECODER = TypedDecoder(Batch)


async def run(report: Report, cases: int = 1000) -> None:
    report.section(
        f"Fan-out: {CREDITORS} creditors, {LATENCY * 1000:.0f} ms latency, concurrency {CONCURRENCY}, {cases:,}-case bodies"
    )
    payload = batch_payload(cases=cases, settlements=20, seed=4)
    decode_one = median_time(lambda: decode_batch(payload), 7)
    ideal = math.ceil(CREDITORS / CONCURRENCY) * LATENCY + CREDITORS * decode_one
    ids = [f"{n:09d}" for n in range(CREDITORS)]
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "body.json"
        path.write_bytes(payload)
        # One server per contender, so each one's connection count is its own; every contender
        # runs ROUNDS times, in rotating order, and its median counts.
        async with (
            server_process("static", str(path), "--latency", str(LATENCY)) as sdk_url,
            server_process("static", str(path), "--latency", str(LATENCY)) as bare_url,
            server_process("static", str(path), "--latency", str(LATENCY)) as httpx_url,
        ):
            times: dict[str, list[Timing]] = {"sdk": [], "bare": [], "httpx": []}
            sdk_stats: list[dict[str, int]] = []
            async with AmiliClient(
                base_url=sdk_url,
                token="bench",
                retry=RetryPolicy.none(),
                max_connections=CONCURRENCY,
            ) as client:
                contenders: dict[str, Callable[[], Awaitable[Timing]]] = {
                    "sdk": lambda: _sdk(client, ids),
                    "bare": lambda: _aiohttp(bare_url, ids),
                    "httpx": lambda: _httpx(httpx_url, ids),
                }
                names = list(contenders)
                for round_number in range(ROUNDS):
                    shift = round_number % len(names)
                    for name in names[shift:] + names[:shift]:
                        gc.collect()
                        times[name].append(await contenders[name]())
                        if name == "sdk":  # this run's own counts (idle connections time out)
                            sdk_stats.append(await server_stats(sdk_url, reset=True))
    stats = {key: max(run[key] for run in sdk_stats) for key in ("max_in_flight", "connections")}
    wall = {k: statistics.median(t.wall for t in runs) for k, runs in times.items()}
    cpu = {k: statistics.median(t.cpu for t in runs) for k, runs in times.items()}
    ours, bare = wall["sdk"], wall["bare"]
    labels = {
        "sdk": "AmiliClient.get_batches",
        "bare": "raw aiohttp + Semaphore + msgspec",
        "httpx": "httpx + Semaphore (reference)",
    }
    report.table(
        ["contender", "wall time", "vs ideal", "client CPU", "CPU vs raw"],
        [["ideal", ms(ideal), "1.00x", "", ""]]
        + [
            [
                label,
                ms(wall[key]),
                f"{wall[key] / ideal:.2f}x",
                ms(cpu[key]),
                f"{cpu[key] / cpu['bare']:.2f}x",
            ]
            for key, label in labels.items()
        ],
    )
    report.note(
        f"decode of one {len(payload) / 1e6:.2f} MB body: {ms(decode_one)}; server saw at most {stats['max_in_flight']} requests in flight over {stats['connections']} connections in any one run"
    )
    report.target("fan-out wall time / ideal", ours / ideal, 1.2)
    report.note(
        f"raw aiohttp doing the same is {bare / ideal:.2f}x ideal here: the ideal leaves out moving "
        f"{CREDITORS * len(payload) / 1e6:.0f} MB through loopback and parsing it, on 2 cores shared with the server"
    )
    ratio, low, high = paired_ratio([t.wall for t in times["sdk"]], [t.wall for t in times["bare"]])
    cpu_ratio, cpu_low, cpu_high = paired_ratio(
        [t.cpu for t in times["sdk"]], [t.cpu for t in times["bare"]]
    )
    report.note(
        f"get_batches / raw aiohttp per round: wall {ratio:.2f}x (from {low:.2f}x to {high:.2f}x "
        f"over {ROUNDS} rounds, order rotating; ratio of the medians {ours / bare:.2f}x), client CPU "
        f"{cpu_ratio:.2f}x (from {cpu_low:.2f}x to {cpu_high:.2f}x)"
    )
    report.target(
        "fan-out wall time / raw aiohttp + Semaphore doing the same (median of paired runs)",
        ratio,
        1.1,
    )
    report.target("open connections / concurrency", stats["connections"] / CONCURRENCY, 1.0)


async def _sdk(client: AmiliClient, ids: list[str]) -> Timing:
    await client.get_batches(ids[:CONCURRENCY], concurrency=CONCURRENCY)  # warm the pool
    started = clock()
    results = await client.get_batches(ids, concurrency=CONCURRENCY)
    elapsed = since(started)
    assert len(results) == len(ids)
    assert all(r.ok for r in results)
    return elapsed  # the results are freed here, off the clock, as in every contender


async def _aiohttp(url: str, ids: list[str]) -> Timing:
    import aiohttp

    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Authorization": "Bearer bench"}
    ) as session:

        async def fetch(creditor_id: str) -> Batch:
            async with (
                semaphore,
                session.get(
                    f"{url}/webapi/api/Batch", params={"creditorid": creditor_id}
                ) as response,
            ):
                return _DECODER(await response.read())

        await asyncio.gather(*(fetch(c) for c in ids[:CONCURRENCY]))
        started = clock()
        results = await asyncio.gather(*(fetch(c) for c in ids))
        elapsed = since(started)
    assert len(results) == len(ids)
    assert all(r.cases for r in results)
    return elapsed


async def _httpx(url: str, ids: list[str]) -> Timing:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, headers={"Authorization": "Bearer bench"}
    ) as client:

        async def fetch(creditor_id: str) -> Batch:
            async with semaphore:
                response = await client.get("/webapi/api/Batch", params={"creditorid": creditor_id})
            return _DECODER(response.content)

        await asyncio.gather(*(fetch(c) for c in ids[:CONCURRENCY]))
        started = clock()
        results = await asyncio.gather(*(fetch(c) for c in ids))
        elapsed = since(started)
    assert len(results) == len(ids)
    assert all(r.cases for r in results)
    return elapsed
