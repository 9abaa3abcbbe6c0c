"""Copy fields that paste as they are: the person's own command with only the changed flags, and the
checks that every copy field of every engine is what its kind says (issue 16 item 4).

A Copy button that puts "OLLAMA_CONTEXT_LENGTH=8192 (or PARAMETER num_ctx 8192 in the Modelfile)" on
the clipboard hands the person prose that breaks whatever they paste it into. So each copy field has a
kind (core.engines.base.CopyKind) and `problems` says what in it is not of that kind; the explanation
goes in the step's text, beside the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core import shells, textnum
from core.engines.base import CopyKind, FixStep
from core.shells import Shell

# One flag to set: its spellings (the first is the one added when the command has none) and its value
# tokens ([] for a bare flag such as --jinja).
Flag = tuple[tuple[str, ...], list[str]]


def corrected_command(
    base: str | None, program: Sequence[str], flags: Sequence[Flag], shell: Shell = Shell.POSIX
) -> str:
    """`base` (the person's own command) with each flag's value replaced where it is already given and
    the flag added at the end where it is not; every other token kept as it was. Without a base,
    `program` (e.g. ["llama-server", "-m", "model.gguf"]) followed by the flags. `base` is in the one
    form Quant Doctor keeps commands in (Setup.command: POSIX-quoted tokens, whatever shell the person
    pasted it from, see llamacpp.from_command); the result is quoted for `shell` (core.shells), so a
    Windows path with a space pastes into PowerShell and cmd as it is."""
    tokens: list[str] = []
    if base:
        try:
            tokens = shells.split(base, Shell.POSIX)
        except ValueError:
            tokens = []
    if not tokens:
        tokens = list(program)
    for names, values in flags:
        tokens = _set_flag(tokens, names, values)
    return shells.join(tokens, shell)


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
    """Whether a command-line token is written as a number (`-1` is a value, `--port` a flag): core.textnum."""
    return textnum.is_number(text)


# --- what a copy field may hold ---------------------------------------------------------------------------

# Words that only prose uses: a copy field holding one of them as a token is an explanation, not a value.
_PROSE = {"or", "and", "the", "in", "then", "to", "for", "with", "your", "this", "a", "an", "of", "see", "add",
          "remove", "set", "use", "e.g.", "(or", "(in", "(the", "(at", "(leave", "(llama-cli;", "instead"}  # fmt: skip
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
_PS_ENV = re.compile(r'^\$env:[A-Z_][A-Z0-9_]*\s*=\s*"(?:[^"`$]|`.)*"$')
_CMD_SET = re.compile(r'^set "[A-Z_][A-Z0-9_]*=[^"%]*"$')


def _env_line(line: str, shell: Shell) -> bool:
    """One line that sets a variable in `shell` (core.shells.env_lines' forms), and nothing else."""
    try:
        words = shells.split(line, shell)
    except ValueError:
        return False
    if (len(words) == 4 and words[:2] == ["launchctl", "setenv"]) or (len(words) == 3 and words[0] == "setx"):
        return re.match(r"^[A-Z_][A-Z0-9_]*$", words[-2]) is not None and not any(w in _PROSE for w in words)
    if shell is Shell.POWERSHELL:
        return _PS_ENV.match(line) is not None
    if shell is Shell.CMD:
        return _CMD_SET.match(line) is not None
    if len(words) == 2 and words[0] == "export":
        return _ENV.match(words[1].split("=", 1)[0] + "=x") is not None and "=" in words[1]
    return len(words) == 1 and _ENV.match(line) is not None


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
    shell = step.shell or Shell.POSIX
    if kind is CopyKind.COMMAND:
        try:
            tokens = shells.split(text, shell)
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
        return [f"not a variable for {shell}: {line!r}" for line in text.splitlines() if not _env_line(line, shell)]
    if kind is CopyKind.CONFIG:
        return [f"not a config line: {line!r}" for line in text.splitlines() if not _CONFIG.match(line)]
    out = []
    for line in text.splitlines():
        if not _SETTING.match(line):
            out.append(f"not 'Setting: value': {line!r}")
        elif any(w in _PROSE for w in line.split(": ", 1)[1].lower().split()):
            out.append(f"prose in a setting's value: {line!r}")
    return out
