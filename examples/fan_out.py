"""Fetch many creditors' batches at once, at most ``--concurrency`` requests in flight.

Run it against the sandbox (in another shell: ``python -m amili_async sandbox --port 8080``)::

    export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN=sk_sandbox_amili
    python examples/fan_out.py 842793483 824378908 905619004 933627659 819704678

Each creditor gets one line, in the order the fetches finish; one creditor's failure never stops
the others. Exit status 1 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal

from amili_async import AmiliClient

SEED_1_CREDITORS = ["842793483", "824378908", "905619004", "933627659", "819704678"]


async def main(creditor_ids: list[str], concurrency: int) -> int:
    failed = 0
    async with (
        AmiliClient(max_connections=concurrency) as client,
        client.fetch_batches(creditor_ids, concurrency=concurrency, include_closed=True) as results,
    ):
        async for result in results:
            if result.batch is None:
                failed += 1
                print(f"{result.creditor_id}: FAILED {result.error}")
                continue
            owed = sum(
                (case.remaining_sum or Decimal(0) for case in result.batch.cases), Decimal(0)
            )
            print(f"{result.creditor_id}: {len(result.batch.cases)} cases, {owed} owed")
    print(f"{len(creditor_ids) - failed} of {len(creditor_ids)} creditors fetched")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("creditor_ids", nargs="*", default=SEED_1_CREDITORS)
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (20)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.creditor_ids, args.concurrency)))
