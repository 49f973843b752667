"""``amili demo``: the SDK's main job, end to end, against the embedded sandbox."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._errors import UsageError
from ._options import at_least, register
from .sandbox import add_data_options

__all__ = ["add_parser"]

DESCRIPTION = """\
Start the embedded sandbox in this process and do the SDK's main job against it, with faults
on: fetch every creditor's batch concurrently, poll settlements while the sandbox pays new ones
out, receive its webhooks, create invoices through the Collection API, then reconcile what was
received against the sandbox's ledger. Prints OK and exits 0 only when every amount matches."""


def add_parser(commands: Any) -> None:
    parser = register(commands, "demo", "the SDK end to end against the sandbox", DESCRIPTION)
    add_data_options(
        parser,
        settlements_default=3,
        creditors_default=None,  # 20, or 60 with --workers
        creditors_help="how many creditors to generate (default: 20, or 60 with --workers)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long the sandbox pays out while polling",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.05,
        metavar="RATE",
        help="chance (0 to 1) that a request gets a retried fault (502, 503, 429, drop, slow)",
    )
    parser.add_argument(
        "--payout-rate",
        type=float,
        default=4.0,
        metavar="PER_SECOND",
        help="new settlements paid out per second, over all creditors",
    )
    parser.add_argument("--quiet", action="store_true", help="no line per settlement")
    parser.add_argument(
        "--workers",
        type=at_least(0),
        default=0,
        metavar="N",
        help="run N worker processes sharing the creditors through a throwaway PostgreSQL, "
        "SIGKILL one midway and start it again (needs asyncpg and PostgreSQL's initdb and "
        "pg_ctl); 0: one in-process poller",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from ..demo import DemoOptions, run_demo

    if not 0 <= args.fault_rate <= 1:
        raise UsageError(f"--fault-rate must be between 0 and 1, got {args.fault_rate:g}")
    if not 0 <= args.seconds < float("inf"):
        raise UsageError(f"--seconds must be 0 or more, got {args.seconds:g}")
    if not 0 < args.payout_rate < float("inf"):
        raise UsageError(f"--payout-rate must be more than 0, got {args.payout_rate:g}")
    if args.creditors is None:
        args.creditors = 60 if args.workers else 20
    options = DemoOptions(
        creditors=args.creditors,
        seed=args.seed,
        seconds=args.seconds,
        fault_rate=args.fault_rate,
        payout_rate=args.payout_rate,
        settlements=args.settlements,
        quiet=args.quiet,
        workers=args.workers,
    )
    return 0 if await run_demo(options, sys.stdout) else 1
