"""POST Batch: typed and plain documents against the sandbox, per-object errors, no retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest

from amili_async import (
    AmiliClient,
    BatchDocument,
    BatchResult,
    ConfigurationError,
    Creditor,
    NewCase,
    NewPayment,
    RetryPolicy,
    ServerError,
    TransportError,
)
from amili_async.models.documents import batch_document_json
from amili_async.sandbox import Fault, SandboxServer

from .conftest import FakeSleep


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=2, cases=5, settlements=2, seed=4) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer, fake_sleep: FakeSleep) -> AsyncIterator[AmiliClient]:
    retry = RetryPolicy(sleep=fake_sleep)
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token, retry=retry) as made:
        yield made


async def test_one_bad_object_is_reported_by_index(
    sandbox: SandboxServer, client: AmiliClient
) -> None:
    creditor = sandbox.creditor_ids[0]
    document = BatchDocument(
        cases=[
            NewCase(
                creditor_id=creditor, ledger_ref="ERP-1", original_principal=Decimal("1250.50")
            ),
            NewCase(creditor_id=creditor, ledger_ref="ERP-2", original_principal=Decimal("0")),
            NewCase(creditor_id=creditor, ledger_ref="ERP-3", original_principal=Decimal("0.01")),
        ],
        payments=[NewPayment(ledger_ref="ERP-1", amount=Decimal("100.00"))],
    )
    result = await client.post_batch(document, sender_id=sandbox.state.sender_id)
    assert isinstance(result, BatchResult)
    assert not result.ok
    assert list(result.errors_for("case")) == [1]
    assert "originalprincipal" in result.errors_for("case")[1]
    assert [(r.object_name, r.object_index, r.ledger_ref, r.status) for r in result.responses] == [
        ("case", 0, "ERP-1", "REGISTERED"),
        ("case", 2, "ERP-3", "REGISTERED"),
        ("payment", 0, "ERP-1", "RECEIVED"),
    ]
    (case,) = (await client.get_batch(creditor_id=creditor, ledger_ref="ERP-1")).cases
    assert case.original_principal == Decimal("1250.50")  # sent as an exact JSON number
    assert not (await client.get_batch(creditor_id=creditor, ledger_ref="ERP-2")).cases


async def test_plain_dict_and_new_creditor(sandbox: SandboxServer, client: AmiliClient) -> None:
    result = await client.post_batch(
        {"creditor": [{"idnumber": "923609016", "fullname": "Ny Kreditor AS"}]},
        sender_id=sandbox.state.sender_id,
    )
    assert result.ok and result.responses[0].status == "CREATED"
    typed = await client.post_batch(
        BatchDocument(creditors=[Creditor(id_number="923609016", city="Oslo")]),
        sender_id=sandbox.state.sender_id,
    )
    assert typed.ok and typed.responses[0].status == "UPDATED"
    assert "923609016" in sandbox.creditor_ids
    post = [r for r in sandbox.requests if r.method == "POST"]
    assert post[-1].query == {"senderid": sandbox.state.sender_id}


def test_document_wire_form_drops_nulls_and_keeps_money_exact() -> None:
    document = BatchDocument(
        cases=[NewCase(ledger_ref="A", original_principal=Decimal("10.10"), customer_name=None)]
    )
    wire = batch_document_json(document)
    assert wire == {"case": [{"ledgerref": "A", "originalprincipal": Decimal("10.10")}]}
    encoded = msgspec.json.Encoder(decimal_format="number").encode(wire)
    assert json.loads(encoded, parse_float=Decimal)["case"][0]["originalprincipal"] == Decimal(
        "10.10"
    )


@pytest.mark.parametrize(
    ("fault", "error"), [(Fault.E503, ServerError), (Fault.DROP, TransportError)]
)
async def test_post_is_never_retried(
    sandbox: SandboxServer, client: AmiliClient, fault: Fault, error: type[Exception]
) -> None:
    sandbox.faults.script("batch_post", fault)
    document = BatchDocument(
        cases=[
            NewCase(
                creditor_id=sandbox.creditor_ids[0], ledger_ref="X", original_principal=Decimal(5)
            )
        ]
    )
    with pytest.raises(error):
        await client.post_batch(document, sender_id=sandbox.state.sender_id)
    assert sum(r.method == "POST" for r in sandbox.requests) == 1


async def test_rejects_other_documents(client: AmiliClient) -> None:
    with pytest.raises(ConfigurationError):
        await client.post_batch([1, 2], sender_id="S")  # type: ignore[arg-type]
