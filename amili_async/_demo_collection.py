"""The demo's Collection API step: create invoices over OAuth2, wait for their batch, and find them
again through the legacy ``GET Batch``, amounts and case numbers matching exactly."""

from __future__ import annotations

import datetime
import decimal
from typing import TextIO

from . import AmiliClient, RetryPolicy
from .collection import InvoiceSuccess, NewInvoice
from .sandbox import SandboxServer

__all__ = ["run_collection_demo"]

_AMOUNTS = ("1250.00", "4500.10", "99.95")


async def run_collection_demo(sandbox: SandboxServer, retry: RetryPolicy, out: TextIO) -> bool:
    """Create one invoice per amount for the first organisation; ``True`` when the batch succeeded
    and the legacy API shows every invoice as a case with the same amount."""
    org_id, creditor_id = sandbox.organization_ids[0], sandbox.creditor_ids[0]
    today = datetime.date.today()
    invoices = [
        NewInvoice(
            type="NOTICE",
            invoice_number=f"DEMO-{n}",
            original_invoice_amount=decimal.Decimal(amount),
            currency="NOK",
            invoice_date=today,
            due_date=today + datetime.timedelta(days=14),
            description="Collection API demo",
        )
        for n, amount in enumerate(_AMOUNTS, 1)
    ]
    async with AmiliClient(
        sandbox.url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        token_url=sandbox.token_url,
        retry=retry,
    ) as client:
        print(f"\nCollection API: creating {len(invoices)} invoices for {org_id}", file=out)
        batch = await client.collection.invoices.create_and_wait(
            org_id, invoices, timeout=30, poll_interval=0.05
        )
        print(f"  batch {batch.batch_id}: {batch.status}", file=out)
        created = {i.invoice_number: i for i in batch.succeeded if isinstance(i, InvoiceSuccess)}
        legacy = await client.get_batch(creditor_id=creditor_id, include_closed=True)
    cases = {case.ledger_ref: case for case in legacy.cases}
    all_match = batch.status == "SUCCESS"
    for invoice in invoices:
        case = cases.get(invoice.invoice_number)
        match = (
            invoice.invoice_number in created
            and case is not None
            and case.original_sum == invoice.original_invoice_amount
        )
        all_match &= match
        number = case.case_number if case is not None else "-"
        print(
            f"  {invoice.invoice_number:<8}{invoice.original_invoice_amount:>10}  legacy case "
            f"{number}  {'ok' if match else 'MISMATCH'}",
            file=out,
        )
    return all_match
