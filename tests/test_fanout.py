"""Concurrent multi-creditor fetches: bounded, isolated, cancellable."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    ConfigurationError,
    CreditorBatch,
    NotFoundError,
    RetryPolicy,
    TimeoutError,
)

from .conftest import TOKEN, Recorded

Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


class CountingBackend:
    """Answers each creditor with a batch naming it; counts requests in flight."""

    def __init__(self, delay: float = 0.01, failing: frozenset[str] = frozenset()) -> None:
        self.delay = delay
        self.failing = failing
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []
        self.finished: list[str] = []

    async def handler(self, request: web.Request) -> web.Response:
        creditor_id = request.query["creditorid"]
        self.started.append(creditor_id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if creditor_id in self.failing:
            return web.json_response({"message": f"no creditor {creditor_id}"}, status=404)
        self.finished.append(creditor_id)
        body = {"batchid": f"b-{creditor_id}", "creditor": [{"idnumber": creditor_id}]}
        return web.Response(body=json.dumps(body), content_type="application/json")


async def start(serve: Serve, backend: CountingBackend) -> AmiliClient:
    url, _ = await serve({"GET /webapi/api/Batch": backend.handler})
    return AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy.none(), max_connections=50)


async def test_every_id_gets_one_result_and_errors_are_isolated(serve: Serve) -> None:
    backend = CountingBackend(failing=frozenset({"c3", "c7"}))
    ids = [f"c{n}" for n in range(20)]
    async with await start(serve, backend) as client:
        results = [r async for r in client.fetch_batches(ids, concurrency=4)]

    assert sorted(r.creditor_id for r in results) == sorted(ids)
    failed = {r.creditor_id: r.error for r in results if not r.ok}
    assert set(failed) == {"c3", "c7"}
    assert all(isinstance(e, NotFoundError) for e in failed.values())
    for result in results:
        if result.ok:
            assert result.batch is not None and result.batch.batch_id == f"b-{result.creditor_id}"


async def test_concurrency_never_exceeds_the_bound(serve: Serve) -> None:
    backend = CountingBackend(delay=0.02)
    async with await start(serve, backend) as client:
        results = await client.get_batches([f"c{n}" for n in range(30)], concurrency=5)
    assert len(results) == 30
    assert backend.max_in_flight == 5


async def test_get_batches_keeps_the_input_order_and_passes_params(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": CountingBackend(delay=0).handler})
    ids = ["b", "a", "c"]
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        results = await client.get_batches(ids, include_closed=True, language_code="en")
    assert [r.creditor_id for r in results] == ids
    assert all(r.query["includeclosed"] == "true" for r in seen.requests)
    assert all(r.query["languagecode"] == "en" for r in seen.requests)


async def test_ids_are_consumed_lazily(serve: Serve) -> None:
    backend = CountingBackend(delay=0.01)
    pulled = 0

    def ids() -> Iterator[str]:
        nonlocal pulled
        for n in range(10_000):
            pulled += 1
            yield f"c{n}"

    async with await start(serve, backend) as client:
        fan_out = client.fetch_batches(ids(), concurrency=3)
        async with fan_out:
            first = await anext(fan_out)
    assert isinstance(first, CreditorBatch)
    assert pulled <= 3 + 3 + 1  # the workers' ids and at most a queue's worth more, not 10,000


async def test_early_break_cancels_in_flight_fetches(serve: Serve) -> None:
    backend = CountingBackend(delay=0.05)
    async with await start(serve, backend) as client:
        async for _ in client.fetch_batches([f"c{n}" for n in range(100)], concurrency=5):
            break
        gc.collect()
        await asyncio.sleep(0.1)  # let the cancelled workers unwind
        # nothing started after the break is still running, and nothing new started
        started_after = len(backend.started)
        await asyncio.sleep(0.1)
        assert len(backend.started) == started_after
    assert started_after < 100


async def test_deadline_gives_every_unfinished_creditor_a_timeout_error(serve: Serve) -> None:
    backend = CountingBackend(delay=0.2)
    ids = [f"c{n}" for n in range(10)]
    async with await start(serve, backend) as client:
        results = [r async for r in client.fetch_batches(ids, concurrency=2, deadline=0.3)]
    assert sorted(r.creditor_id for r in results) == sorted(ids)
    done = [r for r in results if r.ok]
    timed_out = [r for r in results if isinstance(r.error, TimeoutError)]
    assert len(done) + len(timed_out) == 10
    assert len(done) <= 2  # at most one round of two 0.2 s fetches fits in 0.3 s
    assert "deadline" in str(timed_out[0].error)


async def test_empty_id_list(serve: Serve) -> None:
    async with await start(serve, CountingBackend()) as client:
        assert await client.get_batches([]) == []


async def test_bad_arguments_are_rejected(serve: Serve) -> None:
    async with await start(serve, CountingBackend()) as client:
        with pytest.raises(ConfigurationError, match="concurrency"):
            client.fetch_batches(["a"], concurrency=0)
        with pytest.raises(ConfigurationError, match="creditor_id"):
            client.fetch_batches(["a"], creditor_id="b")
        with pytest.raises(ConfigurationError, match="bogus"):
            client.fetch_batches(["a"], bogus=1)
