"""A fleet of settlement pollers sharing creditors through PostgreSQL: the worker process, the
parent that starts, kills and restarts workers, and the audit of what the fleet delivered.

``python -m amili_async demo --workers 3`` runs ``run_fleet_demo``: a throwaway PostgreSQL, the
sandbox paying out live, three worker processes over 60 creditors, one of them SIGKILLed midway
and started again, and a reconciliation that ends in ``OK``. The crash soak in the tests drives
the same workers.

A worker (``python -m amili_async._fleet --dsn ... --url ... CREDITOR...``, the token in the
environment) polls with a [`PostgresCheckpointStore`][amili_async.PostgresCheckpointStore], books
each settlement by writing it as a JSON line on stdout, then acks it; SIGTERM stops it cleanly.
Not public API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import decimal
import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import AmiliClient, LeaseLostError, PostgresCheckpointStore, RetryPolicy, SettlementPoller

if TYPE_CHECKING:
    from .demo import DemoOptions
    from .sandbox import SandboxServer

__all__ = ["Delivery", "Fleet", "FleetReport", "reconcile", "run_fleet_demo"]

# The token goes through the environment, never the command line.
TOKEN_ENV = "AMILI_FLEET_TOKEN"  # noqa: S105 - the name of the variable
STATUS_EVERY = 0.5


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One settlement as a worker booked it."""

    worker: str
    creditor_id: str
    settlement_id: str
    number: int
    amount: str
    epoch: int


# -- the audit ---------------------------------------------------------------------------------


@dataclasses.dataclass
class FleetReport:
    """What the fleet delivered against the ledgers.

    Attributes:
        lost: Settlement ids paid and never delivered.
        unexplained: Deliveries no rule allows (a re-delivery that is not the first settlement of
            a new lease and the last one booked before it, an unknown id, an order broken).
        redelivered: Settlements delivered again at a takeover (each explained).
        booked: Per creditor, the settlements booked once each (idempotently on their id).
    """

    lost: list[str] = dataclasses.field(default_factory=list)
    unexplained: list[str] = dataclasses.field(default_factory=list)
    redelivered: int = 0
    booked: dict[str, list[Delivery]] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unexplained


def reconcile(
    deliveries: Sequence[Delivery], ledgers: Mapping[str, Sequence[Mapping[str, Any]]]
) -> FleetReport:
    """Check the fleet's deliveries against each creditor's ledger (in payment order).

    A lease's deliveries come from one process, in its order; leases follow each other in epoch
    order. A new holder starts at the committed cursor, so the only settlement it may deliver
    again is the previous holder's last one, which that holder had delivered and not acked: it
    must come first under the new lease, once per takeover. With the re-deliveries taken out,
    each creditor's deliveries must be its ledger exactly: nothing lost, nothing out of order.
    """
    report = FleetReport()
    by_lease: dict[str, dict[int, list[Delivery]]] = defaultdict(lambda: defaultdict(list))
    for delivery in deliveries:
        by_lease[delivery.creditor_id][delivery.epoch].append(delivery)
    for creditor_id in sorted(set(ledgers) | set(by_lease)):
        expected = [str(s["id"]) for s in ledgers.get(creditor_id, ())]
        booked: list[Delivery] = []
        seen: set[str] = set()
        leases = by_lease.get(creditor_id, {})
        for epoch in sorted(leases):
            for index, delivery in enumerate(leases[epoch]):
                if delivery.settlement_id not in seen:
                    seen.add(delivery.settlement_id)
                    booked.append(delivery)
                    continue
                report.redelivered += 1
                if index != 0 or booked[-1].settlement_id != delivery.settlement_id:
                    report.unexplained.append(
                        f"creditor {creditor_id}: settlement #{delivery.number} delivered again "
                        f"by {delivery.worker} under epoch {epoch}, not at the start of a takeover"
                    )
        report.booked[creditor_id] = booked
        got = [d.settlement_id for d in booked]
        report.lost.extend(s for s in expected if s not in seen)
        if got != expected and not set(expected) - seen:
            report.unexplained.append(
                f"creditor {creditor_id}: booked {len(got)} settlements, not its ledger's "
                f"{len(expected)} in payment order"
            )
    return report


# -- one worker process ----------------------------------------------------------------------


