"""The CLI's own errors and exit codes."""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "UsageError",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1  # the command ran and failed (the API refused, a creditor failed, ...)
EXIT_USAGE: Final = 2  # the command line is wrong (argparse's own code for usage errors)
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as shells report Ctrl-C


class CommandError(Exception):
    """A failure to report in one line on stderr, without a traceback.

    Args:
        message: What went wrong.
        hint: What to do about it, shown after the message.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(CommandError):
    """An option value the parser could not check by itself (``--creditors 0``)."""

    exit_code = EXIT_USAGE
