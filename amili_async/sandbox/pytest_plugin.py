"""Opt-in pytest plugin: the ``amili_sandbox`` fixture.

Enable it in your ``conftest.py``::

    pytest_plugins = ["amili_async.sandbox.pytest_plugin"]

Then any async test can take a running sandbox (needs pytest-asyncio)::

    @pytest.mark.amili_sandbox(creditors=3, seed=7, page_size=50)
    async def test_booking(amili_sandbox):
        async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
            ...

The marker's keywords go to [`SandboxServer`][amili_async.sandbox.SandboxServer].
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .server import SandboxServer

__all__ = ["amili_sandbox"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "amili_sandbox(**options): options for the amili_sandbox fixture's SandboxServer"
    )


@pytest_asyncio.fixture
async def amili_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
    """A started [`SandboxServer`][amili_async.sandbox.SandboxServer] on 127.0.0.1, closed after the
    test."""
    marker = request.node.get_closest_marker("amili_sandbox")
    options = dict(marker.kwargs) if marker else {}
    async with SandboxServer(**options) as sandbox:
        yield sandbox
