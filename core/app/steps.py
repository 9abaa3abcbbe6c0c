"""Where the person stands in the flow: each step's state in words, and the one-line verdict.

Plain functions of the case (a `core.app.session.Session`, or anything with its `profile`, `setup`,
`hardware`, `diagnosis` and `comparison`), so the sidebar and the banner only draw what they say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.app.words import friendly_name
from core.settings.symptoms import short_words, weighed

# todo: not done yet · done · attention: needs a look (warnings) · critical: something is wrong · optional
KINDS = ("todo", "done", "attention", "critical", "optional", "home")


@dataclass(frozen=True)
class StepState:
    kind: str
    words: str  # what the state is, in words (never only a colour or an icon)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def step_states(state: Any) -> dict[str, StepState]:
    """Each step's state from the case (read only)."""
    d = state.diagnosis
    said = short_words(weighed(tuple(getattr(state, "symptoms", ()))))
    out: dict[str, StepState] = {"start": StepState("home", f"you said: {said}" if said else "three ways in")}
    hw = state.hardware
    if hw is None:
        out["machine"] = StepState("todo", "looking…")
    elif getattr(hw, "source", "") == "catalog":
        out["machine"] = StepState("done", "what-if: " + ", ".join(g.name for g in hw.gpus))
    elif hw.cpu_only:
        out["machine"] = StepState("done", "no GPU used")
    else:
        out["machine"] = StepState("done", _count(len(hw.usable_gpus), "GPU", "GPUs"))
    out["model"] = (
        StepState("done", friendly_name(state.profile)) if state.profile is not None else StepState("todo", "not yet")
    )
    source = state.setup.source or ""
    if state.setup.unknown:
        out["setup"] = StepState(
            "attention", _count(len(state.setup.unknown), "setting", "settings") + " not understood"
        )
    elif source and source != "defaults":
        out["setup"] = StepState("done", source)
    else:
        out["setup"] = StepState("todo", "defaults")
    if d is None:
        out["diagnosis"] = StepState("todo", "not yet")
    elif d.problems:
        kind = "critical" if any(f.severity == "critical" for f in d.problems) else "attention"
        out["diagnosis"] = StepState(kind, _count(len(d.problems), "finding", "findings"))
    elif asks_which_model(d):
        out["diagnosis"] = StepState("attention", "1 question open")
    elif d.unchecked:
        out["diagnosis"] = StepState("done", f"nothing wrong; {len(d.unchecked)} not checked")
    else:
        out["diagnosis"] = StepState("done", "nothing wrong")
    out["compare"] = (
        StepState("done", "compared") if state.comparison is not None else StepState("optional", "optional")
    )
    memory = d.memory if d is not None else None
    if memory is None:
        out["advice"] = StepState("todo", "not yet" if d is None or hw is None else "not estimated")
    elif memory.fits:
        out["advice"] = StepState("done", "it fits")
    elif getattr(memory, "one_change", None) is not None:  # one setting makes it fit: not a red "does not fit"
        out["advice"] = StepState("attention", "fits with one change")
    else:
        out["advice"] = StepState("critical", "does not fit")
    out["export"] = StepState("optional", "when ready" if d is not None else "optional")
    return out


def asks_which_model(d: Any) -> bool:
    """Whether to ask "Which model did you mean to run?": only on evidence of a base or wrong model (the
    fine-tune check found one) or when the person said a fine-tune lost its training — never of every model."""
    if getattr(d.setup, "expected", None):
        return False
    if any(f.id == "finetune" and f.is_problem for f in d.findings):
        return True
    return "lost-finetune" in getattr(d, "symptoms", ())


def verdict_text(d: Any) -> str:
    """One line: the most likely cause and its fix, or that nothing was found wrong. A verdict that
    core composes (a `verdict` attribute on the diagnosis) wins over this one."""
    made = getattr(d, "verdict", None)
    if isinstance(made, str) and made:
        return made
    text = getattr(made, "text", None)
    if isinstance(text, str) and text:
        return text
    top = d.top
    said = short_words(weighed(tuple(getattr(d, "symptoms", ()))))
    if said:  # the person said what went wrong: speak to it, or say plainly that nothing seen explains it
        heard = d.explains
        if not heard:
            return str(d.headline)
        top = heard[0]
    if top is None:
        if asks_which_model(d):
            return "Nothing found wrong so far. One question is open: which model did you mean to run?"
        if d.unchecked:
            n = len(d.unchecked)
            return f"Nothing found wrong in what could be checked; {n} check{'s' if n != 1 else ''} could not look."
        return "Nothing found wrong: every check passed."
    title = re.sub(r"[:;,]?\s*this is the most likely cause\.?$", "", top.title.strip(), flags=re.IGNORECASE)
    title = title[:1].lower() + title[1:] if title[1:2].islower() else title
    line = f"For {said}, the most likely cause: {title.rstrip('.')}." if said else f"Most likely cause: {title.rstrip('.')}."
    if top.fix:
        step = top.fix[0]
        fix = re.split(r"; |\. ", step.text)[0].strip()  # one clause: a line, not a paragraph
        fix = fix.rstrip(":").strip()  # "…:" introduces the text to copy, which the line does not show
        if re.search(r"\b(with|to|in|into|these|this|the following)$", fix, flags=re.IGNORECASE):
            changes = ", ".join(f"{SETTING_WORDS.get(k, k.replace('_', ' '))} {v}" for k, v in step.sets)
            fix += f" {changes}" if changes else " the command on the Diagnosis page"
        fix = fix.rstrip(".")
        line += f" Fix: {fix[:1].lower() + fix[1:] if fix[1:2].islower() else fix}."
    return line


# the settings a fix step changes, as its one-line summary names them
SETTING_WORDS = {
    "n_ctx": "context",
    "cache_type_k": "K cache",
    "cache_type_v": "V cache",
    "flash_attn": "flash attention",
    "n_gpu_layers": "GPU layers",
    "repeat_penalty": "repeat penalty",
    "chat_template": "chat template",
    "rope_none": "no RoPE scaling",
}
