"""Create invoices with the Collection API and wait for the batch that registers them.

The Collection API authenticates with OAuth2 client credentials. Against the sandbox (in another
shell: ``python -m amili_async sandbox --port 8080``)::

    export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN_URL=http://127.0.0.1:8080/token
    export AMILI_CLIENT_ID=sandbox-client AMILI_CLIENT_SECRET=sandbox-client-secret
    python examples/collection_create_and_wait.py --invoices 3

The organisation defaults to the sandbox's first seed-1 organisation. Creates are idempotent, so
they are safe to retry; invoice numbers must be new for the organisation (``--first`` sets them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from decimal import Decimal

from amili_async import AmiliClient
from amili_async.collection import InvoiceFailure, InvoiceSuccess, NewInvoice

SEED_1_ORG = "380208a9-ad45-423d-bb1a-11df587fd280"


async def main(org_id: str, count: int, first: int) -> int:
    invoices = [
        NewInvoice(type="NOTICE", invoice_number=str(number), currency="NOK",
                   original_invoice_amount=Decimal("1250.50"))
        for number in range(first, first + count)
    ]  # fmt: skip
    async with AmiliClient(
        client_id=os.environ["AMILI_CLIENT_ID"],
        client_secret=os.environ["AMILI_CLIENT_SECRET"],
        token_url=os.environ["AMILI_TOKEN_URL"],
    ) as client:
        batch = await client.collection.invoices.create_and_wait(org_id, invoices, timeout=120)
    print(f"batch {batch.batch_id}: {batch.status}")
    for item in batch.succeeded:
        if isinstance(item, InvoiceSuccess):  # a batch may hold payments and corrections too
            print(f"  invoice {item.invoice_number} -> case {item.case_id}")
    for failure in batch.failed:
        if isinstance(failure, InvoiceFailure):
            print(f"  invoice {failure.invoice_number} refused: {failure.reason}")
    return 0 if not batch.failed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--org", default=SEED_1_ORG, help="the organisation id")
    parser.add_argument("--invoices", type=int, default=3, help="how many invoices (3)")
    parser.add_argument("--first", type=int, default=70001, help="the first invoice number")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.org, args.invoices, args.first)))
