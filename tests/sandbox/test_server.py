"""The SDK against the sandbox over real sockets: auth, every filter, cursors, POST, faults, CLI."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from amili_async import (
    AmiliClient,
    AuthenticationError,
    BadRequestError,
    DecodeError,
    MemoryCheckpointStore,
    MissingCreditorWarning,
    RetryPolicy,
    ServerError,
    TimeoutError,
    TransportError,
)
from amili_async.sandbox import DEFAULT_TOKEN, Fault, FaultPlan, SandboxServer

from ..conftest import FakeSleep


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=3, cases=30, settlements=12, seed=2, page_size=5) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer, fake_sleep: FakeSleep) -> AsyncIterator[AmiliClient]:
    retry = RetryPolicy(sleep=fake_sleep)
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token, retry=retry) as made:
        yield made


async def test_bearer_and_basic_auth_and_their_failures(sandbox: SandboxServer) -> None:
    async with AmiliClient(base_url=sandbox.url, username="sandbox", password="sandbox") as basic:
        await basic.ping()
    async with AmiliClient(base_url=sandbox.url, token="wrong") as wrong:
        with pytest.raises(AuthenticationError) as info:
            await wrong.get_batch()
    assert info.value.request_id is not None and info.value.request_id.startswith("sbx-")
    async with (
        aiohttp.ClientSession() as raw,
        raw.get(f"{sandbox.url}/webapi/api/Batch") as response,
    ):
        assert response.status == 401
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert sandbox.token == DEFAULT_TOKEN


async def test_every_filter_through_the_client(sandbox: SandboxServer, client: AmiliClient) -> None:
    cid = sandbox.creditor_ids[0]
    everything = await client.get_batch(creditor_id=cid, include_closed=True)
    open_only = await client.get_batch(creditor_id=cid)
    assert [c.id_number for c in everything.creditors] == [cid]
    assert 0 < len(open_only.cases) < len(everything.cases) == 30
    assert all(c.closure_date is None for c in open_only.cases)

    case = everything.cases[0]
    by_ledger = await client.get_batch(
        creditor_id=cid, ledger_ref=case.ledger_ref, include_closed=True
    )
    assert [c.ledger_ref for c in by_ledger.cases] == [case.ledger_ref]
    by_customer = await client.get_batch(customer_ref=case.customer_ref, include_closed=True)
    assert by_customer.cases and all(c.customer_ref == case.customer_ref for c in by_customer.cases)

    remitted_on = everything.settlements[0].remittance_date
    assert remitted_on is not None
    remitted = await client.get_batch(creditor_id=cid, remittance_date=remitted_on.date())
    assert remitted.settlements
    assert all(
        s.remittance_date and s.remittance_date.date() == remitted_on.date()
        for s in remitted.settlements
    )

    english = await client.get_batch(creditor_id=cid, include_closed=True, language_code="en")
    assert any(h.subject == "Invoice registered" for c in english.cases for h in c.history)

    assert (await client.get_batch(sender_id="SANDBOX-SENDER")).creditors
    other = await client.get_batch(sender_id="another-sender")
    assert (other.creditors, other.cases, other.settlements) == ([], [], [])
    with pytest.warns(MissingCreditorWarning, match="000000000"):
        assert (await client.get_batch(creditor_id="000000000")).creditors == []


async def test_walking_the_cursor_to_the_end_in_pages(
    sandbox: SandboxServer, client: AmiliClient
) -> None:
    cid = sandbox.creditor_ids[1]
    cursor: str | None = None
    received: list[str] = []
    for _ in range(10):  # 12 settlements in pages of 5: 3 pages and an empty one
        batch = await client.get_batch(creditor_id=cid, last_settlement_id=cursor)
        if not batch.settlements:
            break
        received.extend(str(s.id) for s in batch.settlements)
        cursor = batch.creditors[0].last_settlement_id
    assert received == [s["id"] for s in sandbox.ledger(cid)]
    queries = [r.query for r in sandbox.requests if r.path == "/webapi/api/Batch"]
    assert len(queries) == 4 and "lastsettlementid" not in queries[0]


async def test_bad_parameters_get_400s_naming_them(
    sandbox: SandboxServer, client: AmiliClient
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.get_batch(creditor_id=sandbox.creditor_ids[0], last_settlement_id="nope")
    assert json.loads(info.value.body)["parameter"] == "lastsettlementid"
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    async with aiohttp.ClientSession(headers=headers) as raw:
        for query, parameter in (
            ("includeclosed=maybe", "includeclosed"),
            ("remittancedate=12.03.2026", "remittancedate"),
        ):
            async with raw.get(f"{sandbox.url}/webapi/api/Batch?{query}") as response:
                assert response.status == 400
                assert (await response.json())["parameter"] == parameter
        async with raw.get(f"{sandbox.url}/webapi/api/Batch?IncludeClosed=TRUE") as response:
            assert response.status == 200  # names and booleans are case-insensitive, as on ASP.NET


async def test_post_batch_stores_and_invalid_json_stores_nothing(
    sandbox: SandboxServer, client: AmiliClient
) -> None:
    cid = sandbox.creditor_ids[2]
    before = len((await client.get_batch(creditor_id=cid)).cases)
    with pytest.raises(BadRequestError, match="not valid JSON"):
        await client.request("POST", "Batch", body=b'{"case": [', content_type="application/json")
    assert len((await client.get_batch(creditor_id=cid)).cases) == before

    document = {"case": [{"creditorid": cid, "ledgerref": "ERP-77", "originalprincipal": 1250.5}]}
    raw = await client.request(
        "POST",
        "Batch",
        body=json.dumps(document).encode(),
        content_type="application/json-patch+json",
    )
    result = json.loads(raw.body)
    assert result["statuscode"] == 0 and result["responses"][0]["status_statuscode"] == "REGISTERED"
    (case,) = (await client.get_batch(creditor_id=cid, ledger_ref="ERP-77")).cases
    assert str(case.original_sum) == "1250.50"


async def test_attachment_round_trip_and_ping(client: AmiliClient) -> None:
    await client.ping()
    uploaded = await client.request(
        "POST", "Attachment", body=b"%PDF-1.4 x", content_type="application/pdf"
    )
    attachment_id = json.loads(uploaded.body)["id"]
    fetched = await client.request("GET", f"Attachment/{attachment_id}")
    assert fetched.body == b"%PDF-1.4 x" and fetched.content_type == "application/pdf"
    by_query = await client.request("GET", "Attachment", params={"id": attachment_id})
    assert by_query.body == b"%PDF-1.4 x"


@pytest.mark.parametrize("fault", [Fault.E502, Fault.E503, Fault.E429, Fault.DROP, Fault.SLOW])
async def test_transient_faults_are_recovered_by_retry(
    sandbox: SandboxServer, client: AmiliClient, fake_sleep: FakeSleep, fault: Fault
) -> None:
    sandbox.faults.slow_seconds = 0.05
    sandbox.faults.script("batch", fault, fault)
    batch = await client.get_batch(creditor_id=sandbox.creditor_ids[0])
    assert batch.creditors
    faults_seen = [r.fault for r in sandbox.requests]
    retried = fault is not Fault.SLOW
    assert faults_seen == ([fault, fault, None] if retried else [fault])
    if fault in (Fault.E429, Fault.E503):
        assert fake_sleep.delays == [0.01, 0.01]  # the sandbox's Retry-After


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (Fault.E500, ServerError, "HTTP 500"),
        (Fault.TRUNCATE, DecodeError, "truncated"),
        (Fault.MALFORMED, DecodeError, "malformed"),
        (Fault.HTML, DecodeError, "text/html"),
    ],
)
async def test_other_faults_map_to_their_errors(
    sandbox: SandboxServer, client: AmiliClient, fault: Fault, error: type[Exception], text: str
) -> None:
    sandbox.faults.script("batch", fault)
    with pytest.raises(error, match=text):
        await client.get_batch()
    assert len(sandbox.requests) == 1  # not retried


async def test_drops_exhaust_retries_as_transport_error(
    sandbox: SandboxServer, client: AmiliClient
) -> None:
    sandbox.faults.script("ping", *[Fault.DROP] * 4)
    with pytest.raises(TransportError):
        await client.ping()
    assert len(sandbox.requests) == 4


async def test_slow_responses_hit_the_read_timeout(sandbox: SandboxServer) -> None:
    sandbox.faults.script("ping", Fault.SLOW)
    sandbox.faults.slow_seconds = 1.0
    async with AmiliClient(
        base_url=sandbox.url, token=sandbox.token, read_timeout=0.05, retry=RetryPolicy.none()
    ) as client:
        with pytest.raises(TimeoutError):
            await client.ping()


def test_random_faults_are_reproducible_by_seed() -> None:
    one, two = FaultPlan(rate=0.5, seed=4), FaultPlan(rate=0.5, seed=4)
    first = [one.draw("batch") for _ in range(40)]
    assert first == [two.draw("batch") for _ in range(40)]
    assert any(first) and None in first
    assert FaultPlan(rate=1.0, routes=("ping",)).draw("batch") is None
    with pytest.raises(ValueError, match="route"):
        one.script("nowhere", Fault.E500)


async def test_fan_out_concurrency_is_bounded_on_the_server(sandbox: SandboxServer) -> None:
    sandbox.latency = 0.03
    ids = sandbox.creditor_ids * 4
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
        results = await client.get_batches(ids, concurrency=2)
    assert len(results) == 12 and all(r.ok for r in results)
    assert sandbox.max_in_flight == 2


async def test_poller_with_faults_delivers_every_settlement_in_order(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults = FaultPlan(
        rate=0.3, kinds=(Fault.E503, Fault.E502, Fault.DROP, Fault.E429), seed=3
    )
    for cid in sandbox.creditor_ids:
        sandbox.add_settlements(cid, 9)
    expected = {cid: [s["id"] for s in sandbox.ledger(cid)] for cid in sandbox.creditor_ids}
    total = sum(map(len, expected.values()))
    retry = RetryPolicy(initial_backoff=0.001, max_backoff=0.005, max_attempts=6)
    received: dict[str, list[str]] = {cid: [] for cid in expected}
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token, retry=retry) as client:
        poller = client.settlement_poller(expected, store=MemoryCheckpointStore(), interval=0.01)
        async with poller, asyncio.timeout(15):
            async for event in poller:
                received[event.creditor_id].append(str(event.settlement.id))
                if sum(map(len, received.values())) == total:
                    break
    assert received == expected
    assert poller.stats.retries > 0
    assert any(r.fault for r in sandbox.requests)


async def test_payouts_add_settlements_until_stopped(sandbox: SandboxServer) -> None:
    before = sum(len(sandbox.ledger(c)) for c in sandbox.creditor_ids)
    sandbox.start_payouts(200.0)
    await asyncio.sleep(0.1)
    sandbox.stop_payouts()
    await sandbox.stop_payouts_and_wait()
    paid = sum(len(sandbox.ledger(c)) for c in sandbox.creditor_ids)
    await asyncio.sleep(0.05)
    assert paid > before
    assert sum(len(sandbox.ledger(c)) for c in sandbox.creditor_ids) == paid
    newest = sandbox.ledger(sandbox.creditor_ids[0])[-1]
    assert newest["settlementDate"][:4] == str(datetime.datetime.now(datetime.UTC).year)


@pytest.mark.amili_sandbox(creditors=2, seed=7, page_size=3)
async def test_the_pytest_fixture_takes_marker_options(amili_sandbox: SandboxServer) -> None:
    assert len(amili_sandbox.creditor_ids) == 2
    async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
        batch = await client.get_batch(creditor_id=amili_sandbox.creditor_ids[0])
    assert 0 < len(batch.settlements) <= 3


async def test_cli_serves_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "amili_async", "sandbox", "--port", "0", "--creditors", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = [
            (await asyncio.wait_for(process.stdout.readline(), 20)).decode() for _ in range(5)
        ]
        url = banner[0].split(" at ")[1].strip()
        assert "curl" in banner[3] and DEFAULT_TOKEN in banner[1]
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        async with (
            aiohttp.ClientSession(headers=headers) as raw,
            raw.get(f"{url}/webapi/api/Batch") as response,
        ):
            assert response.status == 200
            assert len((await response.json())["creditor"]) == 2
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
