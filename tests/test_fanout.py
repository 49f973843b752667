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
    FanOut,
    NotFoundError,
    RawResponse,
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


async def test_leaving_the_loop_early_stops_fetching_within_a_bound(serve: Serve) -> None:
    backend = CountingBackend(delay=0.005)

    async def read_one_and_break(client: AmiliClient) -> None:
        async for _ in client.fetch_batches([f"c{n}" for n in range(200)], concurrency=5):
            break

    async with await start(serve, backend) as client:
        with pytest.warns(ResourceWarning, match="not closed"):
            await read_one_and_break(client)
        gc.collect()
        for _ in range(20):  # plenty of time for 200 more requests if nothing stopped them
            await asyncio.sleep(0.01)
        # one consumed, at most a queue (5) and one held result per worker (5) ahead of it
        assert len(backend.started) <= 1 + 5 + 5
        assert backend.in_flight == 0  # and what was in flight was cancelled, not left running


async def test_async_with_releases_at_once(serve: Serve) -> None:
    backend = CountingBackend(delay=60)
    async with await start(serve, backend) as client:
        async with client.fetch_batches([f"c{n}" for n in range(10)], concurrency=3) as results:
            reader = asyncio.create_task(anext(results))
            for _ in range(1_000):
                if len(backend.started) == 3:
                    break
                await asyncio.sleep(0.005)
        # leaving the block did not wait for the 60 s answers, and started nothing more
        assert backend.finished == [] and len(backend.started) == 3
        with pytest.raises(StopAsyncIteration):  # the waiting reader was released
            await reader
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("amili-fanout")] == []


async def test_deadline_with_a_slow_consumer_yields_every_id_once(serve: Serve) -> None:
    backend = CountingBackend(delay=0)
    ids = [f"c{n}" for n in range(10)]
    results = []
    client = await start(serve, backend)
    async with client, client.fetch_batches(ids, concurrency=2, deadline=0.3) as fan_out:
        async for result in fan_out:
            results.append(result)
            await asyncio.sleep(0.2)  # meanwhile the queue fills and workers hold results
    assert sorted(r.creditor_id for r in results) == sorted(ids)
    assert {r.creditor_id for r in results if r.ok} == set(backend.finished)


async def test_get_batches_gives_each_position_its_result(serve: Serve) -> None:
    backend = CountingBackend(delay=0.005, failing=frozenset({"b"}))
    ids = ["a", "b", "a", "c", "a", "b"]
    async with await start(serve, backend) as client:
        results = await client.get_batches(ids, concurrency=3)
        timed_out = await client.get_batches(ids, concurrency=2, deadline=0)
    assert [r.creditor_id for r in results] == ids
    assert [r.ok for r in results] == [True, False, True, True, True, False]
    assert sorted(backend.started) == sorted(ids)  # one request per position
    assert [r.creditor_id for r in timed_out] == ids
    assert all(isinstance(r.error, TimeoutError) for r in timed_out)


async def test_an_empty_creditor_id_is_that_creditors_error_and_never_sent(serve: Serve) -> None:
    backend = CountingBackend(delay=0)
    ids: list[str] = ["a", "", "  ", "b"]
    async with await start(serve, backend) as client:
        results = await client.get_batches([*ids, None], concurrency=2)  # type: ignore[list-item]
    assert [r.creditor_id for r in results] == [*ids, None]
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert all(isinstance(r.error, ConfigurationError) for r in results if not r.ok)
    assert sorted(backend.started) == ["a", "b"]


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
            client.fetch_batches(["a"], creditor_id="b")  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match="bogus"):
            client.fetch_batches(["a"], bogus=1)  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match="include_closd"):
            await client.get_batches(["a"], include_closd=True)  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match="single str"):
            client.fetch_batches("923609016")
        with pytest.raises(ConfigurationError, match="concurrency"):
            await client.get_batches(["a"], concurrency=2.5)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="deadline"):
            client.fetch_batches(["a"], deadline=-1)


async def test_the_guides_generic_fan_out_over_raw_responses(serve: Serve) -> None:
    backend = CountingBackend(delay=0, failing=frozenset({"c2"}))
    ids = [f"c{n}" for n in range(5)]
    archived: dict[str, bytes] = {}
    async with await start(serve, backend) as client:

        async def fetch_one(creditor_id: str) -> RawResponse:
            return await client.get_batch_raw(creditor_id=creditor_id, include_closed=True)

        async with FanOut(ids, fetch_one, concurrency=2, deadline=300) as responses:
            async for response in responses:
                if response.ok:
                    assert response.value is not None
                    archived[response.key] = response.value.body
                else:
                    assert isinstance(response.error, NotFoundError)
        in_order = await FanOut(ids, fetch_one, concurrency=2).gather()
    assert sorted(archived) == ["c0", "c1", "c3", "c4"]
    assert b'"b-c3"' in archived["c3"]
    assert [r.key for r in in_order] == ids and [r.ok for r in in_order].count(False) == 1
