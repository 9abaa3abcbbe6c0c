"""chat-template: is the model spoken to in the format it was trained on?

After a GGUF import, a missing or wrong chat template is one of the commonest causes of "the model
got dumb" (ollama #8363, #6823): the model sees its instructions in a format it never learned, or
never sees the end-of-turn token it was trained to stop on, and runs into the next turn. Templates
are compared as text, by their markers (core.model.chat_formats); nothing is rendered or executed.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.evidence import quote
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.fixes import base_of
from core.checks.names import INSTRUCT_WORDS, name_words
from core.engines import registry as engines
from core.model.chat_formats import ARCH_FORMAT, BY_NAME, ChatFormat, template_format, vocab_format
from core.model.profile import ModelProfile
from core.settings.observations import Observations

ID = "chat-template"


def model_format(profile: ModelProfile) -> tuple[ChatFormat | None, str]:
    """The format the model was trained for: its vocabulary's special tokens, else its architecture."""
    tok = profile.tokenizer
    if tok is not None and tok.markers:
        fmt = vocab_format(tok.markers)
        if fmt is not None:
            return fmt, f"vocabulary has {', '.join(m for m in fmt.special)} as tokens ({fmt.name})"
    name = ARCH_FORMAT.get(profile.architecture or "")
    if name:
        return BY_NAME[name], f"architecture {profile.architecture} (its chat models use {name})"
    return None, ""


def run(inputs: CheckInput) -> Finding:
    profile, setup = inputs.profile, inputs.setup
    obs = inputs.observations or Observations()
    file_fmt = template_format(profile.chat_template)
    trained, trained_why = model_format(profile)
    details = [
        "metadata tokenizer.chat_template: "
        + (
            f"{file_fmt.name if file_fmt else 'an unrecognised format'} ({profile.chat_template_chars:,} characters)"
            if profile.chat_template
            else "absent"
        )
    ]
    evidence = [
        f"the file's chat template: {file_fmt.name if file_fmt else 'a format Quant Doctor does not recognise'}"
        if profile.chat_template
        else "the file has no chat template"
    ]
    if trained_why:
        details.append(f"trained format: {trained_why}")
        evidence.append(f"the model was trained to chat in the {trained.name if trained else '?'} format")
    severity, confidence, title = "ok", "likely", "The chat template matches the model"
    status = ""  # a problem is found, "ok" is fine; NOT_CHECKED when there was nothing to compare
    fix: list[FixStep] = []
    base = base_of(setup, profile)
    why = "A chat model answers well only in the format it was trained on; this one gets it."
    engine_t = obs.engine_template
    engine_fmt = template_format(engine_t.text) if engine_t is not None else None
    looks_tuned = bool(profile.finetune) or bool(name_words(profile) & INSTRUCT_WORDS)
    wanted = trained or file_fmt
    if engine_t is not None and engine_fmt is not None and wanted is not None and engine_fmt.name != wanted.name:
        severity = "warning"
        confidence = "confirmed" if _from_a_running_engine(engine_t.source) else "likely"
        title = f"{engines.of(setup).name} uses the {engine_fmt.name} chat format for a {wanted.name} model"
        evidence.append(f"{engine_t.source}: the engine's template is {engine_fmt.name}")
        fix = engines.of(setup).chat_template(wanted.name, base)
        why = (
            f"The model was trained to chat in the {wanted.name} format, but {engines.of(setup).name} speaks "
            f"{engine_fmt.name} to it: it misreads who is speaking, ignores the system prompt, or writes the "
            "next turn itself. That looks like a broken quant, and no quant will fix it."
        )
    elif not profile.chat_template and looks_tuned:
        severity = "warning"
        title = "This fine-tune's file has no chat template: the engine has to guess the format"
        fix = engines.of(setup).chat_template(trained.name if trained else None, base)
        why = (
            "This file is a chat fine-tune but carries no chat template, so the engine guesses the format; "
            "a wrong guess makes it misread who is speaking or never stop its turn. No quant will fix it."
        )
    elif (
        file_fmt is not None and trained is not None and file_fmt.name != trained.name and _mismatch(file_fmt, profile)
    ):
        severity = "warning"
        title = f"The file's template is {file_fmt.name}, but the model was trained for {trained.name}"
        fix = engines.of(setup).chat_template(trained.name, base)
        why = (
            f"The file's own template writes {file_fmt.name}, but the model's vocabulary shows it was trained "
            f"on {trained.name}: its special tokens are read as plain text, and it answers worse. No quant "
            "will fix it."
        )
    elif not profile.chat_template:
        severity, title = "ok", "No chat template in the file (see the fine-tune check: is this a base model?)"
        why = "A file without a chat template is usually a base model: the fine-tune check says whether it is."
        status = NOT_CHECKED  # no template to compare with the model's format: not "fine"
    elif file_fmt is None:
        title = "The file's chat template is in a format Quant Doctor does not recognise: not compared"
        why = (
            "A chat model answers well only in the format it was trained on; this template's format is not one "
            "Quant Doctor knows, so whether it matches the model could not be checked."
        )
        status = NOT_CHECKED
    else:
        eot = _missing_stop(profile, file_fmt)
        if eot is not None:
            # an engine that stops at the usual end-of-turn tokens by name (llama.cpp) stops anyway
            severity = "info" if engines.of(setup).stops_at_end_of_turn_names else "warning"
            title = f"The template ends each turn with {eot}, but the file's end token is something else"
            tok = profile.tokenizer
            evidence.append(
                f"the file's end token is {tok.eos_text}" if tok is not None else "the file names no end token"
            )
            if tok is not None:
                details.append(f"metadata tokenizer.ggml.eos_token_id: {tok.eos_id} ({tok.eos_text!r})")
            fix = [engines.of(setup).stop_token(eot, base)]
            why = (
                f"The template ends each turn with {eot}, but the file names another token as the end: unless "
                "the engine stops at it, the model keeps writing the next turn after its answer."
            )
    for o in obs.lines("special_eos_id is not in special_eog_ids"):
        details.append(quote(o))
    return Finding(
        id=ID,
        severity=severity,
        title=title,
        evidence=evidence,
        why=why,
        fix=fix,
        confidence=confidence if severity != "ok" else "likely",
        details=details,
        status=status if severity == "ok" else "",
    )


