"""What a check concludes: a `Finding` with its evidence, why it matters, a fix to apply, and its status.

The status is the check's own word on what it did: it found something, it looked and found nothing
wrong, or it could not look (an input it reads was missing). The reports, the window and the CLI read
the status; none of them decides from a check's id whether it looked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.engines.base import FixStep
from core.severity import SEVERITIES

__all__ = [
    "CONFIDENCES",
    "CONFIDENCE_RANK",
    "CONFIDENCE_WORDS",
    "FINE",
    "FOUND",
    "NOT_CHECKED",
    "SEVERITIES",
    "STATUSES",
    "Finding",
    "FixStep",
]  # SEVERITIES: core.severity

# "confirmed": a log line or a setting the running engine reported shows the cause;
# "confirmed-by-measurement": the comparison measured it; "likely": the file's metadata says so;
# "suspected": a rule of thumb.
CONFIDENCES = ("suspected", "likely", "confirmed", "confirmed-by-measurement")
# How sure a finding is, in plain words: the badge the window shows and the report prints.
CONFIDENCE_WORDS = {
    "confirmed-by-measurement": "Confirmed by measurement",
    "confirmed": "Confirmed by your app",
    "likely": "Likely",
    "suspected": "Suspected",
}
CONFIDENCE_RANK = {"confirmed-by-measurement": 0, "confirmed": 0, "likely": 1, "suspected": 2}

# What a check did: found a problem (any severity but "ok"), looked and found it fine, or could not
# look because an input it reads was missing ("not checked" is never "fine": core.severity.NOT_CHECKED).
FOUND, FINE, NOT_CHECKED = "found", "fine", "not-checked"
STATUSES = (FOUND, FINE, NOT_CHECKED)


@dataclass
class Finding:
    """`id` is the id of the check that found it (core.checks.registry), which also places it in the ranking."""

    id: str
    severity: str
    title: str
    evidence: list[str] = field(default_factory=list)  # in plain words, for the person
    why: str = ""
    fix: list[FixStep] = field(default_factory=list)
    confidence: str = "suspected"
    rank: int = 0
    # The technical lines behind the evidence (metadata keys, type names, devices): shown under
    # "Details", for the expert and for bug reports; plain words come first (issue 16 item 9).
    details: list[str] = field(default_factory=list)
    # FOUND, FINE or NOT_CHECKED. Left empty, it follows the severity (a problem is found, "ok" is
    # fine); a check that could not look says NOT_CHECKED itself, with severity "ok".
    status: str = ""

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity
        assert self.confidence in CONFIDENCES, self.confidence
        if not self.status:
            self.status = FOUND if self.is_problem else FINE
        assert self.status in STATUSES, self.status
        assert (self.status == FOUND) == self.is_problem, f"{self.id}: status {self.status} with {self.severity}"

    @property
    def checked(self) -> bool:
        """False when the check could not look: shown as "Not checked", never as "fine"."""
        return self.status != NOT_CHECKED

    @property
    def is_problem(self) -> bool:
        return self.severity != "ok"

    @property
    def confirmed(self) -> bool:
        return self.confidence in ("confirmed", "confirmed-by-measurement")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
