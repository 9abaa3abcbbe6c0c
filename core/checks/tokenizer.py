"""tokenizer: does the engine cut text into the tokens the model was trained on?

Three faults that look like a bad quant (sources in LOG_FORMATS.md section 5):
- a missing or "default" pre-tokenizer (`tokenizer.ggml.pre`): BPE models then split text differently
  from training; older llama.cpp said so loudly ("GENERATION QUALITY WILL BE DEGRADED", ollama #4126);
- a doubled BOS: the model adds BOS and the prompt or template starts with one too (llama.cpp warns,
  PR #7332);
- a vocabulary that does not match the model's embeddings (a broken conversion).
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.evidence import quote, unique
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.fixes import base_of
from core.engines import registry as engines
from core.model.chat_formats import starts_with_bos
from core.model.profile import ModelProfile
from core.settings.observations import Observations

ID = "tokenizer"
PRE_NEEDLES = ("missing pre-tokenizer", "unrecognized pre-tokenizer", "generation quality will be degraded")
BOS_NEEDLES = ("2 bos tokens", "added a bos token to the prompt")
BPE_MODELS = ("gpt2",)  # the tokenizer kind whose pre-tokenizer matters (SentencePiece "llama" has none)


def embedding_rows(profile: ModelProfile) -> int | None:
    """How many tokens the model has embeddings for: token_embd's size over the embedding width."""
    if not profile.embedding_length:
        return None
    for t in profile.tensors:
        if t.name == "token_embd.weight" and t.parameters:
            return t.parameters // profile.embedding_length
    return None


def run(inputs: CheckInput) -> Finding:
    profile, setup = inputs.profile, inputs.setup
    obs = inputs.observations or Observations()
    tok = profile.tokenizer
    pre_lines = unique(obs.lines(*PRE_NEEDLES))
    bos_lines = unique(obs.lines(*BOS_NEEDLES))
    if tok is None and not (pre_lines or bos_lines):
        return Finding(
            id=ID,
            severity="ok",
            title="No tokenizer in the file's metadata to check",
            evidence=["the file carries no tokenizer: the engine uses its own tokenizer files"],
            why="A tokenizer that splits text differently from training makes any model worse.",
            details=["metadata tokenizer.ggml.*: absent"],
            status=NOT_CHECKED,  # nothing to compare: the engine's own tokenizer files are not read
        )
    evidence: list[str] = []
    details: list[str] = []
    problems: list[tuple[str, str, str]] = []  # (severity, confidence, title)
    whys: list[str] = []  # one sentence per problem found: the explanation follows the cause
    fix: list[FixStep] = []
    if tok is not None:
        details.append(
            f"metadata tokenizer.ggml.model: {tok.model or 'absent'}, tokenizer.ggml.pre: {tok.pre or 'absent'}"
        )
        evidence.append(
            f"the file names how its text is split ({tok.pre})"
            if tok.pre
            else "the file does not name how its text is split (no pre-tokenizer)"
        )
    if pre_lines:
        problems.append(("critical", "confirmed", "llama.cpp uses the 'default' pre-tokenizer: it splits text wrongly"))
        evidence += [quote(o) for o in pre_lines[:2]]
    elif tok is not None and tok.model in BPE_MODELS and (tok.pre is None or tok.pre == "default"):
        problems.append(("warning", "likely", "The file names no pre-tokenizer: text is split the 'default' way"))
    if pre_lines or problems:
        whys.append(
            "The model only understands text split into the tokens it was trained on. Without the right "
            "pre-tokenizer, llama.cpp splits words differently, and every sentence reads slightly wrong to it, "
            "at every quant level."
        )
        fix += [
            FixStep("Download a GGUF converted by a recent llama.cpp (it writes tokenizer.ggml.pre)."),
            FixStep(
                "Or convert the model again yourself:",
                "python convert_hf_to_gguf.py MODEL_FOLDER --outtype q8_0",
            ),
        ]
    bos_how = starts_with_bos(profile.chat_template, tok.bos_text if tok else None)
    if bos_lines:
        problems.append(("warning", "confirmed", "Every prompt starts with two BOS tokens"))
        evidence += [quote(o) for o in bos_lines[:1]]
        fix.append(engines.of(setup).bos_once(base_of(setup, profile)))
        whys.append(
            "Each prompt starts with two begin-of-text tokens where the model was trained with one: the start "
            "of every prompt looks odd to it, and answers get worse in ways that look like quantization damage."
        )
    elif tok is not None and tok.add_bos and bos_how:
        evidence.append("the model adds a begin-of-text (BOS) token, and its chat template writes one too")
        details.append(f"metadata tokenizer.ggml.add_bos_token: true; tokenizer.chat_template starts with {bos_how}")
        engine = engines.of(setup)
        if engine.strips_template_bos:  # llama.cpp's common/chat.cpp
            evidence.append(f"{engine.name} removes the template's own BOS when it renders it, so it sends one")
        else:
            problems.append(("info", "likely", "The template writes a BOS and the model adds one: a doubled BOS risk"))
            fix.append(engines.of(setup).bos_once(base_of(setup, profile)))
            whys.append(
                "The chat template writes a begin-of-text token and the model adds its own: unless your app "
                "removes one, each prompt starts with two, which the model never saw in training."
            )
    rows = embedding_rows(profile)
    if tok is not None and tok.tokens and rows:
        evidence.append(f"vocabulary: {tok.tokens:,} tokens; embeddings for {rows:,}")
        if tok.tokens > rows:
            problems.append(("critical", "likely", "The vocabulary has more tokens than the model has embeddings"))
            fix.append(FixStep("This file is a broken conversion: download it again from another uploader."))
            whys.append(
                f"The vocabulary lists {tok.tokens:,} tokens but the model has embeddings for {rows:,}: the file "
                "is a broken conversion, and text with the extra tokens cannot be read correctly."
            )
    if not problems:
        return Finding(
            id=ID,
            severity="ok",
            title="The tokenizer looks right",
            evidence=evidence,
            why="A tokenizer that splits text differently from training makes any model worse; this one matches.",
            confidence="likely",
            details=details,
        )
    order = ("critical", "warning", "info")
    problems.sort(key=lambda p: (order.index(p[0]), p[1] != "confirmed"))
    severity, confidence, title = problems[0]
    if len(problems) > 1:
        title += f" (and {len(problems) - 1} more tokenizer problem{'s' if len(problems) > 2 else ''})"
        evidence += [f"also: {p[2]}" for p in problems[1:]]
    return Finding(
        id=ID,
        severity=severity,
        title=title,
        evidence=evidence,
        why=" ".join(whys),
        fix=fix,
        confidence=confidence,
        details=details,
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "nonsense",
        "a missing pre-tokenizer (llama.cpp: GENERATION QUALITY WILL BE DEGRADED)",
        "https://github.com/ollama/ollama/issues/4126",
    ),
    Explains("worse-than-original", "a doubled BOS token", "https://github.com/ggml-org/llama.cpp/pull/7332"),
)

CHECK = Check(
    id=ID,
    order=6,
    run=run,
    needs=frozenset(("profile", "setup", "observations")),
    explains=EXPLAINS,
)
