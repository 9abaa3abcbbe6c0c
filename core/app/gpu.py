"""Scoring on the person's GPU, as the front ends offer it: the question (with the build's size), the
fetch they agreed to, and the line every comparison carries saying where it was scored.

The decision is made here, tested without Qt: `offer_for` says what this machine could use (or why the
CPU path, in words), `question` is what the person reads before anything is downloaded, `accept` and
`decline` set the scorer for this session's comparisons (core.evaluation.scorer.use), and `stamp` puts
the scorer into a finished Comparison (its eval_settings["scorer"] and a note: the JSON, the reports,
the CLI and the window all show it).
"""

from __future__ import annotations

from typing import Any

from core.evaluation import llama_builds, scorer
from core.evaluation.compare import Comparison
from core.evaluation.llama_builds import BuildOffer
from core.evaluation.scorer import Scorer
from core.hardware.machine import HardwareProfile
from core.progress import Job

__all__ = [
    "BuildOffer", "Scorer", "accept", "current", "decline", "not_asked", "offer_for", "question", "stamp", "use", "words_of",
]  # fmt: skip


def offer_for(hardware: HardwareProfile | None, backend: str = "auto") -> BuildOffer | Scorer:
    """The GPU build for this machine's GPUs with its size (only the release listing is read), or the CPU
    scorer with the reason none applies."""
    gpus = hardware.usable_gpus if hardware is not None else []
    vendors = sorted({g.vendor for g in gpus})
    cuda = next((g.cuda_driver_version for g in gpus if g.vendor == "nvidia" and g.cuda_driver_version), None)
    return scorer.find_offer(vendors, cuda, backend)


def question(build: BuildOffer) -> str:
    """What the person is asked before a byte is downloaded: what, how big, where it goes, and the choice."""
    if build.cached:
        return f"Score on the GPU with {build.words()}? It is already downloaded."
    return (
        f"Score comparisons on your GPU? This downloads {build.words()} from llama.cpp's releases "
        f"into {build.folder.parent} (checked against its published sha256; about "
        f"{llama_builds.size_words(build.size * 3)} of disk while it unpacks). Without it, comparisons run on "
        "the CPU, slower, with the same numbers."
    )


def accept(build: BuildOffer, agreed_size: int) -> Job[Scorer]:
    """Fetch the build the person agreed to (`agreed_size`: the size they were shown), try it, and score this
    session's comparisons with it; on any failure, the CPU path with the reason."""
    chosen = yield from scorer.get(build, agreed_size)
    scorer.use(chosen)
    return chosen


def decline(build: BuildOffer) -> Scorer:
    chosen = scorer.declined(build)
    scorer.use(chosen)
    return chosen


def not_asked(build: BuildOffer) -> Scorer:
    """No one could be asked (no terminal): the CPU path, saying how to agree."""
    chosen = scorer.with_reason(scorer.installed(), f"{build.words()} was not fetched (no one was asked).")
    scorer.use(chosen)
    return chosen


def use(chosen: Scorer | None) -> None:
    scorer.use(chosen)


def current() -> Scorer:
    return scorer.current()


def stamp(c: Comparison, used: Scorer | None = None) -> Comparison:
    """Put where the comparison was scored into it (a server-only comparison ran no local llama.cpp)."""
    if c.what == "remote" and not c.metrics:
        return c
    s = used or scorer.current()
    c.eval_settings["scorer"] = s.to_dict()
    line = s.words()
    if line not in c.notes:
        c.notes.append(line)
    return c


def words_of(c: Comparison) -> str | None:
    """The scorer line of a comparison (also one loaded from JSON), or None when it predates scorers."""
    data: Any = c.eval_settings.get("scorer")
    return Scorer.from_dict(data).words() if isinstance(data, dict) else None
