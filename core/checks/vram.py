"""vram: is the fix hardware? Memory needed (core.memory, which agrees with llama.cpp) against the
memory the machine has, and — when nothing reasonable fits — which card would (core.memory.upgrade)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from core.checks.base import Check, CheckInput, Explains, Outcome
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.fixes import settings_fix
from core.engines import registry as engines
from core.engines.base import Change
from core.errors import QuantDoctorError
from core.hardware.machine import HardwareProfile
from core.memory.arithmetic import gib, kv_arithmetic
from core.memory.estimate import TIGHT_MARGIN_BYTES
from core.memory.plan import FitReport, plan_with_advice
from core.model.profile import ModelProfile
from core.settings.run import RunSettings, is_quantized_cache
from core.settings.setup import Setup
from core.textnum import DEVICE, whole_or_none

WHY = (
    "When the model, its KV cache and llama.cpp's working buffers do not fit in the graphics card's memory, "
    "layers spill to the CPU (many times slower) or loading fails; people then pick a smaller, more damaged "
    "quant or a 4-bit cache to squeeze it in. Knowing exactly what fits shows which trade-off is the cheapest."
)


def memory_setup(profile: ModelProfile, setup: Setup) -> RunSettings:
    """The person's settings with the context the engine really uses."""
    return setup.run.replace(n_ctx=engines.effective_ctx(setup, profile.context_length))


def fit_report(profile: ModelProfile, setup: Setup, hardware: HardwareProfile) -> FitReport:
    return plan_with_advice(profile, memory_setup(profile, setup), hardware)


def device_words(device: str) -> str:
    """ "CUDA0 (NVIDIA H200)" -> "graphics card 1 (NVIDIA H200)"; "host" -> "main memory (RAM)"."""
    if device in ("host", "CPU", "cpu"):
        return "main memory (RAM)"
    m = re.match(r"^[A-Za-z]+(\d+) \((.*)\)$", device)
    index = whole_or_none(m.group(1), DEVICE) if m else None
    if m and index is not None:
        return f"graphics card {index + 1} ({m.group(2)})"
    m = re.match(r"^[A-Za-z]+(\d+)$", device)
    index = whole_or_none(m.group(1), DEVICE) if m else None
    return f"graphics card {index + 1}" if index is not None else device


def _plain_device_line(d: Any) -> str:
    line = f"{device_words(d.device)}: needs {gib(d.total_bytes)}"
    if d.available_bytes is not None:
        line += f" of the {gib(d.available_bytes)} free"
    return line


def _device_line(d: Any) -> str:
    line = (
        f"{d.device}: weights {gib(d.weights_bytes)} + KV cache {gib(d.kv_bytes)} + compute {gib(d.compute_bytes)} "
        f"+ runtime {gib(d.overhead_bytes)} = {gib(d.total_bytes)}"
    )
    if d.available_bytes is not None:
        line += f" of {gib(d.available_bytes)} available"
    return line


def _alternative_fix(alt: Any, setup: Setup, profile: ModelProfile, current: RunSettings) -> list[FixStep]:
    """The option's settings in the person's engine, over their own command: only what differs."""
    s = alt.settings
    cache_k, cache_v = s.get("cache_type_k"), s.get("cache_type_v")
    cache_changes = (cache_k and cache_k != current.cache_type_k) or (cache_v and cache_v != current.cache_type_v)
    change = Change(
        n_ctx=int(s["ctx"]) if s.get("ctx") and s["ctx"] != current.n_ctx else None,
        cache_type_k=cache_k if cache_changes else None,
        cache_type_v=cache_v if cache_changes else None,
        flash_attn=True if cache_changes and cache_v and is_quantized_cache(cache_v) else None,
        n_gpu_layers=int(s["n_gpu_layers"])
        if s.get("n_gpu_layers") is not None and s["n_gpu_layers"] != current.n_gpu_layers
        else None,
    )
    # the comparison is with the settings as the engine runs them (its default context filled in)
    return settings_fix(replace(setup, run=current), profile, change)


