"""The sandbox's Collection API and token endpoint over raw HTTP: the rules the SDK tests do not
reach (page sizes, token forms, filters, one state behind both APIs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from amili_async.sandbox import Fault, SandboxServer
from amili_async.sandbox.collection import DEFAULT_PAGE_SIZE
from amili_async.sandbox.generator import encode_json


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(
        creditors=2, cases=5, settlements=7, seed=3, batch_delay=0.01
    ) as server:
        yield server


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            sandbox.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            },
        )
        token = (await answer.json())["access_token"]
        yield Http(session, sandbox, token)


class Http:
    def __init__(self, session: aiohttp.ClientSession, sandbox: SandboxServer, token: str) -> None:
        self.session, self.sandbox, self.token = session, sandbox, token
        self.org = sandbox.organization_ids[0]

    async def call(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        url = self.sandbox.url + path.replace("{org}", self.org)
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        async with self.session.request(method, url, json=body, headers=all_headers) as resp:
            body = await resp.read()
            return resp.status, (await resp.json(loads=_decimal_json)) if body else None

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.call("GET", path)


def _decimal_json(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


async def test_the_token_endpoint_refuses_a_wrong_grant_or_a_missing_field(
    sandbox: SandboxServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        wrong_grant = await session.post(sandbox.token_url, data={"grant_type": "password"})
        missing = await session.post(sandbox.token_url, data={"grant_type": "client_credentials"})
        assert (wrong_grant.status, (await wrong_grant.json())["error"]) == (
            400,
            "unsupported_grant_type",
        )
        assert (missing.status, (await missing.json())["error"]) == (400, "invalid_request")


async def test_an_oauth_token_works_on_the_legacy_api_until_revoked(http: Http) -> None:
    assert (await http.get("/webapi/api/Ping"))[0] == 200
    http.sandbox.revoke_tokens()
    assert (await http.get("/webapi/api/Ping"))[0] == 401
    assert (await http.get("/collection/v1/orgs/{org}/cases"))[0] == 401


async def test_a_token_expires_after_its_ttl() -> None:
    async with (
        SandboxServer(creditors=1, cases=1, token_ttl=0.05) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        form = {
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        }
        answer = await (await session.post(sandbox.token_url, data=form)).json()
        assert answer["token_type"] == "Bearer"
        assert answer["expires_on"] >= answer["not_before"]
        headers = {"Authorization": "Bearer " + answer["access_token"]}
        await asyncio.sleep(0.1)
        expired = await session.get(sandbox.url + "/webapi/api/Ping", headers=headers)
        assert expired.status == 401


async def test_pages_have_a_default_and_a_maximum_size(http: Http) -> None:
    http.sandbox.add_settlements(http.sandbox.creditor_ids[0], DEFAULT_PAGE_SIZE)
    status, first = await http.get("/collection/v1/orgs/{org}/settlements")
    assert status == 200
    assert len(first["data"]) == DEFAULT_PAGE_SIZE
    http.sandbox.collection.max_page_size = 10
    _, capped = await http.get("/collection/v1/orgs/{org}/settlements?pageSize=50")
    assert len(capped["data"]) == 10
    status, _ = await http.get("/collection/v1/orgs/{org}/settlements?pageSize=0")
    assert status == 400


async def test_page_tokens_are_opaque_and_bound_to_their_list(http: Http) -> None:
    _, first = await http.get("/collection/v1/orgs/{org}/settlements?pageSize=3")
    token = first["summary"]["nextPageToken"]
    _, second = await http.get(
        f"/collection/v1/orgs/{{org}}/settlements?pageSize=3&pageToken={token}"
    )
    ledger = http.sandbox.ledger(http.sandbox.creditor_ids[0])
    assert [s["id"] for s in first["data"] + second["data"]] == [s["id"] for s in ledger[:6]]
    for bad in (
        f"/collection/v1/orgs/{{org}}/invoices?PageToken={token}",  # another list
        f"/collection/v1/orgs/{{org}}/settlements?pageToken={token}&fromDate=2026-01-01",
        "/collection/v1/orgs/{org}/settlements?pageToken=bm90LWEtdG9rZW4",
    ):
        status, body = await http.get(bad)
        assert status == 400, bad
        assert "page token" in body["detail"]


async def test_settlements_are_the_legacy_ledger_and_filter_by_settlement_date(http: Http) -> None:
    ledger = http.sandbox.ledger(http.sandbox.creditor_ids[0])
    _, listed = await http.get("/collection/v1/orgs/{org}/settlements?pageSize=100")
    assert listed["data"] == _decimal_json(encode_json(ledger).decode())
    day = ledger[2]["settlementDate"][:10]
    _, on_day = await http.get(
        f"/collection/v1/orgs/{{org}}/settlements?fromDate={day}&toDate={day}"
    )
    assert on_day["data"]
    assert all(s["settlementDate"].startswith(day) for s in on_day["data"])


async def test_invoices_and_cases_filter_by_their_wire_names(http: Http) -> None:
    _, invoices = await http.get("/collection/v1/orgs/{org}/invoices")
    some = invoices["data"][0]
    _, by_number = await http.get(
        f"/collection/v1/orgs/{{org}}/invoices?InvoiceNumber={some['invoiceNumber']}"
    )
    assert [i["id"] for i in by_number["data"]] == [some["id"]]
    _, cases = await http.get(
        f"/collection/v1/orgs/{{org}}/cases?CaseNumber={int(some['collectionCaseNumber'])}"
    )
    assert [c["invoices"][0]["id"] for c in cases["data"]] == [some["id"]]
    _, closed = await http.get("/collection/v1/orgs/{org}/cases?Status=CLOSED")
    assert closed["data"]
    assert {c["status"] for c in closed["data"]} == {"CLOSED"}


async def test_an_unknown_organisation_is_a_404(http: Http) -> None:
    status, body = await http.get("/collection/v1/orgs/00000000-0000-4000-8000-000000000000/cases")
    assert status == 404
    assert body["title"] == "Not Found"


async def test_a_create_needs_its_list(http: Http) -> None:
    bodies: list[Any] = [{"payments": []}, {"invoices": []}, [1]]
    for body in bodies:
        status, _ = await http.call("POST", "/collection/v1/orgs/{org}/invoices", body=body)
        assert status == 400


async def test_faults_reach_the_collection_routes(http: Http) -> None:
    http.sandbox.faults.script("collection_cases", Fault.E503)
    assert (await http.get("/collection/v1/orgs/{org}/cases"))[0] == 503
    assert (await http.get("/collection/v1/orgs/{org}/cases"))[0] == 200
