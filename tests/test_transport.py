"""The transport against misbehaving 127.0.0.1 servers: every promise about bounds, errors and
secrets, each with the server that used to break it."""

from __future__ import annotations

import asyncio
import base64
import builtins
import gzip
import logging
import pathlib
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    BasicAuth,
    BearerAuth,
    ClientClosedError,
    ConfigurationError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    TimeoutError,
    TransportError,
)
from amili_async._transport import Cooldown
from amili_async.client import DEFAULT_ATTEMPT_TIMEOUT
from amili_async.endpoints import PING

from .conftest import TOKEN, FakeSleep, Recorded

SEED = (pathlib.Path(__file__).parent / "data" / "seed_batch.json").read_bytes()
Serve = Callable[..., Awaitable[tuple[str, Recorded]]]
MiB = 1 << 20


async def _seed(request: web.Request) -> web.Response:
    return web.Response(body=SEED, content_type="application/json")


# -- the body cap counts decoded bytes (issue 9, item 7) -----------------------------------------


def _gzip(body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    compressed = gzip.compress(body)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=compressed,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    return handler


async def test_a_gzip_bomb_is_held_to_the_cap_after_inflating(serve: Serve) -> None:
    bomb = b"[" + b" " * (16 * MiB) + b"]"  # 16 KB on the wire
    url, _ = await serve(
        {"GET /webapi/api/Batch": _gzip(bomb), "GET /webapi/api/Ping": _gzip(SEED)}
    )
    async with AmiliClient(base_url=url, token=TOKEN, max_response_bytes=MiB) as client:
        with pytest.raises(ResponseTooLargeError, match=str(MiB)):
            await client.get_batch_raw()
        raw = await client.requester.send(PING)  # gzip under the cap still works
    assert raw.body == SEED


# -- deadlines (issue 9, item 8) -----------------------------------------------------------------


@pytest.fixture
async def release() -> AsyncIterator[asyncio.Event]:
    """Set at the end of a test so handlers that hold a request open end promptly."""
    event = asyncio.Event()
    yield event
    event.set()
    await asyncio.sleep(0)


def _trickle(release: asyncio.Event) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(400):  # a byte every 50 ms: the read timeout never fires
            if release.is_set():
                break
            await response.write(b" ")
            await asyncio.sleep(0.05)
        return response

    return handler


def _never_answer(release: asyncio.Event) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 20)
        return web.Response()

    return handler


def test_the_default_attempt_deadline_suits_a_160_mb_batch() -> None:
    client = AmiliClient(base_url="http://127.0.0.1:9", token=TOKEN)
    assert client._timeout.total == DEFAULT_ATTEMPT_TIMEOUT == 220.0
    assert DEFAULT_ATTEMPT_TIMEOUT >= 160e6 / 1e6  # 160 MB at 1 MB/s fits


async def test_a_trickling_server_is_cut_off_by_the_attempt_deadline(
    serve: Serve, release: asyncio.Event
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _trickle(release)})
    client = AmiliClient(base_url=url, token=TOKEN, timeout=0.3, retry=RetryPolicy.none())
    async with client:
        with pytest.raises(TimeoutError, match=r"timeout=0\.3s of the attempt"):
            await asyncio.wait_for(client.get_batch(), 10)
    assert seen.count == 1


async def test_a_hanging_token_provider_is_bounded_by_the_attempt_deadline(
    release: asyncio.Event,
) -> None:
    async def provider() -> str:
        await asyncio.wait_for(release.wait(), 20)
        return "never used"

    retry = RetryPolicy(max_attempts=2, initial_backoff=0.01)
    client = AmiliClient(
        base_url="http://127.0.0.1:9", token_provider=provider, timeout=0.2, retry=retry
    )
    async with client:
        with pytest.raises(TimeoutError, match="of the attempt"):
            await asyncio.wait_for(client.ping(), 10)


async def test_total_timeout_bounds_a_trickling_call_attempts_included(
    serve: Serve, release: asyncio.Event
) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": _trickle(release)})
    policy = RetryPolicy(total_timeout=0.5)
    async with AmiliClient(base_url=url, token=TOKEN, timeout=None, retry=policy) as client:
        with pytest.raises(TimeoutError, match=r"total_timeout=0\.5"):
            await asyncio.wait_for(client.get_batch(), 10)


