"""A benchmark server in its own process, so the client's CPU is measured alone.

``python -m benchmarks._server static FILE --latency 0.02`` answers every ``GET .../Batch`` with the
bytes of FILE; ``python -m benchmarks._server sandbox --creditors 1 --cases 10 --settlements 100000
--page-size 500`` serves a sandbox state. Either prints ``PORT <n>`` once listening and serves until
its standard input closes. ``GET /stats`` answers the most requests seen in flight and the number of
distinct connections used; ``GET /stats?reset=1`` starts both counts afresh after answering, so that
one run of a contender can be measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from amili_async.sandbox import SandboxServer, SandboxState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Counters:
    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections: set[int] = set()
        self.requests = 0


def _static_app(body: bytes, latency: float, counters: _Counters) -> web.Application:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/stats":
            return await handler(request)
        counters.requests += 1
        counters.connections.add(id(request.transport))
        counters.in_flight += 1
        counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
        try:
            if latency:
                await asyncio.sleep(latency)
            return await handler(request)
        finally:
            counters.in_flight -= 1

    async def batch(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        response = web.json_response(
            {
                "max_in_flight": counters.max_in_flight,
                "connections": len(counters.connections),
                "requests": counters.requests,
            }
        )
        if request.query.get("reset"):
            counters.max_in_flight = 0
            counters.connections.clear()
        return response

    app = web.Application(middlewares=[count])
    app.router.add_get("/webapi/api/Batch", batch)
    app.router.add_get("/stats", stats)
    return app


async def _serve(args: argparse.Namespace) -> None:
    if args.mode == "static":
        counters = _Counters()
        runner = web.AppRunner(
            _static_app(Path(args.file).read_bytes(), args.latency, counters), access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        cleanup: Callable[[], Awaitable[None]] = runner.cleanup
    else:
        state = SandboxState.generate(
            creditors=args.creditors, cases=args.cases, settlements=args.settlements, seed=1
        )
        sandbox = SandboxServer(
            state=state, page_size=args.page_size, latency=args.latency, token="bench"
        )
        await sandbox.start()
        port = int(sandbox.url.rsplit(":", 1)[1])
        if args.ids_file:
            Path(args.ids_file).write_text(json.dumps(sandbox.creditor_ids))
        cleanup = sandbox.close
    print(f"PORT {port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes
    await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["static", "sandbox"])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--creditors", type=int, default=1)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--settlements", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--ids-file", default=None)
    asyncio.run(_serve(parser.parse_args()))


@contextlib.asynccontextmanager
async def server_process(*args: str) -> AsyncIterator[str]:
    """Start a benchmark server in a child process; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._server", *args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 600)).decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def server_stats(base_url: str, *, reset: bool = False) -> dict[str, int]:
    """The server's counts (see the module's docstring); ``reset`` starts them afresh."""
    import aiohttp

    url = f"{base_url}/stats" + ("?reset=1" if reset else "")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        stats: dict[str, int] = await response.json()
        return stats


if __name__ == "__main__":
    main()
