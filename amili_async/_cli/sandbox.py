"""``amili sandbox``: serve the embedded sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Any

from ._errors import CommandError, UsageError
from ._options import at_least, register

if TYPE_CHECKING:
    from ..sandbox import SandboxServer

__all__ = ["add_data_options", "add_parser"]

DESCRIPTION = """\
Serve the embedded sandbox (a fake of Amili's AutoCollect API with seeded, realistic data) on
HOST:PORT until Ctrl-C, and print its URL, bearer token, OAuth2 client credentials and a curl
line to try. Ctrl-C is the normal way to stop it: the exit code is then 0."""


def add_parser(commands: Any) -> None:
    parser = register(commands, "sandbox", "serve the embedded sandbox until stopped", DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument(
        "--port",
        type=at_least(0),
        default=8080,
        metavar="PORT",
        help="the port to listen on; 0 picks a free one",
    )
    add_data_options(parser, settlements_default=None)
    parser.add_argument(
        "--cases",
        type=at_least(0),
        metavar="N",
        default=None,
        help="cases per creditor (default: a seeded number per creditor)",
    )
    parser.add_argument(
        "--page-size",
        type=at_least(1),
        default=500,
        metavar="N",
        help="settlements per page of a poll",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the bearer token to accept (default: the sandbox's documented token)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="chance (0 to 1) that a request gets a random fault (502, 503, 429, drop, ...)",
    )
    parser.add_argument(
        "--payout-rate",
        type=float,
        default=0.0,
        metavar="PER_SECOND",
        help="new settlements paid out per second, over all creditors",
    )
    parser.set_defaults(run=serve)


def add_data_options(
    parser: argparse.ArgumentParser,
    *,
    settlements_default: int | None,
    creditors_default: int | None = 20,
    creditors_help: str = "how many creditors to generate",
) -> None:
    """The seeded data's size: shared with ``amili demo``."""
    parser.add_argument(
        "--creditors",
        type=at_least(1),
        default=creditors_default,
        metavar="N",
        help=creditors_help,
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="N",
        help="the data's random seed (same seed, same data)",
    )
    shown = "a seeded number" if settlements_default is None else settlements_default
    parser.add_argument(
        "--settlements",
        type=at_least(0),
        metavar="N",
        default=settlements_default,
        help=f"settlements per creditor at the start (default: {shown})",
    )


async def serve(args: argparse.Namespace) -> int:
    server = _sandbox(args)
    try:
        await server.start()
    except OSError as error:
        reason = error.strerror or str(error)
        raise CommandError(
            f"cannot serve on {args.host}:{args.port}: {reason}",
            hint="pick another --port (0 picks a free one)",
        ) from None
    async with server:
        if args.payout_rate > 0:
            server.start_payouts(args.payout_rate)
        _print_banner(server)
        await _until_stopped()
    return 0


def _print_banner(server: SandboxServer) -> None:
    first = server.creditor_ids[0]
    print(f"Amili sandbox serving {len(server.creditor_ids)} creditors at {server.url}")
    print(f"  bearer token: {server.token}   basic: {server.username}:{server.password}")
    print(f"  creditors: {', '.join(server.creditor_ids[:5])}, ...")
    print(
        f"  try: curl -H 'Authorization: Bearer {server.token}' "
        f"'{server.url}/webapi/api/Batch?creditorid={first}'"
    )
    print(
        f"  OAuth2 (Collection API): client_id {server.client_id}  client_secret "
        f"{server.client_secret}  token_url {server.token_url}"
    )
    print(f"  organisations (Collection API): {', '.join(server.organization_ids[:2])}, ...")
    print(f"  or: amili ping --base-url {server.url} --token {server.token}")
    print("Ctrl-C to stop.", flush=True)


def _sandbox(args: argparse.Namespace) -> SandboxServer:
    """The sandbox the options ask for, or a usage error saying what is wrong."""
    from ..sandbox import DEFAULT_TOKEN, FaultPlan, SandboxServer

    if not 0 <= args.fault_rate <= 1:
        raise UsageError(f"--fault-rate must be between 0 and 1, got {args.fault_rate:g}")
    if not 0 <= args.payout_rate < float("inf"):
        raise UsageError(f"--payout-rate must be 0 or more, got {args.payout_rate:g}")
    try:
        return SandboxServer(
            creditors=args.creditors,
            seed=args.seed,
            cases=args.cases,
            settlements=args.settlements,
            page_size=args.page_size,
            token=args.token or DEFAULT_TOKEN,
            faults=FaultPlan(rate=args.fault_rate, seed=args.seed),
            host=args.host,
            port=args.port,
        )
    except ValueError as error:  # the sandbox's own checks of its arguments
        raise UsageError(str(error)) from None


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
