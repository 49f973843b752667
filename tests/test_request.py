"""The one request path: endpoints as declarations, families as data, raw and decoded faces."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import pathlib
from collections.abc import Awaitable, Callable

import msgspec
import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    AuthContext,
    Batch,
    ConfigurationError,
    ConflictError,
    RetryPolicy,
    ServerError,
    TokenProviderError,
    TransportError,
)
from amili_async.endpoints import (
    BATCH,
    COLLECTION,
    LEGACY,
    PING,
    SETTLEMENT_PAGE,
    Endpoint,
    decoder_for,
)
from amili_async.models.polling import SettlementPage

from .conftest import TOKEN, FakeSleep, Recorded

SEED = (pathlib.Path(__file__).parent / "data" / "seed_batch.json").read_bytes()
Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


class OrgBatch(msgspec.Struct, rename="camel"):
    batch_id: str
    status: str


class Envelope(msgspec.Struct):
    data: OrgBatch


# The shape of a Collection API endpoint, declared the way the SDK declares its own.
GET_ORG_BATCH = Endpoint(
    family=COLLECTION,
    method="GET",
    path="orgs/{org_id}/batches/{batch_id}",
    response=Envelope,
    query={"page_size": "PageSize", "from_date": "FromDate", "include_closed": "IncludeClosed"},
)
CREATE_PAYMENTS = Endpoint(
    family=COLLECTION, method="POST", path="orgs/{org_id}/payments", response=Envelope
)


def envelope(status: int = 200) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        body = {"summary": {"status": "SUCCESS"}, "data": {"batchId": "b-1", "status": "QUEUED"}}
        return web.json_response(body, status=status)

    return handler


async def test_a_declared_endpoint_is_called_with_prefix_quoted_path_and_wire_query(
    serve: Serve,
) -> None:
    url, seen = await serve({"GET /collection/v1/orgs/{org}/batches/{batch}": envelope()})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        answer = await client.requester.call(
            GET_ORG_BATCH,
            path={"org_id": "org 1/a", "batch_id": "b-1"},
            query={
                "page_size": 50,
                "from_date": datetime.date(2026, 1, 2),
                "include_closed": False,
            },
        )
    assert answer.data == OrgBatch(batch_id="b-1", status="QUEUED")
    (request,) = seen.requests
    assert request.raw_path.startswith("/collection/v1/orgs/org%201%2Fa/batches/b-1?")
    assert dict(request.query) == {
        "PageSize": "50",
        "FromDate": "2026-01-02",
        "IncludeClosed": "false",
    }


async def test_missing_or_empty_path_values_are_refused_before_sending(serve: Serve) -> None:
    url, seen = await serve({"GET /collection/v1/orgs/{org}/batches/{batch}": envelope()})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(ConfigurationError, match="batch_id"):
            await client.requester.call(GET_ORG_BATCH, path={"org_id": "o"})
        with pytest.raises(ConfigurationError, match="org_id"):
            await client.requester.call(GET_ORG_BATCH, path={"org_id": "", "batch_id": "b"})
        with pytest.raises(ConfigurationError, match="pagesize"):
            await client.requester.call(
                GET_ORG_BATCH, path={"org_id": "o", "batch_id": "b"}, query={"pagesize": 1}
            )
    assert seen.count == 0


async def test_every_endpoint_has_its_raw_face(serve: Serve) -> None:
    url, _ = await serve(
        {
            "GET /webapi/api/Batch": _seed,
            "GET /webapi/api/Ping": _seed,
            "GET /collection/v1/orgs/{o}/batches/{b}": envelope(),
        }
    )
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        raw = await client.requester.send(BATCH, query={"creditor_id": "1"})
        collection_raw = await client.requester.send(
            GET_ORG_BATCH, path={"org_id": "o", "batch_id": "b"}
        )
        page = await client.requester.call(SETTLEMENT_PAGE, query={"creditor_id": "1"})
        await client.requester.call(PING)  # typed as returning None: the body is ignored
        ping_raw = await client.requester.send(PING)
    assert ping_raw.body == SEED
    assert raw.body == SEED and raw.status == 200
    assert json.loads(collection_raw.body)["data"]["batchId"] == "b-1"
    assert isinstance(page, SettlementPage) and page.settlements


async def _seed(request: web.Request) -> web.Response:
    return web.Response(body=SEED, content_type="application/json")


def test_decoders_are_built_once_per_type() -> None:
    assert decoder_for(Batch) is decoder_for(Batch)
    assert decoder_for(Envelope) is decoder_for(Envelope)
    assert decoder_for(bytes)(b"\x00raw") == b"\x00raw"
    assert decoder_for(type(None))(b"anything") is None
    assert SETTLEMENT_PAGE.path == BATCH.path and SETTLEMENT_PAGE.response is SettlementPage


async def test_json_body_keeps_decimal_digits_and_post_retries_only_with_a_key(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    answers = iter([503, 503, 202, 503, 202])
    bodies: list[bytes] = []

    async def flaky(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return await envelope(next(answers))(request)

    url, seen = await serve({"POST /collection/v1/orgs/{org}/payments": flaky})
    payment = {"payments": [{"amount": decimal.Decimal("1234.50"), "currency": "NOK"}]}
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)) as c:
        created = await c.requester.call(
            CREATE_PAYMENTS, path={"org_id": "o"}, json=payment, idempotency_key="k-1"
        )
        assert created.data.batch_id == "b-1" and seen.count == 3
        with pytest.raises(ServerError):  # no key: one attempt only
            await c.requester.call(CREATE_PAYMENTS, path={"org_id": "o"}, json=payment)
    assert seen.count == 4
    assert [r.headers.get("IdempotencyKey") for r in seen.requests] == ["k-1"] * 3 + [None]
    assert all("Idempotency-Key" not in r.headers for r in seen.requests)
    assert bodies[0] == b'{"payments":[{"amount":1234.50,"currency":"NOK"}]}'
    assert seen.requests[0].headers["Content-Type"] == "application/json"


async def test_collection_error_bodies_are_read_as_json(serve: Serve) -> None:
    async def conflict(request: web.Request) -> web.Response:
        body = {"title": "Conflict", "detail": "invoice 7 exists", "summary": {"status": "FAILED"}}
        return web.json_response(body, status=409)

    url, _ = await serve({"GET /collection/v1/orgs/{o}/batches/{b}": conflict})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        with pytest.raises(ConflictError) as info:
            await client.requester.call(GET_ORG_BATCH, path={"org_id": "o", "batch_id": "b"})
    assert "Conflict; invoice 7 exists; status FAILED" in str(info.value)
    assert json.loads(info.value.body)["detail"] == "invoice 7 exists"


async def test_the_request_escape_hatch_takes_any_path(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Attachment/{name:.+}": _seed})
    async with AmiliClient(base_url=url, token=TOKEN) as client:
        raw = await client.request("GET", "Attachment/{odd}", params={"id": "a b"})
    assert raw.body == SEED
    assert seen.requests[0].path == "/webapi/api/Attachment/{odd}"
    assert seen.requests[0].query["id"] == "a b"


async def test_a_raising_token_provider_is_a_token_provider_error(serve: Serve) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _seed})

    async def provider() -> str:
        raise ConnectionError("token endpoint down")

    async with AmiliClient(base_url=url, token_provider=provider) as client:
        with pytest.raises(TokenProviderError, match="ConnectionError: token endpoint down") as e:
            await client.get_batch()
        results = await client.get_batches(["a", "b", "c"])
    assert isinstance(e.value.__cause__, ConnectionError)
    assert [type(r.error) for r in results] == [TokenProviderError] * 3  # isolated per creditor
    assert seen.count == 0


async def test_an_amili_error_from_the_provider_passes_through_and_is_retried(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    url, seen = await serve({"GET /webapi/api/Batch": _seed})
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransportError("token endpoint reset the connection")
        return "fresh"

    retry = RetryPolicy(sleep=fake_sleep)
    async with AmiliClient(base_url=url, token_provider=provider, retry=retry) as client:
        await client.get_batch()
    assert calls == 2 and len(fake_sleep.delays) == 1
    assert seen.requests[0].headers["Authorization"] == "Bearer fresh"


class BindingAuth:
    """An auth that wants the client's session (as an OAuth2 client-credentials auth does)."""

    def __init__(self) -> None:
        self.contexts: list[AuthContext] = []

    def bind(self, context: AuthContext) -> None:
        self.contexts.append(context)

    async def authorization(self) -> str:
        return f"Bearer {TOKEN}"

    async def refresh(self, rejected: str) -> bool:
        return False


