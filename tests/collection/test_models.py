"""Collection API models: the envelope, batch items by $type, money and dates on the way out."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import msgspec
import pytest

from amili_async import DecodeError
from amili_async.collection import (
    Batch,
    BatchStatus,
    Case,
    CaseStatus,
    Debtor,
    DebtorType,
    Envelope,
    Invoice,
    InvoiceFailure,
    InvoiceSuccess,
    LegacyBatchStatus,
    NewCorrection,
    NewInvoice,
    NewPayment,
    Page,
    Settlement,
    UnknownBatchItem,
)
from amili_async.models.decoding import TypedDecoder

BATCH_ID = "6f1c0b8e-6b1e-4d7e-9d4a-3f1f0d2c9a11"
CASE_ID = "1c331112-b305-5537-ae9a-a873ace99589"
ENCODER = msgspec.json.Encoder(decimal_format="number")


def batch(body: str) -> Batch:
    return TypedDecoder(Envelope[Batch])(body.encode()).data


def test_batch_items_are_typed_by_their_type_and_unknown_ones_are_kept() -> None:
    decoded = batch(
        (
            '{"summary": {"status": "SUCCESS"}, "data": {"batchId": "BATCH", "status": "PARTIAL",'
            ' "finishedAt": "2026-03-12T13:36:35.123Z", "surprise": 1,'
            ' "succeeded": [{"$type": "invoiceSuccess", "invoiceNumber": "10001", "caseId": "CASE"},'
            '               {"$type": "reminderSent", "caseId": "CASE", "level": 2}],'
            ' "failed": [{"$type": "invoiceFailure", "index": 1, "reason": "no invoiceNumber"},'
            '            {"noTag": true}]}}'
        )
        .replace("BATCH", BATCH_ID)
        .replace("CASE", CASE_ID)
    )
    assert decoded.batch_id == uuid.UUID(BATCH_ID)
    assert decoded.status is BatchStatus.PARTIAL
    assert decoded.succeeded[0] == InvoiceSuccess(
        invoice_number="10001", case_id=uuid.UUID(CASE_ID)
    )
    assert decoded.succeeded[1] == UnknownBatchItem(
        "reminderSent", {"$type": "reminderSent", "caseId": CASE_ID, "level": 2}
    )
    assert decoded.failed[0] == InvoiceFailure(index=1, reason="no invoiceNumber")
    assert decoded.failed[1] == UnknownBatchItem(None, {"noTag": True})


def test_null_and_missing_item_lists_are_empty() -> None:
    assert batch('{"data": {"succeeded": null}}').succeeded == []
    assert batch('{"data": {}}').failed == []


def test_a_malformed_item_is_a_decode_error_that_says_which_item() -> None:
    with pytest.raises(DecodeError) as caught:
        batch('{"data": {"succeeded": [{"$type": "invoiceSuccess", "caseId": "not-a-uuid"}]}}')
    assert "succeeded[0].caseId" in caught.value.message
    assert caught.value.path == "$.data"


def test_the_old_status_object_is_tolerated() -> None:
    decoded = batch('{"data": {"status": {"statuscode": 1, "errors": [], "responses": []}}}')
    assert decoded.status == LegacyBatchStatus(statuscode=1, errors=[], responses=[])


@pytest.mark.parametrize(
    ("status", "finished_at", "finished"),
    [
        ("QUEUED", None, False),
        ("PROCESSING", None, False),
        ("SOMETHING_NEW", None, False),
        ("SUCCESS", None, True),
        ("PARTIAL", None, True),
        ("FAILED", None, True),
        ("SOMETHING_NEW", '"2026-03-12T13:36:35Z"', True),
    ],
)
def test_finished_follows_the_terminal_statuses_or_finished_at(
    status: str, finished_at: str | None, finished: bool
) -> None:
    decoded = batch(f'{{"data": {{"status": "{status}", "finishedAt": {finished_at or "null"}}}}}')
    assert decoded.finished is finished


def test_unknown_enum_values_decode() -> None:
    case = msgspec.json.decode(b'{"status": "EVICTED", "caseNumber": 100000095}', type=Case)
    assert case.status == "EVICTED"
    assert not case.status.is_known
    assert case.status != CaseStatus.OPEN
    assert case.invoices == []


def test_money_decodes_exactly_and_encodes_back_with_the_same_digits() -> None:
    invoice = msgspec.json.decode(
        b'{"originalInvoiceAmount": 4500.10, "remainingAmount": 0.000001, "dueDate": "2026-03-12"}',
        type=Invoice,
    )
    assert str(invoice.original_invoice_amount) == "4500.10"
    assert str(invoice.remaining_amount) == "0.000001"
    assert invoice.due_date == datetime.date(2026, 3, 12)
    new = NewInvoice(
        type="NOTICE",
        invoice_number="10001",
        original_invoice_amount=Decimal("4500.10"),
        currency="NOK",
        invoice_date=datetime.date(2026, 3, 1),
        debtors=[Debtor(type=DebtorType.PRIVATE, full_name="Kari Nordmann")],
    )
    assert ENCODER.encode(new) == (
        b'{"type":"NOTICE","invoiceNumber":"10001","originalInvoiceAmount":4500.10,'
        b'"currency":"NOK","invoiceDate":"2026-03-01",'
        b'"debtors":[{"type":"PRIVATE","fullName":"Kari Nordmann"}]}'
    )


def test_payments_and_corrections_send_only_what_is_set() -> None:
    invoice_id = uuid.UUID(CASE_ID)
    payment = NewPayment(
        invoice_id=invoice_id, type="DIRECT_PAYMENT", amount=Decimal("100.00"), currency="NOK"
    )
    correction = NewCorrection(invoice_id=invoice_id, amount=Decimal("-0.10"), currency="NOK")
    assert msgspec.json.decode(ENCODER.encode(payment)) == {
        "invoiceId": CASE_ID,
        "type": "DIRECT_PAYMENT",
        "amount": 100.0,
        "currency": "NOK",
    }
    assert ENCODER.encode(correction).endswith(b'"amount":-0.10,"currency":"NOK"}')


def test_a_page_takes_its_token_from_the_summary_and_an_empty_token_ends_the_walk() -> None:
    decode = TypedDecoder(Envelope[list[Settlement] | None])
    page = Page.from_envelope(decode(b'{"summary": {"nextPageToken": "abc"}, "data": [{}]}'))
    assert len(page.items) == 1
    assert page.next_page_token == "abc"
    last = Page.from_envelope(decode(b'{"summary": {"nextPageToken": ""}, "data": null}'))
    assert last == Page(items=[], next_page_token=None)
    assert Page.from_envelope(decode(b'{"data": []}')).next_page_token is None
