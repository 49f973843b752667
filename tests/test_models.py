"""Decoding the GET /webapi/api/Batch payload: exact types, .NET quirks, malformed bodies."""

from __future__ import annotations

import datetime
import json
import pathlib
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amili_async import (
    Batch,
    Case,
    CaseHistory,
    CollectionType,
    Contact,
    Creditor,
    DecodeError,
    Distribution,
    InvoiceStatus,
    InvoiceType,
    Organization,
    PaymentDetails,
    Settlement,
    SettlementInvoice,
    SettlementType,
    decode_batch,
)
from amili_async.models.base import CamelModel, LegacyModel, Model
from amili_async.models.enums import MAX_PSEUDO_MEMBERS, _pseudo_members
from amili_async.models.polling import CreditorCursor, SettlementPage

SEED = (pathlib.Path(__file__).parent / "data" / "seed_batch.json").read_bytes()
UTC = datetime.UTC
SEED_TIME = datetime.datetime(2019, 8, 24, 14, 15, 22, 123000, tzinfo=UTC)
SEED_UUID = uuid.UUID("497f6eca-6276-4993-bfeb-53cbbbba6f08")
ZERO = Decimal(0)


def test_seed_example_decodes_to_the_expected_typed_values() -> None:
    contact = Contact(
        full_name="string",
        work_phone="string",
        email="string",
        is_invoice_query=True,
        is_remittance_report=True,
        is_order_confirmation=True,
        is_collection_list=True,
        is_web=True,
    )
    creditor = Creditor(
        id_number="string",
        parent_id_number="string",
        only_debt_collection=True,
        vat_type=0,
        full_name="string",
        street="string",
        city="string",
        zip_code="string",
        country_code="string",
        bank_account_no="string",
        contact=contact,
        case_handler=contact,
        source_id=0,
        reminder_flow=0,
        debt_collection_transfer=0,
        invoice_archive=0,
        has_foreign_debtors=True,
        has_foreign_currency=True,
        disabled=True,
        last_settlement_id="string",
    )
    money = dict.fromkeys(
        [
            f"{stage}_{part}"
            for stage in ("original", "paid", "remaining")
            for part in ("sum", "principal", "fee", "interest")
        ],
        ZERO,
    )
    case = Case(
        customer_ref="string",
        customer_name="string",
        ledger_ref="string",
        reference_number="string",
        case_number="string",
        currency_code="string",
        reg_date=SEED_TIME,
        closure_date=SEED_TIME,
        is_debt_collection=True,
        bill_date=SEED_TIME,
        due_date=SEED_TIME,
        service_description="string",
        status_code="string",
        reminders=0,
        debt_collection_list=0,
        history=[
            CaseHistory(
                type=1,
                logged_at=SEED_TIME,
                message="string",
                subject="string",
                conversation_id="string",
                attachment_id="string",
            )
        ],
        payment_details=PaymentDetails(
            payment_value=ZERO,
            currency="string",
            kid="string",
            bank_account="string",
            due_date=SEED_TIME,
        ),
        **money,
    )
    split = Distribution(collector=ZERO, creditor=ZERO)
    settlement = Settlement(
        case_number="string",
        collection_type=CollectionType.REMINDER,
        currency="string",
        customer_reference="string",
        exchange_rate=ZERO,
        fee_distribution=split,
        id=SEED_UUID,
        interest_distribution=split,
        invoice=SettlementInvoice(
            id=SEED_UUID,
            invoice_number="string",
            unique_source_invoice_id="string",
            collection_case_number="string",
            type=InvoiceType.REMINDER,
            status=InvoiceStatus.OPEN,
            closure_date=SEED_TIME,
        ),
        ledger_ref="string",
        organization=Organization(id=SEED_UUID, organization_number="string", name="string"),
        payment_amount=ZERO,
        principal_distribution=split,
        remittance_date=SEED_TIME,
        settlement_date=SEED_TIME,
        settlement_number=0,
        settlement_type=SettlementType.COLLECTOR_PAYMENT,
        vat=ZERO,
    )
    expected = Batch(
        batch_id="string",
        offline=True,
        creditors=[creditor],
        cases=[case],
        settlements=[settlement],
    )

    batch = decode_batch(SEED)

    assert batch == expected
    assert isinstance(batch.cases[0].paid_sum, Decimal)
    assert batch.creditor("string") is batch.creditors[0]
    assert batch.creditor("nope") is None


