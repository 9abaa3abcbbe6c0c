"""architecture: is the quantization wrong for this kind of model?

Mixture-of-experts models spread their knowledge over many experts that each see little data,
and route every token through a small router: they lose more per bit than dense models. Small
models with huge vocabularies keep a large share of their parameters in embeddings and output,
where rounding hurts every token.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import Finding, FixStep
from core.checks.tiers import Q5_CLASS, Q6_CLASS, block_bpw, tier_label, tier_words
from core.model.profile import ModelProfile

EMBEDDING_SHARE = 0.30
SENSITIVE_ROLES = ("router", "shared_experts", "attention")


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}–{hi:.2f}"


def run(inputs: CheckInput) -> Finding:
    profile = inputs.profile
    evidence: list[str] = []
    details: list[str] = []
    problems: list[str] = []
    bpw = profile.bpw_by_role
    if profile.is_moe:
        evidence.append(
            f"a mixture of experts: {profile.expert_count} experts, {profile.expert_used_count or '?'} used for "
            "each word" + (f", {profile.expert_shared_count} shared" if profile.expert_shared_count else "")
        )
        experts = bpw.get("experts", block_bpw(profile))
        evidence.append(f"the experts are stored at {experts:.1f} bits per weight ({tier_words(experts)})")
        details.append(f"experts at {experts:.2f} bits per weight ({tier_label(experts)})")
        if experts < Q5_CLASS:
            problems.append("mixture-of-experts model below Q5")
        for role in SENSITIVE_ROLES:
            if role in bpw:
                details.append(f"{role} tensors at {bpw[role]:.2f} bits per weight")
                if bpw[role] < Q5_CLASS:
                    problems.append(f"{role.replace('_', ' ')} layers below Q5")
    else:
        evidence.append(f"a dense model (every weight used for every word), its layers at {block_bpw(profile):.1f} "
                        "bits per weight")  # fmt: skip

    share = profile.embedding_fraction
    emb_bits = [bpw[r] for r in ("embeddings", "output") if r in bpw]
    evidence.append(f"the vocabulary's tables (embeddings and output) hold {share:.0%} of the parameters")
    if emb_bits:
        details.append(
            f"embeddings + output: {share:.1%} of the parameters, stored at {_span(emb_bits)} bits per weight"
        )
    large_vocab = share > EMBEDDING_SHARE and bool(emb_bits) and min(emb_bits) < Q6_CLASS
    if large_vocab:
        problems.append("large vocabulary (embedding) tables below Q6")

    if problems:
        severity = "warning"
        title = "The quantization is too coarse for this kind of model: " + "; ".join(dict.fromkeys(problems))
        fix = [
            FixStep("Use a Q5_K_M or better quant of this model: mixture-of-experts and large-vocabulary models need it.")
            if profile.is_moe and any("large vocabulary" not in p for p in problems)
            else FixStep("Use a quant that keeps the embeddings and output at Q6_K or Q8_0 (most Q4_K_M/Q5_K_M uploads do)."),
            FixStep("When quantizing yourself, keep these tensors higher with llama.cpp's quantizer:",
                    "llama-quantize --token-embedding-type q8_0 --output-tensor-type q8_0 MODEL-F16.gguf OUT.gguf Q5_K_M"),
        ]  # fmt: skip
    else:
        severity, title, fix = "ok", "The quantization suits this architecture", []
    return Finding(
        id="architecture",
        severity=severity,
        title=title,
        evidence=evidence,
        why=_why(profile, share, large_vocab),
        fix=fix,
        confidence="likely" if problems else "suspected",
        details=details,
    )


def _size_words(parameters: int) -> str:
    if parameters >= 1e9:
        return f"{parameters / 1e9:.0f}B-parameter"
    return f"{parameters / 1e6:.0f}M-parameter"


def _why(profile: ModelProfile, share: float, large_vocab: bool) -> str:
    """Why the architecture matters, for this model: its own size, its experts, its vocabulary share."""
    size = _size_words(profile.parameters) if profile.parameters else "This"
    parts: list[str] = []
    if profile.is_moe:
        parts.append(
            f"This {size} model is a mixture of experts: each expert sees a fraction of the training data and a "
            "small router picks experts from small differences, so rounding changes which experts run. Such "
            "models need Q5 or better where a dense model of the same size is fine at Q4_K_M."
        )
    else:
        parts.append(
            f"This {size} model is dense: every weight works on every word, so it takes quantization evenly, "
            "and Q4_K_M is usually enough."
        )
    if large_vocab:
        parts.append(
            f"Its vocabulary tables hold {share:.0%} of its parameters and touch every word it reads and writes: "
            "rounded hard, they blur every token, so keep them at Q6_K or Q8_0."
        )
    elif share > EMBEDDING_SHARE:
        parts.append(f"Its vocabulary tables hold {share:.0%} of its parameters, and they are kept precise enough.")
    return " ".join(parts)


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "nonsense",
        "a mixture-of-experts model quantized too far (routers and experts need more bits)",
        "https://github.com/warpfront/hipfire/issues/196",
    ),
    Explains(
        "loops",
        "a mixture-of-experts router at 4 bits (wrong experts, attractor loops)",
        "https://github.com/warpfront/hipfire/pull/180",
    ),
    Explains(
        "worse-than-original",
        "a mixture-of-experts gate at low precision",
        "https://github.com/ml-explore/mlx-lm/pull/349",
    ),
)

CHECK = Check(
    id="architecture",
    order=30,
    run=run,
    needs=frozenset(("profile", "setup")),
    hub_fixable=True,
    explains=EXPLAINS,
)
