"""Copy fields that paste as they are: the person's own command with only the changed flags, and the
checks that every copy field of every engine is what its kind says (issue 16 item 4).

A Copy button that puts "OLLAMA_CONTEXT_LENGTH=8192 (or PARAMETER num_ctx 8192 in the Modelfile)" on
the clipboard hands the person prose that breaks whatever they paste it into. So each copy field has a
kind (core.engines.base.CopyKind) and `problems` says what in it is not of that kind; the explanation
goes in the step's text, beside the field.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from core.engines.base import CopyKind, FixStep

# One flag to set: its spellings (the first is the one added when the command has none) and its value
# tokens ([] for a bare flag such as --jinja).
Flag = tuple[tuple[str, ...], list[str]]


def corrected_command(base: str | None, program: Sequence[str], flags: Sequence[Flag]) -> str:
    """`base` (the person's own command) with each flag's value replaced where it is already given and
    the flag added at the end where it is not; every other token kept as it was. Without a base,
    `program` (e.g. ["llama-server", "-m", "model.gguf"]) followed by the flags."""
    tokens: list[str] = []
    if base:
        try:
            tokens = shlex.split(base.replace("\\\n", " "))
        except ValueError:
            tokens = []
    if not tokens:
        tokens = list(program)
    for names, values in flags:
        tokens = _set_flag(tokens, names, values)
    return shlex.join(tokens)


_BARE_OR_VALUE = {"on", "off", "auto", "true", "false", "1", "0", "enabled", "disabled"}


def _set_flag(tokens: list[str], names: tuple[str, ...], values: list[str]) -> list[str]:
    out: list[str] = []
    done = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        flag, eq, _ = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if flag in names:
            if done:  # a repeated flag: llama.cpp takes the last; keep one
                i += 1 if eq or not values else 2
                continue
            done = True
            if eq:
                out.append(f"{flag}={values[0]}" if values else flag)
                i += 1
                continue
            out.append(flag)
            if not values:
                i += 1
                continue
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            # -fa took no value in older llama.cpp: a bare -fa followed by another flag keeps its neighbour
            takes_value = nxt is not None and (not nxt.startswith("-") or is_number(nxt))
            if flag in ("-fa", "--flash-attn") and nxt is not None and nxt.lower() not in _BARE_OR_VALUE:
                takes_value = False
            out += values
            i += 2 if takes_value else 1
            continue
        out.append(tok)
        i += 1
    if not done:
        out += [names[0], *values]
    return out


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- what a copy field may hold ---------------------------------------------------------------------------

# Words that only prose uses: a copy field holding one of them as a token is an explanation, not a value.
_PROSE = {"or", "and", "the", "in", "then", "to", "for", "with", "your", "this", "a", "an", "of", "see", "add",
          "remove", "set", "use", "e.g.", "(or", "(in", "(the", "(at", "(leave", "(llama-cli;", "instead"}  # fmt: skip
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
_PARAMETER = re.compile(r'^PARAMETER [a-z_]+ ("[^"]*"|\S+)$')
_TEMPLATE = re.compile(r'^TEMPLATE """.*"""$', re.DOTALL)
_SETTING = re.compile(r"^[A-Za-z][A-Za-z0-9 _()/-]*: [^\s].*$")
_CONFIG = re.compile(r"^[a-z_]+: \S+$")


def problems(step: FixStep) -> list[str]:
    """What in a step's copy field cannot be pasted as it is; [] when it can (or there is none)."""
    text, kind = step.command, step.copy_kind
    if text is None or kind is None:
        return []
    if not text.strip():
        return ["empty"]
    if kind is CopyKind.COMMAND:
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            return [f"not a command line ({exc})"]
        out = [f"prose word {t!r}" for t in tokens if t.lower() in _PROSE]
        if tokens and tokens[0].startswith("-"):
            out.append("flags without a program: not a whole command")
        if "\n" in text:
            out.append("more than one line")
        return out
    if kind is CopyKind.MODELFILE:
        if _TEMPLATE.match(text.strip()):
            return ["a placeholder, not a template"] if "..." in text else []
        return [f"not a Modelfile line: {line!r}" for line in text.splitlines() if not _PARAMETER.match(line)]
    if kind is CopyKind.ENV:
        return [f"not KEY=VALUE: {line!r}" for line in text.splitlines() if not _ENV.match(line)]
    if kind is CopyKind.CONFIG:
        return [f"not a config line: {line!r}" for line in text.splitlines() if not _CONFIG.match(line)]
    out = []
    for line in text.splitlines():
        if not _SETTING.match(line):
            out.append(f"not 'Setting: value': {line!r}")
        elif any(w in _PROSE for w in line.split(": ", 1)[1].lower().split()):
            out.append(f"prose in a setting's value: {line!r}")
    return out