def _emit(record: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()  # a SIGKILL loses nothing that was booked


async def _report_status(poller: SettlementPoller, name: str) -> None:
    while True:
        stats = poller.stats
        _emit(
            {
                "status": name,
                "held": stats.creditors_held,
                "takeovers": stats.takeovers,
                "delivered": stats.settlements_delivered,
            }
        )
        await asyncio.sleep(STATUS_EVERY)


async def _work(args: argparse.Namespace) -> int:
    retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5)
    async with (
        AmiliClient(base_url=args.url, token=os.environ[TOKEN_ENV], retry=retry) as client,
        PostgresCheckpointStore(args.dsn, lease_ttl=args.lease_ttl) as store,
    ):
        poller = client.settlement_poller(args.creditors, store=store, interval=args.interval)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, poller.stop)
        status = asyncio.create_task(_report_status(poller, args.name))
        try:
            async with poller:
                async for event in poller:  # the polling guide's loop for many machines
                    s = event.settlement
                    _emit(
                        {
                            "worker": args.name,
                            "creditor": event.creditor_id,
                            "id": str(s.id),
                            "number": s.settlement_number,
                            "amount": str(s.payment_amount),
                            "epoch": event.lease_epoch,
                        }
                    )
                    if args.book_seconds:  # booking takes a while: a kill may land before the ack
                        await asyncio.sleep(args.book_seconds)
                    try:
                        await event.ack()
                    except LeaseLostError:
                        continue  # the creditor's new holder delivers it again
        finally:
            status.cancel()
        _emit({"status": args.name, "stopped": True, "takeovers": poller.stats.takeovers})
    return 0


def _worker_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m amili_async._fleet")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--lease-ttl", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--book-seconds", type=float, default=0.0)
    parser.add_argument("creditors", nargs="+")
    return parser


# -- the parent: start, kill, restart ------------------------------------------------------


