"""kv-cache: is the KV cache quantized too aggressively for the context in use?

The KV cache holds every past token's keys and values; quantizing it rounds the model's memory
of the conversation, and the error grows with the context. A q8_0 cache is nearly free; q4 caches
break long chats. llama.cpp refuses a quantized V cache without flash attention; Ollama quietly
falls back to f16 instead.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput
from core.checks.finding import Finding
from core.checks.measurements import DomainMetrics, Measurements
from core.engines import registry as engines
from core.engines.base import NoFlashAttnCache
from core.evaluation.verdicts import judge
from core.hardware.machine import HardwareProfile
from core.model.profile import ModelProfile
from core.numbers import perplexity_change, plain
from core.settings.run import UNQUANTIZED_CACHE_TYPES, cache_bits
from core.settings.setup import Setup

LONG_CONTEXT = 4096
VERY_LONG_CONTEXT = 16384
KLD_RATIO_CONFIRMS = 2.0
PPL_MEANINGFUL = 1.01  # KLD with the person's cache this many times the f16 cache's confirms it


def _bits_class(cache: str) -> str:
    """The type family, not the storage cost: q4_1 spends 5 bits per value but holds 4-bit values."""
    if cache in UNQUANTIZED_CACHE_TYPES:
        return "16-bit"
    return {"q8": "8-bit", "q5": "5-bit"}.get(cache[:2], "4-bit")


def _confirms(m: DomainMetrics, base: DomainMetrics | None, measurable_loss: bool) -> bool:
    """The person's settings measured against an f16 cache on the same file and reference.

    With a separate reference, the safe run has a loss of its own: the person's must be at least
    KLD_RATIO_CONFIRMS times it. With the f16 run as the reference (its own divergence is 0), any
    loss past "practically identical" is the cache's. Without a baseline, a perplexity rise over 1%.
    """
    if base is None:
        return m.ppl_ratio > PPL_MEANINGFUL
    if base.kld_mean > 0:
        return m.kld_mean >= KLD_RATIO_CONFIRMS * base.kld_mean and measurable_loss
    return measurable_loss or m.ppl_ratio > PPL_MEANINGFUL


def check(
    profile: ModelProfile, hardware: HardwareProfile | None, setup: Setup, measurements: Measurements | None
) -> Finding:
    k, v = setup.run.cache_type_k, setup.run.cache_type_v
    engine = engines.of(setup)
    ctx = engine.effective_ctx(setup.run, profile.context_length)
    evidence = [
        f"cache types: K {k} ({cache_bits(k):.1f} bits), V {v} ({cache_bits(v):.1f} bits)",
        f"context {ctx:,} tokens" + ("" if setup.run.n_ctx else f" ({setup.engine}'s default)"),
        f"flash attention {setup.run.flash_attn.value}",
    ]
    classes = {_bits_class(k), _bits_class(v)}
    severity, title = "ok", "The KV cache precision is fine"
    if "4-bit" in classes:
        if ctx >= VERY_LONG_CONTEXT:
            severity, title = "critical", f"A 4-bit KV cache at {ctx:,} tokens of context garbles long conversations"
        elif ctx > LONG_CONTEXT:
            severity, title = (
                "warning",
                f"A 4-bit KV cache at {ctx:,} tokens of context loses track of the conversation",
            )
        else:
            severity, title = "info", "A 4-bit KV cache: tolerable at short contexts, never above 4K"
    elif "5-bit" in classes:
        if ctx >= VERY_LONG_CONTEXT:
            severity, title = "warning", f"A 5-bit KV cache at {ctx:,} tokens of context can drift"
        elif ctx > LONG_CONTEXT:
            severity, title = "info", "A 5-bit KV cache above 4K context: q8_0 is safer"

    trained = profile.context_length
    if trained and ctx > trained:
        evidence.append(f"the model was trained for {trained:,} tokens of context")
        if severity in ("ok", "info"):
            severity = "warning"
            title = f"A context of {ctx:,} tokens is longer than the {trained:,} this model was trained for"

    if setup.run.v_cache_needs_flash_attn:
        evidence.append(engine.without_flash_attn_note)
        if engine.without_flash_attn is NoFlashAttnCache.F16_FALLBACK:
            if severity in ("warning", "critical"):
                severity, title = "info", "Your quantized KV cache is not in effect (no flash attention)"
        elif engine.without_flash_attn is NoFlashAttnCache.REFUSES:
            severity = "critical"
            title = "A quantized V cache needs flash attention: llama.cpp refuses to load without it"

    confidence = "likely" if severity in ("warning", "critical") else "suspected"
    if measurements and measurements.kv_cache:
        for domain, m in measurements.kv_cache.items():
            base = measurements.kv_baseline.get(domain)
            loss = judge(m.kld_mean, m.top1_agreement)
            line = f"measured on {domain}: {loss.words} with your settings (mean KL divergence {plain(m.kld_mean)}"
            if base is not None:
                line += f"; {plain(base.kld_mean)} with an f16 cache"
            evidence.append(line + f"; {perplexity_change(m.ppl_reference, m.ppl_candidate)})")
            if _confirms(m, base, loss.band != "identical"):
                confidence = "confirmed-by-measurement"
                if severity in ("ok", "info"):
                    severity, title = "warning", "Measured: your KV cache setting costs accuracy"

    fix = []
    if severity != "ok":
        fix = engine.kv_cache("q8_0", flash_attn=True)
        if trained and ctx > trained:
            fix.append(engine.context(trained))
    return Finding(
        id="kv-cache",
        severity=severity,
        title=title,
        evidence=evidence,
        why=(
            "The KV cache is the model's memory of the conversation so far. Rounding it to 4 bits adds an error "
            "to every past token, and the longer the context, the more the model loses track: long chats fall "
            "apart while short prompts look fine. f16 or q8_0 keeps it intact; never go below q8_0 over 4K."
        ),
        fix=fix,
        confidence=confidence,
    )


def run(inputs: CheckInput) -> Finding:
    return check(inputs.profile, inputs.hardware, inputs.setup, inputs.measurements)


CHECK = Check(id="kv-cache", order=20, run=run, needs=frozenset(("profile", "setup", "measurements")))
