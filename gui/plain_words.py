"""Plain words for what files and machines call things: a model's name as a person knows it, a
device as a person sees it, a share that is not "0%"."""

from __future__ import annotations

import re
from pathlib import Path

from core.model.profile import ModelProfile

_QUANT_SUFFIX = re.compile(r"[.\-_](i?q\d\w*|f16|bf16|f32|fp16|\d+(\.\d+)?bpw)$", re.IGNORECASE)


def friendly_name(p: ModelProfile) -> str:
    """The name a person recognises: the file's own name (as LM Studio and Ollama show it) when it
    names the model, else the metadata's name if short, else basename and size ("SmolLM2-135M-Instruct",
    not "Smollm2 135M 8k Lc100K Mix1 Ep2")."""
    stem = Path(p.path).name
    stem = stem[:-5] if stem.lower().endswith(".gguf") else stem
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", stem)
    stem = _QUANT_SUFFIX.sub("", stem)
    if p.basename and p.basename.lower().replace("-", "") in stem.lower().replace("-", ""):
        return stem
    if p.name and len(p.name.split()) <= 4:
        return p.name
    if p.basename:
        return " ".join(x for x in (p.basename, p.size_label) if x)
    return p.name or stem


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
