"""finetune: is this a quant of the model the person meant?

A very common mistake: downloading a quant of the *base* model when the instruct/chat fine-tune
was wanted (it rambles, ignores instructions, "forgot" its training), or of a different
fine-tune altogether. The file says what it is: general.basename / finetune / base_model.*, and
whether it carries a chat template.
"""

from __future__ import annotations

import re

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.names import INSTRUCT_WORDS, name_words, tokens
from core.model.profile import ModelProfile
from core.settings.setup import Setup

_NOISE = {"the", "a", "an", "of", "version", "model", "gguf", "quant", "quantized", "exl2", "gptq", "awq", "hf", "by"}
_QUANT_NAME = re.compile(r"^(i?q\d.*|f16|bf16|f32|fp16|\d+(\.\d+)?bpw|\d+bit)$")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _file_words(profile: ModelProfile) -> set[str]:
    """Every word the file says about itself, squashed, and every run of up to three adjacent words
    joined (so "Llama-3.1" answers "llama3.1"), but never a fragment: "4b" does not match "14b".

    The metadata speaks for the file; its name is only used when the metadata names nothing, since
    anyone can rename a file."""
    meta = [profile.name, profile.basename, profile.finetune, profile.size_label, profile.organization]
    meta += [b.name for b in profile.base_models] + [b.repo_url for b in profile.base_models]
    if profile.card:
        meta += profile.card.base_model
    parts = [p for p in meta if p] or [profile.path.rsplit("/", 1)[-1]]
    words: set[str] = set()
    for part in parts:
        toks = [_squash(t) for t in tokens(part.rsplit("/", 1)[-1] if "://" in part else part)]
        for n in (1, 2, 3):
            words.update("".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return words


# Workloads that need a model that follows turns and instructions (a base model only continues text).
CHAT_WORKLOADS = ("chat", "roleplay", "multilingual", "math", "long-documents")  # not code: FIM suits a base model


def expected_parts(expected: str) -> tuple[list[str], bool]:
    """(identifying words of the expected model, whether an instruct/chat model is expected)."""
    words = tokens(expected.rsplit("/", 1)[-1] if "/" in expected and " " not in expected else expected)
    wants_instruct = any(w in INSTRUCT_WORDS for w in words)
    names = [w for w in words if w not in INSTRUCT_WORDS and w not in _NOISE and not _QUANT_NAME.match(w)]
    return names, wants_instruct


def run(inputs: CheckInput) -> Finding:
    profile, setup, hub_evidence = inputs.profile, inputs.setup, inputs.hub_evidence
    finetune = profile.finetune or ""
    is_instruct = profile.has_chat_template or any(w in INSTRUCT_WORDS for w in tokens(finetune))
    evidence = [
        f"this file: {profile.display_name}"
        + (f" (basename {profile.basename}" if profile.basename else "")
        + (f", fine-tune {finetune}" if finetune else ", no fine-tune named")
        + (")" if profile.basename else ""),
        "chat template: " + ("present" if profile.has_chat_template else "absent"),
    ]
    for b in profile.base_models:
        evidence.append(f"made from: {b.name or b.repo_url}")
    evidence += hub_evidence or []
    fix: list[FixStep] = []
    if not setup.expected and _looks_base(profile, setup):
        return Finding(
            id="finetune",
            severity="warning",
            title="This looks like a base model, not a chat/instruct model",
            evidence=[
                *evidence,
                f"name words: {', '.join(sorted(name_words(profile))) or 'none'} (no instruct/chat/it)",
            ],
            why=(
                "A base model only continues text: asked a question, it rambles, repeats the question or writes "
                "the next user turn. It did not get worse when quantized; it was never trained to chat."
            ),
            fix=[
                FixStep(
                    "Which model did you mean? Name the instruct/chat model you wanted (the question above the "
                    "findings), and Quant Doctor checks this file against it."
                ),
                FixStep(
                    "Then download a quant of that instruct/chat model (its name ends in -Instruct, -Chat or -it)."
                ),
            ],
            confidence="likely",
        )
    if not setup.expected:
        return Finding(
            id="finetune",
            severity="ok",
            title="Not compared: tell Quant Doctor which model you expected",
            evidence=evidence,
            status=NOT_CHECKED,  # no expected model: a base-vs-fine-tune mix-up cannot be checked
            why="Without the model you meant to run, a base-vs-fine-tune mix-up cannot be checked.",
            fix=[
                FixStep(
                    "Say which model you meant to run (the Setup page's 'The model you expected', e.g. "
                    "Qwen/Qwen3-8B), and Quant Doctor checks this file against it."
                )
            ],
        )
    evidence.insert(0, f"you expected: {setup.expected}")
    names, wants_instruct = expected_parts(setup.expected)
    words = _file_words(profile)
    missing = [n for n in names if _squash(n) not in words]
    if wants_instruct and not profile.has_chat_template and not finetune:
        severity = "critical"
        title = "This is a quant of the base model, not the instruct/chat model you expected"
        fix = [
            FixStep(f"Download a quant of the fine-tune itself (search for '{setup.expected}' with GGUF)."),
            FixStep("Or ask for one on the fine-tune's model page, or make one with llama.cpp's own converter."),
        ]
    elif missing:
        severity = "warning"
        title = f"This file does not look like {setup.expected}: {', '.join(missing)} not found in its metadata"
        fix = [FixStep(f"Check the download: get a quant whose model card says it quantizes {setup.expected}.")]
    elif wants_instruct and not is_instruct:
        severity = "warning"
        title = "You expected an instruct/chat model, but nothing in this file says it is one"
        fix = [FixStep(f"Check the model card: get a quant of the instruct version of {setup.expected}.")]
    elif not wants_instruct and any(w in INSTRUCT_WORDS for w in tokens(finetune)):
        severity = "info"
        title = f"This is a fine-tune ({finetune}); you named the model without it"
        fix = [FixStep(f"If you wanted the base model itself, get a quant of {setup.expected}; if not, all is well.")]
    else:
        severity, title = "ok", f"This file matches the model you expected ({setup.expected})"
    return Finding(
        id="finetune",
        severity=severity,
        title=title,
        evidence=evidence,
        why=(
            "A base model only continues text: it rambles, ignores instructions and has no chat format. If the "
            "fine-tune you wanted is missing, no setting will bring its training back."
        ),
        fix=fix,
        confidence="likely" if severity != "ok" else "suspected",
    )


def _looks_base(profile: ModelProfile, setup: Setup) -> bool:
    """Inferred without being told: no chat template, no fine-tune named, no instruct word in its names,
    while the person chats with it. Only GGUF says enough (folders may keep the template elsewhere)."""
    if profile.format != "gguf" or profile.has_chat_template or profile.finetune:
        return False
    if setup.workload not in CHAT_WORKLOADS:
        return False
    return not (name_words(profile) & INSTRUCT_WORDS)


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "lost-finetune",
        "a quant of the base model, not the fine-tune you meant",
        "https://huggingface.co/docs/hub/model-cards#specifying-a-base-model",
    ),
    Explains(
        "ignores-format",
        "a base model, which was never taught to follow instructions",
        "https://huggingface.co/Qwen/Qwen2.5-7B",
    ),
)

CHECK = Check(
    id="finetune",
    order=50,
    run=run,
    needs=frozenset(("profile", "setup", "hub_evidence")),
    hub_fixable=True,
    explains=EXPLAINS,
)
