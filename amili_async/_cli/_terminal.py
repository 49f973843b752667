"""What the CLI writes for people: colour and progress on a terminal only, plain lines otherwise.

Colour follows the usual conventions: only when the stream is a terminal, never when
``NO_COLOR`` is set to anything (https://no-color.org) or ``TERM`` is ``dumb``.
"""

from __future__ import annotations

import os
import sys
from typing import Final, TextIO

__all__ = ["Progress", "Styles", "is_terminal", "one_line", "report_failure"]

_RESET: Final = "\033[0m"
_CODES: Final = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}
_BAR_WIDTH: Final = 30


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (a pipe, a file or pytest's capture is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Styles:
    """ANSI styles for one stream, or none at all when colour is off for it."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = (
            is_terminal(stream)
            and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb"
        )

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled:
            return text
        return f"\033[{_CODES[style]}m{text}{_RESET}"


class Progress:
    """A progress bar redrawn in place on a terminal; on anything else, nothing at all (the
    caller prints a plain line per step instead).

    Args:
        total: Steps in all.
        label: What a step is ("creditors").
        stream: Where to draw (stderr, so that stdout stays data).
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.active = is_terminal(self.stream)
        self.total = total
        self.label = label
        self.done = 0
        self.failed = 0

    def step(self, *, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        if self.active:
            filled = _BAR_WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            failures = f", {self.failed} failed" if self.failed else ""
            line = f"\r[{bar}] {self.done}/{self.total} {self.label}{failures}"
            self.stream.write(line)
            self.stream.flush()

    def finish(self) -> None:
        """End the bar's line, so that what follows starts on a fresh one."""
        if self.active and self.done:
            self.stream.write("\n")
            self.stream.flush()


def one_line(text: object) -> str:
    """``text`` with its line breaks and runs of spaces made single spaces: a server's HTML
    error page quoted in a message must not break a one-line report."""
    return " ".join(str(text).split())


def report_failure(creditor_id: str, error: Exception) -> None:
    """One creditor's failure, as one line on stderr; the command goes on with the others."""
    style = Styles(sys.stderr)
    print(f"{style('failed', 'red')} {creditor_id}: {one_line(error)}", file=sys.stderr, flush=True)
