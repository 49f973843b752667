"""``amili fetch``: many creditors' batches to a folder of JSON files, one file per creditor."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from .._files import write_atomically
from ._errors import CommandError, UsageError
from ._options import (
    add_batch_options,
    add_concurrency,
    add_connection_options,
    add_creditor_ids,
    add_json_options,
    batch_options,
    creditor_ids,
    json_encoder,
    make_client,
    register,
    seconds,
)
from ._terminal import Progress, is_terminal, report_failure

if TYPE_CHECKING:
    from .. import AmiliClient
    from ..params import BatchOptions

__all__ = ["add_parser"]

DESCRIPTION = """\
Fetch many creditors' batches concurrently and write each to DIR/CREDITOR_ID.json (a file is
written whole or not at all). Prints each written path on stdout; progress goes to stderr (a bar
on a terminal, a line per failed creditor otherwise). Exits 1 if any creditor failed: the others
are still written."""

EPILOG = """\
examples:
  amili fetch 842793483 824378908 --out batches/
  amili fetch --ids-from creditors.txt --include-closed --concurrency 20
  cut -d, -f1 creditors.csv | amili fetch --ids-from - --raw"""

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def add_parser(commands: Any) -> None:
    parser = register(
        commands, "fetch", "many creditors' batches to a folder of JSON files", DESCRIPTION, EPILOG
    )
    add_creditor_ids(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="the folder to write to"
    )
    add_concurrency(parser)
    parser.add_argument(
        "--deadline",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="give up on creditors not fetched within this many seconds (default: no deadline)",
    )
    add_json_options(parser)
    add_batch_options(parser)
    add_connection_options(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    ids = creditor_ids(args)
    for creditor_id in ids:
        if not _SAFE_ID.fullmatch(creditor_id):
            raise UsageError(f"creditor id {creditor_id!r} cannot name a file")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {args.out}: {exc.strerror or exc}") from None
    progress = Progress(len(ids), "creditors")
    list_paths = not is_terminal(sys.stdout)  # on a terminal, the bar and a summary instead
    failed: list[tuple[str, errors.AmiliError]] = []
    async with make_client(args) as client:
        async for creditor_id, payload, failure in _fetch(client, ids, args, batch_options(args)):
            if failure is None:
                path = args.out / f"{creditor_id}.json"
                await _write(path, payload)
                if list_paths:
                    print(path, flush=True)
            else:
                failed.append((creditor_id, failure))
                if not progress.active:
                    report_failure(creditor_id, failure)
            progress.step(failed=failure is not None)
    progress.finish()
    if progress.active:
        for creditor_id, failure in failed:
            report_failure(creditor_id, failure)
    if not list_paths:
        print(f"wrote {len(ids) - len(failed)} files to {args.out}")
    if failed:
        raise CommandError(f"{len(failed)} of {len(ids)} creditors failed")
    return 0


async def _fetch(
    client: AmiliClient, ids: list[str], args: argparse.Namespace, options: BatchOptions
) -> AsyncIterator[tuple[str, bytes, errors.AmiliError | None]]:
    """``(creditor id, JSON bytes, error)`` per creditor, in completion order."""
    from .. import FanOut

    encode = json_encoder(args).encode

    async def one(creditor_id: str) -> bytes:
        if args.raw:
            return (await client.get_batch_raw(creditor_id=creditor_id, **options)).body
        return encode(await client.get_batch(creditor_id=creditor_id, **options))

    async with FanOut(ids, one, concurrency=args.concurrency, deadline=args.deadline) as results:
        async for result in results:
            yield result.key, result.value or b"", result.error


async def _write(path: Path, payload: bytes) -> None:
    """Written beside ``path`` and renamed over it, off the event loop: a reader never sees half
    a file, and a 160 MB batch does not hold up the other fetches."""

    async def chunks() -> AsyncIterator[bytes]:
        yield payload

    await write_atomically(path, chunks())
