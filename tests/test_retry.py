"""Retries happen exactly as the policy says, counted on the server side."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    APIError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from amili_async.errors import TimeoutError

from .conftest import TOKEN, FakeSleep, Recorded

SEED = (pathlib.Path(__file__).parent / "data" / "seed_batch.json").read_bytes()
Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


def scripted(
    *statuses: int, headers: dict[str, str] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering the given statuses in turn, then the seed batch."""
    remaining = list(statuses)

    async def handler(request: web.Request) -> web.Response:
        if remaining:
            return web.Response(status=remaining.pop(0), text="scripted", headers=headers)
        return web.Response(body=SEED, content_type="application/json")

    return handler


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_statuses_are_retried_then_succeed(
    serve: Serve, fast_retry: RetryPolicy, status: int
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": scripted(status, status)})
    async with AmiliClient(base_url=url, token=TOKEN, retry=fast_retry) as client:
        batch = await client.get_batch()
    assert batch.batch_id == "string"
    assert seen.count == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 423, 500, 501])
async def test_other_statuses_are_not_retried(
    serve: Serve, fast_retry: RetryPolicy, status: int
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": scripted(status)})
    async with AmiliClient(base_url=url, token=TOKEN, retry=fast_retry) as client:
        with pytest.raises(APIError) as info:
            await client.get_batch()
    assert info.value.status == status
    assert seen.count == 1


async def test_500_is_retried_when_configured(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": scripted(500)})
    policy = RetryPolicy(sleep=fake_sleep, retry_statuses=RetryPolicy().retry_statuses | {500})
    async with AmiliClient(base_url=url, token=TOKEN, retry=policy) as client:
        await client.get_batch()
    assert seen.count == 2


async def test_attempts_are_bounded(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": scripted(*[503] * 10)})
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        with pytest.raises(ServerError) as info:
            await client.get_batch()
    assert info.value.status == 503
    assert seen.count == 4  # the default: 4 attempts in all
    assert len(fake_sleep.delays) == 3


async def test_backoff_is_exponential_and_jittered(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": scripted(*[503] * 10)})
    policy = RetryPolicy(
        sleep=fake_sleep, max_attempts=5, initial_backoff=1.0, max_backoff=3.0, jitter=0.25
    )
    async with AmiliClient(base_url=url, token=TOKEN, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.get_batch()
    ceilings = [1.0, 2.0, 3.0, 3.0]
    assert len(fake_sleep.delays) == 4
    for delay, ceiling in zip(fake_sleep.delays, ceilings, strict=True):
        assert 0.75 * ceiling <= delay <= ceiling


async def test_retry_after_seconds_is_waited_for(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, seen = await serve(
        {"GET /webapi/api/Batch": scripted(429, 503, headers={"Retry-After": "7"})}
    )
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        await client.get_batch()
    assert fake_sleep.delays == [7.0, 7.0]
    assert seen.count == 3


async def test_retry_after_http_date_is_waited_for(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, _ = await serve(
        {
            "GET /webapi/api/Batch": scripted(
                429, headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}
            )
        }
    )
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        await client.get_batch()
    assert fake_sleep.delays == [0.0]  # a date in the past: retry at once


async def test_retry_after_really_waits_with_the_real_sleep(serve: Serve) -> None:
    url, seen = await serve(
        {"GET /webapi/api/Batch": scripted(429, headers={"Retry-After": "0.2"})}
    )
    loop = asyncio.get_running_loop()
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        started = loop.time()
        await client.get_batch()
        waited = loop.time() - started
    assert seen.count == 2
    assert waited >= 0.19


async def test_retry_after_over_the_cap_reaches_the_caller(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    url, seen = await serve(
        {"GET /webapi/api/Batch": scripted(429, headers={"Retry-After": "3600"})}
    )
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        with pytest.raises(RateLimitError) as info:
            await client.get_batch()
    assert info.value.retry_after == 3600.0
    assert seen.count == 1 and fake_sleep.delays == []


async def test_total_time_budget_bounds_the_retries(serve: Serve, fake_sleep: FakeSleep) -> None:
    url, seen = await serve(
        {"GET /webapi/api/Batch": scripted(*[503] * 10, headers={"Retry-After": "40"})}
    )
    policy = RetryPolicy(sleep=fake_sleep, max_attempts=10, total_timeout=90.0)
    async with AmiliClient(base_url=url, token=TOKEN, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.get_batch()
    assert fake_sleep.delays == [40.0, 40.0]  # a third 40 s wait would end past 90 s
    assert seen.count == 3


async def test_none_policy_does_not_retry(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": scripted(503)})
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy.none()) as client:
        with pytest.raises(ServerError):
            await client.get_batch()
    assert seen.count == 1


async def test_transport_errors_are_retried(serve: Serve, fake_sleep: FakeSleep) -> None:
    drops = 2

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal drops
        if drops:
            drops -= 1
            assert request.transport is not None
            request.transport.close()  # the connection dies before any response
            return web.Response()
        return web.Response(body=SEED, content_type="application/json")

    url, seen = await serve({"GET /webapi/api/Batch": flaky})
    async with AmiliClient(
        base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)
    ) as client:
        batch = await client.get_batch()
    assert batch.batch_id == "string"
    assert seen.count == 3


async def test_timeouts_are_retried_and_end_as_timeout_error(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(body=SEED)

    url, seen = await serve({"GET /webapi/api/Batch": slow})
    policy = RetryPolicy(sleep=fake_sleep, max_attempts=2)
    async with AmiliClient(base_url=url, token=TOKEN, read_timeout=0.05, retry=policy) as client:
        with pytest.raises(TimeoutError):
            await client.get_batch()
    assert seen.count == 2


async def test_transport_errors_are_not_retried_when_disabled(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    policy = RetryPolicy(sleep=fake_sleep, retry_transport_errors=False)
    async with AmiliClient(base_url="http://127.0.0.1:9", token=TOKEN, retry=policy) as client:
        with pytest.raises(TransportError):
            await client.ping()
    assert fake_sleep.delays == []


async def test_cancellation_is_never_retried(serve: Serve) -> None:
    started = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(10)
        return web.Response()

    url, seen = await serve({"GET /webapi/api/Batch": hang})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        task = asyncio.create_task(client.get_batch())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen.count == 1


async def test_each_retry_is_logged_at_info_and_reported(
    serve: Serve, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = await serve(
        {"GET /webapi/api/Batch": scripted(503, 429, headers={"Retry-After": "1"})}
    )
    reported: list[tuple[int, int | None, float]] = []
    caplog.set_level(logging.INFO, logger="amili_async")
    async with AmiliClient(
        base_url=url,
        token=TOKEN,
        retry=RetryPolicy(sleep=fake_sleep),
        on_retry=lambda attempt, error, delay: reported.append((attempt, error.status, delay)),
    ) as client:
        await client.get_batch()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(messages) == 2
    assert "attempt 1" in messages[0] and "HTTP 503" in messages[0] and "1.00s" in messages[0]
    assert "attempt 2" in messages[1] and "HTTP 429" in messages[1]
    assert reported == [(1, 503, 1.0), (2, 429, 1.0)]


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2)
    assert RetryPolicy.none().max_attempts == 1


@pytest.mark.filterwarnings("ignore::amili_async.MissingCreditorWarning")  # seed payload
async def test_a_429_holds_back_the_clients_other_requests(serve: Serve) -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[str, float]] = []
    limited = asyncio.Event()

    async def limit_once(request: web.Request) -> web.Response:
        arrivals.append((request.query["creditorid"], loop.time()))
        if len(arrivals) == 1:
            loop.call_later(0.02, limited.set)  # just after this answer is on its way
            return web.Response(status=429, headers={"Retry-After": "0.3"})
        return web.Response(body=SEED, content_type="application/json")

    url, _ = await serve({"GET /webapi/api/Batch": limit_once})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        first = asyncio.create_task(client.get_batch(creditor_id="a"))
        await asyncio.wait_for(limited.wait(), 5)
        second = await client.get_batch(creditor_id="b")
        await first
    assert second.batch_id == "string"
    assert [creditor for creditor, _ in arrivals].count("a") == 2
    (b_arrival,) = [at for creditor, at in arrivals if creditor == "b"]
    assert b_arrival - arrivals[0][1] >= 0.25  # b waited out the cool-down instead of hitting it