def _from_a_running_engine(source: str) -> bool:
    """Whether the engine's template came from a running engine's API (the source starts with the name of
    a server an engine declares: "Ollama /api/show", "llama-server /props"), not from a pasted file."""
    labels = tuple(f"{api.label} " for engine in engines.ENGINES.values() for api in engine.live)
    return source.startswith(labels)


def _mismatch(file_fmt: ChatFormat, profile: ModelProfile) -> bool:
    """A template of another format is wrong when the model lacks its special tokens (they would be read
    as plain text), or when it writes plain-text markers to a model trained with special tokens."""
    have = set(profile.tokenizer.markers) if profile.tokenizer else set()
    if file_fmt.special:
        return not all(m in have for m in file_fmt.special) if profile.tokenizer else True
    return True


def _missing_stop(profile: ModelProfile, fmt: ChatFormat | None) -> str | None:
    tok = profile.tokenizer
    if fmt is None or fmt.end_of_turn is None or tok is None or tok.eos_text is None:
        return None
    if fmt.end_of_turn in (tok.eos_text, tok.eot_text):
        return None
    return fmt.end_of_turn


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "loops", "an end-of-turn token the engine does not stop on", "https://github.com/ollama/ollama/issues/6823"
    ),
    Explains(
        "ignores-format",
        "a chat template of another format than the model was trained on",
        "https://github.com/ollama/ollama/issues/8363",
    ),
    Explains(
        "nonsense",
        "a chat template of another format than the model was trained on",
        "https://github.com/ollama/ollama/issues/8363",
    ),
    Explains(
        "lost-finetune", "a fine-tune's file without its chat template", "https://github.com/ollama/ollama/issues/8363"
    ),
)

CHECK = Check(
    id=ID,
    order=4,
    run=run,
    needs=frozenset(("profile", "setup", "observations")),
    explains=EXPLAINS,
)
