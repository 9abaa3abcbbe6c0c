"""The model Hub, through the one door: better quants of the person's model, the reference to compare
with, a download, and model ids suggested as they type. Every call here degrades to a plain note or a
typed error when the Hub cannot be reached; the front ends never talk to the Hub themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.app.case import Case
from core.checks import registry as checks
from core.engines.registry import effective_ctx
from core.errors import HubError
from core.evaluation.verdicts import typical_sentence
from core.hub import Alternatives, Downloaded, download, fetch_card, find_alternatives, reference_file, resolve_repo
from core.hub.download import _format_bytes as format_bytes
from core.hub.fit import default_fit, memory_fit, parse_gpu_budget, simple_fit
from core.hub.reference import ReferenceOffer, find_reference
from core.hub.search import MIN_QUERY, is_offline, search_model_ids
from core.progress import Job, Progress
from core.textnum import PARTS, whole_or_none

__all__ = [
    "MIN_QUERY",
    "Alternatives",
    "Downloaded",
    "ReferenceChoices",
    "ReferenceOffer",
    "alternatives_job",
    "default_fit",
    "download",
    "effective_ctx",
    "fetch_card",
    "fetch_reference",
    "find_alternatives",
    "find_reference",
    "fixes",
    "format_bytes",
    "is_offline",
    "memory_fit",
    "parse_gpu_budget",
    "reference_choices",
    "reference_choices_job",
    "reference_file",
    "search_model_ids",
    "simple_fit",
]


def fixes(finding_id: str) -> bool:
    """Whether a better download from the Hub fixes what this check found (its `hub_fixable`)."""
    return finding_id in checks.hub_fixable()


def alternatives_job(case: Case, expected: str | None) -> Job[Alternatives]:
    """Quants of the model the person expected (None: what this file quantizes) that fit their machine
    (or a default budget before the machine is known), at the context their engine really uses."""
    yield Progress("Asking the Hub for quants of " + (expected or "this model"))
    if case.profile is None:
        raise ValueError("no model in the case")
    fits = memory_fit(case.hardware) if case.hardware is not None else default_fit
    ctx = effective_ctx(case.setup, case.profile.context_length)
    return find_alternatives(case.profile, expected, ctx=ctx, workload=case.setup.workload, fits=fits)


@dataclass(frozen=True)
class ReferenceChoices:
    """What the person can do without a higher-precision file: fetch the best reference on the Hub (its size,
    the disk's free space and the time said first), take the published table's verdict instead, or ask the
    settings question with the file they have (their cache settings against an f16 cache)."""

    offer: ReferenceOffer | None
    table: str  # the published loss for their quant type, in one sentence
    settings: str  # the same file with an f16 cache: the question that needs no download
    hub_error: str = ""  # why the Hub could not be asked (then `offer` is None for that reason)

    def lines(self, in_window: bool = False) -> list[str]:
        """The three choices in words; the window has the buttons beside them, the CLI names its command."""
        if self.offer is not None:
            first = f"1. Fetch {self.offer.words()} and compare against it."
        elif self.hub_error:
            first = f"1. The Hub could not be asked for a higher-precision file: {self.hub_error}"
        else:
            first = "1. No BF16, F16 or Q8_0 GGUF of this model was found on the Hub to compare against."
        how = "." if in_window else " (`quantdoctor-cli compare --file-or-settings --candidate YOUR.gguf`)."
        return [first, f"2. Or take the published figure instead: {self.table}.", f"3. Or {self.settings}{how}"]

    def to_dict(self) -> dict[str, object]:
        return {"offer": self.offer.to_dict() if self.offer else None, "table": self.table, "settings": self.settings,
                "hub_error": self.hub_error}  # fmt: skip


def reference_choices(
    repo: str | None, basename: str | None, quant_type: str | None, speed_bps: float | None = None,
    own_file: str | None = None,
) -> ReferenceChoices:  # fmt: skip
    """The three choices for a person with no reference file (nothing is downloaded here)."""
    offer = find_reference(repo, basename, speed_bps, exclude=own_file)
    table = typical_sentence(quant_type) if quant_type else "the quant type of your file is not known"
    settings = (
        "ask whether it is the file or your settings with the file you have: your cache settings against an "
        "f16 cache"
    )
    return ReferenceChoices(offer, table.rstrip("."), settings)


def reference_choices_job(case: Case, speed_bps: float | None = None) -> Job[ReferenceChoices]:
    """The three choices for the model in the case (the window's Compare page): its repository as the file
    and its metadata tie it to one (the Hub searched by file name when neither does), its basename, its
    quant type. Only the Hub's listings are read; a Hub that cannot be asked leaves the other two choices."""
    profile = case.profile
    if profile is None:
        raise ValueError("no model in the case")
    yield Progress("Looking on the Hub for a higher-precision file of this model")
    try:
        guesses = resolve_repo(profile)
    except HubError:
        guesses = []
    repo = guesses[0].repo_id if guesses else None
    try:
        return reference_choices(repo, profile.basename, profile.nominal_type, speed_bps, Path(profile.path).name)
    except HubError as err:  # the Hub could not be asked at all: the two choices that need no Hub remain
        choices = reference_choices(None, None, profile.nominal_type, speed_bps)
        return ReferenceChoices(None, choices.table, choices.settings, err.message)


_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def reference_parts(filename: str) -> list[str]:
    """Every file of a split GGUF named by its first part (llama.cpp's `-00001-of-00003.gguf`), else the file."""
    m = _PART.search(filename)
    total = whole_or_none(m.group(2), PARTS) if m else None
    if m is None or total is None or whole_or_none(m.group(1), PARTS) != 1:
        return [filename]
    stem = filename[: m.start()]
    return [f"{stem}-{i:05d}-of-{total:05d}{filename[m.end() - 5 :]}" for i in range(1, total + 1)]


def fetch_reference(offer: ReferenceOffer, agreed_size: int | None) -> Job[Downloaded]:
    """Download the reference the person agreed to (`agreed_size`: the size they were shown), every part of a
    split file into the same snapshot folder (llama.cpp opens the first); returns the first part."""
    if offer.size is None or agreed_size != offer.size:
        raise HubError(
            f"{offer.filename} was not agreed to with its size.", "Ask again, showing its size, before fetching it."
        )
    first: Downloaded | None = None
    for name in reference_parts(offer.filename):
        got = yield from download(offer.repo_id, name)
        first = first or got
    assert first is not None
    return first
