"""architecture: is the quantization wrong for this kind of model?

Mixture-of-experts models spread their knowledge over many experts that each see little data,
and route every token through a small router: they lose more per bit than dense models. Small
models with huge vocabularies keep a large share of their parameters in embeddings and output,
where rounding hurts every token.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput
from core.checks.finding import Finding, FixStep
from core.checks.measurements import Measurements
from core.checks.tiers import Q5_CLASS, Q6_CLASS, block_bpw, tier_label
from core.hardware.machine import HardwareProfile
from core.model.profile import ModelProfile
from core.settings.setup import Setup

EMBEDDING_SHARE = 0.30
SENSITIVE_ROLES = ("router", "shared_experts", "attention")


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}–{hi:.2f}"


def check(
    profile: ModelProfile, hardware: HardwareProfile | None, setup: Setup, measurements: Measurements | None
) -> Finding:
    evidence: list[str] = []
    problems: list[str] = []
    bpw = profile.bpw_by_role
    if profile.is_moe:
        evidence.append(
            f"mixture of experts: {profile.expert_count} experts, {profile.expert_used_count or '?'} used per token"
            + (f", {profile.expert_shared_count} shared" if profile.expert_shared_count else "")
        )
        experts = bpw.get("experts", block_bpw(profile))
        evidence.append(f"experts at {experts:.2f} bits per weight ({tier_label(experts)})")
        if experts < Q5_CLASS:
            problems.append("mixture-of-experts model below Q5")
        for role in SENSITIVE_ROLES:
            if role in bpw:
                evidence.append(f"{role.replace('_', ' ')} tensors at {bpw[role]:.2f} bits per weight")
                if bpw[role] < Q5_CLASS:
                    problems.append(f"{role.replace('_', ' ')} tensors below Q5")
    else:
        evidence.append(f"dense model, transformer blocks at {block_bpw(profile):.2f} bits per weight")

    share = profile.embedding_fraction
    emb_bits = [bpw[r] for r in ("embeddings", "output") if r in bpw]
    evidence.append(
        f"embeddings + output hold {share:.1%} of the parameters"
        + (f", stored at {_span(emb_bits)} bits per weight" if emb_bits else "")
    )
    if share > EMBEDDING_SHARE and emb_bits and min(emb_bits) < Q6_CLASS:
        problems.append("large embedding share below Q6")

    if problems:
        severity = "warning"
        title = "The quantization is too coarse for this architecture: " + "; ".join(dict.fromkeys(problems))
        fix = [
            FixStep("Use a Q5_K_M or better quant of this model: mixture-of-experts and large-vocabulary models need it.")
            if profile.is_moe
            else FixStep("Use a quant that keeps the embeddings and output at Q6_K or Q8_0 (most Q4_K_M/Q5_K_M uploads do)."),
            FixStep("When quantizing yourself, keep these tensors higher, e.g. llama-quantize "
                    "--token-embedding-type q8_0 --output-tensor-type q8_0 ... Q5_K_M"),
        ]  # fmt: skip
    else:
        severity, title, fix = "ok", "The quantization suits this architecture", []
    return Finding(
        id="architecture",
        severity=severity,
        title=title,
        evidence=evidence,
        why=(
            "A dense 70B model is fine at Q4_K_M, but a 235B-A22B mixture of experts needs Q5 or better: each "
            "expert sees a fraction of the training data and the router decides from small differences, so "
            "rounding errors change which experts run. Embeddings and output touch every token."
        ),
        fix=fix,
        confidence="likely" if problems else "suspected",
    )


def run(inputs: CheckInput) -> Finding:
    return check(inputs.profile, inputs.hardware, inputs.setup, inputs.measurements)


CHECK = Check(id="architecture", order=30, run=run, needs=frozenset(("profile", "setup")), hub_fixable=True)
