"""AmiliClient against real local servers: configuration, auth, session ownership, errors, secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import pathlib
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from amili_async import (
    AmiliClient,
    AmiliError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    PermissionDeniedError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    TimeoutError,
    TransportError,
    __version__,
)

from .conftest import TOKEN, Recorded

SEED = (pathlib.Path(__file__).parent / "data" / "seed_batch.json").read_bytes()
Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


async def seed_handler(request: web.Request) -> web.Response:
    return web.Response(body=SEED, content_type="application/json")


async def test_get_batch_sends_only_given_params_with_auth_and_user_agent(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": seed_handler})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        batch = await client.get_batch(creditor_id="string", include_closed=True)

    assert batch.batch_id == "string"
    (request,) = seen.requests
    assert dict(request.query) == {"creditorid": "string", "includeclosed": "true"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith(f"amili_async/{__version__} ")
    assert request.headers["Accept"] == "application/json"


async def test_base_url_with_a_path_prefix_is_kept(serve: Serve) -> None:
    url, seen = await serve({"GET /prefix/webapi/api/Ping": seed_handler})
    async with AmiliClient(base_url=url + "/prefix/", token=TOKEN) as client:
        await client.ping()
    assert seen.requests[0].path == "/prefix/webapi/api/Ping"


async def test_config_from_environment(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = await serve({"GET /webapi/api/Ping": seed_handler})
    monkeypatch.setenv("AMILI_BASE_URL", url)
    monkeypatch.setenv("AMILI_TOKEN", TOKEN)
    async with AmiliClient() as client:
        await client.ping()
    assert seen.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_missing_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AMILI_BASE_URL", "AMILI_TOKEN", "AMILI_USERNAME", "AMILI_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="AMILI_BASE_URL"):
        AmiliClient(token=TOKEN)
    with pytest.raises(ConfigurationError, match="AMILI_TOKEN"):
        AmiliClient(base_url="https://amili.example")
    with pytest.raises(ConfigurationError, match="one of"):
        AmiliClient(base_url="https://amili.example", token=TOKEN, username="u", password="p")
    with pytest.raises(ConfigurationError, match="http"):
        AmiliClient(base_url="ftp://amili.example", token=TOKEN)
    with pytest.raises(ConfigurationError, match="both"):
        AmiliClient(base_url="https://amili.example", username="u")


async def test_basic_auth(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Ping": seed_handler})
    async with AmiliClient(base_url=url, username="erp-user", password="pw:with:colons") as client:
        await client.ping()
    expected = base64.b64encode(b"erp-user:pw:with:colons").decode()
    assert seen.requests[0].headers["Authorization"] == f"Basic {expected}"


def _auth_server(valid: set[str]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") not in {f"Bearer {t}" for t in valid}:
            return web.json_response({"message": "invalid token"}, status=401)
        return web.Response(body=SEED, content_type="application/json")

    return handler


async def test_token_provider_is_asked_again_once_after_a_401(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _auth_server({"fresh"})})
    tokens = iter(["expired", "fresh"])
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return next(tokens)

    async with AmiliClient(base_url=url, token_provider=provider) as client:
        await client.get_batch()
        await client.get_batch()  # the refreshed token is cached

    assert calls == 2
    assert [r.headers["Authorization"] for r in seen.requests] == [
        "Bearer expired",
        "Bearer fresh",
        "Bearer fresh",
    ]


async def test_second_401_after_refresh_raises_authentication_error(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _auth_server(set())})
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return f"token-{calls}"

    async with AmiliClient(base_url=url, token_provider=provider) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.get_batch()
    assert calls == 2 and seen.count == 2
    assert info.value.status == 401 and "invalid token" in info.value.body


async def test_static_token_401_is_not_retried(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _auth_server(set())})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(AuthenticationError):
            await client.get_batch()
    assert seen.count == 1


async def test_concurrent_401s_share_one_refresh(serve: Serve) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": _auth_server({"fresh"})})
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return "expired" if calls == 1 else "fresh"

    async with AmiliClient(base_url=url, token_provider=provider) as client:
        await asyncio.gather(*(client.get_batch() for _ in range(5)))
    assert calls == 2


async def test_error_carries_status_body_method_url_and_request_id(serve: Serve) -> None:
    async def forbidden(request: web.Request) -> web.Response:
        return web.json_response(
            {"message": "sender may not read creditor 1"},
            status=403,
            headers={"X-Request-Id": "req-77"},
        )

    url, _ = await serve({"GET /webapi/api/Batch": forbidden})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.get_batch(creditor_id="1")
    error = info.value
    assert error.status == 403 and error.request_id == "req-77" and error.method == "GET"
    assert error.url == f"{url}/webapi/api/Batch?creditorid=1"
    assert "sender may not read creditor 1" in str(error) and "req-77" in str(error)


async def test_html_error_page_with_200_is_a_decode_error(serve: Serve) -> None:
    async def gateway(request: web.Request) -> web.Response:
        return web.Response(
            text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
        )

    url, seen = await serve({"GET /webapi/api/Batch": gateway})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(DecodeError) as info:
            await client.get_batch()
    assert info.value.path == "$" and info.value.status == 200
    assert info.value.body.startswith(b"<html>")
    assert "text/html" in str(info.value)
    assert seen.count == 1  # a body that is not JSON is not retried


async def test_wrong_types_report_the_json_path(serve: Serve) -> None:
    async def wrong(request: web.Request) -> web.Response:
        return web.json_response({"case": [{}, {}, {}, {"duedate": 20190824}]})

    url, _ = await serve({"GET /webapi/api/Batch": wrong})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(DecodeError, match=r"\$\.case\[3\]\.duedate") as info:
            await client.get_batch()
    assert info.value.path == "$.case[3].duedate"
    assert info.value.url is not None and info.value.url.endswith("/webapi/api/Batch")


async def test_truncated_body_is_a_transport_error(serve: Serve) -> None:
    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(SEED))})
        await response.prepare(request)
        await response.write(SEED[:100])
        assert request.transport is not None
        request.transport.close()
        return response

    url, seen = await serve({"GET /webapi/api/Batch": truncated})
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy.none()) as client:
        with pytest.raises(TransportError):
            await client.get_batch()
    assert seen.count == 1


async def test_body_over_the_cap_is_refused(serve: Serve) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(5):
            await response.write(b" " * 400)
        await response.write_eof()
        return response

    url, _ = await serve({"GET /webapi/api/Batch": seed_handler, "GET /webapi/api/Ping": chunked})
    async with AmiliClient(base_url=url, token=TOKEN, max_response_bytes=1000) as client:
        with pytest.raises(ResponseTooLargeError, match="1000"):
            await client.get_batch()  # declared Content-Length over the cap
        with pytest.raises(ResponseTooLargeError):
            await client.ping()  # chunked: stops once past the cap


async def test_read_timeout_is_a_timeout_error(serve: Serve) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(body=SEED)

    url, _ = await serve({"GET /webapi/api/Batch": slow})
    client = AmiliClient(base_url=url, token=TOKEN, read_timeout=0.05, retry=RetryPolicy.none())
    async with client:
        with pytest.raises(TimeoutError) as info:
            await client.get_batch()
    assert isinstance(info.value, TransportError)


async def test_connection_refused_is_a_transport_error() -> None:
    async with AmiliClient(
        base_url="http://127.0.0.1:9", token=TOKEN, retry=RetryPolicy.none()
    ) as client:
        with pytest.raises(TransportError, match="connection failed") as info:
            await client.ping()
    assert not isinstance(info.value, TimeoutError)


async def test_closed_client_raises_and_close_twice_is_harmless(serve: Serve) -> None:
    url, _ = await serve({"GET /webapi/api/Ping": seed_handler})
    client = AmiliClient(base_url=url, token=TOKEN)
    await client.ping()  # without `async with`: the session is created on first use
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(ClientClosedError, match="closed"):
        await client.ping()
    assert isinstance(ClientClosedError("x"), AmiliError)


async def test_a_session_passed_in_is_used_and_not_closed(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Ping": seed_handler})
    async with aiohttp.ClientSession(headers={"X-Caller": "erp"}) as session:
        async with AmiliClient(base_url=url, token=TOKEN, session=session) as client:
            await client.ping()
        assert not session.closed
        assert seen.requests[0].headers["X-Caller"] == "erp"


async def test_redirect_to_another_host_drops_the_authorization_header(serve: Serve) -> None:
    other_url, other = await serve({"GET /webapi/api/Batch": seed_handler})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{other_url}/webapi/api/Batch")

    async def same_origin_move(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/webapi/api/Batch2")

    url, seen = await serve(
        {
            "GET /webapi/api/Batch": moved,
            "GET /webapi/api/Ping": same_origin_move,
            "GET /webapi/api/Batch2": seed_handler,
        }
    )
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        batch = await client.get_batch()
        await client.ping()
    assert batch.batch_id == "string"
    assert "Authorization" not in other.requests[0].headers
    assert seen.requests[-1].path == "/webapi/api/Batch2"
    assert seen.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_tls_verification_is_on_by_default() -> None:
    client = AmiliClient(base_url="https://amili.example", token=TOKEN)
    async with client:
        transport = client._ensure_transport()
        assert transport.ssl is True
        assert transport.session.connector is not None
        assert transport.session.connector._ssl is True  # type: ignore[attr-defined]


async def test_get_batch_raw_returns_the_exact_bytes(serve: Serve) -> None:
    url, _ = await serve({"GET /webapi/api/Batch": seed_handler})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        raw = await client.get_batch_raw(creditor_id="1")
    assert raw.body == SEED and raw.status == 200 and raw.content_type == "application/json"


async def test_post_is_not_retried_without_idempotency_key(serve: Serve) -> None:
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503)

    url, seen = await serve({"POST /webapi/api/Batch": unavailable})
    retry = RetryPolicy(sleep=_no_sleep)
    async with AmiliClient(base_url=url, token=TOKEN, retry=retry) as client:
        with pytest.raises(ServerError):
            await client.request("POST", "Batch", body=b"{}", content_type="application/json")
        assert seen.count == 1
        with pytest.raises(ServerError):
            await client.request("POST", "Batch", body=b"{}", idempotency_key="key-1")
    assert seen.count == 1 + 4
    assert {r.headers["Idempotency-Key"] for r in seen.requests[1:]} == {"key-1"}


async def _no_sleep(seconds: float) -> None:
    return None


def test_secrets_never_show_in_reprs() -> None:
    bearer = AmiliClient(base_url="https://amili.example", token=TOKEN)
    basic = AmiliClient(base_url="https://amili.example", username="u", password=TOKEN)
    for text in (repr(bearer), str(bearer), repr(bearer.auth), repr(basic), repr(basic.auth)):
        assert TOKEN not in text
    assert "u" in repr(basic.auth)


async def test_secrets_never_show_in_logs_or_errors(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    async def echo_unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="temporarily down")

    url, _ = await serve({"GET /webapi/api/Batch": echo_unavailable})
    caplog.set_level(logging.DEBUG, logger="amili_async")
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(sleep=_no_sleep)) as client:
        with pytest.raises(ServerError) as info:
            await client.get_batch()
    assert caplog.records, "expected retry and request logs"
    assert TOKEN not in caplog.text
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert TOKEN not in repr(info.value.__dict__)


async def test_aiohttp_errors_never_escape(mocked: aioresponses) -> None:
    mocked.get(
        "https://amili.example/webapi/api/Ping", exception=aiohttp.ClientConnectionError("boom")
    )
    mocked.get("https://amili.example/webapi/api/Batch", status=400, body="bad creditorid")
    client = AmiliClient(base_url="https://amili.example", token=TOKEN, retry=RetryPolicy.none())
    async with client:
        with pytest.raises(TransportError, match="boom"):
            await client.ping()
        with pytest.raises(BadRequestError, match="bad creditorid"):
            await client.get_batch()


async def test_unknown_keyword_to_get_batch_raw_is_a_configuration_error(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": seed_handler})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(ConfigurationError, match="creditor"):
            await client.get_batch_raw(creditor="1")  # type: ignore[call-arg]
    assert seen.count == 0
