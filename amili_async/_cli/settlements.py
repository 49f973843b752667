"""``amili settlements``: new settlements as JSON lines, once (drain) or for as long as it runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from ..polling import SettlementPoller
from ._errors import EXIT_INTERRUPTED, CommandError
from ._options import (
    add_concurrency,
    add_connection_options,
    add_creditor_ids,
    add_json_options,
    at_least,
    creditor_ids,
    json_encoder,
    make_client,
    register,
    seconds,
)
from ._terminal import report_failure

__all__ = ["add_parser"]

DESCRIPTION = """\
Print each new settlement of the given creditors as one JSON line on stdout,
{"creditor_id": "...", "settlement": {...}}, with the API's field names and exact amounts.

Without --follow: print what is there now, after each creditor's stored cursor, and exit.
With --follow: keep polling and print settlements as they are paid, until Ctrl-C or
--max-events. With --store, each creditor's cursor is saved in a SQLite file once its line is
written, so the next run prints only newer settlements (at least once: a crash may repeat the
last line, never lose one)."""

EPILOG = """\
examples:
  amili settlements 842793483 824378908 --store cursors.db
  amili settlements --ids-from ids.txt --store cp.db --follow | jq .settlement"""


def add_parser(commands: Any) -> None:
    parser = register(
        commands, "settlements", "new settlements as JSON lines (--follow: keep polling)",
        DESCRIPTION, EPILOG,
    )  # fmt: skip
    add_creditor_ids(parser)
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep polling for new settlements"
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help="a SQLite file of cursors to resume from and save to (default: none, every run "
        "starts at --start)",
    )
    parser.add_argument(
        "--start",
        choices=("beginning", "now"),
        default="beginning",
        help="where a creditor without a stored cursor starts: its first settlement, or only "
        "those paid from now on",
    )
    parser.add_argument(
        "--max-events",
        type=at_least(1),
        default=None,
        metavar="N",
        help="stop after N settlements (default: no limit)",
    )
    parser.add_argument(
        "--interval",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="with --follow: seconds between polls of a creditor",
    )
    add_concurrency(parser)
    parser.add_argument(
        "--sender-id", metavar="ID", help="the sender account (also part of the cursor's key)"
    )
    add_json_options(parser, raw=False)
    add_connection_options(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from .. import MemoryCheckpointStore, SQLiteCheckpointStore

    ids = creditor_ids(args)
    store: SQLiteCheckpointStore | MemoryCheckpointStore = (
        SQLiteCheckpointStore(args.store) if args.store else MemoryCheckpointStore()
    )
    encode = json_encoder(args).encode
    async with make_client(args) as client, store:
        poller = SettlementPoller(
            client,
            ids,
            store=store,
            start=args.start,
            interval=args.interval,
            concurrency=args.concurrency,
            sender_id=args.sender_id,
            on_error=report_failure,
            # Without --follow: each creditor's first drain (what is there now), then the end.
            until_drained=not args.follow,
        )
        async with poller:
            interrupted = _stop_on_signals(poller)
            await _print_events(poller, encode, args.max_events)
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    failed = poller.stats.failing  # without --follow a failed creditor is not retried
    if not args.follow and failed:
        raise CommandError(f"{len(failed)} of {len(ids)} creditors failed")
    return 0


async def _print_events(poller: SettlementPoller, encode: Any, max_events: int | None) -> None:
    """One line per event; the poller acks an event (saves its cursor) when the next is asked
    for, so a line is always written before its cursor moves."""
    printed = 0
    async for event in poller:
        line = encode({"creditor_id": event.creditor_id, "settlement": event.settlement})
        sys.stdout.write(line.decode() + "\n")
        sys.stdout.flush()
        printed += 1
        if printed == max_events:
            poller.stop()  # the next step acks this event, then ends


def _stop_on_signals(poller: SettlementPoller) -> asyncio.Event:
    """Ctrl-C (or SIGTERM) stops the poller cleanly: the line in hand is acked, nothing lost."""
    interrupted = asyncio.Event()

    def stop() -> None:
        interrupted.set()
        poller.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows, nor in a thread (then Ctrl-C interrupts without the clean stop).
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop)
    return interrupted
