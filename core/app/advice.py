"""What the Advice page says, decided here: the one answer first (it fits, or the one change that makes
it fit), where the memory goes on each device, the other options graded, and the upgrade only when no
option fits. The page lays these out; it decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.app.words import device_title
from core.diagnosis import Diagnosis
from core.memory.arithmetic import gib, kv_arithmetic

PARTS = ("weights", "kv", "compute", "overhead")
PART_WORDS = {
    "weights": "the model",
    "kv": "conversation memory (KV cache)",
    "compute": "working space",
    "overhead": "runtime",
}


@dataclass(frozen=True)
class Answer:
    severity: str  # a core.severity name, or "unchecked"
    text: str
    more: str = ""


@dataclass(frozen=True)
class DeviceView:
    title: str  # "Graphics card 1 (NVIDIA H200)"
    parts: list[tuple[str, str, float]]  # (part id, "the model 4.20 GiB", bytes)
    capacity: float | None  # the bytes available on it, None when unknown
    room: str  # "5.20 GiB needed of 7.38 GiB available — does not fit"


@dataclass(frozen=True)
class OptionView:
    severity: str  # ok: fits comfortably; warning: fits, but slowly or too short; critical: does not fit
    words: str  # "Fits", "Fits, but slowly", "Does not fit"
    text: str  # "Fits, but slowly: a context of 4,096 tokens, about 12 tokens/s (3× slower)"
    arithmetic: str = ""


@dataclass(frozen=True)
class AdviceView:
    answer: Answer  # whether it fits
    lead: Answer | None = None  # the one next step across all findings, when the top one is not memory
    devices: list[DeviceView] = field(default_factory=list)
    arithmetic: str = ""  # the KV cache arithmetic, behind "Show the arithmetic"
    options_title: str = ""
    options: list[OptionView] = field(default_factory=list)
    upgrade: list[tuple[str, bool]] = field(default_factory=list)  # (line, is it arithmetic)

    @property
    def estimated(self) -> bool:
        return bool(self.devices)


def grade(option: object) -> tuple[str, str]:
    """(severity, words) of one memory option: the one grading the memory check's fixes follow too."""
    if getattr(option, "comfortable", False):
        return "ok", "Fits"
    if getattr(option, "fits", False):
        return "warning", "Fits, but too short to be useful" if getattr(
            option, "too_short", False
        ) else "Fits, but slowly"
    return "critical", "Does not fit"


def not_estimated(d: Diagnosis | None, machine_known: bool, detecting: bool) -> Answer:
    """Why there is no memory estimate, in one answer."""
    if d is None:
        return Answer("info", "Open a model to see whether it fits this machine.")
    vram = next((f for f in d.findings if f.id == "vram"), None)
    if d.hardware is None and machine_known:  # the machine is known now; the diagnosis is being redone
        return Answer("unchecked", "Estimating the memory for this machine…")
    if d.hardware is None and detecting:
        return Answer("unchecked", "Not estimated yet: Quant Doctor is still looking at this machine.")
    if d.hardware is None:
        return Answer(
            "unchecked",
            "Not checked: there is no machine to compare with.",
            "Pick this computer or a card to try on the Machine page.",
        )
    if vram is not None:
        return Answer("unchecked", f"Not checked. {vram.title}.", " ".join(vram.evidence))
    return Answer("unchecked", "Memory not estimated.")


def next_step(d: Diagnosis | None) -> Answer | None:
    """The one next step: the top fix across all findings (the cause of what the person saw first), when
    it is not the memory's own — that one is the answer below it."""
    if d is None:
        return None
    ranked = d.explains or d.problems
    top = ranked[0] if ranked else None
    if top is None or top.id == "vram":
        return None
    step = next((s.text for s in top.fix), "")
    more = (step + " " if step else "") + "The Diagnosis page has the whole fix, ready to copy."
    return Answer(top.severity, f"First: {top.title.rstrip('.')}.", more)


def advice_view(d: Diagnosis | None, machine_known: bool = False, detecting: bool = False) -> AdviceView:
    """The whole Advice page for a diagnosis (`machine_known`: the case has a machine now; `detecting`:
    the machine is being looked at): the top fix first, then the memory."""
    report = d.memory if d is not None else None
    if d is None or report is None:
        return AdviceView(not_estimated(d, machine_known, detecting), next_step(d))
    est = report.estimate
    s = est.setup
    trained = d.model.context_length or 0
    where = f"{s.n_ctx:,} tokens of context with a {s.cache_type_k}/{s.cache_type_v} cache"
    change = report.one_change
    if report.fits:
        if trained and report.max_context >= trained:
            room = f"Its whole trained context ({trained:,} tokens) fits too."
        elif report.max_context > (s.n_ctx or 0):
            room = f"Up to {report.max_context:,} tokens of context would fit."
        else:
            room = ""
        answer = Answer("ok", f"It fits: {gib(est.total_bytes)} needed for {where}.", room)
    elif change is not None:
        answer = Answer(
            "warning",
            f"It does not fit as set up ({where}). The one change that makes it fit: {change.label}.",
            "The other options are below.",
        )
    elif any(a.fits for a in report.alternatives):
        answer = Answer(
            "critical",
            f"It does not fit ({where}): the settings that do fit are too slow or too short to use.",
            "They are listed below, with what hardware would run it.",
        )
    else:
        answer = Answer(
            "critical",
            f"It does not fit ({where}), and no setting makes it fit on this machine.",
            "What would run it is below.",
        )
    devices = []
    for dev in est.devices:
        parts = [
            (k, f"{PART_WORDS[k]} {gib(getattr(dev, f'{k}_bytes'))}", float(getattr(dev, f"{k}_bytes"))) for k in PARTS
        ]
        room = (
            f"{gib(dev.total_bytes)} needed of the {gib(dev.available_bytes)} llama.cpp can use"
            if dev.available_bytes is not None
            else f"{gib(dev.total_bytes)} needed"
        )
        devices.append(
            DeviceView(
                device_title(dev.device),
                parts,
                float(dev.available_bytes) if dev.available_bytes else None,
                room + ("" if dev.fits else " — does not fit"),
            )
        )
    options = []
    for alt in report.alternatives:
        speed = f", about {alt.tokens_per_s:g} tokens/s" if alt.tokens_per_s else ""
        slow = f" ({alt.slowdown:g}× slower)" if alt.slowdown and alt.slowdown > 1.05 else ""
        severity, words = grade(alt)
        options.append(OptionView(severity, words, f"{words}: {alt.label}{speed}{slow}", alt.arithmetic or ""))
    upgrade: list[tuple[str, bool]] = []
    if report.upgrade is not None and change is None and not report.fits:
        upgrade = [(line.strip(), line.startswith("  ")) for line in report.upgrade.lines()]
    return AdviceView(
        answer,
        next_step(d),
        devices,
        kv_arithmetic(report.shape, s),
        ("Other options" if not report.fits else "Other settings") if options else "",
        options,
        upgrade,
    )
