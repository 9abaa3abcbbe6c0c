"""The name a person knows a model by, for every view (window, reports, CLI): not the metadata's
"Smollm2 135M 8k Lc100K Mix1 Ep2" but "SmolLM2-135M-Instruct"; the raw names stay in the details."""

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