DOTNET_PAYLOAD = b"""{
  "batchid": null, "offline": null, "creditor": null, "settlement": null, "newTopLevelField": {"a": 1},
  "case": [
    {"customerref": null, "regdate": "2026-03-12T13:36:35.1234567", "closuredate": "0001-01-01T00:00:00",
     "billdate": "2026-03-12T13:36:35Z", "duedate": "2026-03-12T13:36:35.5+01:00",
     "originalsum": 100, "paidsum": 100.5, "remainingsum": 1e2, "originalfee": 0.10,
     "originalinterest": 12345678901234567890.123456789, "reminders": null, "history": null,
     "paymentDetails": null, "someFutureField": [1, 2, 3]},
    {"history": [{"type": 99, "loggedat": null, "unknown": true}]}
  ]
}"""


def test_dotnet_style_payload_decodes_without_loss() -> None:
    batch = decode_batch(DOTNET_PAYLOAD)

    assert batch.batch_id is None
    assert batch.creditors == [] and batch.settlements == []
    first, second = batch.cases
    assert first.customer_ref is None and first.reminders is None and first.payment_details is None
    assert first.history == []
    # A timestamp without offset stays naive, as sent; 7 fractional digits round to microseconds.
    assert first.reg_date == datetime.datetime(2026, 3, 12, 13, 36, 35, 123457)
    assert first.reg_date.tzinfo is None
    assert first.closure_date == datetime.datetime(1, 1, 1)
    assert first.bill_date == datetime.datetime(2026, 3, 12, 13, 36, 35, tzinfo=UTC)
    assert first.due_date is not None and first.due_date.utcoffset() == datetime.timedelta(hours=1)
    # Money is exact: the decimal text as sent, never a float on the way.
    assert first.original_sum == Decimal("100")
    assert first.paid_sum == Decimal("100.5")
    assert first.remaining_sum == Decimal("100")
    assert str(first.original_fee) == "0.10"
    assert first.original_interest == Decimal("12345678901234567890.123456789")
    assert second.history == [CaseHistory(type=99)]


def test_missing_lists_are_empty() -> None:
    batch = decode_batch(b"{}")
    assert (batch.creditors, batch.cases, batch.settlements) == ([], [], [])


def test_unknown_enum_values_decode_and_keep_their_string() -> None:
    payload = {
        "settlement": [
            {
                "collectionType": "LEGAL_COLLECTION",
                "settlementType": "CREDITOR_PAYMENT",
                "invoice": {"type": "INVOICE", "status": "SOLD"},
            },
            {"collectionType": "REMINDER"},
        ]
    }
    first, second = decode_batch(json.dumps(payload).encode()).settlements

    assert first.collection_type == "LEGAL_COLLECTION"
    assert isinstance(first.collection_type, CollectionType)
    assert first.collection_type is not None and not first.collection_type.is_known
    assert first.settlement_type == "CREDITOR_PAYMENT"
    assert first.invoice is not None
    assert (first.invoice.type, first.invoice.status) == ("INVOICE", "SOLD")
    assert second.collection_type is CollectionType.REMINDER
    assert CollectionType.REMINDER.is_known


def test_models_are_frozen() -> None:
    batch = decode_batch(SEED)
    with pytest.raises(AttributeError):
        batch.cases[0].paid_sum = Decimal(1)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"case": [{}, {}, {}, {"duedate": 5}]}', "$.case[3].duedate"),
        (b'{"case": [{"duedate": "yesterday"}]}', "$.case[0].duedate"),
        (b'{"settlement": [{"paymentAmount": "12,50"}]}', "$.settlement[0].paymentAmount"),
        (b'{"settlement": [{"id": "not-a-uuid"}]}', "$.settlement[0].id"),
        (b'{"creditor": {"idnumber": "1"}}', "$.creditor"),
        (b'{"case": [{"history": [{"type": "x"}]}]}', "$.case[0].history[0].type"),
        (b'{"case": [{"originalsum": 1', "$"),
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "$"),
        (b"", "$"),
        (b"[]", "$"),
    ],
)
def test_malformed_bodies_raise_decode_error_with_path(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_batch(body)
    assert info.value.path == path
    assert path in str(info.value)
    assert info.value.body == body


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert decode_batch(bytearray(SEED)) == decode_batch(memoryview(SEED)) == decode_batch(SEED)


def _check_decodes_or_decode_error(data: bytes) -> None:
    try:
        result = decode_batch(data)
    except DecodeError as exc:
        assert exc.body == data
        assert exc.path.startswith("$")
    else:
        assert isinstance(result, Batch)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_give_a_batch_or_decode_error(data: bytes) -> None:
    _check_decodes_or_decode_error(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "creditor",
        "case",
        "settlement",
        "batchid",
        "offline",
        "history",
        "paymentAmount",
        "duedate",
        "id",
        "x",
    ]
)


