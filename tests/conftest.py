"""Shared fixtures: a scripted local HTTP server, a recording fake sleep, and a leak check."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses as _aioresponses

from amili_async import RetryPolicy

SANDBOX_PLUGIN = "amili_async.sandbox.pytest_plugin"


def _sandbox_plugin_installed() -> bool:
    """True when the package is installed (nox: editable), so its pytest11 entry point already
    loads the plug-in; from a bare PYTHONPATH checkout it is not, and listing it here would then be
    the only registration (listing it twice is an error)."""
    entry_points = importlib.metadata.entry_points(group="pytest11")
    return any(ep.value == SANDBOX_PLUGIN for ep in entry_points)


pytest_plugins = ["tests.pg_fixtures"] + ([] if _sandbox_plugin_installed() else [SANDBOX_PLUGIN])

TOKEN = "tok_SECRET_do_not_leak_42"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    """What a scripted server saw."""

    requests: list[web.Request] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[tuple[str, Recorded]]]]:
    """Start a real aiohttp server on 127.0.0.1 whose routes are the given handlers.

    Returns ``(base_url, recorded)``; every request is recorded before the handler runs.
    """
    servers: list[TestServer] = []

    async def start(routes: dict[str, Handler]) -> tuple[str, Recorded]:
        recorded = Recorded()

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            recorded.requests.append(request)
            return await handler(request)

        app = web.Application(middlewares=[record])
        for route, handler in routes.items():
            method, _, path = route.partition(" ")
            app.router.add_route(method, path, handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), recorded

    yield start
    for server in servers:
        await server.close()


@dataclass
class FakeSleep:
    """An injectable sleep that records the delays instead of waiting."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def fast_retry(fake_sleep: FakeSleep) -> RetryPolicy:
    """The default policy with a recording sleep: retries happen at once."""
    return RetryPolicy(sleep=fake_sleep)


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """After each test, nothing the test started may still be running."""
    yield
    current = asyncio.current_task()
    for _ in range(20):  # let just-cancelled tasks finish unwinding (bounded)
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"tasks left running after the test: {pending}")


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.x builds responses without the ``stream_writer`` aiohttp 3.14 requires
    (pnuckowski/aioresponses#289); give it a finished writer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[_aioresponses]:
    """aioresponses, working with current aiohttp."""
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatResponse)
    with _aioresponses() as mock:
        yield mock
