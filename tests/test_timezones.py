"""AmiliClient(timezone=...) and decode_batch(timezone=...): naive timestamps made aware in one
zone, aware ones left as sent, so a whole batch compares and sorts (issue 14, item 5)."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from amili_async import AmiliClient, ConfigurationError, MemoryCheckpointStore, decode_batch
from amili_async.collection.models import Envelope, Page
from amili_async.models.timezones import localize
from amili_async.sandbox import SandboxServer

OSLO = ZoneInfo("Europe/Oslo")
UTC = datetime.UTC


def _batch_json(**case: Any) -> bytes:
    body = {
        "creditor": [{"idnumber": "923609016"}],
        "case": [
            {"casenumber": "naive", "regdate": "2024-03-01T12:00:00", **case},
            {"casenumber": "aware", "regdate": "2024-03-01T11:30:00Z"},
            {"casenumber": "min", "regdate": "0001-01-01T00:00:00"},
            {"casenumber": "max", "regdate": "9999-12-31T23:59:59"},
            {"casenumber": "none", "regdate": None},
        ],
        "settlement": [{"id": str(uuid.uuid4()), "settlementDate": "2024-03-02T08:00:00"}],
    }
    return json.dumps(body).encode()


def test_default_keeps_timestamps_as_sent_and_a_mixed_batch_cannot_sort() -> None:
    batch = decode_batch(_batch_json())
    stamps = [c.reg_date for c in batch.cases if c.reg_date is not None]
    assert stamps[0].tzinfo is None and stamps[1].tzinfo is UTC
    with pytest.raises(TypeError):
        sorted(stamps)


def test_a_zone_makes_naive_timestamps_aware_keeping_their_wall_time() -> None:
    batch = decode_batch(_batch_json(), timezone=OSLO)
    by_number = {c.case_number: c.reg_date for c in batch.cases}
    assert by_number["naive"] == datetime.datetime(2024, 3, 1, 12, 0, tzinfo=OSLO)
    assert by_number["naive"] is not None and by_number["naive"].tzinfo is OSLO
    assert by_number["aware"] == datetime.datetime(2024, 3, 1, 11, 30, tzinfo=UTC)
    assert by_number["aware"] is not None and by_number["aware"].tzinfo is UTC  # as sent
    assert by_number["none"] is None
    assert batch.settlements[0].settlement_date == datetime.datetime(2024, 3, 2, 8, tzinfo=OSLO)


def test_the_whole_batch_sorts_even_with_year_1_and_year_9999() -> None:
    cases = [c for c in decode_batch(_batch_json(), timezone=OSLO).cases if c.reg_date]
    ordered = [c.case_number for c in sorted(cases, key=lambda c: c.reg_date)]  # type: ignore[arg-type, return-value]
    # 11:30 UTC is 12:30 in Oslo (CET): after 12:00 Oslo.
    assert ordered == ["min", "naive", "aware", "max"]
    assert min(c.reg_date for c in cases) == datetime.datetime(1, 1, 1, tzinfo=OSLO)  # type: ignore[type-var]


def test_nested_and_listed_timestamps_are_reached() -> None:
    body = _batch_json(
        history=[{"loggedat": "2024-01-01T00:00:00"}, {"loggedat": "2024-01-02T00:00:00+05:00"}],
        paymentDetails={"dueDate": "2024-04-01T00:00:00"},
    )
    case = decode_batch(body, timezone=OSLO).cases[0]
    assert [h.logged_at.tzinfo for h in case.history if h.logged_at] == [
        OSLO,
        datetime.timezone(datetime.timedelta(hours=5)),
    ]
    assert case.payment_details is not None and case.payment_details.due_date is not None
    assert case.payment_details.due_date.tzinfo is OSLO


def test_generic_envelopes_and_dates_are_handled() -> None:
    """Collection API shapes: a generic Envelope around a list, and plain dates left alone."""
    from amili_async.collection.models import Invoice

    body = b'{"data": [{"createdAt": "2024-05-01T10:00:00", "dueDate": "2024-06-01"}]}'
    envelope = msgspec.json.decode(body, type=Envelope[list[Invoice] | None])
    page = Page.from_envelope(localize(envelope, OSLO))
    (invoice,) = page.items
    assert invoice.created_at == datetime.datetime(2024, 5, 1, 10, tzinfo=OSLO)
    assert invoice.due_date == datetime.date(2024, 6, 1)


def test_a_timezone_that_is_not_a_tzinfo_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="tzinfo"):
        AmiliClient(base_url="https://x.example", token="t", timezone="Europe/Oslo")  # type: ignore[arg-type]


def _every_stamp(value: object) -> list[datetime.datetime]:
    """Every datetime in a decoded model, read back from its JSON form (aware ones carry an
    offset; naive ones none)."""
    found: list[datetime.datetime] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, str) and len(node) >= 19 and node[4] + node[7] + node[10] == "--T":
            found.append(datetime.datetime.fromisoformat(node))

    visit(msgspec.json.decode(msgspec.json.encode(value)))
    return found


async def test_client_batches_poller_pages_and_collection_models_are_aware() -> None:
    async with SandboxServer(creditors=2, seed=1) as sandbox:
        creditor = sandbox.creditor_ids[0]
        async with AmiliClient(base_url=sandbox.url, token=sandbox.token, timezone=OSLO) as client:
            batch = await client.get_batch(creditor_id=creditor, include_closed=True)
            stamps = _every_stamp(batch)
            assert stamps and all(s.tzinfo is not None for s in stamps)
            sorted(
                batch.cases, key=lambda c: c.reg_date or datetime.datetime.min.replace(tzinfo=OSLO)
            )

            async with client.settlement_poller(
                [creditor], store=MemoryCheckpointStore(), interval=0.05
            ) as poller:
                event = await anext(aiter(poller))
            assert _every_stamp(event.settlement)
            assert all(s.tzinfo is not None for s in _every_stamp(event.settlement))

        async with AmiliClient(
            base_url=sandbox.url,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            token_url=sandbox.token_url,
            timezone=OSLO,
        ) as client:
            org = sandbox.organization_ids[0]
            cases = [case async for case in client.collection.cases.list(org)]
            stamps = _every_stamp(cases)
            assert stamps and all(s.tzinfo is not None for s in stamps)


async def test_without_a_zone_the_sandbox_batch_mixes_naive_and_aware() -> None:
    """The premise of the option: the sandbox, like the real API, sends both kinds."""
    async with SandboxServer(creditors=1, seed=1) as sandbox:
        creditor = sandbox.creditor_ids[0]
        client = AmiliClient(base_url=sandbox.url, token=sandbox.token)
        async with client:
            batch = await client.get_batch(creditor_id=creditor, include_closed=True)
    kinds = {s.tzinfo is None for s in _every_stamp(batch)}
    assert kinds == {True, False}


class _Node(msgspec.Struct):
    children: list[_Node] = []
    at: datetime.datetime | None = None


class _Holder(msgspec.Struct):
    """Holds no timestamp itself; only through the recursive ``_Node``."""

    node: _Node | None = None
    label: str = ""


def test_recursive_types_are_walked_to_the_bottom() -> None:
    body = b'{"node": {"children": [{"children": [{"at": "2024-01-01T00:00:00"}]}]}}'
    holder = localize(msgspec.json.decode(body, type=_Holder), OSLO)
    assert holder.node is not None
    assert holder.node.children[0].children[0].at == datetime.datetime(2024, 1, 1, tzinfo=OSLO)


def test_one_decoder_is_built_per_type_and_zone() -> None:
    from amili_async.endpoints import decoder_for
    from amili_async.models import Batch

    assert decoder_for(Batch, OSLO) is decoder_for(Batch, OSLO)
    assert decoder_for(Batch, OSLO) is not decoder_for(Batch, UTC)
    assert decoder_for(Batch) is decoder_for(Batch, None)
    assert decoder_for(bytes, OSLO) is decoder_for(bytes)  # raw bodies have no timestamps
    stamp = decoder_for(Batch, UTC)(_batch_json()).cases[0].reg_date
    assert stamp == datetime.datetime(2024, 3, 1, 12, tzinfo=UTC)
