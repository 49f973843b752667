"""The command line: ``python -m amili_async sandbox ...`` and ``python -m amili_async demo ...``.

Adding a command is a function that takes the parsed arguments plus a subparser in ``_parser``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import SandboxServer

__all__ = ["main"]


class _CommandError(Exception):
    """A mistake of the user's (a bad option, a busy port): one line on stderr, no traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(asyncio.run(args.command(args)))
    except KeyboardInterrupt:
        return 130
    except _CommandError as error:
        print(f"python -m amili_async {args.command_name}: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m amili_async", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sandbox = commands.add_parser("sandbox", help="serve the embedded sandbox until stopped")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    _data_options(sandbox)
    sandbox.add_argument("--cases", type=int, default=None, help="cases per creditor")
    sandbox.add_argument("--page-size", type=int, default=500)
    sandbox.add_argument("--token", default=None, help="the bearer token to accept")
    sandbox.add_argument("--fault-rate", type=float, default=0.0, help="chance of a random fault")
    sandbox.add_argument(
        "--payout-rate", type=float, default=0.0, help="new settlements per second"
    )
    sandbox.set_defaults(command=_serve_sandbox, command_name="sandbox")

    demo = commands.add_parser("demo", help="fan-out and settlement polling against the sandbox")
    _data_options(demo)
    demo.set_defaults(creditors=None)  # 20, or 60 with --workers
    demo.add_argument("--seconds", type=float, default=15.0, help="how long the sandbox pays out")
    demo.add_argument("--fault-rate", type=float, default=0.05, help="chance of a random fault")
    demo.add_argument("--payout-rate", type=float, default=4.0, help="new settlements per second")
    demo.add_argument("--quiet", action="store_true", help="no line per settlement")
    demo.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run that many worker processes sharing the creditors through a throwaway "
        "PostgreSQL, SIGKILL one midway and start it again (needs asyncpg and PostgreSQL's "
        "initdb and pg_ctl)",
    )
    demo.set_defaults(command=_run_demo, command_name="demo")
    return parser


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--creditors", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settlements", type=int, default=None, help="settlements per creditor")


async def _serve_sandbox(args: argparse.Namespace) -> int:
    server = _sandbox(args)
    try:
        await server.start()
    except OSError as error:
        reason = error.strerror or str(error)
        raise _CommandError(f"cannot serve on {args.host}:{args.port}: {reason}") from None
    async with server:
        if args.payout_rate > 0:
            server.start_payouts(args.payout_rate)
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
        print("Ctrl-C to stop.", flush=True)
        await _until_stopped()
    return 0


def _sandbox(args: argparse.Namespace) -> SandboxServer:
    """The sandbox the options ask for, or a :class:`_CommandError` saying what is wrong."""
    from .sandbox import DEFAULT_TOKEN, FaultPlan, SandboxServer

    _require_positive(("--creditors", args.creditors), ("--page-size", args.page_size))
    if not 0 <= args.fault_rate <= 1:
        raise _CommandError(f"--fault-rate must be between 0 and 1, got {args.fault_rate:g}")
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
        raise _CommandError(str(error)) from None


def _require_positive(*options: tuple[str, int]) -> None:
    for option, value in options:
        if value < 1:
            raise _CommandError(f"{option} must be at least 1, got {value}")


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()


async def _run_demo(args: argparse.Namespace) -> int:
    from .demo import DemoOptions, run_demo

    if args.creditors is None:
        args.creditors = 60 if args.workers else 20
    _require_positive(("--creditors", args.creditors))

    options = DemoOptions(
        creditors=args.creditors,
        seed=args.seed,
        seconds=args.seconds,
        fault_rate=args.fault_rate,
        payout_rate=args.payout_rate,
        settlements=3 if args.settlements is None else args.settlements,
        quiet=args.quiet,
        workers=args.workers,
    )
    return 0 if await run_demo(options, sys.stdout) else 1