@st.composite
def batch_like(draw: st.DrawFn) -> Any:
    """JSON that looks like a batch: known keys with arbitrary values, nested a few levels."""
    item = st.dictionaries(field_names, json_values, max_size=5)
    return draw(
        st.dictionaries(
            field_names,
            st.one_of(json_values, st.lists(item, max_size=3)),
            max_size=5,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, batch_like()))
def test_arbitrary_json_gives_a_batch_or_decode_error(value: Any) -> None:
    _check_decodes_or_decode_error(msgspec.json.encode(value))


ALL_MODELS = [
    Batch,
    Case,
    CaseHistory,
    Contact,
    Creditor,
    Distribution,
    Organization,
    PaymentDetails,
    Settlement,
    SettlementInvoice,
    SettlementPage,
    CreditorCursor,
]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_takes_its_config_from_the_shared_base(model: type[msgspec.Struct]) -> None:
    assert issubclass(model, Model)
    config = model.__struct_config__
    assert config.frozen and not config.gc
    with pytest.raises(TypeError):
        model("positional")  # keyword-only


def test_base_models_rename_by_their_rule() -> None:
    class Legacy(LegacyModel):
        id_number: str | None = None

    class Camel(CamelModel):
        payment_amount: Decimal | None = None

    assert msgspec.json.encode(Legacy(id_number="1")) == b'{"idnumber":"1"}'
    assert msgspec.json.decode(b'{"paymentAmount": 1.10}', type=Camel).payment_amount == Decimal(
        "1.10"
    )


def test_a_batch_repr_summarises_instead_of_dumping() -> None:
    creditors = [{"idnumber": str(n)} for n in range(8)]
    body = {"batchid": "b-1", "creditor": creditors, "case": [{}] * 5000, "settlement": [{}] * 3}
    text = repr(decode_batch(json.dumps(body).encode()))
    assert text == (
        "Batch(batch_id='b-1', creditors=8 ['0', '1', '2', '3', '4', ... 3 more], "
        "cases=5000, settlements=3)"
    )
    assert (
        repr(decode_batch(b"{}")) == "Batch(batch_id=None, creditors=0 [], cases=0, settlements=0)"
    )


def test_unlisted_enum_values_are_built_once_and_the_cache_is_bounded() -> None:
    body = b'{"settlement": [{"collectionType": "LEGAL"}, {"collectionType": "LEGAL"}]}'
    first, second = decode_batch(body).settlements
    assert first.collection_type is second.collection_type  # one pseudo-member, reused
    assert first.collection_type == "LEGAL" and not first.collection_type.is_known
    for n in range(MAX_PSEUDO_MEMBERS + 50):
        assert InvoiceStatus(f"S{n}") == f"S{n}"
    assert len(_pseudo_members[InvoiceStatus]) == MAX_PSEUDO_MEMBERS
    assert InvoiceStatus("S0") is InvoiceStatus("S0")  # cached before the bound
    late = f"S{MAX_PSEUDO_MEMBERS + 10}"
    assert InvoiceStatus(late) == late and InvoiceStatus(late) is not InvoiceStatus(late)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"case": [{}, {"paidsum": "NaN"}]}', "$.case[1]"),
        (b'{"case": [{"paymentDetails": {"paymentValue": "Infinity"}}]}', "$.case[0]"),
        (b'{"settlement": [{"paymentAmount": "-inf"}]}', "$.settlement[0]"),
        (b'{"settlement": [{"principalDistribution": {"creditor": "sNaN"}}]}', "$.settlement[0]"),
        (b'{"settlement": [{"vat": "nan"}]}', "$.settlement[0]"),
    ],
)
def test_nan_or_infinite_money_is_a_decode_error(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError, match="finite") as info:
        decode_batch(body)
    assert info.value.path == path


def test_huge_but_finite_money_stays_exact() -> None:
    (case,) = decode_batch(b'{"case": [{"paidsum": 1e5000, "remainingsum": "12.50"}]}').cases
    assert case.paid_sum == Decimal("1e5000") and case.remaining_sum == Decimal("12.50")
