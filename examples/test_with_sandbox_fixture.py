"""Test your own code against the sandbox with the ``amili_sandbox`` pytest fixture.

``pip install "amili_async[pytest]"`` registers the fixture (no conftest needed). This file runs
under pytest-asyncio's default strict mode, hence the ``asyncio`` marks::

    python -m pytest examples/test_with_sandbox_fixture.py

The code under test here is ``total_owed``; yours would be imported from your package.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from amili_async import AmiliClient, MemoryCheckpointStore
from amili_async.sandbox import SandboxServer


async def total_owed(client: AmiliClient, creditor_id: str) -> Decimal:
    """Your code: what a creditor's open cases still owe."""
    batch = await client.get_batch(creditor_id=creditor_id)
    return sum((case.remaining_sum or Decimal(0) for case in batch.cases), Decimal(0))


@pytest.mark.asyncio
@pytest.mark.amili_sandbox(creditors=2, seed=7)
async def test_total_owed_matches_the_sandbox(amili_sandbox: SandboxServer) -> None:
    creditor_id = amili_sandbox.creditor_ids[0]
    async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
        owed = await total_owed(client, creditor_id)
    assert owed > 0
    assert owed == owed.quantize(Decimal("0.01"))  # exact to the øre, never a float


@pytest.mark.asyncio
@pytest.mark.amili_sandbox(creditors=1, seed=7, settlements=4)
async def test_a_poller_books_every_payout_once(amili_sandbox: SandboxServer) -> None:
    creditor_id = amili_sandbox.creditor_ids[0]
    amili_sandbox.add_settlements(creditor_id, 3)  # paid out while we are not looking
    ledger = amili_sandbox.ledger(creditor_id)
    booked: list[str] = []
    async with (
        AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client,
        client.settlement_poller([creditor_id], store=MemoryCheckpointStore()) as poller,
    ):
        async for event in poller:
            booked.append(str(event.settlement.id))
            if len(booked) == len(ledger):
                poller.stop()
    assert booked == [str(settlement["id"]) for settlement in ledger]  # the wire payloads
