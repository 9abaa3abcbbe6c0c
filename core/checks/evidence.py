"""How the differential checks name their evidence: the source first, then what it said."""

from __future__ import annotations

from core.settings.observations import Observation

MAX_LINE = 240  # a log line is quoted, not dumped


def quote(o: Observation) -> str:
    text = " ".join(o.text.split())
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 1] + "…"
    return f"{o.source}: {text}"


def unique(lines: list[Observation]) -> list[Observation]:
    """One of each line (llama.cpp prints some warnings once per call)."""
    seen: set[str] = set()
    out = []
    for o in lines:
        key = " ".join(o.text.split())
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out
