"""``get_batch`` end to end against raw aiohttp + msgspec, from a server in another process.

Both paths do the same work on the clock: request, read, decode into the same models. Each keeps
its decoded batch until the clock has stopped and frees it after (freeing a 10,000-case batch is
not free), they alternate which goes first, and the heap is collected before every run.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
from pathlib import Path

import aiohttp

from amili_async import AmiliClient, Batch, RetryPolicy
from amili_async.models.decoding import TypedDecoder

from ._payloads import batch_payload
from ._report import Report, Timing, clock, ms, paired_ratio, since
from ._server import server_process

_RAW_DECODER = TypedDecoder(Batch)


async def run(report: Report, cases: int, repeat: int) -> None:
    report.section(f"get_batch end to end, {cases:,} cases, server in another process")
    payload = batch_payload(cases=cases, settlements=200, seed=3)
    creditor = _RAW_DECODER(payload).creditors[0].id_number or ""  # asked for, as a user would
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "batch.json"
        path.write_bytes(payload)
        async with server_process("static", str(path)) as url:
            raw_times: list[Timing] = []
            sdk_times: list[Timing] = []
            async with (
                aiohttp.ClientSession() as session,
                AmiliClient(base_url=url, token="bench", retry=RetryPolicy.none()) as client,
            ):
                await _raw(session, url, creditor)  # warm both connections
                await _sdk(client, creditor)
                for round_number in range(repeat):  # interleaved, so drift hits both alike
                    for contender in _alternating(round_number):
                        gc.collect()
                        if contender == "raw":
                            raw_times.append(await _raw(session, url, creditor))
                        else:
                            sdk_times.append(await _sdk(client, creditor))
    raw, sdk = (statistics.median(t.wall for t in runs) for runs in (raw_times, sdk_times))
    raw_cpu, sdk_cpu = (statistics.median(t.cpu for t in runs) for runs in (raw_times, sdk_times))
    report.table(
        ["path", "median", "client CPU"],
        [
            ["raw aiohttp: get, read, msgspec decode", ms(raw), ms(raw_cpu)],
            ["AmiliClient.get_batch", ms(sdk), ms(sdk_cpu)],
        ],
    )
    report.note(
        f"payload {len(payload) / 1e6:.1f} MB; the SDK reads the body once (resp.read(), no copy) and decodes it in place"
    )
    ratio, low, high = paired_ratio([t.wall for t in sdk_times], [t.wall for t in raw_times])
    cpu_ratio, cpu_low, cpu_high = paired_ratio(
        [t.cpu for t in sdk_times], [t.cpu for t in raw_times]
    )
    report.note(
        f"get_batch / raw per round: wall {ratio:.2f}x (from {low:.2f}x to {high:.2f}x over "
        f"{repeat} rounds, order alternating; ratio of the medians {sdk / raw:.2f}x), client CPU "
        f"{cpu_ratio:.2f}x (from {cpu_low:.2f}x to {cpu_high:.2f}x)"
    )
    report.target("get_batch / raw aiohttp + msgspec (median of paired runs)", ratio, 1.1)


def _alternating(round_number: int) -> tuple[str, str]:
    return ("raw", "sdk") if round_number % 2 == 0 else ("sdk", "raw")


async def _raw(session: aiohttp.ClientSession, url: str, creditor: str) -> Timing:
    started = clock()
    async with session.get(
        f"{url}/webapi/api/Batch",
        params={"creditorid": creditor},
        headers={"Authorization": "Bearer bench"},
    ) as response:
        body = await response.read()
    batch = _RAW_DECODER(body)
    elapsed = since(started)
    assert len(batch.cases) > 0
    return elapsed  # the batch and its body are freed here, off the clock


async def _sdk(client: AmiliClient, creditor: str) -> Timing:
    started = clock()
    batch = await client.get_batch(creditor_id=creditor)
    elapsed = since(started)
    assert len(batch.cases) > 0
    return elapsed  # likewise
