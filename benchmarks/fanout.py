"""Fan-out: 200 creditors at 20 ms server latency, concurrency 20, 1,000-case bodies, against the
ideal ceil(200/20) x 20 ms + 200 x the decode time of one body; httpx for reference."""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from pathlib import Path

from amili_async import AmiliClient, Batch, RetryPolicy, decode_batch
from amili_async.models.decoding import TypedDecoder
from amili_async.sandbox.generator import generate_batch_payload

from ._report import Report, median_time, ms
from ._server import server_process, server_stats

CREDITORS = 200
CONCURRENCY = 20
LATENCY = 0.02
ROUNDS = 3
_DECODER = TypedDecoder(Batch)


async def run(report: Report, cases: int = 1000) -> None:
    report.section(
        f"Fan-out: {CREDITORS} creditors, {LATENCY * 1000:.0f} ms latency, concurrency {CONCURRENCY}, {cases:,}-case bodies"
    )
    payload = generate_batch_payload(cases=cases, settlements=20, seed=4)
    decode_one = median_time(lambda: decode_batch(payload), 7)
    ideal = math.ceil(CREDITORS / CONCURRENCY) * LATENCY + CREDITORS * decode_one
    ids = [f"{n:09d}" for n in range(CREDITORS)]
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "body.json"
        path.write_bytes(payload)
        # One server per contender, so each one's connection count is its own; every contender
        # runs ROUNDS times, interleaved, and its median counts.
        async with (
            server_process("static", str(path), "--latency", str(LATENCY)) as sdk_url,
            server_process("static", str(path), "--latency", str(LATENCY)) as bare_url,
            server_process("static", str(path), "--latency", str(LATENCY)) as httpx_url,
        ):
            times: dict[str, list[float]] = {"sdk": [], "bare": [], "httpx": []}
            async with AmiliClient(
                base_url=sdk_url,
                token="bench",
                retry=RetryPolicy.none(),
                max_connections=CONCURRENCY,
            ) as client:
                for _ in range(ROUNDS):
                    times["sdk"].append(await _sdk(client, ids))
                    times["bare"].append(await _aiohttp(bare_url, ids))
                    times["httpx"].append(await _httpx(httpx_url, ids))
            stats = await server_stats(sdk_url)
    ours, bare, reference = (statistics.median(times[k]) for k in ("sdk", "bare", "httpx"))
    report.table(
        ["contender", "wall time", "vs ideal"],
        [
            ["ideal", ms(ideal), "1.00x"],
            ["AmiliClient.get_batches", ms(ours), f"{ours / ideal:.2f}x"],
            ["raw aiohttp + Semaphore + msgspec", ms(bare), f"{bare / ideal:.2f}x"],
            ["httpx + Semaphore (reference)", ms(reference), f"{reference / ideal:.2f}x"],
        ],
    )
    report.note(
        f"decode of one {len(payload) / 1e6:.2f} MB body: {ms(decode_one)}; server saw at most {stats['max_in_flight']} requests in flight over {stats['connections']} connections"
    )
    report.target("fan-out wall time / ideal", ours / ideal, 1.2)
    report.note(
        f"raw aiohttp doing the same is {bare / ideal:.2f}x ideal here: the ideal leaves out moving "
        f"{CREDITORS * len(payload) / 1e6:.0f} MB through loopback and parsing it, on 2 cores shared with the server"
    )
    report.target("fan-out wall time / raw aiohttp + Semaphore doing the same", ours / bare, 1.1)
    report.target("open connections / concurrency", stats["connections"] / CONCURRENCY, 1.0)


async def _sdk(client: AmiliClient, ids: list[str]) -> float:
    await client.get_batches(ids[:CONCURRENCY], concurrency=CONCURRENCY)  # warm the pool
    started = time.perf_counter()
    results = await client.get_batches(ids, concurrency=CONCURRENCY)
    elapsed = time.perf_counter() - started
    assert all(r.ok for r in results)
    return elapsed


async def _aiohttp(url: str, ids: list[str]) -> float:
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
        started = time.perf_counter()
        await asyncio.gather(*(fetch(c) for c in ids))
        return time.perf_counter() - started


async def _httpx(url: str, ids: list[str]) -> float:
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
        started = time.perf_counter()
        await asyncio.gather(*(fetch(c) for c in ids))
        return time.perf_counter() - started
