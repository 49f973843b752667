"""``settlements.list`` walking a Collection API settlement list, against raw aiohttp + msgspec.

The server (the sandbox, in another process) holds one organisation with ``settlements``
settlements. Both sides make the same page requests (``pageSize=1000``, following
``nextPageToken``) with one OAuth2 token, decode each page into the same types
(``Envelope[list[Settlement]]``) and touch every settlement; the client process's CPU time is
compared. The SDK's walk must fetch its token once.

Register it in ``benchmarks/__main__.py`` with::

    from . import collection
    if "collection" in only:
        asyncio.run(collection.run(report, 10_000 if quick else 100_000, repeat=3 if quick else 5))
"""

from __future__ import annotations

import statistics
import time

import aiohttp

from amili_async import AmiliClient, ClientCredentialsAuth
from amili_async.collection import Envelope, Page, Settlement
from amili_async.models.decoding import TypedDecoder
from amili_async.sandbox.tokens import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from ._report import Report, ms
from ._server import server_process

PAGE_SIZE = 1_000
TARGET = 1.2
_PAGE = TypedDecoder(Envelope[list[Settlement] | None])


async def run(report: Report, settlements: int, repeat: int) -> None:
    report.section(
        f"Collection API settlements.list, {settlements:,} settlements in pages of {PAGE_SIZE:,}"
    )
    args = ("sandbox", "--creditors", "1", "--cases", "20", "--settlements", str(settlements))
    async with server_process(*args) as url, aiohttp.ClientSession() as session:
        org_id = await _organization(session, url)
        token = await _token(session, url)
        auth = ClientCredentialsAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, url + "/token")
        raw_cpu, sdk_cpu = [], []
        async with AmiliClient(
            base_url=url, auth=auth
        ) as client:  # default retries, as users run it
            for _ in range(repeat):  # interleaved, so drift hits both alike
                raw_cpu.append(await _raw_walk(session, url, org_id, token, settlements))
                sdk_cpu.append(await _sdk_walk(client, org_id, settlements))
    raw, sdk = statistics.median(raw_cpu), statistics.median(sdk_cpu)
    report.table(
        ["path (client CPU per walk)", "median"],
        [
            ["raw aiohttp: get, read, msgspec decode, follow token", ms(raw)],
            ["client.collection.settlements.list", ms(sdk)],
        ],
    )
    report.note(f"token requests by the SDK over {repeat} walks: {auth.token_requests}")
    report.target("settlements.list walk / raw aiohttp + msgspec (CPU)", sdk / raw, TARGET)
    report.target("token requests for all SDK walks", auth.token_requests, 1)


async def _organization(session: aiohttp.ClientSession, url: str) -> str:
    """The organisation id: the ``organization.id`` of the legacy settlements."""
    headers = {"Authorization": "Bearer bench"}
    async with session.get(f"{url}/webapi/api/Batch", headers=headers) as response:
        batch = await response.json()
    return str(batch["settlement"][0]["organization"]["id"])


async def _token(session: aiohttp.ClientSession, url: str) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    async with session.post(f"{url}/token", data=form) as response:
        return str((await response.json())["access_token"])


async def _raw_walk(
    session: aiohttp.ClientSession, url: str, org_id: str, token: str, expected: int
) -> float:
    started = time.process_time()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    endpoint = f"{url}/collection/v1/orgs/{org_id}/settlements"
    count, page_token = 0, None
    while True:
        params = {"pageSize": str(PAGE_SIZE)}
        if page_token:
            params["pageToken"] = page_token
        async with session.get(endpoint, params=params, headers=headers) as response:
            body = await response.read()
        page = Page.from_envelope(_PAGE(body))
        for settlement in page.items:
            count += settlement.payment_amount is not None
        page_token = page.next_page_token
        if not page_token:
            break
    assert count == expected, (count, expected)
    return time.process_time() - started


async def _sdk_walk(client: AmiliClient, org_id: str, expected: int) -> float:
    started = time.process_time()
    count = 0
    async for settlement in client.collection.settlements.list(org_id, page_size=PAGE_SIZE):
        count += settlement.payment_amount is not None
    assert count == expected, (count, expected)
    return time.process_time() - started
