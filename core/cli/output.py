"""What every CLI command shares for output: JSON on stdout, the same way everywhere."""

from __future__ import annotations

import json
import sys
from typing import Any

from core.progress import Progress


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


class ProgressPrinter:
    """Progress on stderr: a rewritten line on a terminal, a line per phase otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_phase = ""
        self.width = 0

    def __call__(self, event: Progress) -> None:
        if self.tty:
            text = event.describe()[:100]
            sys.stderr.write("\r" + text.ljust(self.width))
            self.width = len(text)
            sys.stderr.flush()
        elif event.phase != self.last_phase:
            sys.stderr.write(event.phase + "\n")
        self.last_phase = event.phase

    def close(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
