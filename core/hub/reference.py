"""The best reference the person can get for their model when they have no higher-precision file at hand.

Best is highest precision: a BF16 or F16 GGUF (the reference llama.cpp's own tables are measured
against), else a Q8_0 (within a fraction of a percent of F16 on every published measure). It is looked
for in the person's own repository first, then among the Hub's other GGUF quantizations of the same base
model (the model tree), then among repositories named after the same basename. What is offered always
says its size, the free space on the disk it would go to, and how long fetching it takes at a stated
speed, so no download starts without its size having been said; core.app.hub turns it into the three
choices (fetch it, take the published table's verdict instead, or ask the settings question with the
same file and an f16 cache).

Only the Hub's public listing and model-info answers are read (core.hub.card, core.hub.alternatives,
core.hub.search): nothing here downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import HubError
from core.hub import _client
from core.hub.alternatives import list_quant_repos
from core.hub.card import GGUFEntry, HubCard, fetch_card, parse_repo_id
from core.hub.download import free_disk_space
from core.hub.search import search_model_ids

ASSUMED_SPEED_BPS = 25_000_000  # what the time to fetch is worked out at when no speed was measured (25 MB/s)
PRECISION = {"BF16": 0, "F16": 0, "F32": 1, "Q8_0": 2}  # lower is better as a reference
MAX_REPOS = 12


@dataclass(frozen=True)
class ReferenceOffer:
    """A reference file on the Hub, with everything the person is told before agreeing to fetch it."""

    repo_id: str
    filename: str
    quant: str  # "BF16", "F16", "F32" or "Q8_0"
    size: int | None  # bytes (all parts of a split file)
    where: str  # "your repository", "another quantization of BASE", "a repository named like BASENAME"
    free_bytes: int  # free space where the Hub's cache lives
    speed_bps: float  # the speed the time is worked out at
    speed_measured: bool = False

    @property
    def fetch_seconds(self) -> float | None:
        return None if self.size is None or self.speed_bps <= 0 else self.size / self.speed_bps

    @property
    def fits_disk(self) -> bool | None:
        return None if self.size is None else self.size < self.free_bytes

    def words(self) -> str:
        """ "the F16 of org/Model-GGUF (Model-F16.gguf, 16.1 GB; 420.0 GB free here; about 11 min at 25 MB/s)" """
        size = _bytes(self.size) if self.size is not None else "size not listed"
        secs = self.fetch_seconds
        speed = f"{_bytes(self.speed_bps)}/s" + ("" if self.speed_measured else ", an assumed speed")
        time = f"about {_duration(secs)} at {speed}" if secs is not None else "time unknown"
        return (
            f"the {self.quant} of {self.repo_id} ({self.filename}, {size}; {_bytes(self.free_bytes)} free here; {time})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id, "filename": self.filename, "quant": self.quant, "size": self.size,
            "where": self.where, "free_bytes": self.free_bytes, "fetch_seconds": self.fetch_seconds,
            "speed_bps": self.speed_bps, "speed_measured": self.speed_measured, "fits_disk": self.fits_disk,
        }  # fmt: skip


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _best(card: HubCard) -> GGUFEntry | None:
    """The card's highest-precision GGUF among BF16/F16/F32/Q8_0 (the smaller of two equals), or None."""
    found = [e for e in card.gguf_models() if e.quant is not None and e.quant.name in PRECISION]
    found.sort(key=lambda e: (PRECISION[e.quant.name] if e.quant else 9, e.size or 0))
    return found[0] if found else None


def find_reference(
    repo: str | None = None,
    basename: str | None = None,
    speed_bps: float | None = None,
    exclude: str | None = None,
) -> ReferenceOffer | None:
    """The best reference for this model on the Hub (see the module's docstring), or None when there is none.

    `repo` is the person's repository (resolved from their file), `basename` the model's name
    (`general.basename`, e.g. "Qwen2.5-7B-Instruct") when no repository is known; `exclude` is the
    person's own file, never offered as its own reference. Raises the Hub's typed errors (offline,
    unreachable) only when nothing at all could be asked.
    """
    repo_id = parse_repo_id(repo) if repo else None
    speed = speed_bps or ASSUMED_SPEED_BPS
    free = free_disk_space(_client.cache_dir())
    candidates: list[tuple[str, str]] = []  # (repo, where)
    base = None
    if repo_id:
        card = fetch_card(repo_id)
        base = card.quantizes[0] if card.quantizes else None
        candidates.append((card.repo_id, "your repository"))
    if base:
        candidates += [(r, f"another quantization of {base}") for r in list_quant_repos(base, limit=MAX_REPOS)]
    name = basename or (base.split("/")[-1] if base else None)
    if name:
        try:
            found = search_model_ids(name, limit=MAX_REPOS)
        except HubError:
            found = []
        candidates += [(r, f"a repository named like {name}") for r in found if name.lower() in r.lower()]
    best: tuple[tuple[int, int, int], ReferenceOffer] | None = None
    seen: set[str] = set()
    for order, (rid, where) in enumerate(candidates):
        if rid in seen:
            continue
        seen.add(rid)
        try:
            card = fetch_card(rid)
        except HubError:
            continue
        entry = _best(card)
        if entry is None or entry.quant is None or (exclude and entry.name == exclude and rid == repo_id):
            continue
        offer = ReferenceOffer(rid, entry.name, entry.quant.name, entry.size, where, free, speed, speed_bps is not None)
        key = (PRECISION[entry.quant.name], 0 if rid == repo_id else 1, order)
        if best is None or key < best[0]:
            best = (key, offer)
    return best[1] if best else None
