"""Poll settlements for many creditors, resuming from a SQLite checkpoint store.

Each new settlement is printed as one JSON line, after which its cursor is saved: stop the script
(Ctrl-C, SIGTERM, ``--max-events``, ``--idle``) and run it again with the same ``--store``, and it
goes on after the last settlement it printed. Against the sandbox (in another shell:
``python -m amili_async sandbox --port 8080 --payout-rate 2`` to see new payouts arrive)::

    export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN=sk_sandbox_amili
    python examples/poll_with_sqlite.py --store checkpoints.db --max-events 10
    python examples/poll_with_sqlite.py --store checkpoints.db --idle 2   # the rest, then stops

Without ``--max-events`` or ``--idle`` it runs until stopped, as a service does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from amili_async import AmiliClient, SettlementEvent, SQLiteCheckpointStore

SEED_1_CREDITORS = ["842793483", "824378908", "905619004"]


def as_json_line(event: SettlementEvent) -> str:
    settlement = event.settlement
    return json.dumps({
        "creditor_id": event.creditor_id,
        "settlement_id": str(settlement.id),
        "number": settlement.settlement_number,
        "amount": str(settlement.payment_amount),  # a Decimal: keep it exact, as a string
    })  # fmt: skip


async def main(creditor_ids: list[str], store_path: str, max_events: int, idle: float) -> None:
    loop = asyncio.get_running_loop()
    store = SQLiteCheckpointStore(store_path)
    async with (
        AmiliClient() as client,  # AMILI_BASE_URL, AMILI_TOKEN
        store,
        client.settlement_poller(creditor_ids, store=store, interval=1.0) as poller,
    ):
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, poller.stop)
        idle_timer = loop.call_later(idle, poller.stop) if idle else None
        delivered = 0
        async for event in poller:
            print(as_json_line(event), flush=True)  # book it here; the cursor is saved next
            delivered += 1
            if delivered == max_events:
                poller.stop()
            if idle_timer is not None:
                idle_timer.cancel()
                idle_timer = loop.call_later(idle, poller.stop)
    print(f"stopped after {delivered} settlements; cursors saved in {store_path}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("creditor_ids", nargs="*", default=SEED_1_CREDITORS)
    parser.add_argument(
        "--store", default="checkpoints.db", help="the SQLite file (checkpoints.db)"
    )
    parser.add_argument("--max-events", type=int, default=0, help="stop after N settlements")
    parser.add_argument("--idle", type=float, default=0.0, help="stop after S seconds without one")
    args = parser.parse_args()
    asyncio.run(main(args.creditor_ids, args.store, args.max_events, args.idle))