def run(inputs: CheckInput) -> Outcome:
    """The finding, and the fit report the window's memory page and the report draw (None: not estimated)."""
    profile, hardware, setup = inputs.profile, inputs.hardware, inputs.setup
    assert hardware is not None  # `requires` below: diagnose skips this check without a machine
    if profile.format != "gguf":
        return Outcome(
            Finding(
                id="vram",
                severity="ok",
                title=f"Memory not estimated: {profile.format.upper()} models run outside llama.cpp",
                evidence=[f"model files: {gib(profile.file_size)}"],
                why=WHY,
                status=NOT_CHECKED,  # no estimate: not "fits"
            )
        )
    try:
        report = fit_report(profile, setup, hardware)
    except QuantDoctorError as err:
        return Outcome(
            Finding(
                id="vram",
                severity="ok",
                title="Memory not estimated: the estimate could not be made",
                evidence=[err.message],
                why=WHY,
                status=NOT_CHECKED,
            )
        )
    est = report.estimate
    evidence = [_plain_device_line(d) for d in est.devices]
    details = [_device_line(d) for d in est.devices]
    details.append(kv_arithmetic(report.shape, est.setup))
    where = "GPU" if hardware.usable_gpus else "RAM"
    if hardware.cpu_only and hardware.cpu_only_reason:
        evidence.insert(0, f"no GPU will be used: {hardware.cpu_only_reason}")
    trained = report.shape.n_ctx_train
    if trained and report.max_context >= trained:
        evidence.append(f"the model's whole trained context ({trained:,} tokens) fits")
    else:
        evidence.append(f"largest context that fits: {report.max_context:,} tokens")
    if hardware.usable_gpus:
        evidence.append(f"GPU layers that fit: {report.max_gpu_layers} of {report.shape.n_layer + 1}")
    evidence += est.notes
    fix: list[FixStep] = []
    if est.fits:
        margins = [d.margin_bytes for d in est.devices if d.margin_bytes is not None]
        tight = bool(margins) and min(margins) < TIGHT_MARGIN_BYTES
        severity = "info" if tight else "ok"
        title = (
            f"It fits, but with less than {gib(TIGHT_MARGIN_BYTES)} to spare"
            if tight
            else f"It fits in {where} with room to spare"
        )
        if tight:
            room = "a slightly smaller context" + ("" if setup.run.quantized_cache else " or a q8_0 KV cache")
            fix = [FixStep(f"Leave some room: {room} avoids surprises.")]
    else:
        change = report.one_change
        working = [a for a in report.alternatives if a.fits and not a.too_short]
        if change is not None:  # one of the options fits: name it, never "the fix is hardware"
            severity, title = (
                "warning",
                f"It does not fit in {where} as set up; one change makes it fit: {change.label}",
            )
            working = [change] + [a for a in working if a is not change]
        else:
            severity, title = "critical", f"It does not fit in {where}: the fix is hardware, or a smaller model"
        for alt in working[:3]:
            speed = f", about {alt.tokens_per_s:g} tokens/s" if alt.tokens_per_s else ""
            fix.append(FixStep(f"{alt.label}{speed}. {alt.arithmetic}".strip()))
            fix += _alternative_fix(alt, setup, profile, est.setup)
    if report.upgrade is not None:
        lines = report.upgrade.lines()
        evidence.append(lines[0])
        fix += [FixStep(line.strip()) for line in lines[1:]]
        if severity == "ok":
            severity, title = "info", "It fits only slowly on this machine; a GPU would help"
    return Outcome(
        Finding(
            id="vram",
            severity=severity,
            title=title,
            evidence=evidence,
            why=WHY,
            fix=fix,
            confidence="likely" if severity != "ok" else "suspected",
            details=details,
        ),
        report,
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "memory-crash-slow",
        "weights, cache and buffers larger than the GPU's free memory",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
)

CHECK = Check(
    id="vram",
    order=60,
    run=run,
    needs=frozenset(("profile", "setup", "hardware")),
    requires=frozenset(("hardware",)),
    skipped_note="The memory check was skipped: no machine profile was available.",
    explains=EXPLAINS,
)
