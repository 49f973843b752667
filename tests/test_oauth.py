"""ClientCredentialsAuth against the sandbox's token endpoint: caching, sharing, refresh, errors,
secrets kept out of sight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    AuthenticationError,
    ClientCredentialsAuth,
    ConfigurationError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from amili_async.sandbox import Fault, SandboxServer

from .conftest import FakeSleep

SECRET = "cs_SECRET_do_not_leak_17"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=1, cases=3, settlements=2, client_secret=SECRET) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def token_requests(sandbox: SandboxServer) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/token")


def make_auth(
    sandbox: SandboxServer,
    session: aiohttp.ClientSession,
    clock: Clock,
    fake_sleep: FakeSleep | None = None,
    secret: str = SECRET,
) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        sandbox.client_id,
        secret,
        sandbox.token_url,
        session=session,
        clock=clock,
        retry=RetryPolicy(sleep=fake_sleep or FakeSleep()),
    )


async def test_the_token_is_fetched_once_and_reused_until_60s_before_expiry(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    auth = make_auth(sandbox, session, clock)
    header = await auth.authorization()
    assert header.startswith("Bearer sbx_at_")
    clock.now += 3600 - 60 - 1
    assert await auth.authorization() == header
    assert token_requests(sandbox) == 1
    clock.now += 1
    assert await auth.authorization() != header
    assert token_requests(sandbox) == 2


async def test_a_short_lived_token_is_reused_for_half_its_lifetime(
    session: aiohttp.ClientSession,
) -> None:
    async with SandboxServer(creditors=1, cases=1, token_ttl=30) as sandbox:
        clock = Clock()
        auth = ClientCredentialsAuth(
            sandbox.client_id,
            sandbox.client_secret,
            sandbox.token_url,
            session=session,
            clock=clock,
        )
        header = await auth.authorization()
        clock.now += 14.9
        assert await auth.authorization() == header
        clock.now += 0.2
        assert await auth.authorization() != header
        assert token_requests(sandbox) == 2


async def test_50_concurrent_calls_across_an_expiry_make_one_token_request(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    auth = make_auth(sandbox, session, clock)
    old = await auth.authorization()
    clock.now += 3600
    headers = await asyncio.gather(*(auth.authorization() for _ in range(50)))
    assert len(set(headers)) == 1
    assert headers[0] != old
    assert token_requests(sandbox) == 2  # the first token, then exactly one for all 50


async def test_calls_rejected_with_the_same_token_share_one_refresh(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(sandbox, session, Clock())
    rejected = await auth.authorization()
    results = await asyncio.gather(*(auth.refresh(rejected) for _ in range(20)))
    assert all(results)
    assert token_requests(sandbox) == 2
    renewed = await auth.authorization()
    assert renewed != rejected
    # a late call rejected with the old token does not fetch again
    assert await auth.refresh(rejected)
    assert token_requests(sandbox) == 2
    assert await auth.authorization() == renewed


async def test_a_revoked_token_costs_one_refresh_and_the_call_succeeds(
    sandbox: SandboxServer,
) -> None:
    auth = ClientCredentialsAuth(sandbox.client_id, SECRET, sandbox.token_url)
    async with AmiliClient(base_url=sandbox.url, auth=auth) as client:
        await client.ping()
        sandbox.revoke_tokens()
        await client.ping()
    assert token_requests(sandbox) == 2
    assert [r.status for r in sandbox.requests if r.path.endswith("/Ping")] == [200, 401, 200]


@pytest.mark.parametrize(
    ("form_secret", "status", "error"),
    [("wrong-secret", 401, "invalid_client: unknown client or wrong client secret")],
)
async def test_refused_credentials_raise_authentication_error_with_the_oauth_error(
    sandbox: SandboxServer,
    session: aiohttp.ClientSession,
    form_secret: str,
    status: int,
    error: str,
) -> None:
    auth = make_auth(sandbox, session, Clock(), secret=form_secret)
    with pytest.raises(AuthenticationError) as caught:
        await auth.authorization()
    assert caught.value.status == status
    assert error in str(caught.value)
    assert token_requests(sandbox) == 1  # not retried


async def test_a_400_from_the_token_endpoint_is_an_authentication_error(serve) -> None:  # type: ignore[no-untyped-def]
    async def refuse(request: web.Request) -> web.Response:
        form = await request.post()
        return web.json_response(
            {
                "error": "invalid_scope",
                "error_description": "bad scope for " + str(form["client_secret"]),
            },
            status=400,
        )

    url, recorded = await serve({"POST /token": refuse})
    auth = ClientCredentialsAuth("client-1", SECRET, url + "/token")
    with pytest.raises(AuthenticationError) as caught:
        await auth.authorization()
    assert caught.value.status == 400
    assert "invalid_scope: bad scope for" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.body
    assert SECRET not in repr(caught.value)
    assert recorded.count == 1


async def test_5xx_and_transport_errors_of_the_token_endpoint_are_retried(
    sandbox: SandboxServer, session: aiohttp.ClientSession, fake_sleep: FakeSleep
) -> None:
    sandbox.faults.script("token", Fault.E503, Fault.DROP, Fault.E502)
    auth = make_auth(sandbox, session, Clock(), fake_sleep)
    assert (await auth.authorization()).startswith("Bearer ")
    assert [r.status for r in sandbox.requests if r.path == "/token"][-1] == 200
    assert token_requests(sandbox) == 4
    assert len(fake_sleep.delays) == 3


async def test_a_token_endpoint_that_keeps_failing_raises_after_the_retries(
    sandbox: SandboxServer, session: aiohttp.ClientSession, fake_sleep: FakeSleep
) -> None:
    sandbox.faults.script("token", *[Fault.E503] * 4)
    auth = make_auth(sandbox, session, Clock(), fake_sleep)
    with pytest.raises(ServerError):
        await auth.authorization()
    assert token_requests(sandbox) == 4
    # the failure is not cached: the next call asks again
    assert (await auth.authorization()).startswith("Bearer ")


async def test_an_unreachable_token_endpoint_is_a_transport_error(fake_sleep: FakeSleep) -> None:
    auth = ClientCredentialsAuth(
        "client-1", SECRET, "http://127.0.0.1:9/token", retry=RetryPolicy(sleep=fake_sleep)
    )
    with pytest.raises(TransportError):
        await auth.authorization()
    assert len(fake_sleep.delays) == 3


async def test_secrets_and_tokens_never_show(
    sandbox: SandboxServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = make_auth(sandbox, session, Clock())
    token = (await auth.authorization()).removeprefix("Bearer ")
    async with AmiliClient(base_url=sandbox.url, auth=auth) as client:
        shown = " ".join((repr(auth), str(auth), repr(client), caplog.text))
    assert sandbox.client_id in repr(auth)
    assert SECRET not in shown
    assert token not in shown


def test_the_client_builds_client_credentials_from_arguments_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AMILI_TOKEN", "AMILI_USERNAME", "AMILI_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    client = AmiliClient(
        "https://api.example", client_id="c1", client_secret=SECRET, token_url="https://a/token"
    )
    assert isinstance(client.auth, ClientCredentialsAuth)
    assert client.auth.client_id == "c1"
    monkeypatch.setenv("AMILI_CLIENT_ID", "c2")
    monkeypatch.setenv("AMILI_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("AMILI_TOKEN_URL", "https://auth.example/token")
    from_env = AmiliClient("https://api.example")
    assert isinstance(from_env.auth, ClientCredentialsAuth)
    assert (from_env.auth.client_id, from_env.auth.token_url) == (
        "c2",
        "https://auth.example/token",
    )
    mixed = AmiliClient("https://api.example", client_id="c3")
    assert isinstance(mixed.auth, ClientCredentialsAuth)
    assert mixed.auth.client_id == "c3"
    with pytest.raises(ConfigurationError):
        AmiliClient("https://api.example", client_id="c3", token="tok")
    monkeypatch.delenv("AMILI_TOKEN_URL")
    with pytest.raises(ConfigurationError, match="token_url"):
        AmiliClient("https://api.example")


async def test_a_failed_renewal_keeps_the_current_token_until_it_really_expires(
    sandbox: SandboxServer,
    session: aiohttp.ClientSession,
    fake_sleep: FakeSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    auth = make_auth(sandbox, session, clock, fake_sleep)
    header = await auth.authorization()
    clock.now += 3600 - 30  # past the renewal point, not yet expired
    sandbox.faults.script("token", *[Fault.E503] * 4)
    assert await auth.authorization() == header
    assert "renewal failed" in caplog.text
    clock.now += 30  # expired: the failure now reaches the caller
    sandbox.faults.script("token", *[Fault.E503] * 4)
    with pytest.raises(ServerError):
        await auth.authorization()
