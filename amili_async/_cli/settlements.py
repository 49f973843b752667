"""``amili settlements``: new settlements as JSON lines, once (drain) or for as long as it runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..polling import SettlementPoller
from ._errors import EXIT_INTERRUPTED, CommandError
from ._options import (
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

if TYPE_CHECKING:
    from ..polling import SettlementEvent

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
    parser.add_argument(
        "--concurrency",
        type=at_least(1),
        default=10,
        metavar="N",
        help="at most this many requests at once",
    )
    parser.add_argument(
        "--sender-id", metavar="ID", help="the sender account (also part of the cursor's key)"
    )
    add_json_options(parser, raw=False)
    add_connection_options(parser)
    parser.set_defaults(run=run)


class _UntilDrained(SettlementPoller):
    """A poller that knows when every creditor's first drain is delivered: what was there when
    the command started. A failed creditor counts as done (reported, exit code 1).

    It hooks the poller's internals (``_drain(state)`` and the creditor state's ``seq``, the
    events made so far), which the poller does not offer publicly yet; it checks they are
    there, so that a change there fails loudly here instead of waiting forever.
    """

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, on_error=self._failed_once, **options)
        if "_drain" not in vars(SettlementPoller) or not all(
            isinstance(getattr(state, "seq", None), int) for state in self._creditors.values()
        ):
            raise RuntimeError("amili settlements: the SettlementPoller hooks it needs changed")
        self._made: dict[str, int] = {}  # creditor -> events made when its first drain ended
        self.failures: dict[str, Exception] = {}
        self.finished = asyncio.Event()

    async def _drain(self, state: Any) -> None:
        await super()._drain(state)
        self._ended(state.creditor_id)

    def _failed_once(self, creditor_id: str, error: Exception) -> None:
        if creditor_id not in self._made:
            self.failures[creditor_id] = error
            report_failure(creditor_id, error)
        self._ended(creditor_id)

    def _ended(self, creditor_id: str) -> None:
        if creditor_id not in self._made:
            self._made[creditor_id] = self._creditors[creditor_id].seq
            if len(self._made) == len(self._creditors):
                self.finished.set()

    def delivered_all(self) -> bool:
        """Every creditor drained once and every settlement of those drains handed out."""
        creditors = self.stats.creditors
        return self.finished.is_set() and all(
            creditors[cid].delivered >= made for cid, made in self._made.items()
        )


async def run(args: argparse.Namespace) -> int:
    from .. import MemoryCheckpointStore, SQLiteCheckpointStore

    ids = creditor_ids(args)
    store: SQLiteCheckpointStore | MemoryCheckpointStore = (
        SQLiteCheckpointStore(args.store) if args.store else MemoryCheckpointStore()
    )
    options: dict[str, Any] = {
        "store": store,
        "start": args.start,
        "interval": args.interval,
        "concurrency": args.concurrency,
        "sender_id": args.sender_id,
    }
    encode = json_encoder(args).encode
    async with make_client(args) as client, store:
        if args.follow:
            poller = SettlementPoller(client, ids, on_error=report_failure, **options)
        else:
            poller = _UntilDrained(client, ids, **options)
        async with poller:
            interrupted = _stop_on_signals(poller)
            await _print_events(poller, encode, args.max_events)
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    if isinstance(poller, _UntilDrained) and poller.failures:
        raise CommandError(f"{len(poller.failures)} of {len(ids)} creditors failed")
    return 0


async def _print_events(poller: SettlementPoller, encode: Any, max_events: int | None) -> None:
    """One line per event; the poller acks an event (saves its cursor) when the next is asked
    for, so a line is always written before its cursor moves."""
    printed = 0
    events = aiter(poller)
    while True:
        next_event = asyncio.ensure_future(anext(events))
        if isinstance(poller, _UntilDrained):
            await _wait_or_finish(poller, next_event)
        try:
            event: SettlementEvent = await next_event
        except StopAsyncIteration:
            return
        line = encode({"creditor_id": event.creditor_id, "settlement": event.settlement})
        sys.stdout.write(line.decode() + "\n")
        sys.stdout.flush()
        printed += 1
        if printed == max_events or (isinstance(poller, _UntilDrained) and poller.delivered_all()):
            poller.stop()  # the next step acks this event, then ends


async def _wait_or_finish(poller: _UntilDrained, next_event: asyncio.Future[Any]) -> None:
    """Wait for the next event; if the last drain ends first with everything delivered, stop
    the poller (the waiting step has already acked the event before it, and now ends)."""
    if poller.finished.is_set():
        return
    finished = asyncio.ensure_future(poller.finished.wait())
    try:
        await asyncio.wait({next_event, finished}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        finished.cancel()
    if not next_event.done() and poller.delivered_all():
        poller.stop()


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
