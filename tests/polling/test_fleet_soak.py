"""Crash soak of a fleet: three worker PROCESSES share 30 creditors through a real PostgreSQL
server while the sandbox pays out; workers are SIGKILLed at random moments and started again.

At the end: no settlement lost, each creditor's settlements booked in ledger order, and every
settlement delivered twice explained by a takeover (the first settlement of a new lease, which the
previous holder had delivered and not acked). Bounded: about 15 s of kills, then at most 30 s to
drain.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from amili_async._fleet import Fleet, reconcile
from amili_async.sandbox import SandboxServer

SOAK_SECONDS = 15.0
DRAIN_SECONDS = 30.0
WORKERS = ["w1", "w2", "w3"]


async def test_sigkilled_workers_lose_nothing_and_every_redelivery_is_a_takeover(
    pg_dsn: str, tmp_path: Path
) -> None:
    rng = random.Random(13)
    async with SandboxServer(creditors=30, seed=13, settlements=2) as sandbox:
        fleet = Fleet(
            dsn=pg_dsn,
            url=sandbox.url,
            token=sandbox.token,
            creditor_ids=sandbox.creditor_ids,
            log_dir=tmp_path,
            lease_ttl=1.0,
            interval=0.1,
            book_seconds=0.01,  # kills often land between a delivery and its ack
        )
        async with fleet:
            for name in WORKERS:
                await fleet.start(name)
            sandbox.start_payouts(25.0, seed=13)
            deadline = time.monotonic() + SOAK_SECONDS
            while time.monotonic() < deadline:
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                victim = rng.choice(WORKERS)
                await fleet.kill(victim)
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                await fleet.start(victim)
            await sandbox.stop_payouts_and_wait()
            paid = {str(s["id"]) for c in sandbox.creditor_ids for s in sandbox.ledger(c)}
            drain_until = time.monotonic() + DRAIN_SECONDS
            while not paid <= {d.settlement_id for d in fleet.deliveries}:
                if time.monotonic() > drain_until:
                    logs = "\n".join(fleet.log(name)[-2000:] for name in WORKERS)
                    pytest.fail(f"the fleet did not deliver everything; worker logs:\n{logs}")
                await asyncio.sleep(0.1)
        report = reconcile(fleet.deliveries, {c: sandbox.ledger(c) for c in sandbox.creditor_ids})
    assert fleet.kills >= 5
    assert len(paid) > 200  # the payouts went on through the kills
    assert report.lost == []
    assert report.unexplained == []
    assert report.redelivered > 0  # kills did land between deliveries and acks
    assert any(d.epoch > 1 for d in fleet.deliveries)  # creditors did move between workers
    assert {d.worker for d in fleet.deliveries} == set(WORKERS)
    print(  # the figures, with -s
        f"fleet soak: {len(paid)} settlements, {len(fleet.deliveries)} deliveries, "
        f"{fleet.kills} SIGKILLs, {report.redelivered} re-delivered at takeovers"
    )
