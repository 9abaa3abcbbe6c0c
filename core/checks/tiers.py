"""Quantization tiers from measured bits per weight.

Tiers are judged on the transformer blocks (attention, feed-forward, experts): that is where a
quant's damage comes from, and where a file named Q4_K_M may hold Q5_0 fallbacks or Q3 layers.
Reference points (bits per weight of the block types, from gguf.GGML_QUANT_SIZES):
IQ1_S 1.56, IQ2_XXS 2.06, Q2_0 2.25, Q2_K 2.63, IQ3_XXS 3.06, Q3_K 3.44, IQ4_XS 4.25, Q4_0 4.5,
Q4_K 4.5 (Q4_K_M files ~4.8 with their Q6_K share), Q5_K 5.5, Q6_K 6.56, Q8_0 8.5.
"""

from __future__ import annotations

from core.model.profile import ModelProfile

BLOCK_ROLES = ("attention", "feed_forward", "experts", "shared_experts")

CRITICAL_BELOW = 3.0  # IQ1 / IQ2 / TQ / Q2-class
WARNING_BELOW = 4.0  # Q3-class
INFO_BELOW = 4.75  # Q4_0 / IQ4_XS / Q4_K_S-class; Q4_K_M and up is fine
Q5_CLASS = 5.5
Q6_CLASS = 6.5


def block_bpw(profile: ModelProfile) -> float:
    params = sum(profile.parameters_by_role.get(r, 0) for r in BLOCK_ROLES)
    if not params:
        return profile.effective_bpw
    bits = sum(profile.bpw_by_role.get(r, 0.0) * profile.parameters_by_role.get(r, 0) for r in BLOCK_ROLES)
    return bits / params


def tier_label(bpw: float) -> str:
    if bpw < CRITICAL_BELOW:
        return "IQ1/IQ2/Q2-class"
    if bpw < WARNING_BELOW:
        return "Q3-class"
    if bpw < INFO_BELOW:
        return "Q4_0/IQ4_XS-class"
    if bpw < Q5_CLASS:
        return "Q4_K_M-class"
    if bpw < Q6_CLASS:
        return "Q5-class"
    if bpw < 8.0:
        return "Q6-class"
    return "Q8/16-bit-class"


TIER_WORDS = {
    "critical": "very low precision",
    "warning": "low precision",
    "info": "medium precision",
    "ok": "good precision",
}


def tier_words(bpw: float) -> str:
    """The tier in plain words ("very low precision"); `tier_label` is the expert's name for it."""
    return (
        TIER_WORDS[severity_for_bpw(bpw)]
        if bpw < INFO_BELOW
        else ("good precision" if bpw < 8.0 else "near-lossless precision")
    )


def share_words(share: float) -> str:
    """A share that is not a misleading "0%": "under 1%"."""
    return "under 1%" if 0 < share < 0.01 else f"{share:.0%}"


def severity_for_bpw(bpw: float) -> str:
    if bpw < CRITICAL_BELOW:
        return "critical"
    if bpw < WARNING_BELOW:
        return "warning"
    if bpw < INFO_BELOW:
        return "info"
    return "ok"


def dominant_types(profile: ModelProfile, n: int = 3) -> str:
    total = sum(t.bytes for t in profile.tensor_types) or 1
    return ", ".join(f"{t.type} {share_words(t.bytes / total)}" for t in profile.tensor_types[:n])


def bpw_words(profile: ModelProfile) -> str:
    """Bits per weight, never unlabelled: the layers' (what the quant-tier check judges) and the whole
    file's (with its embeddings and output)."""
    layers, whole = block_bpw(profile), profile.effective_bpw
    if abs(layers - whole) < 0.005:
        return f"{whole:.2f} bits per weight"
    return f"{layers:.2f} bits per weight in its layers ({whole:.2f} for the whole file)"
