"""A sandbox served from a background thread, for code that runs its own event loop
(documentation samples calling ``asyncio.run``, example scripts in a subprocess)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from amili_async.sandbox import SandboxServer


@contextmanager
def sandbox_in_thread(**options: Any) -> Iterator[SandboxServer]:
    """Start ``SandboxServer(**options)`` on its own loop in a daemon thread; stop it on exit.

    Only read its plain attributes (``url``, ``token``, ids) from the calling thread."""
    ready = threading.Event()
    started: list[SandboxServer] = []
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with SandboxServer(**options) as sandbox:
                started.append(sandbox)
                ready.set()
                await stop.wait()
        except BaseException as error:
            failure.append(error)
            raise
        finally:
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout=30) or failure:
            raise RuntimeError(f"the sandbox did not start: {failure}")
        yield started[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
