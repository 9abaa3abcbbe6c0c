"""context-truncation: the conversation does not fit the context the engine really uses.

The commonest "the quant got worse" that is not the quant: the engine runs a small context (Ollama's
default was 2,048, then 4,096 tokens; ollama PR #10364, issue #14073) and, when a prompt overflows,
Ollama drops its *front* first — the system prompt and the tools go silently (ollama #3839, #10980).
The answer then ignores instructions it never saw. A log line ("truncating input prompt", "input
truncated", a context shift) confirms it; a prompt counted with the model's own tokenizer against the
context in use makes it likely; the workload alone makes it a suspicion.
"""

from __future__ import annotations

import re
from typing import Any

from core.checks.base import Check, CheckInput, Explains
from core.checks.evidence import quote, unique
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.fixes import settings_fix
from core.engines import registry as engines
from core.engines.base import Change
from core.model.profile import ModelProfile
from core.settings.observations import Observation, Observations
from core.settings.setup import Setup
from core.textnum import CONTEXT, whole_or_none

ID = "context-truncation"
# What llama.cpp / Ollama print when a prompt does not fit (LOG_FORMATS.md section 6; Ollama's runner).
LOG_NEEDLES = (
    "truncating input prompt",
    "input truncated",
    "context shift",
    "exceeds the available context size",
    "is larger than the max context size",
)
ANSWER_ROOM = 0.2  # a prompt that leaves under a fifth of the context leaves little room to answer
# Rules of thumb: how long a workload's conversations typically get, in tokens.
TYPICAL_NEED = {"long-documents": 16384, "roleplay": 8192}
WORKLOAD_WORDS = {"long-documents": "Long documents", "roleplay": "Roleplay conversations"}


def _vram_gib(hardware: Any) -> float | None:
    gpus = getattr(hardware, "usable_gpus", None)
    if not gpus:
        return None
    total = sum(g.total_bytes or 0 for g in gpus)
    return total / 2**30 if total else None


_LIMIT = re.compile(r"(?:limit|n_ctx)\s*[=:]\s*(\d+)")


def _logged_limit(lines: list[Observation]) -> int | None:
    for o in lines:
        m = _LIMIT.search(o.text)
        limit = whole_or_none(m.group(1), CONTEXT) if m else None
        if limit is not None:
            return limit
    return None


def _context(profile: ModelProfile, setup: Setup, hardware: Any, obs: Observations) -> tuple[int, str, bool]:
    """(context in use, where that number comes from, whether a live source reported it)."""
    if obs.live_ctx is not None and obs.live_ctx.text.strip().isdigit():
        return int(obs.live_ctx.text), f"{obs.live_ctx.source}: context {int(obs.live_ctx.text):,}", True
    if setup.run.n_ctx:
        return setup.run.n_ctx, f"your setting ({setup.source}): context {setup.run.n_ctx:,}", False
    engine = engines.of(setup)
    if engine.default_ctx_for is not None:  # the engine's default depends on its version and the VRAM
        ctx, how = engine.default_ctx_for(obs.engine_version, _vram_gib(hardware))
        return ctx, f"{how}: {ctx:,} (nothing sets the context)", False
    ctx = engine.effective_ctx(setup.run, profile.context_length)
    return ctx, f"{setup.engine}'s default context: {ctx:,}", False


def _advice_ctx(need: int, trained: int | None) -> int:
    want = 1 << max(12, (int(need * 1.25) - 1).bit_length())
    return min(want, trained) if trained else want


