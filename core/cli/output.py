"""What every CLI command shares for output: JSON on stdout, the same way everywhere.

Everything the CLI writes goes through `SafeStream` (installed by core.cli.main), which shows text
from a file, a server or the Hub through core.display_text, the one door for it: escape sequences
(ANSI colours, cursor moves, OSC 52 clipboard writes, title changes), bidi controls and line
separators, and every other control character except newline and tab, are shown as visible
`\x1b`-style escapes instead of being obeyed. A value that must stay on one line (a model's name,
a finding's title) goes through `display_text.one_line` where the command formats it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from core import display_text
from core.progress import Progress
from core.textnum import Quantity, whole_argument


class SafeStream(io.TextIOBase):
    """A text stream that cleans everything written to it, then passes it on.

    `raw_write` is for the app's own terminal control (the progress line's carriage return).
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(display_text.visible(text))
        return len(text)

    def raw_write(self, text: str) -> None:
        self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding


def install_safe_streams() -> None:
    """Route sys.stdout and sys.stderr through SafeStream (idempotent)."""
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)


def _raw_write(stream: TextIO, text: str) -> None:
    if isinstance(stream, SafeStream):
        stream.raw_write(text)
    else:
        stream.write(text)


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, or argparse's own plain usage error.

    A count on the command line is bounded where it enters: `--max-chunks -3` or `--samples 10**9`
    never reaches code that would give a false message or run for hours. The reading is the numbers
    door's (core.textnum: ASCII digits only, no `1_000`).
    """
    return whole_argument(Quantity("a count", "", low, high))


def print_json(data: Any) -> None:
    """JSON on stdout. Control characters only occur inside strings there, so they are written as
    JSON's own `\\uXXXX` escapes (still the same JSON), never raw to the terminal."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(display_text.json_escapes(text) + "\n")


class ProgressPrinter:
    """Progress on stderr: a rewritten line on a terminal, a line per phase otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_phase = ""
        self.width = 0

    def __call__(self, event: Progress) -> None:
        if self.tty:
            text = display_text.one_line(event.describe())[:100]
            _raw_write(sys.stderr, "\r" + text.ljust(self.width))
            self.width = len(text)
            sys.stderr.flush()
        elif event.phase != self.last_phase:
            sys.stderr.write(event.phase + "\n")
        self.last_phase = event.phase

    def close(self) -> None:
        if self.tty and self.width:
            _raw_write(sys.stderr, "\r" + " " * self.width + "\r")
