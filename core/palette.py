"""The colours of the charts the report and the window both draw, so a bar means the same in each."""

from __future__ import annotations

# One colour per series (tensor types, domains...), in order.
SERIES = ("#5c6bc0", "#26a69a", "#ffa726", "#ef5350", "#ab47bc", "#8d6e63", "#78909c", "#d4e157")

# The parts of a device's memory bar.
MEMORY_PARTS = {
    "weights": "#5c6bc0",
    "kv": "#26a69a",
    "compute": "#ffa726",
    "overhead": "#8d6e63",
    "used": "#ef5350",
    "reserved": "#8d6e63",
    "free": "#66bb6a",
    "unused": "#e0e0e0",
}
LIMIT = "#c62828"  # a capacity or reference line


def series(i: int) -> str:
    return SERIES[i % len(SERIES)]