def run(inputs: CheckInput) -> Finding:
    profile, hardware, setup = inputs.profile, inputs.hardware, inputs.setup
    obs = inputs.observations or Observations()
    ctx, ctx_source, live = _context(profile, setup, hardware, obs)
    evidence = [ctx_source]
    logged = unique(obs.lines(*LOG_NEEDLES))
    prompt = obs.prompt
    if prompt is not None:
        evidence.append(f"your prompt: {prompt.tokens:,} tokens, counted with {prompt.method}")
    overflow = engines.of(setup).overflow_words
    front = f" {overflow}" if overflow else ""
    severity, confidence, title = "ok", "suspected", f"The conversation fits the {ctx:,}-token context"
    need = prompt.tokens if prompt is not None else TYPICAL_NEED.get(setup.workload)
    cause = ""
    if logged:
        limit = _logged_limit(logged)
        if limit and limit != ctx:
            ctx = limit
            evidence.append(f"the log gives the context in use: {limit:,}")
        severity, confidence = "critical", "confirmed"
        title = f"The prompt is being cut to {ctx:,} tokens"
        evidence += [quote(o) for o in logged[:3]]
        cause = (
            f"Your engine's own log says it cut the input to fit {ctx:,} tokens: the model answered without "
            "the part that was cut, and an answer that ignores it looks exactly like a damaged model."
        )
    elif prompt is not None and prompt.tokens > ctx:
        severity, confidence = "critical", "confirmed" if live and prompt.exact else "likely"
        title = f"The prompt is being cut to {ctx:,} tokens (it is {prompt.tokens:,})"
        cause = (
            f"Your prompt is {prompt.tokens:,} tokens and the context holds {ctx:,}: about "
            f"{prompt.tokens - ctx:,} tokens are cut before the model sees them, and the answer ignores "
            "instructions and facts it never received."
        )
    elif prompt is not None and prompt.tokens > ctx * (1 - ANSWER_ROOM):
        severity, confidence = "warning", "confirmed" if live and prompt.exact else "likely"
        title = f"The prompt fills {prompt.tokens / ctx:.0%} of the {ctx:,}-token context: little room to answer"
        cause = (
            f"Your prompt leaves {ctx - prompt.tokens:,} of the {ctx:,} tokens for the answer and the turns "
            "after it: answers stop short, and the next turn pushes the start of the conversation out."
        )
    elif prompt is None and need is not None and need > ctx:
        severity, confidence = "warning", "suspected"
        what = WORKLOAD_WORDS.get(setup.workload, setup.workload)
        title = f"{what} usually need more than the {ctx:,}-token context in use"
        evidence.append(f"rule of thumb: {what.lower()} reach about {need:,} tokens")
        cause = (
            f"{what} typically grow to about {need:,} tokens, past the {ctx:,} in use: once they do, the "
            "oldest text is cut and the model forgets what it was told at the start."
        )
    if prompt is None and not logged:
        evidence.append("no prompt given to count (paste one to check it against the context)")
    # Nothing to measure against the context (no prompt, no log line, no rule of thumb for the workload):
    # whether the conversation fits was not checked, and the finding must not say it fits.
    unknown = severity == "ok" and prompt is None and not logged and need is None
    if unknown:
        title = f"Not checked: no prompt or log to measure against the {ctx:,}-token context"
    fix: list[FixStep] = []
    if severity != "ok":
        fix += settings_fix(setup, profile, Change(n_ctx=_advice_ctx(need or ctx * 2, profile.context_length)))
        if not fix and profile.context_length:  # already at the trained length: nothing larger to set
            fix.append(
                FixStep(
                    f"The context is already the {profile.context_length:,} tokens the model was trained for: "
                    "shorten the input, or split long documents into parts."
                )
            )
        elif profile.context_length and (need or 0) > profile.context_length:
            fix.append(
                FixStep(
                    f"The model was trained for {profile.context_length:,} tokens: shorten the input, or split "
                    "long documents into parts."
                )
            )
    return Finding(
        id=ID,
        severity=severity,
        title=title,
        evidence=evidence,
        why=(cause + front).strip()
        if severity != "ok"
        else (
            f"Text that does not fit the context is cut before the model sees it; with no prompt counted and "
            f"no log line, whether yours fits the {ctx:,} tokens in use could not be checked."
            if unknown
            else f"Text that does not fit the context is cut before the model sees it; the {ctx:,} tokens in use "
            "leave room for what is known of your conversations."
        ),
        fix=fix,
        confidence=confidence,
        status=NOT_CHECKED if unknown else "",
    )


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "forgets",
        "a conversation longer than the context the engine really uses",
        "https://github.com/ollama/ollama/issues/3839",
    ),
    Explains(
        "ignores-format",
        "a prompt cut from the front, system prompt and tools first",
        "https://github.com/ollama/ollama/issues/10980",
    ),
)

CHECK = Check(
    id=ID,
    order=2,
    run=run,
    needs=frozenset(("profile", "setup", "hardware", "observations")),
    explains=EXPLAINS,
)
