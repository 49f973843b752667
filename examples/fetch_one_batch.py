"""Fetch one creditor's batch and print its cases and settlements.

Run it against the sandbox (in another shell: ``python -m amili_async sandbox --port 8080``)::

    export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN=sk_sandbox_amili
    python examples/fetch_one_batch.py 842793483

or against Amili with your own ``AMILI_BASE_URL`` and ``AMILI_TOKEN``. The creditor id defaults to
the sandbox's first seed-1 creditor.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal

from amili_async import AmiliClient, AmiliError


async def main(creditor_id: str, include_closed: bool) -> None:
    async with AmiliClient() as client:  # AMILI_BASE_URL, AMILI_TOKEN
        batch = await client.get_batch(creditor_id=creditor_id, include_closed=include_closed)
    print(f"creditor {creditor_id}: {len(batch.cases)} cases, {len(batch.settlements)} settlements")
    for case in batch.cases[:10]:
        print(f"  case {case.case_number} {case.customer_name}: {case.remaining_sum} remaining")
    for settlement in batch.settlements[:10]:
        print(f"  settlement {settlement.settlement_number}: {settlement.payment_amount}")
    remaining = sum((case.remaining_sum or Decimal(0) for case in batch.cases), Decimal(0))
    print(f"total remaining: {remaining}")  # Decimal: exact to the øre


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("creditor_id", nargs="?", default="842793483")
    parser.add_argument("--include-closed", action="store_true", help="closed cases too")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.creditor_id, args.include_closed))
    except AmiliError as error:
        raise SystemExit(f"error: {error}") from None
