"""quant-tier: is the quantization itself too aggressive?"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import Finding, FixStep
from core.checks.tiers import block_bpw, dominant_types, severity_for_bpw, tier_label, tier_words
from core.evaluation.verdicts import far_above_typical, judge, table, typical_sentence
from core.model.profile import ModelProfile
from core.numbers import percent, perplexity_change, plain
from core.settings.run import UNQUANTIZED_CACHE_TYPES

PPL_MEANINGFUL = 1.01  # a perplexity increase over 1% is meaningful
PPL_SERIOUS = 1.05  # over 5% the loss shows in everyday use, whatever the tier


def max_severity(a: str, b: str) -> str:
    order = ("ok", "info", "warning", "critical")
    return a if order.index(a) >= order.index(b) else b


def _folder_bits(profile: ModelProfile) -> float | None:
    q = profile.quantization
    if q is None or q.bits is None:
        return None
    return q.bits


def run(inputs: CheckInput) -> Finding:
    profile, setup, measurements = inputs.profile, inputs.setup, inputs.measurements
    evidence: list[str] = []
    details: list[str] = []
    bits = _folder_bits(profile)
    if profile.format in ("exl2", "gptq", "awq") and bits is not None:
        q = profile.quantization
        assert q is not None
        measured = block_bpw(profile)
        evidence.append(f"{bits:g}-bit {profile.format.upper()} quantization ({tier_words(bits)})")
        details.append(f"quantization_config bits {bits:g}; {measured:.2f} bits per weight measured")
        if q.group_size and q.group_size > 0:
            details.append(f"group size {q.group_size}")
        # EXL2's bits are already an average bpw; GPTQ/AWQ n-bit behaves like a GGUF of ~n+0.5 bpw.
        severity = severity_for_bpw(bits if profile.format == "exl2" else bits + 0.75)
        floor = "an EXL2 quant of 4.0 bpw" if profile.format == "exl2" else "a 4-bit quant with group size 128"
    else:
        bpw = block_bpw(profile)
        severity = severity_for_bpw(bpw)
        evidence.append(
            f"the model's layers are stored at {bpw:.2f} bits per weight: {tier_words(bpw)}"
            + (f" (the file is labelled {profile.nominal_type})" if profile.nominal_type else "")
        )
        details.append(f"nominal type {profile.nominal_type or 'unknown'} (general.file_type)")
        details.append(f"transformer blocks measured at {bpw:.2f} bits per weight ({tier_label(bpw)})")
        details.append(f"storage by bytes: {dominant_types(profile)}")
        details.append(f"whole file {profile.effective_bpw:.2f} bits per weight")
        floor = "a Q4_K_M"

    confidence = "suspected" if severity == "ok" else "likely"
    worst = None
    if measurements and measurements.quant:
        worst_domain, worst = max(measurements.quant.items(), key=lambda kv: kv[1].ppl_ratio)
        for domain, m in measurements.quant.items():
            evidence.append(
                f"measured on {domain}: {judge(m.kld_mean, m.top1_agreement).words} — "
                f"{perplexity_change(m.ppl_reference, m.ppl_candidate)}, mean KL divergence {plain(m.kld_mean)}, "
                f"the same top token {percent(m.top1_agreement)} of the time"
            )
        if worst.ppl_ratio > PPL_MEANINGFUL:
            confidence = "confirmed-by-measurement"
            if worst.ppl_ratio > PPL_SERIOUS and severity in ("ok", "info"):
                severity = "warning"
        elif severity != "ok":
            confidence = "likely"
            evidence.append(f"the measured loss is small (worst: {worst_domain}, ×{worst.ppl_ratio:.3f})")

    label = measurements.quant_type or profile.nominal_type if measurements else None
    far = None
    if measurements and measurements.quant and label:
        kld_domain, worst_kld = max(measurements.quant.items(), key=lambda kv: kv[1].kld_mean)
        far = far_above_typical(label, worst_kld.kld_mean)
        if far is not None:
            evidence.append(f"{typical_sentence(label)}; this file's loss on {kld_domain} is {far:.0f}× that")
            confidence = "confirmed-by-measurement"
            severity = "critical" if far >= 4 * table().far_above_typical else max_severity(severity, "warning")

    titles = {
        "critical": "The quantization is too aggressive for this model",
        "warning": "The quantization is aggressive enough to hurt quality",
        "info": "A basic 4-bit quantization: usable, with some loss",
        "ok": "The quantization level is fine",
    }
    fix: list[FixStep] = []
    if severity != "ok":
        moe = " (Q5_K_M or better: this is a mixture-of-experts model)" if profile.is_moe else ""
        room = (
            "a smaller context or a q8_0 KV cache frees room for it"
            if setup.run.cache_type_k in UNQUANTIZED_CACHE_TYPES and setup.run.cache_type_v in UNQUANTIZED_CACHE_TYPES
            else "a smaller context frees room for it"
        )
        fix = [
            FixStep(
                f"Use {floor} or better of the same model{moe}; Q5_K_M for high-stakes work, Q8_0 is near lossless."
            ),
            FixStep(f"If a better quant does not fit your memory, {room}."),
        ]
    title = titles[severity]
    if far is not None and label:
        title = f"For a file labelled {label} this loss is {far:.0f}× what is typical: the file itself looks broken"
        fix = [
            FixStep(
                f"Get another uploader's {label} of the same model (Find a better quant): a broken conversion or "
                "upload scores far worse than its label (one Q8_0 upload scored perplexity 15.39 where others scored "
                "6.96, llama.cpp issue #7550)."
            ),
            *fix,
        ]
    return Finding(
        id="quant-tier",
        severity=severity,
        title=title,
        evidence=evidence,
        why=_why(severity, profile, far, label),
        fix=fix,
        confidence=confidence,
        details=details,
    )


def _why(severity: str, profile: ModelProfile, far: float | None, label: str | None) -> str:
    """Why it matters for this file's own precision (and for a file far worse than its label)."""
    if far is not None and label:
        return (
            f"Files labelled {label} normally lose much less than this one did when measured: the damage is in "
            "this conversion or upload, not in the quant type. Another copy of the same quant should do better."
        )
    bpw = block_bpw(profile)
    if severity == "critical":
        return (
            f"At about {bpw:.2f} bits per weight every weight is rounded hard; the errors add up into wrong "
            "words, loops and incoherent text, and the damage grows with the length of the answer."
        )
    if severity == "warning":
        return (
            f"At about {bpw:.2f} bits per weight the rounding is coarse enough to show: facts slip and reasoning "
            "gets shakier, most on long answers and on code."
        )
    if severity == "info":
        return (
            f"At about {bpw:.2f} bits per weight a 4-bit file keeps most of the model's quality; the loss is "
            "small but measurable, and shows first on hard questions."
        )
    return f"At about {bpw:.2f} bits per weight the rounding costs the model little: the quant is not the problem."


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "nonsense",
        "a quantization too aggressive for the model",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/perplexity/README.md",
    ),
    Explains(
        "worse-than-original",
        "a quantization too aggressive for the model",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/perplexity/README.md",
    ),
)

CHECK = Check(
    id="quant-tier",
    order=10,
    run=run,
    needs=frozenset(("profile", "setup", "measurements")),
    hub_fixable=True,
    blames_quant=True,
    explains=EXPLAINS,
)
