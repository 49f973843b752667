"""Crash soak of a fleet: three worker PROCESSES share 30 creditors through a real PostgreSQL
server while the sandbox pays out; workers are SIGKILLed at random moments and started again.

At the end: no settlement lost, each creditor's settlements booked in ledger order, and every
settlement delivered twice explained by a takeover (the first settlement of a new lease, which the
previous holder had delivered and not acked). Bounded: six kills (at most 4.5 s apart), then at
most 30 s to drain.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from amili_async._cli import main
from amili_async._fleet import Delivery, Fleet, reconcile
from amili_async.sandbox import SandboxServer

KILLS = 6
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
            book_seconds=0.05,  # a kill right after a delivery lands before its ack
        )
        async with fleet:
            for name in WORKERS:
                await fleet.start(name)
            sandbox.start_payouts(25.0, seed=13)
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                victim = rng.choice(WORKERS)
                if rng.random() < 0.7:  # most kills: while it books a settlement, before the ack
                    await delivery_by(fleet, victim)
                await fleet.kill(victim)
                await asyncio.sleep(rng.uniform(0.0, 1.0))
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
    assert fleet.kills == KILLS
    assert len(paid) > 150  # the payouts went on through the kills
    assert report.lost == []
    assert report.unexplained == []
    assert report.redelivered > 0  # kills did land between deliveries and acks
    assert any(d.epoch > 1 for d in fleet.deliveries)  # creditors did move between workers
    assert {d.worker for d in fleet.deliveries} == set(WORKERS)
    print(  # the figures, with -s
        f"fleet soak: {len(paid)} settlements, {len(fleet.deliveries)} deliveries, "
        f"{fleet.kills} SIGKILLs, {report.redelivered} re-delivered at takeovers"
    )


async def delivery_by(fleet: Fleet, worker: str) -> None:
    """Return as soon as ``worker`` delivers another settlement (or after 2 s)."""
    count = sum(d.worker == worker for d in fleet.deliveries)
    deadline = time.monotonic() + 2.0
    while sum(d.worker == worker for d in fleet.deliveries) == count:
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.002)


# The audit the soak and the demo rely on


def ledger(*ids: str) -> list[dict[str, Any]]:
    return [{"id": i} for i in ids]


def booked(worker: str, creditor: str, settlement_id: str, epoch: int) -> Delivery:
    return Delivery(worker, creditor, settlement_id, int(settlement_id[1:]), "1.00", epoch)


def test_the_audit_accepts_a_takeover_that_redelivers_the_last_unacked_settlement() -> None:
    deliveries = [
        booked("w1", "A", "s1", 1),
        booked("w1", "A", "s2", 1),  # delivered, not acked: w1 died
        booked("w2", "A", "s2", 2),  # the new holder starts with it
        booked("w2", "A", "s3", 2),
    ]
    report = reconcile(deliveries, {"A": ledger("s1", "s2", "s3")})
    assert report.ok
    assert report.redelivered == 1
    assert [d.settlement_id for d in report.booked["A"]] == ["s1", "s2", "s3"]


@pytest.mark.parametrize(
    ("deliveries", "problem"),
    [
        # Re-delivered in the middle of a lease: the previous holder's acked settlement.
        ([("w1", "s1", 1), ("w1", "s2", 1), ("w2", "s3", 2), ("w2", "s2", 2)], "not at the start"),
        # Re-delivered first, but not the last one booked before the takeover.
        ([("w1", "s1", 1), ("w1", "s2", 1), ("w2", "s1", 2), ("w2", "s3", 2)], "not at the start"),
        # Two holders at once under the same lease would deliver twice within it.
        ([("w1", "s1", 1), ("w2", "s1", 1), ("w1", "s2", 1), ("w2", "s3", 1)], "not at the start"),
        # Out of ledger order.
        ([("w1", "s2", 1), ("w1", "s1", 1), ("w1", "s3", 1)], "in payment order"),
    ],
)
def test_the_audit_flags_what_no_takeover_explains(
    deliveries: list[tuple[str, str, int]], problem: str
) -> None:
    report = reconcile(
        [booked(w, "A", s, e) for w, s, e in deliveries], {"A": ledger("s1", "s2", "s3")}
    )
    assert not report.ok
    assert problem in report.unexplained[0]


def test_the_audit_reports_a_lost_settlement() -> None:
    report = reconcile([booked("w1", "A", "s1", 1)], {"A": ledger("s1", "s2"), "B": ledger("s9")})
    assert report.lost == ["s2", "s9"]
    assert not report.ok


def test_the_fleet_demo_reconciles_and_prints_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """What README and the issue invite: ``python -m amili_async demo --workers N`` (short)."""
    argv = ["demo", "--workers", "2", "--creditors", "8", "--seconds", "4", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SIGKILL w2" in out
    assert "w2 started again" in out
    assert out.splitlines()[-1] == "OK"
