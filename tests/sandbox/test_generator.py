"""The seeded generator: every invariant an accountant would check, determinism, wire format."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amili_async import decode_batch
from amili_async.sandbox.checkdigits import (
    is_valid_bank_account,
    is_valid_kid,
    is_valid_org_number,
)
from amili_async.sandbox.generator import (
    CASE_FIELDS,
    EPOCH,
    HISTORY_TEXTS,
    UNLISTED_ENUM_VALUES,
    DataGenerator,
    Json,
    encode_json,
    generate_batch_payload,
    money,
    public,
    timestamp,
)

seeds = st.integers(min_value=0, max_value=2**32)
PARTS = ("principal", "fee", "interest")
ZULU = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
DOTNET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$")
MIDNIGHT = re.compile(r"^\d{4}-\d\d-\d\dT00:00:00Z$")


def parse(text: str) -> datetime.datetime:
    """A wire timestamp as an aware datetime (.NET's offset-less ones are UTC here)."""
    assert ZULU.match(text) or DOTNET.match(text), text
    moment = datetime.datetime.fromisoformat(text[:23].removesuffix("Z"))
    return moment.replace(tzinfo=datetime.UTC)


def cents(value: Any) -> Decimal:
    assert isinstance(value, Decimal) and value.as_tuple().exponent == -2, value
    return value


def generated(seed: int, cases: int, settlements: int) -> tuple[Json, list[Json], list[Json]]:
    generator = DataGenerator(seed)
    creditor = generator.creditor(3)  # index 3: a creditor with foreign currencies
    case_list = generator.cases(creditor, cases)
    return creditor, case_list, generator.settlements(creditor, case_list, 1, settlements)


def check_creditor(creditor: Json) -> None:
    assert is_valid_org_number(creditor["idnumber"])
    assert creditor["parentidnumber"] is None or is_valid_org_number(creditor["parentidnumber"])
    assert is_valid_bank_account(creditor["bankaccountno"])
    assert creditor["countrycode"] == "NO" and re.fullmatch(r"\d{4}", creditor["zipcode"])
    assert creditor["fullname"] and creditor["street"] and creditor["city"]
    assert 10 <= creditor["reminderflow"] <= 80
    for key in ("vattype", "sourceid", "debtcollectiontransfer", "invoicearchive"):
        assert type(creditor[key]) is int
    for contact in (creditor["contact"], creditor["casehandler"]):
        assert contact["fullname"] and "@" in contact["email"] and contact["email"].isascii()
        assert contact["workphone"].startswith("+47 ")
        assert isinstance(contact["isweb"], bool)


def check_case(case: Json, creditor: Json) -> None:
    assert tuple(case) == CASE_FIELDS  # every field, in the documented order
    for stage in ("original", "paid", "remaining"):
        assert cents(case[f"{stage}sum"]) == sum(cents(case[f"{stage}{p}"]) for p in PARTS)
    for part in ("sum", *PARTS):
        original, paid = cents(case[f"original{part}"]), cents(case[f"paid{part}"])
        assert cents(case[f"remaining{part}"]) == original - paid
        assert 0 <= paid <= original
    if case["closuredate"] is None:
        assert case["status_statuscode"] in ("REMINDER", "DEBTCOLLECTIONWARNING", "DEBTCOLLECTION")
        assert case["remainingsum"] > 0
    else:
        assert case["status_statuscode"] in ("PAID", "CLOSED")
        assert case["remainingsum"] == 0 and parse(case["closuredate"]) > parse(case["regdate"])
    assert case["isdebtcollection"] or case["status_statuscode"] != "DEBTCOLLECTION"
    assert MIDNIGHT.match(case["billdate"]) and MIDNIGHT.match(case["duedate"])
    assert case["billdate"] < case["duedate"] < case["regdate"]
    check_payment_details(case, creditor)
    check_history(case)


def check_payment_details(case: Json, creditor: Json) -> None:
    details = case["paymentDetails"]
    assert details["paymentValue"] == case["remainingsum"]
    assert details["currency"] == case["currencycode"]
    assert details["bankAccount"] == creditor["bankaccountno"]
    assert is_valid_kid(details["kid"])
    assert MIDNIGHT.match(details["dueDate"])


def check_history(case: Json) -> None:
    history = case["history"]
    assert 0 <= len(history) <= 5
    times = [parse(entry["loggedat"]) for entry in history]
    assert times == sorted(times)
    for entry in history:
        assert (entry["subject"], entry["message"]) == HISTORY_TEXTS[entry["type"]]["nb"]
        assert (entry["conversationid"] is not None) == (entry["type"] == 5)
    if history:
        assert history[0]["type"] == 1 and times[0] == parse(case["regdate"])
    if case["closuredate"] and len(history) > 1:
        assert history[-1]["type"] == 6 and times[-1] == parse(case["closuredate"])


def check_settlement(settlement: Json, creditor: Json, cases: dict[str, Json]) -> None:
    parts = [
        cents(settlement[f"{part}Distribution"][side])
        for part in PARTS
        for side in ("collector", "creditor")
    ]
    assert all(part >= 0 for part in parts)
    assert cents(settlement["paymentAmount"]) == sum(parts) > 0
    case = cases[settlement["caseNumber"]]
    for part in PARTS:  # a payout never pays more than the invoice was for
        distribution = settlement[f"{part}Distribution"]
        assert distribution["collector"] + distribution["creditor"] <= case[f"original{part}"]
    assert settlement["organization"] == {
        "id": creditor["_organization_id"],
        "organizationNumber": creditor["idnumber"],
        "name": creditor["fullname"],
    }
    assert (settlement["currency"], settlement["customerReference"], settlement["ledgerRef"]) == (
        case["currencycode"],
        case["customerref"],
        case["ledgerref"],
    )
    assert (settlement["exchangeRate"] == 1) == (settlement["currency"] == "NOK")
    assert settlement["collectionType"] in ("REMINDER", "DEBT_COLLECTION")
    assert settlement["settlementType"] == "COLLECTOR_PAYMENT"
    invoice = settlement["invoice"]
    assert invoice["collectionCaseNumber"] == case["casenumber"]
    assert invoice["invoiceNumber"] == case["ledgerref"] and invoice["type"] == "REMINDER"
    assert invoice["closureDate"] == case["closuredate"]
    assert invoice["status"] == ("CLOSED" if case["closuredate"] else "OPEN")
    assert MIDNIGHT.match(settlement["remittanceDate"])
    remitted = datetime.date.fromisoformat(settlement["remittanceDate"][:10])
    assert remitted > parse(settlement["settlementDate"]).date()


@settings(max_examples=30, deadline=None)
@given(seeds, st.integers(min_value=2, max_value=60), st.integers(min_value=0, max_value=12))
def test_every_invariant_holds(seed: int, count: int, settlements: int) -> None:
    creditor, cases, ledger = generated(seed, count, settlements)
    check_creditor(creditor)
    by_number = {case["casenumber"]: case for case in cases}
    assert len(by_number) == count == len({case["ledgerref"] for case in cases})
    assert any(case["closuredate"] for case in cases)
    assert any(case["closuredate"] is None for case in cases)
    for case in cases:
        check_case(case, creditor)
    assert [s["settlementNumber"] for s in ledger] == list(range(1, settlements + 1))
    assert len({s["id"] for s in ledger}) == settlements
    for settlement in ledger:
        check_settlement(settlement, creditor, by_number)
    dates = [parse(s["settlementDate"]) for s in ledger]
    assert dates == sorted(dates)


def test_customers_have_several_cases_under_one_name() -> None:
    _, cases, _ = generated(seed=5, cases=90, settlements=0)
    names: dict[str, set[str]] = {}
    for case in cases:
        names.setdefault(case["customerref"], set()).add(case["customername"])
    assert len(names) < 60  # customers repeat: a customerref filter has something to do
    assert all(len(customer_names) == 1 for customer_names in names.values())


def test_foreign_currencies_only_for_flagged_creditors() -> None:
    generator = DataGenerator(8)
    for index in range(8):
        creditor = generator.creditor(index)
        currencies = {case["currencycode"] for case in generator.cases(creditor, 80)}
        if creditor["hasforeigncurrency"]:
            assert (
                "NOK" in currencies and currencies - {"NOK"} and currencies <= {"NOK", "EUR", "SEK"}
            )
        else:
            assert currencies == {"NOK"}
    assert [generator.creditor(i)["hasforeigncurrency"] for i in range(4)] == [
        False,
        False,
        False,
        True,
    ]


def test_public_strips_private_keys_only() -> None:
    creditor = DataGenerator(1).creditor(0)
    view = public(creditor)
    assert not [key for key in view if key.startswith("_")]
    assert {key for key in creditor if not key.startswith("_")} == set(view)
    assert creditor["_organization_id"]  # the original keeps them


def test_same_seed_same_bytes_different_seed_different_bytes() -> None:
    random.seed(1)
    first = generate_batch_payload(cases=40, settlements=6, seed=3)
    random.seed(2)  # the global random source plays no part
    assert generate_batch_payload(cases=40, settlements=6, seed=3) == first
    assert generate_batch_payload(cases=40, settlements=6, seed=4) != first
    assert DataGenerator(4).creditor(0) == DataGenerator(4).creditor(0)


def test_seeded_data_does_not_read_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    before = generate_batch_payload(cases=20, settlements=4, seed=9)

    class FrozenLater(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> FrozenLater:
            return cls(2031, 7, 1, tzinfo=tz)

    monkeypatch.setattr(datetime, "datetime", FrozenLater)
    assert generate_batch_payload(cases=20, settlements=4, seed=9) == before


def _timestamps(batch: Json) -> Iterator[str]:
    for case in batch["case"]:
        yield case["regdate"]
        yield from (entry["loggedat"] for entry in case["history"])
        if case["closuredate"]:
            yield case["closuredate"]
    yield from (s["settlementDate"] for s in batch["settlement"])


def test_timestamps_mostly_zulu_some_dotnet() -> None:
    batch = msgspec.json.decode(generate_batch_payload(cases=1500, settlements=200, seed=2))
    stamps = list(_timestamps(batch))
    dotnet = [text for text in stamps if DOTNET.match(text)]
    assert all(ZULU.match(text) or DOTNET.match(text) for text in stamps)
    assert 0.01 < len(dotnet) / len(stamps) < 0.10
    assert all(MIDNIGHT.match(s["remittanceDate"]) for s in batch["settlement"])


def test_timestamp_formatting() -> None:
    assert timestamp(0) == "2026-01-05T00:00:00.000Z" == EPOCH.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert timestamp(13) == "2026-01-05T00:00:00.0130000"  # the .NET form
    assert timestamp(-1) == "2026-01-04T23:59:59.999Z"  # before the epoch (a wall clock in 2025)
    assert timestamp(5000 * 86_400_000).startswith("2039-09-14T")  # past the precomputed days


def test_money_has_two_decimals() -> None:
    assert money(12345) == Decimal("123.45") and str(money(12345)) == "123.45"
    assert str(money(0)) == "0.00" and str(money(7000)) == "70.00"
    assert encode_json([money(7000), Decimal(1)]) == b"[70.00,1]"  # numbers, not strings


def test_batch_payload_is_one_creditors_full_batch() -> None:
    payload = generate_batch_payload(cases=1000, settlements=30, seed=1)
    batch = msgspec.json.Decoder(float_hook=Decimal).decode(payload)  # exact money
    assert set(batch) == {"batchid", "offline", "creditor", "case", "settlement"}
    assert batch["offline"] is False
    (creditor,) = batch["creditor"]
    assert creditor["lastsettlementid"] == batch["settlement"][-1]["id"]
    assert len(batch["case"]) == 1000 and len(batch["settlement"]) == 30
    assert {c["closuredate"] is None for c in batch["case"]} == {True, False}
    case = batch["case"][0]
    assert case["remainingsum"] == sum(case[f"remaining{p}"] for p in PARTS)  # exact numbers
    assert b'"paymentAmount":"' not in payload  # money is never a JSON string
    sdk = decode_batch(payload)  # and the SDK reads it
    assert len(sdk.cases) == 1000 and str(sdk.settlements[-1].id) == creditor["lastsettlementid"]


@pytest.mark.parametrize("count", [1, 2, 3000])
def test_batch_payload_size(count: int) -> None:
    payload = generate_batch_payload(cases=count, seed=6)
    batch = msgspec.json.decode(payload)
    assert len(batch["case"]) == count and batch["settlement"] == []
    assert batch["creditor"][0]["lastsettlementid"] is None
    if count >= 1000:
        assert 1400 <= len(payload) / count <= 1800  # about 1.6 KB per case


def test_surprises_are_unlisted_enum_values_nulls_and_huge_strings() -> None:
    plain = msgspec.json.decode(generate_batch_payload(cases=3000, settlements=400, seed=4))
    payload = generate_batch_payload(cases=3000, settlements=400, seed=4, surprises=0.1)
    surprised = msgspec.json.decode(payload)
    # the same data underneath: surprises have their own random source
    assert [s["id"] for s in surprised["settlement"]] == [s["id"] for s in plain["settlement"]]
    assert [c["ledgerref"] for c in surprised["case"]] == [c["ledgerref"] for c in plain["case"]]
    unlisted = [
        s
        for s in surprised["settlement"]
        if s["collectionType"] not in ("REMINDER", "DEBT_COLLECTION")
    ]
    assert 20 <= len(unlisted) <= 70  # about 10 % of 400
    assert all(
        s["settlementType"] in UNLISTED_ENUM_VALUES["settlementType"]
        and s["invoice"]["type"] in UNLISTED_ENUM_VALUES["invoice.type"]
        and s["invoice"]["status"] in UNLISTED_ENUM_VALUES["invoice.status"]
        for s in unlisted
    )
    assert any(
        None in (s["vat"], s["exchangeRate"], s["remittanceDate"]) for s in surprised["settlement"]
    )
    assert any(c["paymentDetails"] is None or c["history"] is None for c in surprised["case"])
    assert max(len(c["service_description"] or "") for c in surprised["case"]) == 64 * 1024

    batch = decode_batch(payload)  # the SDK reads all of it, unknown values kept as they came
    unknown = [s for s in batch.settlements if s.collection_type and not s.collection_type.is_known]
    assert len(unknown) == len(unlisted)
    assert unknown[0].collection_type == unlisted[0]["collectionType"]
    assert all(c.history is not None for c in batch.cases)  # a null list reads as empty


def test_no_surprises_by_default() -> None:
    assert generate_batch_payload(cases=30, settlements=5, seed=2) == generate_batch_payload(
        cases=30, settlements=5, seed=2, surprises=0.0
    )
