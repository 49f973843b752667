"""parse_webhook: every documented event shape, its variants, and what is refused."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amili_async import DecodeError
from amili_async.webhooks import (
    BatchCompleted,
    CaseEvent,
    SettlementCreated,
    UnknownEvent,
    parse_webhook,
)

HEADERS = {"IdempotencyKey": "key-1", "X-Amili-Request-Id": "req-1"}


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_batch_completed_documented_shape() -> None:
    event = parse_webhook(
        body(
            {
                "id": "evt-1",
                "type": "BATCH_COMPLETED",
                "source": "COLLECTION",
                "timeStamp": "2026-03-12T13:36:35.123Z",
                "data": {"batchId": "b-1", "organizationId": "org-1", "status": "SUCCESS"},
            }
        ),
        HEADERS,
    )
    assert event == BatchCompleted(
        id="evt-1",
        type="BATCH_COMPLETED",
        source="COLLECTION",
        timestamp=datetime.datetime(2026, 3, 12, 13, 36, 35, 123000, tzinfo=datetime.UTC),
        idempotency_key="key-1",
        request_id="req-1",
        batch_id="b-1",
        organization_id="org-1",
        status="SUCCESS",
    )


def test_settlement_created_documented_shape() -> None:
    event = parse_webhook(
        body(
            {
                "id": "evt-2",
                "type": "SETTLEMENT_CREATED",
                "source": "COLLECTION",
                "timeStamp": "2026-03-12T13:36:35.1234567",  # .NET: 7 digits, no offset
                "data": {
                    "settlementId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "organizationId": "org-1",
                    "settlementDate": "2026-03-12",
                    "invoiceId": "inv-1",
                    "invoiceNumber": "10001",
                    "caseNumber": "0100000001",
                },
            }
        ),
        HEADERS,
    )
    assert isinstance(event, SettlementCreated)
    assert event.timestamp == datetime.datetime(2026, 3, 12, 13, 36, 35, 123457)
    assert event.settlement_id == "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert event.settlement_date == datetime.date(2026, 3, 12)
    assert (event.invoice_id, event.invoice_number, event.case_number) == (
        "inv-1",
        "10001",
        "0100000001",
    )
    assert (event.idempotency_key, event.request_id) == ("key-1", "req-1")


@pytest.mark.parametrize(
    ("sent", "day"),
    [
        ("2026-03-12", datetime.date(2026, 3, 12)),
        ("2026-03-12T00:00:00Z", datetime.date(2026, 3, 12)),
        ("2026-03-12T23:30:00.1234567", datetime.date(2026, 3, 12)),
        ("2026-03-12T23:30:00-05:00", datetime.date(2026, 3, 12)),  # the date as sent
        (None, None),
    ],
)
def test_settlement_date_accepts_dates_and_timestamps(
    sent: str | None, day: datetime.date | None
) -> None:
    event = parse_webhook(
        body({"type": "SETTLEMENT_CREATED", "data": {"settlementDate": sent}}), {}
    )
    assert isinstance(event, SettlementCreated)
    assert event.settlement_date == day


@pytest.mark.parametrize("event_type", ["CASE", "CASE_UPDATED"])
def test_case_events_documented_shape(event_type: str) -> None:
    invoices = [{"invoiceId": "inv-1", "amount": 100.5}]
    event = parse_webhook(
        body(
            {
                "id": "evt-3",
                "eventType": event_type,
                "source": "COLLECTION",
                "timeStamp": "2026-03-12T13:36:35Z",
                "data": {
                    "orgId": "org-1",
                    "caseId": "case-1",
                    "caseNumber": 100000001,
                    "type": "DEBT_COLLECTION",
                    "status": "PAUSED",
                    "invoices": invoices,
                    "fields": ["status"],
                },
            }
        ),
        HEADERS,
    )
    assert isinstance(event, CaseEvent)
    assert event.type == event_type
    assert event.organization_id == "org-1"
    assert event.case_number == "100000001"
    assert event.case_type == "DEBT_COLLECTION"  # the case's own type, not the event's
    assert event.status == "PAUSED"
    assert event.invoices == invoices
    assert event.fields == ["status"]


def test_unknown_type_keeps_raw_data() -> None:
    event = parse_webhook(body({"id": 7, "type": "INVOICE_PAID", "data": {"x": [1, "y"]}}), {})
    assert event == UnknownEvent(id="7", type="INVOICE_PAID", data={"x": [1, "y"]})


def test_type_from_header_when_body_lacks_it_and_body_wins_otherwise() -> None:
    from_header = parse_webhook(
        body({"data": {"batchId": "b"}}), {"x-amili-event": "BATCH_COMPLETED"}
    )
    assert isinstance(from_header, BatchCompleted)
    assert from_header.batch_id == "b"
    from_body = parse_webhook(
        body({"type": "CASE", "data": {}}), {"X-Amili-Event": "BATCH_COMPLETED"}
    )
    assert isinstance(from_body, CaseEvent)


def test_missing_or_null_data_and_unknown_fields_are_tolerated() -> None:
    event = parse_webhook(body({"type": "CASE", "data": None, "extra": {"a": 1}}), {})
    assert event == CaseEvent(id=None, type="CASE")
    event = parse_webhook(
        body({"type": "BATCH_COMPLETED", "data": {"status": "PARTIAL", "new": True}}), {}
    )
    assert isinstance(event, BatchCompleted)
    assert event.status == "PARTIAL"


ids = st.one_of(st.integers(0, 10**15), st.text(min_size=1, max_size=20))
org_keys = st.sampled_from(["orgId", "organizationId"])
type_places = st.sampled_from(["type", "eventType", "header"])
header_cases = st.sampled_from([str.lower, str.upper, lambda s: s])


@given(
    case_number=ids,
    case_id=ids,
    event_id=ids,
    org_key=org_keys,
    type_place=type_places,
    spell=header_cases,
)
def test_case_event_variants(
    case_number: int | str,
    case_id: int | str,
    event_id: int | str,
    org_key: str,
    type_place: str,
    spell: Any,
) -> None:
    envelope: dict[str, Any] = {
        "id": event_id,
        "data": {org_key: "org-9", "caseId": case_id, "caseNumber": case_number},
    }
    headers = {spell("IdempotencyKey"): "k", spell("X-Amili-Request-Id"): "r"}
    if type_place == "header":
        headers[spell("X-Amili-Event")] = "CASE_UPDATED"
    else:
        envelope[type_place] = "CASE_UPDATED"
    event = parse_webhook(body(envelope), headers)
    assert isinstance(event, CaseEvent)
    assert event.type == "CASE_UPDATED"
    assert (event.id, event.case_id, event.case_number) == (
        str(event_id),
        str(case_id),
        str(case_number),
    )
    assert event.organization_id == "org-9"
    assert (event.idempotency_key, event.request_id) == ("k", "r")


@given(invoice_number=ids, case_number=ids, org_key=org_keys)
def test_settlement_number_or_string_variants(
    invoice_number: int | str, case_number: int | str, org_key: str
) -> None:
    data = {org_key: 42, "invoiceNumber": invoice_number, "caseNumber": case_number}
    event = parse_webhook(body({"type": "SETTLEMENT_CREATED", "data": data}), {})
    assert isinstance(event, SettlementCreated)
    assert event.organization_id == "42"
    assert (event.invoice_number, event.case_number) == (str(invoice_number), str(case_number))


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"", "$"),
        (b"not json", "$"),
        (b'{"type": "CASE"', "$"),  # truncated
        (b"[1, 2]", "$"),
        (b'"SETTLEMENT_CREATED"', "$"),
        (b"{}", "$.type"),  # no type anywhere
        (b'{"type": 5}', "$.type"),
        (b'{"type": "CASE", "data": [1]}', "$.data"),
        (b'{"type": "CASE", "data": {"caseNumber": [1]}}', "$.data.caseNumber"),
        (b'{"type": "CASE", "data": {"invoices": 3}}', "$.data.invoices"),
        (
            b'{"type": "SETTLEMENT_CREATED", "data": {"settlementDate": "soon"}}',
            "$.data.settlementDate",
        ),
        (b'{"type": "BATCH_COMPLETED", "timeStamp": "yesterday"}', "$.timeStamp"),
    ],
)
def test_not_such_json_raises_decode_error_with_path(raw: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_webhook(raw, {})
    assert caught.value.path == path
    assert caught.value.body == raw
    assert "webhook" in str(caught.value)
