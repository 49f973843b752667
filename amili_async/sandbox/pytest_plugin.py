"""The pytest plug-in: the ``amili_sandbox`` fixture and its marker.

Installing the package registers it (a ``pytest11`` entry point named ``amili_sandbox``); install
``amili_async[pytest]`` to get pytest and pytest-asyncio with it. Any async test can then take a
running sandbox; under pytest-asyncio's default strict mode, mark the test ``asyncio``::

    import pytest
    from amili_async import AmiliClient

    @pytest.mark.asyncio
    @pytest.mark.amili_sandbox(creditors=3, seed=7, page_size=50)
    async def test_booking(amili_sandbox):
        async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
            ...

The marker's keywords go to [`SandboxServer`][amili_async.sandbox.SandboxServer]. Without
pytest-asyncio the plug-in still loads (so it never breaks a project's pytest), and the fixture
fails with a message saying what to install.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn

import pytest

from .server import SandboxServer

__all__ = ["amili_sandbox"]

_MARKER = "amili_sandbox(**options): options for the amili_sandbox fixture's SandboxServer"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)


async def _sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
    """A started [`SandboxServer`][amili_async.sandbox.SandboxServer] on 127.0.0.1, closed after
    the test; the test's ``amili_sandbox`` marker gives its options."""
    marker = request.node.get_closest_marker("amili_sandbox")
    options = dict(marker.kwargs) if marker else {}
    async with SandboxServer(**options) as sandbox:
        yield sandbox


try:
    import pytest_asyncio
except ImportError:  # the plug-in is loaded by every pytest run in the environment: stay loadable

    @pytest.fixture(name="amili_sandbox")
    def _missing_pytest_asyncio() -> NoReturn:
        raise pytest.UsageError(
            "the amili_sandbox fixture needs pytest-asyncio: pip install 'amili_async[pytest]'"
        )

else:
    amili_sandbox = pytest_asyncio.fixture(_sandbox, name="amili_sandbox")