class Fleet:
    """Worker processes over one database and one sandbox, their deliveries in one list.

    Args:
        dsn: The database (every worker gets the same).
        url: The sandbox's base URL.
        token: Its bearer token (handed over in the environment).
        creditor_ids: Every worker polls the same list.
        log_dir: Each worker's stderr goes to ``<name>.log`` there (appended across restarts).
        lease_ttl: The workers' ``lease_ttl``.
        interval: The workers' poll interval.
        book_seconds: How long each worker takes to book a settlement, between delivering it
            and acking it.
    """

    def __init__(
        self,
        *,
        dsn: str,
        url: str,
        token: str,
        creditor_ids: Sequence[str],
        log_dir: Path,
        lease_ttl: float = 2.0,
        interval: float = 0.2,
        book_seconds: float = 0.0,
    ) -> None:
        self.deliveries: list[Delivery] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.takeovers = 0  # reported by workers that stopped cleanly
        self.kills = 0
        self.first_delivery_at = 0.0  # time.perf_counter() of the first delivery read
        self._args = [
            "--dsn",
            dsn,
            "--url",
            url,
            "--lease-ttl",
            str(lease_ttl),
            "--interval",
            str(interval),
            "--book-seconds",
            str(book_seconds),
            *creditor_ids,
        ]
        self._env = {**os.environ, TOKEN_ENV: token}
        self._log_dir = log_dir
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_all()

    @property
    def running(self) -> list[str]:
        return [name for name, p in self._processes.items() if p.returncode is None]

    async def start(self, name: str) -> None:
        """Start (or restart) the worker called ``name``."""
        self.status.pop(name, None)  # what its previous run said no longer holds
        with (self._log_dir / f"{name}.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "amili_async._fleet",
                "--name",
                name,
                *self._args,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self._env,
            )
        self._processes[name] = process
        self._readers[name] = asyncio.create_task(self._read(name, process))

    async def kill(self, name: str) -> None:
        """SIGKILL the worker: no cleanup, its leases stay until they expire."""
        process = self._processes[name]
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        await self._readers[name]
        self.kills += 1

    async def stop(self, name: str) -> None:
        """SIGTERM: the worker stops its poller (releasing its leases) and exits; killed if it
        takes longer than 15 s."""
        process = self._processes[name]
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(15.0):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await self._readers[name]

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self._processes)))

    def log(self, name: str) -> str:
        """The worker's stderr so far (for a failure message)."""
        path = self._log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def _read(self, name: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by a SIGKILL
            if "status" in record:
                self.status[name] = record
                if record.get("stopped"):
                    self.takeovers += int(record["takeovers"])
                continue
            if not self.deliveries:
                self.first_delivery_at = time.perf_counter()
            self.deliveries.append(
                Delivery(
                    record["worker"],
                    record["creditor"],
                    record["id"],
                    int(record["number"] or 0),
                    record["amount"],
                    int(record["epoch"]),
                )
            )


# -- the demo --------------------------------------------------------------------------------


async def run_fleet_demo(options: DemoOptions, out: TextIO = sys.stdout) -> bool:
    """The fleet demo, ``options.workers`` worker processes; returns whether every settlement
    reconciled and every re-delivery was explained by a takeover."""
    from ._pgserver import PostgresNotFound, throwaway_postgres
    from .demo import demo_sandbox

    print("starting a throwaway PostgreSQL server", file=out, flush=True)
    database = contextlib.ExitStack()  # started and stopped in a thread: initdb takes seconds
    try:
        server = await asyncio.to_thread(database.enter_context, throwaway_postgres())
    except PostgresNotFound as exc:
        print(f"cannot run the fleet demo: {exc}", file=out)
        return False
    try:
        async with demo_sandbox(options) as sandbox:
            print(
                f"sandbox up at {sandbox.url} with {options.creditors} creditors; "
                f"{options.workers} worker processes share them through PostgreSQL",
                file=out,
            )
            with tempfile.TemporaryDirectory(prefix="amili-fleet-") as log_dir:
                async with Fleet(
                    dsn=server.dsn(),
                    url=sandbox.url,
                    token=sandbox.token,
                    creditor_ids=sandbox.creditor_ids,
                    log_dir=Path(log_dir),
                ) as fleet:
                    await _run_fleet(fleet, sandbox, options, out)
            sandbox.faults.rate = 0.0
            return _report(fleet, sandbox, out)
    finally:
        await asyncio.to_thread(database.close)


async def _run_fleet(
    fleet: Fleet, sandbox: SandboxServer, options: DemoOptions, out: TextIO
) -> None:
    names = [f"w{n}" for n in range(1, options.workers + 1)]
    victim = names[len(names) // 2] if len(names) > 1 else names[0]
    for name in names:
        await fleet.start(name)
    sandbox.start_payouts(options.payout_rate, seed=options.seed)
    print(f"paying out for {options.seconds:.0f}s while the workers poll", file=out)
    started = time.monotonic()
    kill_at, restart_at = options.seconds * 0.4, options.seconds * 0.65
    killed = restarted = False
    while (elapsed := time.monotonic() - started) < options.seconds:
        if not killed and elapsed >= kill_at:
            await fleet.kill(victim)
            killed = True
            print(f"  {elapsed:5.1f}s  SIGKILL {victim}: its creditors wait for takeover", file=out)
        elif killed and not restarted and elapsed >= restart_at:
            await fleet.start(victim)
            restarted = True
            print(f"  {elapsed:5.1f}s  {victim} started again: it gets a share back", file=out)
        _print_status(fleet, names, elapsed, out)
        await asyncio.sleep(1.0)
    await sandbox.stop_payouts_and_wait()
    await _wait_until_booked(fleet, sandbox, patience=30.0)
    _print_status(fleet, names, time.monotonic() - started, out)
    await fleet.stop_all()


def _print_status(fleet: Fleet, names: list[str], elapsed: float, out: TextIO) -> None:
    running = set(fleet.running)
    shares = []
    for name in names:
        status = fleet.status.get(name, {})
        held = status.get("held", 0) if name in running else "-"
        shares.append(f"{name} holds {held:>2}")
    booked = len({d.settlement_id for d in fleet.deliveries})
    print(f"  {elapsed:5.1f}s  {', '.join(shares)}; {booked} settlements booked", file=out)


async def _wait_until_booked(fleet: Fleet, sandbox: SandboxServer, patience: float) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        paid = {str(s["id"]) for c in sandbox.creditor_ids for s in sandbox.ledger(c)}
        if paid <= {d.settlement_id for d in fleet.deliveries}:
            return
        await asyncio.sleep(0.2)


def _report(fleet: Fleet, sandbox: SandboxServer, out: TextIO) -> bool:
    from .demo import Received, print_reconciliation

    ledgers = {c: sandbox.ledger(c) for c in sandbox.creditor_ids}
    report = reconcile(fleet.deliveries, ledgers)
    received: dict[str, Received] = defaultdict(Received)
    for creditor_id, booked in report.booked.items():
        tally = received[creditor_id]
        tally.count = len(booked)
        tally.amount = sum((decimal.Decimal(d.amount) for d in booked), decimal.Decimal(0))
    print(
        f"\n{len(fleet.deliveries)} deliveries by {len({d.worker for d in fleet.deliveries})} "
        f"workers, {fleet.kills} SIGKILL; {report.redelivered} delivered again at a takeover "
        f"(booked once: idempotent on settlement.id), {len(report.unexplained)} unexplained",
        file=out,
    )
    matched = print_reconciliation(sandbox, received, out)
    for problem in report.unexplained:
        print(f"UNEXPLAINED {problem}", file=out)
    if matched and not report.ok:
        print("MISMATCH", file=out)
    return matched and report.ok


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(_work(_worker_parser().parse_args())))
