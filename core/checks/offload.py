"""offload: part of the model runs from system RAM.

Not a quality problem — but the commonest reason a model is slow, and people blame the quant for
that too. The running engine says it (Ollama's /api/ps size vs size_vram; llama.cpp's "offloaded X/Y
layers to GPU" log line); the typed setup says it when -ngl is below the layer count.
"""

from __future__ import annotations

import re

from core.checks.base import Check, CheckInput, Explains
from core.checks.evidence import quote
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.settings.observations import Observations
from core.textnum import LAYERS, whole_or_none

ID = "offload"
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers")


def _logged_offload(text: str) -> tuple[int, int] | None:
    """(layers on the GPU, layers in all) from llama.cpp's "offloaded 20/33 layers to GPU"; None when the
    line holds no such pair of layer counts (a 400-digit count, digits other than 0-9)."""
    m = _OFFLOADED.search(text)
    on_gpu = whole_or_none(m.group(1), LAYERS) if m else None
    total = whole_or_none(m.group(2), LAYERS) if m else None
    return (on_gpu, total) if on_gpu is not None and total is not None else None


def run(inputs: CheckInput) -> Finding:
    profile, setup = inputs.profile, inputs.setup
    obs = inputs.observations or Observations()
    why = (
        "Layers in system RAM run on the CPU, many times slower than on the GPU. The answers are the same; "
        "only the speed suffers. This is the memory, not the quant: see the memory check for what fits."
    )
    total = (profile.block_count + 1) if profile.block_count else None
    room = (
        "a smaller context, a q8_0 cache or a smaller quant"
        if not setup.run.quantized_cache
        else ("a smaller context or a smaller quant")
    )
    see = FixStep(f"See the memory check: {room} lets it all fit.")
    evidence: list[str] = []
    on_gpu: int | None = None
    confidence = "likely"
    logged = obs.lines("offloaded ")
    if obs.offload is not None:
        on_gpu, total = obs.offload
        confidence = "confirmed"
        evidence.append(f"{obs.offload_source or 'the engine'}: {on_gpu}/{total} layers on the GPU")
    elif logged and (counted := _logged_offload(logged[0].text)):
        on_gpu, total = counted
        confidence = "confirmed"
        evidence.append(quote(logged[0]))
    elif setup.run.n_gpu_layers is not None and total:
        on_gpu = setup.run.n_gpu_layers
        evidence.append(f"your setting ({setup.source}): {on_gpu} GPU layers of {total}")
    if on_gpu is None and obs.gpu_share is not None and obs.gpu_share < 0.995:
        return Finding(
            id=ID,
            severity="info",
            title=f"{1 - obs.gpu_share:.0%} of the model runs from system RAM: slow, but not the quant",
            evidence=[f"{obs.offload_source or 'the engine'}: {obs.gpu_share:.0%} of the model in VRAM"],
            why=why,
            fix=[see],
            confidence="confirmed",
        )
    if on_gpu is not None and total and on_gpu < total:
        cpu = total - on_gpu
        return Finding(
            id=ID,
            severity="info",
            title=f"{cpu} of {total} layers run from system RAM: slow, but not the quant",
            evidence=evidence,
            why=why,
            fix=[see],
            confidence=confidence,
        )
    if on_gpu is None:  # nobody said how many layers are on the GPU: not checked, not "all on the GPU"
        return Finding(
            id=ID,
            severity="ok",
            title="Not checked: no layer count from the engine, its log or your settings",
            evidence=["no offload count from the engine, its log or your settings"],
            why=why,
            confidence=confidence,
            status=NOT_CHECKED,
        )
    return Finding(
        id=ID, severity="ok", title="All layers on the GPU", evidence=evidence, why=why, confidence=confidence
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "memory-crash-slow",
        "layers running from system RAM",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
)

CHECK = Check(
    id=ID,
    order=57,
    run=run,
    needs=frozenset(("profile", "setup", "observations")),
    explains=EXPLAINS,
)