async def test_auth_bind_gets_the_clients_session_and_settings(serve: Serve) -> None:
    url, _ = await serve({"GET /webapi/api/Ping": _seed})
    auth = BindingAuth()
    retry = RetryPolicy(max_attempts=2)
    async with AmiliClient(base_url=url, auth=auth, retry=retry, user_agent="erp/1") as client:
        await client.ping()
        await client.ping()
        (context,) = auth.contexts  # once per session
        assert context.session is client._ensure_transport().session
        assert context.retry is retry and context.ssl is True
        assert context.user_agent.endswith(" erp/1")
        assert context.timeout.sock_connect == 10.0


async def test_log_lines_carry_the_call_and_the_servers_request_id(
    serve: Serve, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = iter([503])

    async def once_down(request: web.Request) -> web.Response:
        status = next(statuses, 200)
        headers = {"X-Request-Id": f"srv-{status}"}
        if status != 200:
            return web.Response(status=status, headers=headers)
        return web.Response(body=SEED, content_type="application/json", headers=headers)

    url, _ = await serve({"GET /webapi/api/Batch": once_down})
    caplog.set_level(logging.DEBUG, logger="amili_async")
    async with AmiliClient(base_url=url, token=TOKEN, retry=RetryPolicy(sleep=fake_sleep)) as c:
        await c.get_batch()
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for _, level, _ in lines] == ["DEBUG", "INFO", "DEBUG"]
    assert {name for name, _, _ in lines} == {"amili_async.transport"}
    labels = {message.split("]")[0] for _, _, message in lines}
    assert len(labels) == 1 and labels.pop().startswith("[call ")  # one call, one label
    assert "srv-503" in lines[0][2] and "srv-503" in lines[1][2] and "srv-200" in lines[2][2]


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("amili_async").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_families_are_data() -> None:
    assert (LEGACY.prefix, LEGACY.idempotency_header) == ("webapi/api", None)
    assert (COLLECTION.prefix, COLLECTION.idempotency_header) == ("collection/v1", "IdempotencyKey")
    assert "Endpoint(GET webapi/api/Batch" in repr(BATCH)


async def test_a_calls_own_retry_hook_runs_after_the_clients(
    serve: Serve, fake_sleep: FakeSleep
) -> None:
    answers = iter([503, 502])

    async def flaky(request: web.Request) -> web.Response:
        status = next(answers, 200)
        return await _seed(request) if status == 200 else web.Response(status=status)

    url, _ = await serve({"GET /webapi/api/Batch": flaky})
    heard: list[tuple[str, int, int | None]] = []
    async with AmiliClient(
        base_url=url,
        token=TOKEN,
        retry=RetryPolicy(sleep=fake_sleep),
        on_retry=lambda attempt, error, delay: heard.append(("client", attempt, error.status)),
    ) as client:
        await client.requester.call(
            BATCH,
            query={"creditor_id": "1"},
            on_retry=lambda attempt, error, delay: heard.append(("call", attempt, error.status)),
        )
    assert heard == [("client", 1, 503), ("call", 1, 503), ("client", 2, 502), ("call", 2, 502)]
