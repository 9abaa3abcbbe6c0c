"""Plain words for what files and machines call things, in one place for every view.

The tier bands and their words are the quant-tier check's own (core.checks.tiers); a device's name is
the memory check's (core.checks.vram.device_words); the front ends only show these strings.
"""

from __future__ import annotations

import re

from core.checks.finding import Finding
from core.checks.tiers import TIER_WORDS, block_bpw, bpw_words, severity_for_bpw, share_words
from core.checks.vram import device_words
from core.hardware.machine import GpuInfo
from core.memory.arithmetic import gib
from core.model.naming import friendly_name
from core.model.profile import ModelProfile
from core.model.profile_text import human_bytes, human_count, profile_summary

__all__ = [
    "PRECISION_SENTENCES",
    "bpw_words",
    "device_title",
    "found_badge",
    "friendly_name",
    "human_bytes",
    "human_count",
    "not_checked_words",
    "precision_of",
    "profile_summary",
    "quant_in_name",
    "quant_tier",
    "share_words",
    "tier_badge",
    "usable_words",
]

# What a tier means for the answers, said once per tier.
PRECISION_SENTENCES = {
    "critical": "Very low precision: answers are likely to be damaged.",
    "warning": "Low precision: some damage to answers is likely.",
    "info": "Medium precision: small losses, usually fine for chat.",
    "ok": "Good precision: little or nothing lost.",
}

_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32)(?![A-Za-z0-9])", re.IGNORECASE
)


def usable_words(gpu: GpuInfo) -> str:
    """What the Advice page plans with, said on the Machine page too, with what the difference is:
    "llama.cpp can use 7.38 GiB of it (the driver keeps 0.62 GiB)". Empty when it is all of the free memory."""
    usable = gpu.available_bytes
    free = gpu.free_bytes if gpu.free_bytes is not None else gpu.total_bytes
    if not usable or free is None or usable >= free:
        return ""
    return f"llama.cpp can use {gib(usable)} of it: the driver and the system keep {gib(free - usable)}."


def not_checked_words(finding: Finding) -> str:
    """A check that could not look, in one line that says what was not checked (and says it once)."""
    if finding.id == "finetune":
        return "Not checked: whether this is the model you meant to run (say which on the Setup page)."
    if finding.id == "vram":
        reason = finding.title.split(":", 1)[1].strip() if ":" in finding.title else ""
        return "Not checked: whether it fits in memory" + (f" ({reason})." if reason else ".")
    return "Not checked: " + finding.title.removeprefix("Not checked: ")


def device_title(device: str) -> str:
    """A device as a heading: "Graphics card 1 (NVIDIA H200)", "Main memory (RAM)"."""
    words = device_words(device)
    return words[:1].upper() + words[1:]


def quant_in_name(name: str) -> str | None:
    """The quant type a file name announces (the last one: "Llama-3-8B-Q4_K_M.gguf" -> "Q4_K_M")."""
    found = _QUANT_IN_NAME.findall(name)
    return found[-1].upper() if found else None


def quant_tier(quant: str) -> str:
    """A quant type's tier as a severity, from its name alone (a file not read yet): the same bands as
    the quant-tier check's bits per weight, by type family."""
    q = quant.upper()
    if q.startswith(("IQ1", "IQ2", "Q2", "TQ")):
        return "critical"
    if q.startswith(("IQ3", "Q3")):
        return "warning"
    if q in ("Q4_0", "Q4_1", "IQ4_XS", "IQ4_NL", "Q4_K_S"):
        return "info"
    return "ok"


def found_badge(name: str) -> str:
    """ "Q4_K_M: good precision", like LM Studio's list; empty when the name says no quant."""
    quant = quant_in_name(name)
    return f"{quant}: {TIER_WORDS[quant_tier(quant)]}" if quant else ""


def precision_of(profile: ModelProfile) -> str:
    """The tier of a read file as a severity: its layers' bits per weight (not the whole file's)."""
    return severity_for_bpw(block_bpw(profile)) if profile.parameters else "info"


def tier_badge(profile: ModelProfile) -> str:
    """ "Q4_K_M: good precision" for a file whose header was read."""
    sev = precision_of(profile)
    name = quant_in_name(profile.nominal_type or "") or profile.nominal_type or ""
    return f"{name}: {TIER_WORDS[sev]}" if name else TIER_WORDS[sev]
