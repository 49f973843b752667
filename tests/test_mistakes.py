"""Mistakes caught early (issue 14, item 6): a base URL with the API's path, a creditor the answer
does not hold, pool options given with the user's own session."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from amili_async import (
    AmiliClient,
    AmiliWarning,
    ConfigurationError,
    MemoryCheckpointStore,
    MissingCreditorWarning,
    UnknownCreditorError,
)
from amili_async.sandbox import SandboxServer

from .conftest import TOKEN, Recorded

Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


@pytest.mark.parametrize(
    "given",
    [
        "https://autocollect.example/webapi/api",
        "https://autocollect.example/webapi/api/",
        "https://autocollect.example/WebApi/Api/",
        "https://api.amili.no/collection/v1",
        "https://api.amili.no/collection/v1/",
        "https://host.example/prefix/webapi/api",
        "https://autocollect.example/webapi/api/Batch",
        "https://api.amili.no/collection/v1/orgs",
    ],
)
def test_a_base_url_with_the_api_path_is_refused_naming_the_root(given: str) -> None:
    with pytest.raises(ConfigurationError, match="root URL") as caught:
        AmiliClient(base_url=given, token=TOKEN)
    root = given.split("/webapi/api")[0].split("/collection/v1")[0].split("/WebApi")[0]
    assert f"base_url={root!r}" in str(caught.value)


def test_a_base_url_that_only_mentions_the_api_is_fine() -> None:
    client = AmiliClient(base_url="https://host.example/webapi/api-gateway", token=TOKEN)
    assert str(client.base_url) == "https://host.example/webapi/api-gateway"


async def test_max_connections_or_trace_configs_with_an_own_session_are_refused() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigurationError, match="max_connections"):
            AmiliClient(
                base_url="https://x.example", token=TOKEN, session=session, max_connections=5
            )
        with pytest.raises(ConfigurationError, match="trace_configs"):
            AmiliClient(
                base_url="https://x.example",
                token=TOKEN,
                session=session,
                trace_configs=[aiohttp.TraceConfig()],
            )
        AmiliClient(base_url="https://x.example", token=TOKEN, session=session)  # alone: fine


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_max_connections_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_connections"):
        AmiliClient(base_url="https://x.example", token=TOKEN, max_connections=bad)  # type: ignore[arg-type]


async def test_max_connections_sizes_the_pool_of_the_session_the_client_creates() -> None:
    async with AmiliClient(base_url="https://x.example", token=TOKEN, max_connections=7) as client:
        session = client.requester._transport.session
        assert session.connector is not None and session.connector.limit == 7


# -- a creditor the answer does not hold --------------------------------------------------------


async def test_get_batch_warns_and_says_so_when_the_creditor_is_not_in_the_answer() -> None:
    async with SandboxServer(creditors=1, seed=1) as sandbox:
        known = sandbox.creditor_ids[0]
        async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
            with pytest.warns(MissingCreditorWarning, match="'000000000'") as caught:
                batch = await client.get_batch(creditor_id="000000000")
            assert caught[0].filename == __file__  # points at the caller's line
            assert not batch.has_creditor("000000000")
            assert batch.cases == [] and batch.settlements == []

            with warnings.catch_warnings():
                warnings.simplefilter("error", AmiliWarning)
                found = await client.get_batch(creditor_id=known)  # no warning: it is there
                await client.get_batch()  # no creditor asked for: nothing to check
            assert found.has_creditor(known)


async def test_fetch_batches_marks_the_missing_creditor_instead_of_warning() -> None:
    async with SandboxServer(creditors=1, seed=1) as sandbox:
        known = sandbox.creditor_ids[0]
        async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # 1,000 missing ids must not mean 1,000 warnings
                results = await client.get_batches([known, "000000000"])
    assert [(r.creditor_id, r.ok, r.missing) for r in results] == [
        (known, True, False),
        ("000000000", True, True),
    ]


async def test_the_poller_reports_a_creditor_the_server_does_not_know() -> None:
    reported: list[tuple[str, Exception]] = []
    async with SandboxServer(creditors=1, seed=1) as sandbox:
        known = sandbox.creditor_ids[0]
        async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
            poller = client.settlement_poller(
                [known, "000000000"],
                store=MemoryCheckpointStore(),
                interval=0.05,
                on_error=lambda cid, error: reported.append((cid, error)),
            )
            async with poller:
                event = await asyncio.wait_for(anext(aiter(poller)), 10)
                for _ in range(100):  # bounded: the unknown creditor fails on its first poll
                    if reported:
                        break
                    await asyncio.sleep(0.02)
    assert event.creditor_id == known  # the known creditor is not held up
    (creditor_id, error), *_ = reported
    assert creditor_id == "000000000"
    assert isinstance(error, UnknownCreditorError) and error.creditor_id == "000000000"
    stats = poller.stats
    assert stats.errors >= 1
    assert "000000000" in stats.failing
    assert isinstance(stats.creditors["000000000"].last_error, UnknownCreditorError)
    assert known not in stats.failing
