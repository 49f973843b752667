"""Options shared by several commands, the help layout, and the parser's one-line usage errors."""

from __future__ import annotations

import argparse
import datetime
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import msgspec

from ._errors import EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from .. import AmiliClient
    from ..params import BatchOptions

__all__ = [
    "CommandParser",
    "HelpFormatter",
    "add_batch_options",
    "add_concurrency",
    "add_connection_options",
    "add_creditor_ids",
    "add_json_options",
    "at_least",
    "batch_options",
    "creditor_ids",
    "json_encoder",
    "make_client",
]


HELP_WIDTH: Final = 78


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks and shows every option's default.

    A help text that already says its default (``(default: $AMILI_TOKEN)``) is left as it is;
    a flag's default reads "off", a missing value "none".
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default:" in help_text or action.default is argparse.SUPPRESS:
            return help_text
        if not action.option_strings:
            return help_text
        if action.default is None:
            shown = "none"
        elif isinstance(action.default, bool):
            shown = "on" if action.default else "off"
        else:
            shown = "%(default)s"
        return f"{help_text} (default: {shown})"


class CommandParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr, with a hint, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


# -- connection -------------------------------------------------------------------------------


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection",
        "Credentials come from these options or the client's environment\n"
        "variables: AMILI_TOKEN, AMILI_USERNAME and AMILI_PASSWORD, or\n"
        "AMILI_CLIENT_ID, AMILI_CLIENT_SECRET and AMILI_TOKEN_URL.",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="the service's root URL, without /webapi/api (default: $AMILI_BASE_URL)",
    )
    group.add_argument(
        "--token",
        metavar="TOKEN",
        help="a bearer token (default: $AMILI_TOKEN, then the variables above)",
    )
    group.add_argument(
        "--timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="seconds one call may take, retries included",
    )


def make_client(args: argparse.Namespace) -> AmiliClient:
    """The client the connection options (and the environment) describe."""
    from .. import AmiliClient, RetryPolicy

    return AmiliClient(
        base_url=args.base_url,
        token=args.token,
        retry=RetryPolicy(total_timeout=args.timeout),
        user_agent="amili-cli",
    )


# -- creditor ids -------------------------------------------------------------------------------


def add_concurrency(parser: argparse.ArgumentParser) -> None:
    """``--concurrency``: shared by the commands that fetch many creditors."""
    parser.add_argument(
        "--concurrency",
        type=at_least(1),
        default=10,
        metavar="N",
        help="at most this many requests at once",
    )


def add_creditor_ids(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "creditor_ids",
        nargs="*",
        metavar="CREDITOR_ID",
        help="creditor ids (organisation numbers)",
    )
    parser.add_argument(
        "--ids-from",
        metavar="FILE",
        help="also read creditor ids from FILE, one per line ('-' for stdin; blank lines and "
        "'#' comments are skipped) (default: none)",
    )


def creditor_ids(args: argparse.Namespace) -> list[str]:
    """The ids given as arguments and in ``--ids-from``, in order, each once."""
    ids = list(args.creditor_ids)
    if args.ids_from is not None:
        ids += _read_ids(args.ids_from)
    ids = list(dict.fromkeys(i.strip() for i in ids))
    if not ids:
        raise UsageError(
            "no creditor ids", hint="give them as arguments or with --ids-from FILE ('-': stdin)"
        )
    if "" in ids:
        raise UsageError("an empty creditor id would ask for every creditor's data")
    return ids


def _read_ids(source: str) -> list[str]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read creditor ids from {source}: {error}") from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


# -- the Batch query ----------------------------------------------------------------------------


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("batch query")
    group.add_argument(
        "--include-closed",
        action="store_true",
        help="also return closed cases (default: off, open cases only)",
    )
    group.add_argument("--sender-id", metavar="ID", help="the sender (integration) account")
    group.add_argument("--customer-ref", metavar="REF", help="only this customer's cases")
    group.add_argument("--ledger-ref", metavar="REF", help="only the case with this reference")
    group.add_argument(
        "--remittance-date",
        type=datetime.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="only settlements paid out on this date",
    )
    group.add_argument("--language-code", metavar="CODE", help="language of texts (e.g. 'en')")


def batch_options(args: argparse.Namespace) -> BatchOptions:
    """The Batch query the options ask for (only those given)."""
    options: BatchOptions = {}
    if args.include_closed:
        options["include_closed"] = True
    for name in ("sender_id", "customer_ref", "ledger_ref", "remittance_date", "language_code"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    return options


# -- JSON output ------------------------------------------------------------------------------


def add_json_options(parser: argparse.ArgumentParser, *, raw: bool = True) -> None:
    group = parser.add_argument_group("JSON output")
    group.add_argument(
        "--decimals",
        choices=("number", "string"),
        default="number",
        help="write amounts as exact JSON numbers (1250.00, as the API does) or as strings "
        '("1250.00", for tools that would read numbers as floats)',
    )
    if raw:
        group.add_argument(
            "--raw",
            action="store_true",
            help="write the server's bytes exactly as received, not decoded and re-encoded",
        )


def json_encoder(args: argparse.Namespace) -> msgspec.json.Encoder:
    """Models encode under their wire names; amounts keep every digit either way."""
    return msgspec.json.Encoder(decimal_format=args.decimals)


def paragraphs(text: str) -> str:
    """Prose for a help page, wrapped to fit 80 columns (examples are laid out by hand)."""
    return "\n\n".join(
        textwrap.fill(" ".join(block.split()), HELP_WIDTH, break_on_hyphens=False)
        for block in text.split("\n\n")
    )


def register(
    commands: Any, name: str, summary: str, description: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """Add a command's parser with the CLI's help layout."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=paragraphs(description),
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(command_name=name)
    return parser
