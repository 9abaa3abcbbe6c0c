"""Text a person pastes into their own shell: PowerShell, cmd, or a POSIX shell (sh, bash, zsh).

A fix that says `OLLAMA_KV_CACHE_TYPE=q8_0` is a shell assignment on Linux, a syntax error in
PowerShell and a no-op in cmd; a command line quoted for bash breaks on a Windows path. So every
copy field that holds a command or environment variables is written for one `Terminal` (an OS and
its shell), by default the one Quant Doctor runs on (`Terminal.here()`), with the quoting rules of
that shell:

- POSIX shells: `shlex` (the standard library's POSIX quoting).
- cmd: `mslex` (quoting for CommandLineToArgvW and cmd's metacharacters; the library the standard
  library's shlex documentation points Windows users to is the one `oslex` wraps).
- PowerShell: about_Quoting_Rules ("Quoting rules", PowerShell 7 documentation): a single-quoted
  string is verbatim, and a single quote inside one is written twice; PowerShell also treats the
  typographic quotes U+2018-U+201B as single quotes, so those are doubled too. A command whose
  program is quoted needs the call operator `&` (about_Operators, "Call operator &"), or PowerShell
  reads it as a string expression instead of running it.

Environment variables, as each OS's tools document them:

- Windows: `$env:NAME = "value"` sets it for this PowerShell session (about_Environment_Variables)
  and `setx NAME value` keeps it for the user's future programs (setx, Windows Commands reference);
  in cmd, `set "NAME=value"`. Ollama's FAQ: "On Windows, Ollama inherits your user and system
  environment variables" — quit Ollama from the taskbar and start it again after setx.
- macOS: the Ollama app is started by launchd, not a shell, so the FAQ's way is
  `launchctl setenv NAME value`, then restart the Ollama application.
- Linux: `NAME=value` lines (what systemd's `Environment=` and a `NAME=value ollama serve` prefix take).

Nothing here runs a shell; it only writes text.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import mslex


class Shell(StrEnum):
    POSIX = "posix"  # sh, bash, zsh (macOS's default since Catalina), fish for commands
    POWERSHELL = "powershell"  # Windows PowerShell 5.1 and PowerShell 7
    CMD = "cmd"  # the Command Prompt


SHELL_WORDS = {Shell.POSIX: "Terminal (bash, zsh)", Shell.POWERSHELL: "PowerShell", Shell.CMD: "Command Prompt"}

OS_NAMES = ("linux", "macos", "windows")
TERMINAL_ENV = "QUANTDOCTOR_TERMINAL"


def os_of(platform: str = sys.platform) -> str:
    """`sys.platform` as one of OS_NAMES (anything not Windows or macOS is treated like Linux)."""
    if platform.startswith(("win32", "cygwin", "msys")):
        return "windows"
    if platform == "darwin":
        return "macos"
    return "linux"


@dataclass(frozen=True)
class Terminal:
    """Where copy text is pasted: the OS (which decides how settings persist) and the shell."""

    system: str = "linux"  # one of OS_NAMES
    shell: Shell = Shell.POSIX

    @classmethod
    def here(cls, platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Terminal:
        """The OS Quant Doctor runs on, with its usual shell: PowerShell on Windows (the shell Windows
        Terminal and the Win+X menu open), zsh/bash elsewhere. QUANTDOCTOR_TERMINAL=os[/shell] (e.g.
        `windows/cmd`, or `linux` for Git Bash or WSL users) says otherwise; a value that names no OS is
        ignored."""
        chosen = environ.get(TERMINAL_ENV, "").strip().lower()
        if chosen:
            name, _, shell = chosen.partition("/")
            if name in OS_NAMES and (not shell or shell in set(Shell)):
                return cls.of(name, shell or None)
        os_name = os_of(platform)
        return cls(os_name, Shell.POWERSHELL if os_name == "windows" else Shell.POSIX)

    @classmethod
    def of(cls, os_name: str, shell: Shell | str | None = None) -> Terminal:
        if os_name not in OS_NAMES:
            raise ValueError(f"unknown OS {os_name!r}; one of {', '.join(OS_NAMES)}")
        default = Shell.POWERSHELL if os_name == "windows" else Shell.POSIX
        return cls(os_name, Shell(shell) if shell is not None else default)


# --- quoting ------------------------------------------------------------------------------------------

# PowerShell: characters that never need quotes in argument mode. Left out on purpose: space, the quotes,
# $ ` (expansion, escape), { } ( ) @ (blocks, sub-expressions, splatting), ; & | < > (statements,
# redirection), , (an array: two arguments become one joined by a space), # (a comment at a token's start).
_PS_SAFE = re.compile(r"^[A-Za-z0-9_+./:\\=%~-]+$")
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def quote(arg: str, shell: Shell) -> str:
    """One argument, quoted so that `shell` hands it to the program unchanged."""
    if shell is Shell.POSIX:
        return shlex.quote(arg)
    if shell is Shell.CMD:
        return str(mslex.quote(arg, for_cmd=True))
    if _PS_SAFE.match(arg) and arg != "--%":  # --% is PowerShell's stop-parsing token
        return arg
    return "'" + "".join(ch * 2 if ch in _PS_SINGLE_QUOTES else ch for ch in arg) + "'"


def join(argv: Sequence[str], shell: Shell) -> str:
    """A whole command line for `shell`; in PowerShell a quoted program gets the call operator `&`."""
    words = [quote(a, shell) for a in argv]
    if shell is Shell.POWERSHELL and words and words[0][:1] == "'":
        return "& " + " ".join(words)
    return " ".join(words)


def split(text: str, shell: Shell) -> list[str]:
    """A person's own command line, as `shell` would hand it to the program. ValueError if it is not one
    (an unclosed quote). Line continuations (`\\` in POSIX, a backtick in PowerShell, `^` in cmd) join."""
    if shell is Shell.POSIX:
        return shlex.split(text.replace("\\\n", " "))
    if shell is Shell.CMD:
        return list(mslex.split(text.replace("^\r\n", " ").replace("^\n", " "), like_cmd=True, check=True))
    return _split_powershell(text)


def _split_powershell(text: str) -> list[str]:
    """about_Quoting_Rules / about_Parsing, for the subset a command line uses: bare words, '...' (verbatim,
    '' for '), "..." (` escapes, "" for ", $ left as written: we never expand variables), ` escapes outside
    quotes, a leading call operator &."""
    out: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "`":
            if i + 1 < n and text[i + 1] in "\r\n":  # line continuation
                i += 2 if text[i + 1 : i + 3] != "\r\n" else 3
                continue
            if i + 1 >= n:
                raise ValueError("a backtick at the end of the line")
            word.append(_PS_ESCAPES.get(text[i + 1], text[i + 1]))
            in_word, i = True, i + 2
            continue
        if ch in " \t\r\n":
            if in_word:
                out.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        if ch in _PS_SINGLE_QUOTES:
            i += 1
            while True:
                if i >= n:
                    raise ValueError("no closing quotation")
                if text[i] in _PS_SINGLE_QUOTES:
                    if i + 1 < n and text[i + 1] in _PS_SINGLE_QUOTES:
                        word.append(text[i])
                        i += 2
                        continue
                    i += 1
                    break
                word.append(text[i])
                i += 1
            in_word = True
            continue
        if ch in '"\u201c\u201d\u201e':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("no closing quotation")
                c = text[i]
                if c == "`" and i + 1 < n:
                    word.append(_PS_ESCAPES.get(text[i + 1], text[i + 1]))
                    i += 2
                    continue
                if c in '"\u201c\u201d\u201e':
                    if i + 1 < n and text[i + 1] in '"\u201c\u201d\u201e':
                        word.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                word.append(c)
                i += 1
            in_word = True
            continue
        word.append(ch)
        in_word = True
        i += 1
    if in_word:
        out.append("".join(word))
    if out and out[0] == "&":
        out = out[1:]
    return out


# about_Special_Characters: `0 `a `b `e `f `n `r `t `v; any other character after ` is itself.
_PS_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


# --- environment variables ----------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_lines(pairs: Iterable[tuple[str, str]], terminal: Terminal) -> str:
    """Lines that set each NAME to its value where `terminal` runs a server from, one line per action.

    Windows: set it now ($env: / set) and keep it (setx) for the app started from the Start menu; macOS:
    launchctl setenv for the app launchd starts; Linux: NAME=value lines."""
    lines: list[str] = []
    keep: list[str] = []
    for name, value in pairs:
        if not _NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
        if terminal.system == "windows":
            if terminal.shell is Shell.POWERSHELL:
                lines.append(f"$env:{name} = {_ps_double(value)}")
            elif terminal.shell is Shell.CMD:
                lines.append(f'set "{name}={_cmd_set_value(value)}"')
            else:
                lines.append(f"export {name}={quote(value, Shell.POSIX)}")
            if terminal.shell is not Shell.POSIX:
                keep.append(join(["setx", name, value], terminal.shell))
        elif terminal.system == "macos":
            lines.append(join(["launchctl", "setenv", name, value], terminal.shell))
        else:
            lines.append(f"{name}={quote(value, Shell.POSIX)}")
    return "\n".join(lines + keep)


def _ps_double(value: str) -> str:
    """A double-quoted PowerShell string: ` " $ escaped with a backtick (about_Quoting_Rules)."""
    return '"' + "".join("`" + ch if ch in '`"$\u201c\u201d\u201e' else ch for ch in value) + '"'


def _cmd_set_value(value: str) -> str:
    """A value inside `set "NAME=value"`: the quotes keep & | < > ^ literal; % and " cannot be made
    literal in every case, so they are refused rather than mangled."""
    if any(ch in value for ch in '%"\r\n'):
        raise ValueError(f"a value cmd's set cannot hold literally: {value!r}")
    return value