async def test_total_timeout_bounds_a_server_that_never_answers(
    serve: Serve, release: asyncio.Event
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _never_answer(release)})
    policy = RetryPolicy(total_timeout=0.5)
    async with AmiliClient(
        base_url=url, token=TOKEN, timeout=None, read_timeout=None, retry=policy
    ) as client:
        with pytest.raises(TimeoutError, match="total_timeout") as info:
            await asyncio.wait_for(client.get_batch(), 10)
    assert isinstance(info.value, builtins.TimeoutError)  # issue 9, item 12
    assert seen.count == 1


async def test_our_timeout_error_is_also_the_builtin_one(serve: Serve) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(body=SEED)

    url, _ = await serve({"GET /webapi/api/Batch": slow})
    client = AmiliClient(base_url=url, token=TOKEN, read_timeout=0.05, retry=RetryPolicy.none())
    async with client:
        try:
            await client.get_batch()
        except builtins.TimeoutError as exc:  # code written against the builtin catches it
            assert isinstance(exc, TimeoutError) and isinstance(exc, TransportError)
        else:
            pytest.fail("no timeout")


# -- every error an AmiliError (issue 9, item 11) ------------------------------------------------


def _redirect(
    status: int, location: str | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        headers = {"Location": location.format(host=request.host)} if location else {}
        return web.Response(status=status, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "location", "message"),
    [
        (302, None, "without a Location"),
        (302, "http://user:pw@{host}/webapi/api/Batch2", "credentials"),  # same origin
        (301, "http://[::1/webapi", "redirect not followed"),
        (302, "ftp://files.example/batch", "redirect not followed"),
        (307, "/webapi/api/Batch", "more than 5 redirects"),
    ],
)
async def test_redirects_the_sdk_does_not_follow_are_redirect_errors(
    serve: Serve, status: int, location: str | None, message: str
) -> None:
    url, seen = await serve(
        {"GET /webapi/api/Batch": _redirect(status, location), "GET /webapi/api/Batch2": _seed}
    )
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(RedirectError, match=message) as info:
            await client.get_batch()
    assert info.value.method == "GET"
    assert all(r.path == "/webapi/api/Batch" for r in seen.requests)


async def test_a_redirected_post_is_an_error_not_a_success(serve: Serve) -> None:
    url, seen = await serve(
        {
            "POST /webapi/api/Batch": _redirect(303, "/webapi/api/Batch"),
            "GET /webapi/api/Batch": _seed,
        }
    )
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(RedirectError, match="303") as info:
            await client.request("POST", "Batch", body=b"{}", content_type="application/json")
    assert info.value.status == 303
    assert [r.method for r in seen.requests] == ["POST"]  # not re-sent as a GET


async def test_a_bad_redirect_fails_its_creditor_only(serve: Serve) -> None:
    async def some_redirect_badly(request: web.Request) -> web.Response:
        if request.query["creditorid"] == "bad":
            return web.Response(status=302, headers={"Location": "http://u:p@[::1"})
        return web.Response(body=SEED, content_type="application/json")

    url, _ = await serve({"GET /webapi/api/Batch": some_redirect_badly})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        results = await client.get_batches(["a", "bad", "c"])
    assert [r.ok for r in results] == [True, False, True]
    assert [r.missing for r in results] == [True, False, True]  # the seed holds creditor "string"
    assert isinstance(results[1].error, RedirectError)


async def test_close_during_a_request_is_a_client_closed_error(
    serve: Serve, release: asyncio.Event
) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": _never_answer(release)})
    client = AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(initial_backoff=0.01))
    task = asyncio.create_task(client.get_batch())
    await asyncio.sleep(0.2)
    await client.close()
    with pytest.raises(ClientClosedError, match="closed"):
        await asyncio.wait_for(task, 10)


def test_a_client_reused_in_another_event_loop_says_what_to_do() -> None:
    client = AmiliClient(base_url="http://127.0.0.1:9", token=TOKEN, retry=RetryPolicy.none())

    async def ping() -> None:
        await client.ping()

    with pytest.raises(TransportError):
        asyncio.run(ping())  # opens the session in this first loop (nothing listens on :9)
    with pytest.raises(ConfigurationError, match="one client per loop"):
        asyncio.run(ping())
    asyncio.run(client.close())  # the opening loop is gone: close() still must not raise
    assert client.closed


async def test_an_empty_creditor_id_is_refused_and_none_means_every_creditor(
    serve: Serve,
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _seed})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(ConfigurationError, match="creditor_id is empty"):
            await client.get_batch(creditor_id="")
        with pytest.raises(ConfigurationError, match="creditor_id is empty"):
            await client.get_batch_raw(creditor_id="")
        await client.get_batch(creditor_id=None)
    (request,) = seen.requests
    assert "creditorid" not in request.query


