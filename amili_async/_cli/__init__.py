"""The ``amili`` command (also ``python -m amili_async``).

One module per command; each has ``add_parser(commands)``, which registers its options and sets
``run``, an async function of the parsed arguments returning the exit code. Errors a user can
act on (an [`AmiliError`][amili_async.AmiliError], a bad option) end as one line on stderr, never
a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

from .. import errors
from .._version import __version__
from . import batch, demo, fetch, ping, sandbox, settlements
from ._errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CommandError
from ._options import CommandParser, HelpFormatter, paragraphs
from ._terminal import Styles, one_line

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
The command line of amili_async, the async SDK for Amili's AutoCollect debt-collection API:
fetch batches, follow settlements, and try it all against an embedded sandbox."""

EPILOG = """\
credentials (ping, batch, settlements, fetch) come from --base-url and --token
or the client's environment variables: AMILI_BASE_URL, AMILI_TOKEN,
AMILI_USERNAME and AMILI_PASSWORD, or AMILI_CLIENT_ID, AMILI_CLIENT_SECRET
and AMILI_TOKEN_URL.

exit codes: 0 ok, 1 failure (the API refused, a creditor failed), 2 usage
error, 130 interrupted. Colour and progress bars appear on a terminal only
(NO_COLOR turns colour off).

try it: amili sandbox --port 8080, then in another shell:
  export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN=sk_sandbox_amili
  amili batch 842793483 --summary"""

_COMMANDS = (sandbox, demo, ping, batch, settlements, fetch)


def build_parser(prog: str = "amili") -> argparse.ArgumentParser:
    """The whole command line's parser."""
    parser = CommandParser(
        prog=prog,
        description=paragraphs(DESCRIPTION),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (amili_async) {__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the SDK's retries and poller stats on stderr; -vv also each request "
        "(default: no log lines)",
    )
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "amili") -> int:
    """Run one command; returns the process exit code (see ``amili --help``)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    command = f"{prog} {args.command_name}"
    with _logging(args.verbose), warnings.catch_warnings():
        # The commands say it in their own words (`amili batch` prints a one-line warning).
        warnings.simplefilter("ignore", errors.MissingCreditorWarning)
        return _run(args, command)


def _run(args: argparse.Namespace, command: str) -> int:
    try:
        return int(asyncio.run(args.run(args)))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CommandError as error:
        return _fail(command, str(error), error.hint, error.exit_code)
    except errors.ConfigurationError as error:
        return _fail(command, str(error), f"see '{command} --help'", EXIT_USAGE)
    except errors.AmiliError as error:
        return _fail(command, str(error), _hint(error), EXIT_FAILURE)
    except BrokenPipeError:  # the reader went away (`| head`): no complaint, no traceback
        _silence_stdout()
        return EXIT_FAILURE


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """The SDK's log lines on stderr while the command runs (only with -v: by default the
    package logs nowhere)."""
    if not verbosity:
        yield
        return
    logger = logging.getLogger("amili_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _hint(error: errors.AmiliError) -> str | None:
    if isinstance(error, errors.AuthenticationError | errors.PermissionDeniedError):
        return "check --token, AMILI_TOKEN or the other credential variables"
    if isinstance(error, errors.TransportError):
        return "check --base-url or AMILI_BASE_URL, and that the service is reachable"
    return None


def _fail(command: str, message: str, hint: str | None, code: int) -> int:
    style = Styles(sys.stderr)
    line = f"{command}: {style('error', 'red')}: {one_line(message)}"
    if hint:
        line += f" ({hint})"
    print(line, file=sys.stderr, flush=True)
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
