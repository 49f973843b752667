"""``amili batch``: one creditor's batch, as JSON or as a summary table."""

from __future__ import annotations

import argparse
import decimal
import sys
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._options import (
    add_batch_options,
    add_connection_options,
    add_json_options,
    batch_options,
    json_encoder,
    make_client,
    register,
)
from ._terminal import Styles

if TYPE_CHECKING:
    from ..models import Batch

__all__ = ["add_parser"]

DESCRIPTION = """\
Fetch one creditor's batch (GET /webapi/api/Batch): its creditor record, cases and settlements.
Prints the batch as JSON on stdout (the API's field names; amounts exact), or with --summary a
short table of counts and sums."""

EPILOG = """\
examples:
  amili batch 842793483 --include-closed > batch.json
  amili batch 842793483 --summary"""


def add_parser(commands: Any) -> None:
    parser = register(commands, "batch", "one creditor's batch as JSON", DESCRIPTION, EPILOG)
    parser.add_argument("creditor_id", metavar="CREDITOR_ID", help="the creditor's id number")
    parser.add_argument(
        "--summary", action="store_true", help="print a table of counts and sums, not the JSON"
    )
    parser.add_argument(
        "--compact", action="store_true", help="JSON on one line instead of indented"
    )
    add_json_options(parser)
    add_batch_options(parser)
    add_connection_options(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    options = batch_options(args)
    async with make_client(args) as client:
        if args.raw and not args.summary:
            response = await client.get_batch_raw(creditor_id=args.creditor_id, **options)
            sys.stdout.buffer.write(response.body)
            sys.stdout.buffer.flush()
            return 0
        batch = await client.get_batch(creditor_id=args.creditor_id, **options)
    if batch.creditor(args.creditor_id) is None:
        print(
            f"warning: the answer holds no creditor {args.creditor_id} (a typo, or another "
            "sender's creditor?)",
            file=sys.stderr,
        )
    if args.summary:
        _print_summary(batch)
    else:
        encoded = json_encoder(args).encode(batch)
        text = encoded.decode() if args.compact else _indent(encoded)
        print(text)
    return 0


def _indent(encoded: bytes) -> str:
    import msgspec

    return msgspec.json.format(encoded, indent=2).decode()


def _print_summary(batch: Batch) -> None:
    style = Styles(sys.stdout)
    rows: list[tuple[str, str]] = []
    for creditor in batch.creditors:
        rows.append(("creditor", f"{creditor.id_number} {creditor.full_name or ''}".rstrip()))
    closed = sum(1 for case in batch.cases if case.closure_date is not None)
    rows.append(("cases", f"{len(batch.cases)} ({closed} closed)"))
    for currency, total in _sums((c.currency_code, c.remaining_sum) for c in batch.cases):
        rows.append(("remaining", f"{total} {currency}"))
    rows.append(("settlements", str(len(batch.settlements))))
    for currency, total in _sums((s.currency, s.payment_amount) for s in batch.settlements):
        rows.append(("paid", f"{total} {currency}"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{style(label.ljust(width), 'bold')}  {value}")


def _sums(
    amounts: Iterable[tuple[str | None, decimal.Decimal | None]],
) -> list[tuple[str, decimal.Decimal]]:
    """Exact sums per currency, in the order currencies first appear."""
    totals: dict[str, decimal.Decimal] = defaultdict(decimal.Decimal)
    for currency, amount in amounts:
        if amount is not None:
            totals[currency or "?"] += amount
    return list(totals.items())
