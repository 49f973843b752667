"""The sandbox state: generation, every GET Batch filter, the settlement cursor, POST Batch."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amili_async.sandbox import state as state_module
from amili_async.sandbox.checkdigits import is_valid_kid, is_valid_org_number
from amili_async.sandbox.generator import HISTORY_TEXTS, Json, encode_json
from amili_async.sandbox.state import SandboxState, UnknownCreditorError, UnknownCursorError

NEW_ORG = "923609016"  # a valid organisation number no seed below draws


@pytest.fixture(scope="module")
def shared() -> SandboxState:
    """Read-only: tests that change a state make their own."""
    return SandboxState.generate(creditors=3, cases=60, settlements=40, seed=5)


def ids(settlements: list[Json]) -> list[str]:
    return [s["id"] for s in settlements]


def walk(state: SandboxState, page_size: int, **filters: Any) -> tuple[list[str], str | None]:
    """Page through settlements like a poller; the ids seen and the final cursor."""
    cursor: str | None = filters.pop("last_settlement_id", None)
    seen: list[str] = []
    for _ in range(1000):
        batch = state.batch(last_settlement_id=cursor, page_size=page_size, **filters)
        assert len(batch["settlement"]) <= page_size * max(len(batch["creditor"]), 1)
        if not batch["settlement"]:
            assert [c["lastsettlementid"] for c in batch["creditor"]] == [cursor]
            return seen, cursor
        seen += ids(batch["settlement"])
        cursor = batch["creditor"][0]["lastsettlementid"]
        assert cursor == seen[-1]
    raise AssertionError("the walk did not end")


# -- generation -------------------------------------------------------------------------------


def test_generate_with_a_seeded_mix() -> None:
    state = SandboxState.generate(creditors=4, seed=3)
    assert len(state.creditor_ids) == len(set(state.creditor_ids)) == 4
    assert all(is_valid_org_number(cid) for cid in state.creditor_ids)
    for cid in state.creditor_ids:
        cases = state.batch(creditor_id=cid, include_closed=True)["case"]
        assert 20 <= len(cases) <= 200
        assert {case["closuredate"] is None for case in cases} == {True, False}
        assert 5 <= len(state.ledger(cid)) <= 60
    assert state.sender_id == "SANDBOX-SENDER"


def test_generate_is_deterministic_by_seed() -> None:
    one, two = (SandboxState.generate(creditors=3, seed=9) for _ in range(2))
    assert one.creditor_ids == two.creditor_ids
    assert one.batch_json(include_closed=True) == two.batch_json(include_closed=True)
    assert SandboxState.generate(creditors=3, seed=10).creditor_ids != one.creditor_ids


def test_exact_sizes_per_creditor() -> None:
    state = SandboxState.generate(creditors=2, cases=7, settlements=3, seed=1, sender_id="S-1")
    assert state.sender_id == "S-1"
    for cid in state.creditor_ids:
        assert len(state.batch(creditor_id=cid, include_closed=True)["case"]) == 7
        assert [s["settlementNumber"] for s in state.ledger(cid)] == [1, 2, 3]
    empty = SandboxState.generate(creditors=1, cases=0, settlements=5)
    assert empty.ledger(empty.creditor_ids[0]) == []  # nothing to pay out on


# -- GET Batch: filters ---------------------------------------------------------------------


def test_all_creditors_of_the_sender(shared: SandboxState) -> None:
    batch = shared.batch()
    assert [c["idnumber"] for c in batch["creditor"]] == shared.creditor_ids
    assert batch["offline"] is False and batch["batchid"] != shared.batch()["batchid"]
    assert not any(key.startswith("_") for c in batch["creditor"] for key in c)
    assert batch == {**shared.batch(sender_id=shared.sender_id), "batchid": batch["batchid"]}


@pytest.mark.parametrize(
    "filters",
    [
        {"sender_id": "someone-else"},
        {"creditor_id": "000000000"},
        {"creditor_id": "000000000", "last_settlement_id": "not-a-settlement"},
        {"sender_id": "someone-else", "include_closed": True},
    ],
)
def test_another_sender_or_an_unknown_creditor_gets_an_empty_batch(
    shared: SandboxState, filters: dict[str, Any]
) -> None:
    batch = shared.batch(**filters)
    assert (batch["creditor"], batch["case"], batch["settlement"]) == ([], [], [])


def test_empty_strings_are_filters_not_given(shared: SandboxState) -> None:
    blank = shared.batch(
        sender_id="", creditor_id="", customer_ref="", ledger_ref="", language_code=""
    )
    full = shared.batch()
    assert (blank["creditor"], blank["case"], blank["settlement"]) == (
        full["creditor"],
        full["case"],
        full["settlement"],
    )


def test_one_creditor_open_cases_unless_closed_asked(shared: SandboxState) -> None:
    cid = shared.creditor_ids[1]
    everything = shared.batch(creditor_id=cid, include_closed=True)
    open_only = shared.batch(creditor_id=cid)
    assert [c["idnumber"] for c in open_only["creditor"]] == [cid]
    assert len(everything["case"]) == 60
    assert open_only["case"] == [c for c in everything["case"] if c["closuredate"] is None]
    assert 0 < len(open_only["case"]) < 60
    organizations = {s["organization"]["organizationNumber"] for s in open_only["settlement"]}
    assert organizations == {cid}


def test_customer_and_ledger_refs_filter_cases_and_settlements(shared: SandboxState) -> None:
    cid = shared.creditor_ids[0]
    paid = shared.ledger(cid)[0]
    customer, ledger_ref = paid["customerReference"], paid["ledgerRef"]
    by_customer = shared.batch(creditor_id=cid, customer_ref=customer, include_closed=True)
    assert by_customer["case"] and all(c["customerref"] == customer for c in by_customer["case"])
    assert by_customer["settlement"] == [
        s for s in shared.ledger(cid) if s["customerReference"] == customer
    ]
    by_ledger = shared.batch(creditor_id=cid, ledger_ref=ledger_ref, include_closed=True)
    assert [c["ledgerref"] for c in by_ledger["case"]] == [ledger_ref]
    assert by_ledger["settlement"] == [
        s for s in shared.ledger(cid) if s["ledgerRef"] == ledger_ref
    ]
    nobody = shared.batch(creditor_id=cid, customer_ref="no-such-customer")
    assert (nobody["case"], nobody["settlement"]) == ([], [])
    assert nobody["creditor"][0]["lastsettlementid"] is None


def test_remittance_date_keeps_that_days_payouts(shared: SandboxState) -> None:
    cid = shared.creditor_ids[2]
    ledger = shared.ledger(cid)
    day = datetime.date.fromisoformat(ledger[5]["remittanceDate"][:10])
    remitted = shared.batch(creditor_id=cid, remittance_date=day)["settlement"]
    assert remitted == [s for s in ledger if s["remittanceDate"][:10] == day.isoformat()]
    assert 0 < len(remitted) < len(ledger)
    assert (
        shared.batch(creditor_id=cid, remittance_date=datetime.date(2001, 1, 1))["settlement"] == []
    )


@pytest.mark.parametrize(
    ("code", "language"), [("en", "en"), ("EN", "en"), ("nb", "nb"), ("xx", "nb"), (None, "nb")]
)
def test_history_texts_in_the_language_asked(
    shared: SandboxState, code: str | None, language: str
) -> None:
    cases = shared.batch(include_closed=True, language_code=code)["case"]
    entries = [entry for case in cases for entry in case["history"]]
    assert entries
    for entry in entries:
        assert (entry["subject"], entry["message"]) == HISTORY_TEXTS[entry["type"]][language]
    nb = shared.batch(include_closed=True)["case"]
    assert [c["casenumber"] for c in cases] == [c["casenumber"] for c in nb]
    assert all(
        entry["subject"] == HISTORY_TEXTS[entry["type"]]["nb"][0]
        for c in nb
        for entry in c["history"]
    )


def test_page_size_bounds_each_creditor(shared: SandboxState) -> None:
    batch = shared.batch(page_size=7)
    for creditor in batch["creditor"]:
        own = [
            s
            for s in batch["settlement"]
            if s["organization"]["organizationNumber"] == creditor["idnumber"]
        ]
        assert own == shared.ledger(creditor["idnumber"])[:7]
        assert creditor["lastsettlementid"] == own[-1]["id"]
    with pytest.raises(ValueError, match="page_size"):
        shared.batch(page_size=0)


# -- GET Batch: the settlement cursor ---------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=45))
def test_walking_the_cursor_yields_every_settlement_once_in_order(
    shared: SandboxState, page_size: int
) -> None:
    cid = shared.creditor_ids[1]
    seen, cursor = walk(shared, page_size, creditor_id=cid)
    assert seen == ids(shared.ledger(cid))
    assert cursor == seen[-1]


def test_new_payouts_continue_after_the_last_cursor() -> None:
    state = SandboxState.generate(creditors=2, cases=10, settlements=23, seed=8)
    cid = state.creditor_ids[1]
    _, cursor = walk(state, 5, creditor_id=cid)
    new = state.add_settlements(cid, 3)
    assert [s["settlementNumber"] for s in new] == [24, 25, 26]
    assert ids(state.ledger(cid))[-3:] == ids(new)
    seen, cursor = walk(state, 5, creditor_id=cid, last_settlement_id=cursor)
    assert seen == ids(new) and cursor == new[-1]["id"]
    assert state.add_settlements(cid, 0) == []
    other = state.creditor_ids[0]
    assert len(state.ledger(other)) == 23  # the other creditor was not paid


def test_live_payouts_are_dated_now_and_valid() -> None:
    state = SandboxState.generate(creditors=1, cases=5, settlements=1, seed=2)
    cid = state.creditor_ids[0]
    (settlement,) = state.add_settlements(cid)
    today = datetime.datetime.now(datetime.UTC).date()
    settled = datetime.date.fromisoformat(settlement["settlementDate"][:10])
    assert abs((settled - today).days) <= 1
    assert settlement["organization"]["organizationNumber"] == cid
    parts = (settlement[f"{p}Distribution"] for p in ("principal", "fee", "interest"))
    assert settlement["paymentAmount"] == sum(d["collector"] + d["creditor"] for d in parts)


def test_unknown_cursors_are_refused(shared: SandboxState) -> None:
    first, second = shared.creditor_ids[:2]
    others = shared.ledger(second)[0]["id"]
    with pytest.raises(UnknownCursorError):
        shared.batch(creditor_id=first, last_settlement_id=others)
    with pytest.raises(UnknownCursorError):
        shared.batch(last_settlement_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(UnknownCursorError):
        shared.batch_json(creditor_id=first, last_settlement_id="garbage")
    assert isinstance(UnknownCursorError("x"), ValueError)


def test_cursor_ids_match_case_insensitively(shared: SandboxState) -> None:
    cid = shared.creditor_ids[0]
    ledger = shared.ledger(cid)
    sent = ledger[9]["id"].upper()
    batch = shared.batch(creditor_id=cid, last_settlement_id=sent)
    assert batch["settlement"][0] == ledger[10]
    last = ledger[-1]["id"].upper()
    at_end = shared.batch(creditor_id=cid, last_settlement_id=last)
    assert at_end["settlement"] == [] and at_end["creditor"][0]["lastsettlementid"] == last


def test_without_a_creditor_the_cursor_pages_its_own_creditor_only(shared: SandboxState) -> None:
    first, second, third = shared.creditor_ids
    cursor = shared.ledger(second)[9]["id"]
    batch = shared.batch(last_settlement_id=cursor, page_size=100)
    by_creditor = {
        cid: [s for s in batch["settlement"] if s["organization"]["organizationNumber"] == cid]
        for cid in shared.creditor_ids
    }
    assert by_creditor[second] == shared.ledger(second)[10:]
    assert by_creditor[first] == shared.ledger(first)
    assert by_creditor[third] == shared.ledger(third)


def test_last_settlement_id_is_the_cursor_when_nothing_follows(shared: SandboxState) -> None:
    cid = shared.creditor_ids[0]
    last = shared.ledger(cid)[-1]["id"]
    batch = shared.batch(creditor_id=cid, last_settlement_id=last)
    assert batch["settlement"] == [] and batch["creditor"][0]["lastsettlementid"] == last
    filtered = shared.batch(creditor_id=cid, last_settlement_id=last, customer_ref="nobody")
    assert filtered["creditor"][0]["lastsettlementid"] == last


# -- the ledger -------------------------------------------------------------------------------


def test_ledger_is_a_copy_and_unknown_creditors_raise(shared: SandboxState) -> None:
    cid = shared.creditor_ids[0]
    ledger = shared.ledger(cid)
    ledger.clear()
    assert len(shared.ledger(cid)) == 40
    with pytest.raises(UnknownCreditorError):
        shared.ledger("000000000")
    with pytest.raises(UnknownCreditorError):
        shared.add_settlements("000000000")


# -- batch_json -------------------------------------------------------------------------------


def _creditor_filters(state: SandboxState) -> dict[str, Any]:
    return {"creditor_id": state.creditor_ids[1], "page_size": 5}


def _ledger_filters(state: SandboxState) -> dict[str, Any]:
    cid = state.creditor_ids[2]
    return {"creditor_id": cid, "ledger_ref": state.ledger(cid)[0]["ledgerRef"]}


@pytest.mark.parametrize(
    "make_filters",
    [
        lambda state: {},
        lambda state: {"include_closed": True, "language_code": "en"},
        _creditor_filters,
        _ledger_filters,
        lambda state: {"sender_id": "someone-else"},
    ],
)
def test_batch_json_is_batch_encoded(
    shared: SandboxState, make_filters: Callable[[SandboxState], dict[str, Any]]
) -> None:
    filters = make_filters(shared)
    for _ in range(2):  # encoded, then from the cache
        from_json = msgspec.json.decode(shared.batch_json(**filters))
        direct = msgspec.json.decode(encode_json(shared.batch(**filters)))
        assert from_json.pop("batchid") != direct.pop("batchid")
        assert from_json == direct


def test_polling_a_big_creditor_does_not_re_encode_its_cases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = SandboxState.generate(creditors=1, cases=10_000, settlements=600, seed=4)
    cid = state.creditor_ids[0]
    first = state.batch_json(creditor_id=cid)
    encoded: list[Any] = []

    def spy(value: Any) -> bytes:
        encoded.append(value)
        return encode_json(value)

    monkeypatch.setattr(state_module, "encode_json", spy)
    cursor = state.ledger(cid)[99]["id"]
    poll = msgspec.json.decode(state.batch_json(creditor_id=cid, last_settlement_id=cursor))
    assert len(poll["settlement"]) == 500 and poll["settlement"][0]["settlementNumber"] == 101
    assert len(poll["case"]) == len(msgspec.json.decode(first)["case"])
    assert sum(len(value) for value in encoded if isinstance(value, list)) == 500  # settlements


# -- POST Batch -------------------------------------------------------------------------------


@pytest.fixture
def fresh() -> SandboxState:
    return SandboxState.generate(creditors=2, cases=4, settlements=2, seed=1)


def test_apply_batch_stores_a_new_creditor_and_its_case(fresh: SandboxState) -> None:
    result = fresh.apply_batch(
        {
            "creditor": [{"idnumber": NEW_ORG, "fullname": "Ny Kreditor AS", "unknown": 1}],
            "case": [{"ledgerref": "NEW-1", "originalprincipal": "1000.5", "customerref": "C1"}],
            "batchid": "ignored",
        }
    )
    assert result == {
        "statuscode": 0,
        "errors": [],
        "responses": [
            {
                "objectname": "creditor",
                "objectindex": 0,
                "ledgerref": None,
                "status_statuscode": "CREATED",
            },
            {
                "objectname": "case",
                "objectindex": 0,
                "ledgerref": "NEW-1",
                "status_statuscode": "REGISTERED",
            },
        ],
    }
    assert fresh.creditor_ids[-1] == NEW_ORG
    batch = fresh.batch(creditor_id=NEW_ORG, language_code="en")
    (creditor,) = batch["creditor"]
    assert creditor["fullname"] == "Ny Kreditor AS" and "unknown" not in creditor
    assert creditor["bankaccountno"] and creditor["contact"]  # seeded defaults
    (case,) = batch["case"]
    assert case["customerref"] == "C1" and case["status_statuscode"] == "REGISTERED"
    assert case["originalsum"] == Decimal("1000.50") == case["remainingsum"]
    assert case["paidsum"] == 0 and case["closuredate"] is None
    assert case["paymentDetails"]["paymentValue"] == Decimal("1000.50")
    assert case["paymentDetails"]["bankAccount"] == creditor["bankaccountno"]
    assert is_valid_kid(case["paymentDetails"]["kid"])
    assert case["history"][0]["subject"] == HISTORY_TEXTS[1]["en"][0]
    assert fresh.add_settlements(NEW_ORG)[0]["caseNumber"] == case["casenumber"]


def test_apply_batch_updates_a_known_creditor(fresh: SandboxState) -> None:
    cid = fresh.creditor_ids[0]
    result = fresh.apply_batch({"creditor": [{"idnumber": cid, "city": "Bodø", "disabled": True}]})
    assert result["responses"][0]["status_statuscode"] == "UPDATED"
    (creditor,) = fresh.batch(creditor_id=cid)["creditor"]
    assert (creditor["city"], creditor["disabled"], creditor["idnumber"]) == ("Bodø", True, cid)
    assert len(fresh.creditor_ids) == 2


def test_apply_batch_keeps_invalid_objects_out(fresh: SandboxState) -> None:
    cid, other = fresh.creditor_ids
    before = fresh.batch_json(include_closed=True)
    result = fresh.apply_batch(
        {
            "creditor": [
                {"idnumber": "923609017"},  # bad check digit
                {"idnumber": NEW_ORG, "bankaccountno": "86011117948"},  # bad account
                {"idnumber": NEW_ORG, "vattype": True},  # a bool is no int
                {"idnumber": NEW_ORG, "contact": {"email": 5}},
                "not an object",
            ],
            "case": [
                {"ledgerref": "A", "originalprincipal": 10},  # two creditors: whose?
                {"creditorid": cid, "originalprincipal": 10},  # no ledgerref
                {
                    "creditorid": cid,
                    "ledgerref": fresh.ledger(cid)[0]["ledgerRef"],
                    "originalprincipal": 1,
                },
                {"creditorid": cid, "ledgerref": "B"},  # no principal
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": "0"},
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": "1.005"},
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": "NaN"},
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": 5, "originalfee": -1},
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": 5, "currencycode": "kr"},
                {"creditorid": cid, "ledgerref": "B", "originalprincipal": 5, "customername": 7},
                {"creditorid": "000000000", "ledgerref": "B", "originalprincipal": 5},
            ],
        }
    )
    assert result["statuscode"] == 1 and result["responses"] == []
    assert [(e["objectname"], e["objectindex"]) for e in result["errors"]] == [
        *(("creditor", i) for i in range(5)),
        *(("case", i) for i in range(11)),
    ]
    assert all(e["message"] for e in result["errors"])
    assert fresh.creditor_ids == [cid, other]
    assert (
        msgspec.json.decode(fresh.batch_json(include_closed=True))["case"]
        == msgspec.json.decode(before)["case"]
    )


def test_apply_batch_rules_for_lists(fresh: SandboxState) -> None:
    cid = fresh.creditor_ids[0]
    result = fresh.apply_batch(
        {
            "creditor": None,
            "case": [
                {"creditorid": int(cid), "ledgerref": 1001, "originalprincipal": Decimal("12.30")},
                {"creditorid": cid, "ledgerref": "1001", "originalprincipal": 1},  # the same ref
            ],
            "payment": [{"ledgerref": "1001", "amount": 10}, 42],
            "message": {"not": "a list"},
        }
    )
    assert [
        (r["objectname"], r["objectindex"], r["ledgerref"], r["status_statuscode"])
        for r in result["responses"]
    ] == [
        ("case", 0, "1001", "REGISTERED"),
        ("payment", 0, "1001", "RECEIVED"),
    ]
    assert [(e["objectname"], e["objectindex"]) for e in result["errors"]] == [
        ("case", 1),
        ("payment", 1),
    ]
    (case,) = fresh.batch(creditor_id=cid, ledger_ref="1001")["case"]
    assert case["originalprincipal"] == Decimal("12.30")
    bad_list = fresh.apply_batch({"case": {"ledgerref": "x"}})
    assert bad_list["errors"] == [
        {"objectname": "case", "objectindex": -1, "message": "case must be a list of objects"}
    ]


def test_a_new_case_shows_in_the_cached_json(fresh: SandboxState) -> None:
    cid = fresh.creditor_ids[1]
    before = len(msgspec.json.decode(fresh.batch_json(creditor_id=cid))["case"])
    fresh.apply_batch({"case": [{"creditorid": cid, "ledgerref": "Z-1", "originalprincipal": 99}]})
    after = msgspec.json.decode(fresh.batch_json(creditor_id=cid))["case"]
    assert len(after) == before + 1 and after[-1]["ledgerref"] == "Z-1"


# -- attachments ------------------------------------------------------------------------------


def test_attachments() -> None:
    state = SandboxState.generate(creditors=1, cases=30, seed=5)
    new_id = state.add_attachment(b"%PDF-1.4 hello", "application/pdf")
    assert state.attachment(new_id) == (b"%PDF-1.4 hello", "application/pdf")
    assert state.add_attachment(b"x", "text/plain") != new_id
    linked = [
        entry["attachmentid"]
        for case in state.batch(include_closed=True)["case"]
        for entry in case["history"]
        if entry["attachmentid"]
    ]
    assert linked
    for attachment_id in linked:
        content, content_type = state.attachment(attachment_id) or (b"", "")
        assert content.startswith(b"%PDF") and content_type == "application/pdf"
    for unknown in ("ATT-99999999", "ATT-00000000", "ATT-x", "nope", ""):
        assert state.attachment(unknown) is None
