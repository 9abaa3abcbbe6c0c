"""rope: a context extension used where it is not needed, or missing where it is.

YaRN (or a changed RoPE base) stretches a model's positions to reach past its training context. Static
YaRN costs quality at short contexts: it lowered Qwen3-8B's Arena-Hard from 39 to 26.5 (QwenLM/Qwen3
#1567), and GGUF conversions can bake it in. The opposite mistake, a context beyond the training
length with no extension at all, makes everything past the trained length noise.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import Finding, FixStep
from core.checks.fixes import settings_fix
from core.engines import registry as engines
from core.engines.base import Change
from core.engines.registry import effective_ctx

ID = "rope"
STRETCHING = ("yarn", "linear", "longrope")
NAMES = {"yarn": "YaRN", "linear": "Linear RoPE", "longrope": "LongRoPE"}


def run(inputs: CheckInput) -> Finding:
    profile, setup = inputs.profile, inputs.setup
    rope = profile.rope
    ctx = effective_ctx(setup, profile.context_length)
    trained = profile.context_length
    evidence = [f"context in use: {ctx:,}" + (f"; the model was trained for {trained:,}" if trained else "")]
    details = [f"metadata {profile.architecture}.context_length: {trained}"] if trained else []
    why = (
        "RoPE tells the model where each token sits. Stretching it (YaRN, linear scaling, a changed base) "
        "lets a model read past its training length, at a small cost in quality; none is needed here."
    )
    stretch = rope is not None and (rope.scaling_type or "").lower() in STRETCHING and (rope.factor or 1.0) > 1.0
    if rope is not None and (rope.scaling_type or rope.factor):
        details.append(
            f"metadata {profile.architecture}.rope.scaling.type: {rope.scaling_type or 'absent'}, factor "
            f"{rope.factor if rope.factor is not None else 'absent'}, original context "
            f"{rope.original_context if rope.original_context else 'absent'}"
        )
        evidence.append(
            f"the file stretches the model's positions: {NAMES.get((rope.scaling_type or '').lower(), 'scaling')}"
            + (f", {rope.factor:g}×" if rope.factor else "")
        )
    if stretch and rope is not None:
        native = rope.original_context or (int(trained / rope.factor) if trained and rope.factor else None)
        if native and ctx <= native:
            name = NAMES.get((rope.scaling_type or "").lower(), rope.scaling_type)
            return Finding(
                id=ID,
                severity="warning",
                title=f"{name} context extension is on at {ctx:,} tokens, where the model needs none",
                evidence=[*evidence, f"the model's own context without extension: {native:,}"],
                why=(
                    f"This file stretches the model's positions with {name} (factor {rope.factor:g}) to reach past "
                    f"its own {native:,} tokens, but you use {ctx:,}: the stretch only costs quality here (it "
                    "lowered Qwen3-8B's Arena-Hard from 39 to 26.5). It is a setting, not the quant."
                ),
                fix=settings_fix(setup, profile, Change(rope_none=True))
                or [FixStep(f"Run without the context extension in {engines.of(setup).name}'s model settings.")],
                confidence="likely",
                details=details,
            )
        return Finding(
            id=ID,
            severity="ok",
            title=f"The {rope.scaling_type} extension is in use at {ctx:,} tokens, where it is needed",
            evidence=evidence,
            why=(
                f"RoPE tells the model where each token sits; the {rope.scaling_type} stretch lets it read the "
                f"{ctx:,} tokens you use, past its own training length."
            ),
            confidence="likely",
            details=details,
        )
    if trained and ctx > trained:
        # info, not warning: the kv-cache check already ranks a context beyond training as a warning.
        return Finding(
            id=ID,
            severity="info",
            title=f"A context of {ctx:,} is beyond the {trained:,} tokens the model was trained for, with no extension",
            evidence=[*evidence, "nothing in the file stretches the model's positions"],
            why=(
                f"The model was trained on up to {trained:,} tokens and nothing stretches its positions, but the "
                f"context is {ctx:,}: text past {trained:,} tokens comes out as noise. Neither is the quant."
            ),
            fix=settings_fix(setup, profile, Change(n_ctx=trained)),
            confidence="likely",
            details=details,
        )
    return Finding(
        id=ID,
        severity="ok",
        title="No context extension, none needed",
        evidence=evidence,
        why=why,
        confidence="likely",
        details=details,
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "forgets",
        "static YaRN scaling at a context that does not need it",
        "https://github.com/QwenLM/Qwen3/issues/1567",
    ),
    Explains(
        "nonsense", "a context beyond the trained one with no extension", "https://github.com/QwenLM/Qwen3/issues/1567"
    ),
)

CHECK = Check(
    id=ID,
    order=55,
    run=run,
    needs=frozenset(("profile", "setup")),
    explains=EXPLAINS,
)  # the file and the settings only
