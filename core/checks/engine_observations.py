"""What the person's engine or its log said, as the differential checks read it (`Observations`).

The engine readers (core.engines: a live engine's API and process, a pasted log) describe a run in
their own terms; the checks that rule out causes beyond the quant want each piece with its source:
a log warning line, the context one conversation really gets, the engine's version (when the
engine's declaration says its default context depends on it: `Engine.default_ctx_for`), the offload
count or the share of the model in VRAM. Read by shape (attribute names), so an engine reader adds a
field without this module having to move with it.
"""

from __future__ import annotations

from typing import Any

from core.settings.observations import Observation, Observations, SamplingSeen
from core.settings.setup import Setup


def from_engine(evidence: Any, base: Observations | None = None) -> Observations:
    """`base` (what the person typed or pasted) extended with what the engine evidence reports."""
    obs = base if base is not None else Observations()
    if evidence is None:
        return obs
    source = str(getattr(evidence, "source", "the engine"))
    log = getattr(evidence, "log", None)
    if log is not None:
        for w in getattr(log, "warnings", []) or []:
            for line in getattr(w, "lines", []) or []:
                obs.log.append(Observation(str(line), f"{source} (log line {getattr(w, 'first_line', '?')})"))
        per_seq = getattr(log, "n_ctx_seq", None) or getattr(log, "n_ctx", None)
        if isinstance(per_seq, int) and obs.live_ctx is None:
            obs.live_ctx = Observation(str(per_seq), f"{source}: context per conversation")
        offloaded = getattr(log, "offloaded", None)
        if offloaded and obs.offload is None:
            obs.offload = (int(offloaded[0]), int(offloaded[1]))
            obs.offload_source = source
        if getattr(log, "version", None):  # every engine's: known defects are matched by version too
            obs.engine_version = obs.engine_version or str(log.version)
    engine = getattr(evidence, "engine", None)
    if engine is not None:
        if getattr(engine, "version", None):
            obs.engine_version = obs.engine_version or str(engine.version)
        loaded = getattr(engine, "loaded", None)
        if loaded is not None:
            ctx = getattr(loaded, "context", None)
            if isinstance(ctx, int) and obs.live_ctx is None:
                obs.live_ctx = Observation(str(ctx), f"{source}: context of the loaded model")
            size, in_vram = getattr(loaded, "size_bytes", None), getattr(loaded, "size_vram", None)
            if isinstance(size, int) and isinstance(in_vram, int) and size > 0 and obs.gpu_share is None:
                obs.gpu_share = in_vram / size
                obs.offload_source = f"{source} (size in VRAM)"
    return obs


def sampling_from_setup(setup: Setup) -> SamplingSeen | None:
    """The sampler a Setup carries (the engine reader fills `Setup.sampling`), as the sampling check reads
    it; None when it carries none. Reported by the engine unless the person typed it."""
    s = getattr(setup, "sampling", None)
    if s is None or getattr(s, "empty", True):
        return None
    source = getattr(s, "source", None) or setup.source
    typed = source in ("command-line flags", "defaults", "your setting")
    return SamplingSeen(
        str(source),
        reported=not typed,
        temperature=getattr(s, "temperature", None),
        top_p=getattr(s, "top_p", None),
        top_k=getattr(s, "top_k", None),
        min_p=getattr(s, "min_p", None),
        repeat_penalty=getattr(s, "repeat_penalty", None),
    )
