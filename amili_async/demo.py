"""`python -m amili_async demo`: the SDK's main job, end to end, against the embedded sandbox.

1. start the sandbox in-process (20 creditors, some faults on);
2. fetch every creditor's batch concurrently, with a progress line;
3. poll settlements while the sandbox pays new ones out, one line per settlement;
4. reconcile what was received against the sandbox's ledger: ``OK`` only when every creditor's
   count and amount match exactly;
5. meanwhile a webhook receiver takes the sandbox's (repeated) deliveries: every settlement paid
   during the demo must arrive once by webhook and also by polling.
6. create invoices through the Collection API (OAuth2), wait for their batch, and find them in the
   legacy batch with the same amounts (``_demo_collection``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TextIO

from . import AmiliClient, FileCheckpointStore, RetryPolicy, SettlementPoller
from ._demo_collection import run_collection_demo
from ._demo_webhooks import DemoWebhooks
from .sandbox import Fault, FaultPlan, SandboxServer

__all__ = ["DemoOptions", "Received", "print_reconciliation", "run_demo"]

RETRIED_FAULTS = (Fault.E502, Fault.E503, Fault.E429, Fault.DROP, Fault.SLOW)


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """Knobs of the demo (all have CLI flags)."""

    creditors: int = 20
    seed: int = 1
    seconds: float = 15.0
    fault_rate: float = 0.05
    payout_rate: float = 4.0
    settlements: int = 3
    concurrency: int = 10
    quiet: bool = False
    workers: int = 0  # > 0: that many worker processes share the creditors through PostgreSQL


@dataclasses.dataclass
class Received:
    """What the demo received of one creditor's settlements: how many, their total amount and
    their ids (the fleet demo fills it from its workers' deliveries)."""

    count: int = 0
    amount: decimal.Decimal = decimal.Decimal(0)
    ids: set[str] = dataclasses.field(default_factory=set)


def demo_sandbox(options: DemoOptions) -> SandboxServer:
    """The demo's sandbox: seeded data and retried faults at ``options.fault_rate``."""
    faults = FaultPlan(rate=options.fault_rate, kinds=RETRIED_FAULTS, seed=options.seed)
    return SandboxServer(
        creditors=options.creditors,
        seed=options.seed,
        settlements=options.settlements,
        faults=faults,
    )


async def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> bool:
    """Run the demo; returns whether the reconciliation matched."""
    if options.workers > 0:
        from ._fleet import run_fleet_demo

        return await run_fleet_demo(options, out)
    async with demo_sandbox(options) as sandbox:
        print(f"sandbox up at {sandbox.url} with {options.creditors} creditors", file=out)
        retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5)
        async with (
            AmiliClient(base_url=sandbox.url, token=sandbox.token, retry=retry) as client,
            DemoWebhooks(sandbox, seed=options.seed) as webhooks,
        ):
            await _fan_out(client, sandbox.creditor_ids, options, out)
            received = await _poll(client, sandbox, options, out)
            await sandbox.webhooks.join()
        collected = await run_collection_demo(sandbox, retry, out)  # faults still on
        sandbox.faults.rate = 0.0
        polled = {i for tally in received.values() for i in tally.ids}
        ok = print_reconciliation(sandbox, received, out, also_ok=webhooks.reconcile(polled, out))
        return ok and collected


async def _fan_out(
    client: AmiliClient, creditor_ids: list[str], options: DemoOptions, out: TextIO
) -> None:
    started = time.perf_counter()
    done = failed = cases = 0
    # Redrawn in place on a terminal; a plain line per step in a pipe or a file.
    redraw = out.isatty()
    start, end = ("\r", "") if redraw else ("", "\n")
    async for result in client.fetch_batches(
        creditor_ids, concurrency=options.concurrency, include_closed=True
    ):
        done += 1
        if result.batch is not None:
            cases += len(result.batch.cases)
        else:
            failed += 1
        print(
            f"{start}fetching batches: {done}/{len(creditor_ids)} creditors, {cases} cases, "
            f"{failed} failed",
            end=end,
            file=out,
            flush=True,
        )
    elapsed = time.perf_counter() - started
    print(f" ({elapsed:.2f}s)" if redraw else f"fetched in {elapsed:.2f}s", file=out)


async def _poll(
    client: AmiliClient, sandbox: SandboxServer, options: DemoOptions, out: TextIO
) -> dict[str, Received]:
    received: dict[str, Received] = defaultdict(Received)
    with tempfile.TemporaryDirectory() as workdir:
        store = FileCheckpointStore(Path(workdir) / "checkpoints.json")
        poller = client.settlement_poller(
            sandbox.creditor_ids, store=store, interval=0.5, concurrency=options.concurrency
        )
        print(
            f"polling settlements for {options.seconds:.0f}s while the sandbox pays out", file=out
        )
        sandbox.start_payouts(options.payout_rate)
        loop = asyncio.get_running_loop()
        loop.call_later(options.seconds, sandbox.stop_payouts)
        async with poller, store:
            consume = asyncio.create_task(_consume(poller, received, options, out))
            await asyncio.sleep(options.seconds)
            await _wait_until_drained(sandbox, received, patience=15.0)
            poller.stop()
            await consume
        print(f"poller stats: {poller.stats.summary()}", file=out)
    return received


async def _consume(
    poller: SettlementPoller, received: dict[str, Received], options: DemoOptions, out: TextIO
) -> None:
    async for event in poller:
        s = event.settlement
        tally = received[event.creditor_id]
        tally.count += 1
        tally.amount += s.payment_amount or 0
        tally.ids.add(str(s.id))
        if not options.quiet:
            print(
                f"  settlement #{s.settlement_number:<4} creditor {event.creditor_id} "
                f"{s.payment_amount:>10} {s.currency} case {s.case_number} ({s.collection_type})",
                file=out,
            )


async def _wait_until_drained(
    sandbox: SandboxServer, received: dict[str, Received], patience: float
) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        paid = sum(len(sandbox.ledger(cid)) for cid in sandbox.creditor_ids)
        if sum(r.count for r in received.values()) >= paid:
            return
        await asyncio.sleep(0.1)


def print_reconciliation(
    sandbox: SandboxServer, received: dict[str, Received], out: TextIO, *, also_ok: bool = True
) -> bool:
    """Print each creditor's ledger in the sandbox against what was received, then ``OK`` or
    ``MISMATCH``; whether every count and amount matched (and ``also_ok``)."""
    print("\nreconciliation against the sandbox's ledger:", file=out)
    print(f"  {'creditor':<12}{'paid':>6}{'amount':>14}{'received':>10}{'amount':>14}", file=out)
    all_match = also_ok
    for creditor_id in sandbox.creditor_ids:
        ledger = sandbox.ledger(creditor_id)
        paid = sum((decimal.Decimal(str(s["paymentAmount"])) for s in ledger), decimal.Decimal(0))
        got = received.get(creditor_id, Received())
        match = got.count == len(ledger) and got.amount == paid
        all_match &= match
        print(
            f"  {creditor_id:<12}{len(ledger):>6}{paid:>14}{got.count:>10}{got.amount:>14}"
            f"  {'ok' if match else 'MISMATCH'}",
            file=out,
        )
    print("OK" if all_match else "MISMATCH", file=out)
    return all_match


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0 if asyncio.run(run_demo(DemoOptions())) else 1)
