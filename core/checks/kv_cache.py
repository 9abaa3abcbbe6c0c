"""kv-cache: is the KV cache quantized too aggressively for the context in use?

The KV cache holds every past token's keys and values; quantizing it rounds the model's memory
of the conversation, and the error grows with the context. A q8_0 cache is nearly free; q4 caches
break long chats. What flash attention has to do with it is the engine's to say (Engine.without_flash_attn):
llama.cpp refuses a quantized V cache without it; Ollama quietly falls back to f16 instead.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import Finding
from core.checks.fixes import settings_fix
from core.checks.measurements import DomainMetrics
from core.engines import registry as engines
from core.engines.base import Change, NoFlashAttnCache
from core.evaluation.verdicts import judge
from core.numbers import perplexity_change, plain
from core.settings import engine_defects
from core.settings.run import UNQUANTIZED_CACHE_TYPES, FlashAttn, cache_bits

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


def _rotation_words(engine: str, version: str | None, quantized: list[str]) -> tuple[str, str] | None:
    """(evidence, why) on whether this engine build rotates a quantized cache (resources/known_bugs.json's
    kv_rotation: llama.cpp PR #21038). Published KV-cache figures come from rotated builds, so an older build
    loses more than they say at the same cache type. None when no half is quantized or the build is not known."""
    if not quantized or not version:
        return None
    r = engine_defects.catalog().rotation
    rotates = r.applies(engine, version)
    version = version[:40]
    if rotates is None:
        return None
    if rotates:
        return (
            f"build {version} rotates a quantized cache before storing it (llama.cpp PR #21038, {r.first_with} and "
            "later): the published figures for these cache types apply",
            "",
        )
    return (
        f"build {version} is older than the cache rotation of llama.cpp PR #21038 (first in {r.first_with}): a "
        "quantized cache loses more here than the published figures, which were measured after it",
        f"This build ({version}) stores the quantized cache without the rotation newer builds apply "
        f"(PR #21038, {r.first_with} and later), so the same cache type costs more accuracy than the published "
        "figures say: updating llama.cpp makes it cheaper.",
    )


def run(inputs: CheckInput) -> Finding:
    profile, setup, measurements = inputs.profile, inputs.setup, inputs.measurements
    k, v = setup.run.cache_type_k, setup.run.cache_type_v
    engine = engines.of(setup)
    ctx = engine.effective_ctx(setup.run, profile.context_length)
    evidence = [
        f"cache types: K {k} ({cache_bits(k):.1f} bits), V {v} ({cache_bits(v):.1f} bits)",
        f"context {ctx:,} tokens" + ("" if setup.run.n_ctx else f" ({setup.engine}'s default)"),
        f"flash attention {setup.run.flash_attn.value}",
    ]
    classes = {_bits_class(k), _bits_class(v)}
    low = [half for half, cache in (("K", k), ("V", v)) if _bits_class(cache) in ("4-bit", "5-bit")]
    low_class = "4-bit" if "4-bit" in classes else "5-bit"
    # Each cause that fires adds its sentence to `why` and the settings it needs to `change`: the fix
    # and the explanation follow the causes, never a fixed paragraph (issue 16 item 3).
    why: list[str] = []
    change: dict[str, object] = {}
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
    if severity != "ok":
        halves = " and ".join(low)
        why.append(
            f"The KV cache is the model's memory of the conversation so far. Yours keeps its {halves} "
            f"{'halves' if len(low) > 1 else 'half'} at {low_class} precision "
            f"({' and '.join(dict.fromkeys(c for h, c in (('K', k), ('V', v)) if h in low))}): "
            "every past token is rounded, and the longer the context, the more the model loses track, so long "
            "chats fall apart while short prompts look fine. q8_0 keeps it practically intact at half the "
            "memory of f16; never go below q8_0 over 4K."
        )
        for half in low:
            change[f"cache_type_{half.lower()}"] = "q8_0"

    trained = profile.context_length
    if trained and ctx > trained:
        evidence.append(f"the model was trained for {trained:,} tokens of context")
        if severity in ("ok", "info"):
            severity = "warning"
            title = f"A context of {ctx:,} tokens is longer than the {trained:,} this model was trained for"
        why.append(
            f"The model was trained on up to {trained:,} tokens; your context is {ctx:,}. Past {trained:,} "
            "tokens it meets positions it never saw, and text there comes out as noise, whatever the quant."
        )
        change["n_ctx"] = trained

    if setup.run.v_cache_needs_flash_attn:
        evidence.append(engine.without_flash_attn_note)
        if engine.without_flash_attn is NoFlashAttnCache.F16_FALLBACK:
            if severity in ("warning", "critical"):
                severity, title = "info", "Your quantized KV cache is not in effect (no flash attention)"
            why.append(
                f"{engine.name} ignores a quantized cache when flash attention is off and keeps f16: your {v} "
                "setting costs nothing now, and saves no memory either."
                + (
                    " Turned on as it is, the low-precision cache would take effect: raise it to q8_0 first."
                    if low
                    else ""
                )
            )
            change["flash_attn"] = True
        elif engine.without_flash_attn is NoFlashAttnCache.REFUSES:
            severity = "critical"
            title = f"A quantized V cache needs flash attention: {engine.name} refuses to load without it"
            why.append(
                f"{engine.name} cannot run a quantized ({v}) V cache with flash attention off: the model does not "
                "load at all. Turn flash attention on, or keep the V cache at f16."
            )
            change["flash_attn"] = True
        elif engine.without_flash_attn is NoFlashAttnCache.K_ONLY:
            why.append(f"{engine.name} quantizes only the K cache when flash attention is off; V stays f16.")
    elif (
        change.get("cache_type_v")
        and engine.without_flash_attn in (NoFlashAttnCache.REFUSES, NoFlashAttnCache.F16_FALLBACK)
        and setup.run.flash_attn is FlashAttn.OFF
    ):
        change["flash_attn"] = True  # the q8_0 V cache of the fix needs it

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
        if confidence == "confirmed-by-measurement":
            quantized = [h for h, c in (("K", k), ("V", v)) if c not in UNQUANTIZED_CACHE_TYPES]
            why.append(
                "Measured on this model: the output with your cache setting drifts from the output with an f16 "
                "cache, so the cache, not the file, costs the accuracy here."
            )
            for half in quantized:  # already at q8_0 or above: the step left is f16
                key = f"cache_type_{half.lower()}"
                if key not in change:
                    change[key] = "f16"

    rotation = _rotation_words(
        setup.engine,
        engine_defects.engine_version(setup, inputs.observations)[0],
        low or [h for h, c in (("K", k), ("V", v)) if c not in UNQUANTIZED_CACHE_TYPES],
    )
    if rotation:
        evidence.append(rotation[0])
        if severity != "ok":
            why.append(rotation[1])
    fix = settings_fix(setup, profile, Change(**change)) if severity != "ok" else []  # type: ignore[arg-type]
    if severity == "ok":
        why = [
            f"The KV cache is the model's memory of the conversation so far. Yours is K {k}, V {v} at "
            f"{ctx:,} tokens: precise enough that it does not lose track."
        ]
    return Finding(
        id="kv-cache",
        severity=severity,
        title=title,
        evidence=evidence,
        why=" ".join(why),
        fix=fix,
        confidence=confidence,
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains("forgets", "a quantized KV cache at long context", "https://github.com/ggml-org/llama.cpp/pull/7412"),
    Explains("worse-than-original", "a quantized KV cache", "https://github.com/ggml-org/llama.cpp/pull/7412"),
)

CHECK = Check(
    id="kv-cache",
    order=20,
    run=run,
    needs=frozenset(("profile", "setup", "measurements", "observations")),
    explains=EXPLAINS,
)
