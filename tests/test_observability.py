"""What docs/guides/observability.md promises: a user's aiohttp TraceConfigs see the client's
requests, and the log lines come from the logger of their concern with the server's request id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web

from amili_async import AmiliClient, MemoryCheckpointStore, RetryPolicy

from .conftest import TOKEN, FakeSleep, Recorded

Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


async def _ping(request: web.Request) -> web.Response:
    return web.Response(status=200, headers={"X-Request-Id": "req-ping"})


async def test_trace_configs_see_every_request_start(serve: Serve) -> None:
    url, _ = await serve({"GET /webapi/api/Ping": _ping})
    started: list[str] = []
    ended: list[int] = []

    async def on_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        started.append(f"{params.method} {params.url.path}")

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        ended.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with AmiliClient(base_url=url, token=TOKEN, trace_configs=[trace]) as client:
        await client.ping()
        await client.ping()
    assert started == ["GET /webapi/api/Ping"] * 2
    assert ended == [200, 200]


async def test_each_response_is_logged_on_the_transport_logger_with_its_request_id(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = await serve({"GET /webapi/api/Ping": _ping})
    caplog.set_level(logging.DEBUG, logger="amili_async.transport")
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        await client.ping()
    (record,) = [r for r in caplog.records if r.name == "amili_async.transport"]
    assert record.levelno == logging.DEBUG
    assert "GET" in record.getMessage() and "-> 200" in record.getMessage()
    assert "request id req-ping" in record.getMessage()


async def test_a_failing_creditor_is_logged_on_the_poller_logger_with_the_request_id(
    serve: Serve, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"message": "no"}, status=400, headers={"X-Request-Id": "req-9"})

    url, _ = await serve({"GET /webapi/api/Batch": broken})
    caplog.set_level(logging.WARNING, logger="amili_async")
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        poller = client.settlement_poller(["923609016"], store=MemoryCheckpointStore())
        async with poller:
            for _ in range(200):  # bounded: the first poll fails at once
                if poller.stats.errors:
                    break
                await asyncio.sleep(0.01)
    records = [r for r in caplog.records if r.name == "amili_async.poller"]
    assert records, "expected the failed poll on amili_async.poller"
    assert "923609016" in records[0].getMessage()
    assert "request id req-9" in records[0].getMessage()
