"""``amili ping``: is the service up, and do the credentials work?"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._options import add_connection_options, make_client, register

__all__ = ["add_parser"]

DESCRIPTION = """\
Call GET /webapi/api/Ping with the given credentials. Prints one line and exits 0 when the
service answered and accepted the credentials, 1 otherwise."""

EPILOG = """\
example:
  amili ping --base-url http://127.0.0.1:8080 --token sk_sandbox_amili"""


def add_parser(commands: Any) -> None:
    parser = register(
        commands, "ping", "check the service and the credentials", DESCRIPTION, EPILOG
    )
    add_connection_options(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    async with make_client(args) as client:
        started = time.perf_counter()
        await client.ping()
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"ok: {client.base_url} answered in {elapsed_ms:.0f} ms")
    return 0
