"""Plain words for what files and machines call things: a model's name as a person knows it, a
device as a person sees it, a share that is not "0%"."""

from __future__ import annotations

import re

from core.model.naming import friendly_name

__all__ = ["device_words", "found_badge", "friendly_name", "quant_in_name", "quant_tier", "share_words"]


def share_words(share: float) -> str:
    """A share of a file: "under 1%" rather than a misleading "0%"."""
    return "under 1%" if 0 < share < 0.01 else f"{share:.0%}"


def device_words(device: str) -> str:
    """ "CUDA0 (NVIDIA H200)" -> "Graphics card 1: NVIDIA H200"; "host" -> "Main memory (RAM)"."""
    if device == "host":
        return "Main memory (RAM)"
    m = re.match(r"^[A-Za-z]+(\d+) \((.*)\)$", device)
    if m:
        return f"Graphics card {int(m.group(1)) + 1}: {m.group(2)}"
    return device


_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32)(?![A-Za-z0-9])", re.IGNORECASE
)
PRECISION_BADGES = {"critical": "very low precision", "warning": "low precision", "info": "medium precision",
                    "ok": "good precision"}  # fmt: skip


def quant_in_name(name: str) -> str | None:
    """The quant type a file name announces (the last one: "Llama-3-8B-Q4_K_M.gguf" -> "Q4_K_M")."""
    found = _QUANT_IN_NAME.findall(name)
    return found[-1].upper() if found else None


def quant_tier(quant: str) -> str:
    """A quant type's tier as a severity, by its family (the same bands as the quant-tier check)."""
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
    return f"{quant}: {PRECISION_BADGES[quant_tier(quant)]}" if quant else ""