# -- 429 and Retry-After (issue 9, item 13) ------------------------------------------------------


async def test_the_cool_down_a_429_sets_is_logged(
    serve: Serve, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([429])

    async def limited(request: web.Request) -> web.Response:
        status = next(answers, 200)
        if status == 429:
            return web.Response(status=429, headers={"Retry-After": "7", "X-Request-Id": "r-429"})
        return web.Response(body=SEED, content_type="application/json")

    url, _ = await serve({"GET /webapi/api/Batch": limited})
    caplog.set_level(logging.WARNING, logger="amili_async")
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)) as c:
        await c.get_batch()
    (record,) = caplog.records
    assert record.name == "amili_async.transport" and record.levelno == logging.WARNING
    assert "holding back" in record.getMessage() and "7.00s" in record.getMessage()
    assert "r-429" in record.getMessage()


async def test_a_negative_retry_after_means_the_usual_backoff(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    answers = iter([429])

    async def limited(request: web.Request) -> web.Response:
        if next(answers, 200) == 429:
            return web.Response(status=429, headers={"Retry-After": "-30"})
        return web.Response(body=SEED, content_type="application/json")

    url, _ = await serve({"GET /webapi/api/Batch": limited})
    policy = RetryPolicy(sleep=fake_sleep, initial_backoff=0.5, jitter=0)
    async with AmiliClient(base_url=url, token=TOKEN, retry=policy) as client:
        await client.get_batch()
    assert fake_sleep.delays == [0.5]


async def test_a_retry_after_over_the_cap_still_raises_at_once(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _status(429, {"Retry-After": "3600"})})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(RateLimitError):
            await client.get_batch()
    assert seen.count == 1


def _status(
    status: int, headers: dict[str, str] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers=headers, text="down")

    return handler


# -- secrets stay wrapped in the transport's frames (issue 9, item 14) ---------------------------


def _frames(error: BaseException) -> Iterator[types.FrameType]:
    """Every frame of the SDK in the traceback of ``error`` and of the errors it chains to."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_globals.get("__name__", "").startswith("amili_async"):
                yield tb.tb_frame
            tb = tb.tb_next
        pending += [current.__cause__, current.__context__]


@pytest.mark.parametrize("basic", [False, True])
async def test_no_sdk_frame_of_a_failing_request_holds_the_credentials(
    serve: Serve, basic: bool
) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": _status(503)})
    auth = BasicAuth("erp", TOKEN) if basic else BearerAuth(TOKEN)
    async with AmiliClient(
        base_url=url, auth=auth, retry=RetryPolicy(max_attempts=2, initial_backoff=0)
    ) as client:
        with pytest.raises(ServerError) as info:
            await client.get_batch()
    frames = list(_frames(info.value))
    names = {frame.f_code.co_name for frame in frames}
    assert {"_attempt", "_authorized_attempt", "send"} <= names  # the transport's frames
    encoded = base64.b64encode(f"erp:{TOKEN}".encode()).decode()
    for frame in frames:
        for name, value in frame.f_locals.items():
            text = repr(value)
            assert TOKEN not in text and encoded not in text, (frame.f_code.co_name, name)


# -- the cool-down step alone --------------------------------------------------------------------


def _rate_limited(retry_after: float | None, status: int = 429) -> RateLimitError:
    return RateLimitError("HTTP 429", status=status, retry_after=retry_after)


def test_cooldown_is_set_by_a_429_with_retry_after_only_and_capped() -> None:
    cooldown = Cooldown(max_wait=5.0)
    cooldown.note(_rate_limited(None), "call 1")
    cooldown.note(_rate_limited(30.0, status=503), "call 2")
    assert cooldown.remaining() <= 0  # neither starts a cool-down
    cooldown.note(_rate_limited(30.0), "call 3")
    cooldown.note(_rate_limited(1.0), "call 4")  # a shorter one never shortens it
    assert 4.0 < cooldown.remaining() <= 5.0  # capped at max_wait


async def test_five_redirects_are_followed(serve: Serve) -> None:
    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 5:
            return web.Response(body=SEED, content_type="application/json")
        return web.Response(status=302, headers={"Location": f"/hop/{n + 1}"})

    async def start(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/hop/1"})

    url, seen = await serve({"GET /webapi/api/Batch": start, "GET /hop/{n}": hop})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        batch = await client.get_batch()
    assert batch.batch_id == "string" and seen.count == 6  # the request and five redirects
