"""The sandbox's data: check digits, generator invariants (property-tested), determinism, state."""

from __future__ import annotations

import datetime
from decimal import Decimal
from random import Random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amili_async import decode_batch
from amili_async.sandbox import SandboxState, UnknownCreditorError, UnknownCursorError
from amili_async.sandbox.checkdigits import (
    is_valid_bank_account,
    is_valid_kid,
    is_valid_org_number,
    make_bank_account,
    make_kid,
    make_org_number,
    mod10,
    mod11,
)
from amili_async.sandbox.generator import (
    HISTORY_TEXTS,
    DataGenerator,
    encode_json,
    generate_batch_payload,
)

seeds = st.integers(min_value=0, max_value=2**32)


def test_known_check_digits() -> None:
    assert is_valid_org_number("923609016")  # a real Norwegian organisation number
    assert not is_valid_org_number("923609017")
    assert mod10("7992739871") == "3"  # the Luhn textbook example
    assert is_valid_kid("79927398713")
    assert mod11("0000000000", (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) == "0"
    assert not is_valid_bank_account("1503208011")  # too short
    assert not is_valid_org_number("92360901a")


@settings(max_examples=50)
@given(seeds)
def test_generated_numbers_always_validate_and_a_changed_digit_is_caught(seed: int) -> None:
    rng = Random(seed)
    org, account, kid = make_org_number(rng), make_bank_account(rng), make_kid(str(seed))
    assert is_valid_org_number(org) and is_valid_bank_account(account) and is_valid_kid(kid)
    position = rng.randrange(9)
    changed = org[:position] + str((int(org[position]) + 1) % 10) + org[position + 1 :]
    assert not is_valid_org_number(changed)


def _dec(value: Any) -> Decimal:
    assert isinstance(value, Decimal)
    return value


def check_case(case: dict[str, Any]) -> None:
    for stage in ("original", "paid", "remaining"):
        parts = [_dec(case[f"{stage}{p}"]) for p in ("principal", "fee", "interest")]
        assert _dec(case[f"{stage}sum"]) == sum(parts)
    for part in ("sum", "principal", "fee", "interest"):
        assert _dec(case[f"remaining{part}"]) == _dec(case[f"original{part}"]) - _dec(
            case[f"paid{part}"]
        )
        assert _dec(case[f"paid{part}"]) <= _dec(case[f"original{part}"])
    if case["closuredate"]:
        assert _dec(case["remainingsum"]) == 0
    assert is_valid_kid(case["paymentDetails"]["kid"])
    assert 0 <= len(case["history"]) <= 5


def check_settlement(settlement: dict[str, Any], creditor: dict[str, Any]) -> None:
    parts = [
        _dec(settlement[f"{d}Distribution"][side])
        for d in ("principal", "fee", "interest")
        for side in ("collector", "creditor")
    ]
    assert _dec(settlement["paymentAmount"]) == sum(parts)
    assert settlement["organization"]["organizationNumber"] == creditor["idnumber"]
    assert settlement["organization"]["name"] == creditor["fullname"]


@settings(max_examples=25, deadline=None)
@given(seeds, st.integers(min_value=1, max_value=4), st.integers(min_value=2, max_value=40))
def test_generator_invariants(seed: int, creditors: int, cases: int) -> None:
    state = SandboxState.generate(creditors=creditors, cases=cases, settlements=7, seed=seed)
    for creditor_id in state.creditor_ids:
        batch = state.batch(creditor_id=creditor_id, include_closed=True)
        (creditor,) = batch["creditor"]
        assert is_valid_org_number(creditor["idnumber"])
        assert is_valid_bank_account(creditor["bankaccountno"])
        assert len(batch["case"]) == cases
        assert any(c["closuredate"] for c in batch["case"]) and any(
            not c["closuredate"] for c in batch["case"]
        )
        for case in batch["case"]:
            check_case(case)
        ledger = state.ledger(creditor_id)
        assert [s["settlementNumber"] for s in ledger] == list(range(1, 8))
        for settlement in ledger:
            check_settlement(settlement, creditor)


def test_generation_is_deterministic_by_seed() -> None:
    assert generate_batch_payload(cases=30, settlements=5, seed=3) == generate_batch_payload(
        cases=30, settlements=5, seed=3
    )
    assert generate_batch_payload(cases=30, seed=3) != generate_batch_payload(cases=30, seed=4)
    one, two = (
        SandboxState.generate(creditors=3, seed=9),
        SandboxState.generate(creditors=3, seed=9),
    )
    assert one.creditor_ids == two.creditor_ids
    assert one.ledger(one.creditor_ids[0]) == two.ledger(two.creditor_ids[0])


def test_batch_payload_size_and_decoding() -> None:
    payload = generate_batch_payload(cases=1000, settlements=50, seed=1)
    assert 1000 <= len(payload) / 1000 <= 2000  # about 1.3-1.6 KB per case
    batch = decode_batch(payload)
    assert len(batch.cases) == 1000 and len(batch.settlements) == 50
    assert batch.creditors[0].last_settlement_id == str(batch.settlements[-1].id)
    # .NET-style timestamps (no offset, 7 digits) are part of the mix and decode naive
    naive = [
        c.reg_date for c in batch.cases if c.reg_date is not None and c.reg_date.tzinfo is None
    ]
    assert naive
    assert msgspec.json.decode(payload)["case"][0]["originalsum"] == float(
        batch.cases[0].original_sum or 0
    )


def test_currencies_follow_the_creditor_flag() -> None:
    state = SandboxState.generate(creditors=8, cases=60, seed=2)
    for creditor_id in state.creditor_ids:
        batch = state.batch(creditor_id=creditor_id, include_closed=True)
        currencies = {c["currencycode"] for c in batch["case"]}
        if batch["creditor"][0]["hasforeigncurrency"]:
            assert currencies <= {"NOK", "EUR", "SEK"}
        else:
            assert currencies == {"NOK"}


@pytest.fixture(scope="module")
def state() -> SandboxState:
    return SandboxState.generate(creditors=3, cases=40, settlements=25, seed=5)


def test_filters(state: SandboxState) -> None:
    cid = state.creditor_ids[0]
    everything = state.batch(creditor_id=cid, include_closed=True)
    open_only = state.batch(creditor_id=cid)
    assert 0 < len(open_only["case"]) < len(everything["case"])
    assert all(c["closuredate"] is None for c in open_only["case"])
    case = everything["case"][0]
    by_ledger = state.batch(creditor_id=cid, ledger_ref=case["ledgerref"], include_closed=True)
    assert [c["ledgerref"] for c in by_ledger["case"]] == [case["ledgerref"]]
    assert all(s["ledgerRef"] == case["ledgerref"] for s in by_ledger["settlement"])
    by_customer = state.batch(
        creditor_id=cid, customer_ref=case["customerref"], include_closed=True
    )
    assert all(c["customerref"] == case["customerref"] for c in by_customer["case"])
    day = datetime.date.fromisoformat(everything["settlement"][0]["remittanceDate"][:10])
    remitted = state.batch(creditor_id=cid, remittance_date=day)
    assert remitted["settlement"] and all(
        s["remittanceDate"].startswith(day.isoformat()) for s in remitted["settlement"]
    )
    assert len(state.batch()["creditor"]) == 3
    empty = state.batch(sender_id="someone-else")
    assert (empty["creditor"], empty["case"], empty["settlement"]) == ([], [], [])
    assert state.batch(creditor_id="000000000")["creditor"] == []


def test_language_of_history_texts(state: SandboxState) -> None:
    cid = state.creditor_ids[0]
    for code, language in (("EN", "en"), ("xx", "nb"), (None, "nb")):
        cases = state.batch(creditor_id=cid, include_closed=True, language_code=code)["case"]
        entries = [entry for case in cases for entry in case["history"]]
        assert entries
        for entry in entries:
            assert (entry["subject"], entry["message"]) == HISTORY_TEXTS[entry["type"]][language]


def test_cursor_walk_pages_to_the_end_and_continues_after_new_payouts() -> None:
    state = SandboxState.generate(creditors=2, cases=10, settlements=23, seed=8)
    cid = state.creditor_ids[1]
    cursor: str | None = None
    seen: list[str] = []
    for _ in range(10):  # bounded: 23 settlements in pages of 5
        page = state.batch(creditor_id=cid, last_settlement_id=cursor, page_size=5)
        if not page["settlement"]:
            assert page["creditor"][0]["lastsettlementid"] == cursor  # the cursor sent
            break
        seen.extend(s["id"] for s in page["settlement"])
        cursor = page["creditor"][0]["lastsettlementid"]
        assert cursor == page["settlement"][-1]["id"]
    assert seen == [s["id"] for s in state.ledger(cid)]
    new = state.add_settlements(cid, 3)
    page = state.batch(creditor_id=cid, last_settlement_id=cursor, page_size=5)
    assert [s["id"] for s in page["settlement"]] == [s["id"] for s in new]
    assert [s["settlementNumber"] for s in new] == [24, 25, 26]


def test_unknown_cursors_and_creditors_are_refused(state: SandboxState) -> None:
    first, second = state.creditor_ids[:2]
    other_creditors_cursor = state.ledger(second)[0]["id"]
    with pytest.raises(UnknownCursorError):
        state.batch(creditor_id=first, last_settlement_id=other_creditors_cursor)
    with pytest.raises(UnknownCursorError):
        state.batch(last_settlement_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(UnknownCreditorError):
        state.add_settlements("000000000")
    # without a creditor id, the cursor's own creditor continues after it, the others from start
    page = state.batch(last_settlement_id=other_creditors_cursor, page_size=100)
    numbers = {
        c: [
            s["settlementNumber"]
            for s in page["settlement"]
            if s["organization"]["organizationNumber"] == c
        ]
        for c in state.creditor_ids
    }
    assert numbers[second][0] == 2 and numbers[first][0] == 1


def test_batch_json_matches_batch(state: SandboxState) -> None:
    cid = state.creditor_ids[2]
    for kwargs in (
        {"creditor_id": cid},
        {"creditor_id": cid, "include_closed": True, "language_code": "en"},
        {},
    ):
        from_json = msgspec.json.decode(state.batch_json(**kwargs))
        direct = msgspec.json.decode(encode_json(state.batch(**kwargs)))
        from_json.pop("batchid"), direct.pop("batchid")
        assert from_json == direct


def test_apply_batch_stores_valid_objects_only() -> None:
    state = SandboxState.generate(creditors=1, cases=3, seed=1)
    cid = state.creditor_ids[0]
    result = state.apply_batch(
        {
            "creditor": [
                {"idnumber": "923609016", "fullname": "Ny Kreditor AS"},
                {"idnumber": "123"},
            ],
            "case": [
                {
                    "creditorid": cid,
                    "ledgerref": "NEW-1",
                    "originalprincipal": "1000.50",
                    "customerref": "C1",
                },
                {"creditorid": cid, "ledgerref": "NEW-1"},
                {"creditorid": "923609016", "ledgerref": "X", "originalprincipal": "abc"},
                "not an object",
            ],
            "payment": [{"ledgerref": "NEW-1", "amount": 10}],
        }
    )
    assert result["statuscode"] == 1
    assert [(e["objectname"], e["objectindex"]) for e in result["errors"]] == [
        ("creditor", 1),
        ("case", 1),
        ("case", 2),
        ("case", 3),
    ]
    statuses = [(r["objectname"], r["status_statuscode"]) for r in result["responses"]]
    assert statuses == [("creditor", "CREATED"), ("case", "REGISTERED"), ("payment", "RECEIVED")]
    assert "923609016" in state.creditor_ids
    (case,) = state.batch(creditor_id=cid, ledger_ref="NEW-1")["case"]
    assert case["originalsum"] == Decimal("1000.50") == case["remainingsum"]
    check_case({**case, "paymentDetails": {"kid": make_kid("1")}})


def test_attachments(state: SandboxState) -> None:
    new_id = state.add_attachment(b"%PDF-1.4 hello", "application/pdf")
    assert state.attachment(new_id) == (b"%PDF-1.4 hello", "application/pdf")
    linked = next(
        h["attachmentid"]
        for c in state.batch(include_closed=True)["case"]
        for h in c["history"]
        if h["attachmentid"]
    )
    content, content_type = state.attachment(linked) or (b"", "")
    assert content.startswith(b"%PDF") and content_type == "application/pdf"
    assert state.attachment("ATT-99999999") is None and state.attachment("nope") is None


def test_generator_draws_are_repeatable() -> None:
    one, two = DataGenerator(4), DataGenerator(4)
    assert one.creditor(0) == two.creditor(0)
