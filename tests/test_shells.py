"""Copy text for the person's own shell (issue 22 item 3): every engine's commands and environment lines,
written for PowerShell, cmd and POSIX shells, parse in that shell to exactly what was meant.

Each shell has its own parser here, none of them core.shells' code:

- POSIX: the real `sh` on this machine (dash), run on the text with the program replaced by a function
  that prints its arguments.
- PowerShell: `ps_parse`, a strict reading of about_Quoting_Rules / about_Parsing / about_Special_Characters
  (PowerShell 7.5 documentation) for argument mode: bare words of characters with no meaning to the parser,
  '...' verbatim with '' for a quote, "..." where ` escapes and an unescaped $ would expand (refused: a
  copy field must not expand anything), the call operator & before a quoted program, and
  `$env:NAME = "value"` assignments. Anything else is refused, so a copy field it accepts means what it
  says in PowerShell.
- cmd: `cmd_parse`, cmd's own phase as `cmd /?` and `set /?` describe it (a " toggles quoting, ^ escapes
  outside quotes, & | < > ( ) are operators there, % and ! expand anywhere), then the program's reading of
  its command line ("Parsing C command-line arguments", Microsoft C++ docs): mslex.split without its cmd
  phase. `set "NAME=value"` assigns value literally.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import mslex
import pytest

from core.engines import paste
from core.engines import registry as engines
from core.engines.base import Change, CopyKind, FixBase, FixStep
from core.engines.llamacpp import from_command
from core.shells import Shell, Terminal, env_lines, join, quote, split

# --- the parsers -------------------------------------------------------------------------------------------

_PS_BARE = re.compile(r"[A-Za-z0-9_+./:\\=%~-]")
# PowerShell's tokenizer reads these four as single quotes too (CharTraits.IsSingleQuote in its source).
_PS_SQ = "'\u2018\u2019\u201a\u201b"
_PS_ESC = {"0": "\0", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def ps_parse(line: str) -> list[str]:
    """One PowerShell statement in argument mode -> the words a native program receives."""
    words: list[str] = []
    i, n = 0, len(line)
    cur: list[str] | None = None
    while i < n:
        c = line[i]
        if c == " ":
            if cur is not None:
                words.append("".join(cur))
                cur = None
            i += 1
        elif c in _PS_SQ:
            cur = cur if cur is not None else []
            i += 1
            while True:
                assert i < n, f"unclosed ' in {line!r}"
                if line[i] in _PS_SQ and i + 1 < n and line[i + 1] in _PS_SQ:
                    cur.append(line[i])
                    i += 2
                elif line[i] in _PS_SQ:
                    i += 1
                    break
                else:
                    cur.append(line[i])
                    i += 1
        elif c == '"':
            cur = cur if cur is not None else []
            i += 1
            while True:
                assert i < n, f'unclosed " in {line!r}'
                if line[i] == "`":
                    cur.append(_PS_ESC.get(line[i + 1], line[i + 1]))
                    i += 2
                elif line[i] == "$":
                    raise AssertionError(f"an unescaped $ would expand in {line!r}")
                elif line[i] == '"':
                    i += 1
                    break
                else:
                    cur.append(line[i])
                    i += 1
        elif c == "&" and cur is None and not words and i + 1 < n and line[i + 1] == " ":
            i += 2  # the call operator: the next word is the program
        else:
            assert _PS_BARE.match(c), f"{c!r} means something to PowerShell outside quotes: {line!r}"
            if cur is None:
                assert c != "#", f"a word starting with # is a comment: {line!r}"
                cur = []
            cur.append(c)
            i += 1
    if cur is not None:
        words.append("".join(cur))
    if line[:1] in _PS_SQ + '"':
        raise AssertionError(f"a quoted program without & is a string, not a command: {line!r}")
    assert not re.search(r"(^| )--%( |$)", line), "a bare --% stops PowerShell's parsing"
    return words


def ps_assign(line: str) -> tuple[str, str]:
    """`$env:NAME = "value"` -> (NAME, value)."""
    m = re.fullmatch(r"\$env:([A-Za-z_][A-Za-z0-9_]*) = (.+)", line)
    assert m, f"not an $env: assignment: {line!r}"
    value = ps_parse("x " + m.group(2))
    assert len(value) == 2 and m.group(2).startswith('"'), line
    return m.group(1), value[1]


def cmd_parse(line: str) -> list[str]:
    """One cmd line -> argv, in cmd's two phases: cmd itself (a " toggles quoting and is kept, ^ outside
    quotes makes the next character literal and an escaped " toggles nothing, & | < > ( ) outside quotes
    are operators: refused), then the program's C runtime (mslex.split without cmd's phase)."""
    assert "%" not in line and "!" not in line, f"% or ! expand even inside quotes: {line!r}"
    out: list[str] = []
    quoted, i = False, 0
    while i < len(line):
        c = line[i]
        if c == '"':
            quoted = not quoted
            out.append(c)
        elif c == "^" and not quoted:
            assert i + 1 < len(line), f"a caret at the end continues the line: {line!r}"
            out.append(line[i + 1])
            i += 1
        else:
            assert quoted or c not in "&|<>()", f"{c!r} is a cmd operator outside quotes in {line!r}"
            out.append(c)
        i += 1
    assert not quoted, f"an unclosed quote in {line!r}"
    return list(mslex.split("".join(out), like_cmd=False))


def cmd_assign(line: str) -> tuple[str, str]:
    m = re.fullmatch(r'set "([A-Za-z_][A-Za-z0-9_]*)=([^"%!]*)"', line)
    assert m, f'not set "NAME=value": {line!r}'
    return m.group(1), m.group(2)


SH = shutil.which("sh")


def sh_parse(line: str) -> list[str]:
    """What the real POSIX sh passes to the program of `line` (the program is replaced by a function)."""
    assert SH is not None
    program, _, rest = line.partition(" ")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", program), f"not a plain program name: {program!r}"
    script = f"_args() {{ printf '%s\\0' \"$@\"; }}\n_args {rest}\n"
    out = subprocess.run([SH, "-c", script], capture_output=True, check=True, timeout=10).stdout
    return [program, *out.decode().split("\0")[:-1]]


def sh_assign(line: str) -> tuple[str, str]:
    """`NAME=value` (or `export NAME=value`) as the real sh assigns it."""
    assert SH is not None
    m = re.fullmatch(r"(?:export )?([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
    assert m, f"not an assignment: {line!r}"
    out = subprocess.run([SH, "-c", f"{line}\nprintf '%s' \"${m.group(1)}\""], capture_output=True, check=True,
                         timeout=10).stdout  # fmt: skip
    return m.group(1), out.decode()


def parse_command(line: str, shell: Shell) -> list[str]:
    return {Shell.POWERSHELL: ps_parse, Shell.CMD: cmd_parse, Shell.POSIX: sh_parse}[shell](line)


def parse_env(text: str, terminal: Terminal) -> dict[str, dict[str, str]]:
    """Copied environment lines -> {"now": {NAME: value}, "kept": {...}, "launchd": {...}}."""
    out: dict[str, dict[str, str]] = {"now": {}, "kept": {}, "launchd": {}}
    for line in text.splitlines():
        words = parse_command(line, terminal.shell) if line.startswith(("setx ", "launchctl ")) else None
        if words and words[0] == "setx":
            assert len(words) == 3, line
            out["kept"][words[1]] = words[2]
        elif words and words[0] == "launchctl":
            assert words[1] == "setenv" and len(words) == 4, line
            out["launchd"][words[2]] = words[3]
        elif terminal.shell is Shell.POWERSHELL:
            name, value = ps_assign(line)
            out["now"][name] = value
        elif terminal.shell is Shell.CMD:
            name, value = cmd_assign(line)
            out["now"][name] = value
        else:
            name, value = sh_assign(line)
            out["now"][name] = value
    return out


# --- the terminals and the person's model paths -------------------------------------------------------------

TERMINALS = {
    "linux": Terminal.of("linux"),
    "macos": Terminal.of("macos"),
    "windows-powershell": Terminal.of("windows", "powershell"),
    "windows-cmd": Terminal.of("windows", "cmd"),
}
# Paths as people have them: a space, a quote, a parenthesis, non-ASCII (the user folder of "José O'Brien").
MODEL_PATHS = {
    "linux": "/home/José O'Brien/models/Qwen3 8B (Q4_K_M).gguf",
    "macos": "/Users/José O'Brien/.lmstudio/models/lmstudio-community/Qwen3 8B (Q4_K_M).gguf",
    "windows-powershell": r"C:\Users\José O'Brien\.lmstudio\models\Qwen3 8B (Q4_K_M).gguf",
    "windows-cmd": r"D:\LLM Models\Qwen3 8B (Q4_K_M) [final].gguf",
}

CHANGES = [
    Change(n_ctx=8192),
    Change(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True),
    Change(cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False),
    Change(n_gpu_layers=20, temperature=0.6, repeat_penalty=1.1),
    Change(chat_template="ChatML", jinja=True),
    Change(stop="<|im_end|>"),
    Change(rope_none=True),
    Change(n_ctx=32768, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True, n_gpu_layers=99),
]


def _steps(engine_id: str, change: Change, terminal: Terminal, model: str) -> list[FixStep]:
    return engines.get(engine_id).apply(change, FixBase(model_path=model, terminal=terminal))


@pytest.mark.skipif(SH is None, reason="no POSIX sh on this machine")
@pytest.mark.parametrize("where", list(TERMINALS))
@pytest.mark.parametrize("engine_id", engines.ids())
def test_every_engine_copy_field_parses_in_the_persons_shell(engine_id: str, where: str) -> None:
    terminal, model = TERMINALS[where], MODEL_PATHS[where]
    seen_kinds: set[CopyKind] = set()
    for change in CHANGES:
        for step in _steps(engine_id, change, terminal, model):
            kind = step.copy_kind
            if kind not in (CopyKind.COMMAND, CopyKind.ENV):
                continue
            seen_kinds.add(kind)
            assert step.shell is terminal.shell, step
            assert paste.problems(step) == [], (step, paste.problems(step))
            assert step.command is not None
            if kind is CopyKind.COMMAND:
                words = parse_command(step.command, terminal.shell)
                if model in step.command or any(model == w for w in words):
                    assert model in words, f"the model path was changed on its way through {terminal.shell}"
                _assert_flags_match(words, step)
            else:
                _assert_env_matches(step.command, terminal, change)
    if engine_id in ("llama.cpp", "koboldcpp", "vllm", "text-generation-webui"):
        assert CopyKind.COMMAND in seen_kinds
    if engine_id == "ollama":
        assert CopyKind.ENV in seen_kinds


def _assert_flags_match(words: list[str], step: FixStep) -> None:
    """The parsed command holds each value the step says it sets, as its own word."""
    for name, value in step.sets:
        if name in ("n_ctx", "n_gpu_layers", "temperature", "repeat_penalty", "cache_type_k", "stop"):
            if step.engine == "vllm" and name != "n_ctx":
                continue  # vLLM's cache flag is "auto" and it takes the sampler per request
            if step.engine == "text-generation-webui" and name in ("temperature", "repeat_penalty", "stop"):
                continue
            if step.engine == "koboldcpp" and name in ("cache_type_k",):
                continue  # --quantkv takes koboldcpp's own number for the type
            if step.engine == "koboldcpp" and name in ("temperature", "repeat_penalty", "stop"):
                continue
            assert value in words, f"{name}={value} is not a word of {words}"


def _assert_env_matches(text: str, terminal: Terminal, change: Change) -> None:
    parsed = parse_env(text, terminal)
    want: dict[str, str] = {}
    cache = change.cache_type_v or change.cache_type_k
    if cache is not None:
        want["OLLAMA_KV_CACHE_TYPE"] = cache
    if change.flash_attn is not None:
        want["OLLAMA_FLASH_ATTENTION"] = "1" if change.flash_attn else "0"
    if terminal.system == "windows":
        assert parsed["now"] == want and parsed["kept"] == want, parsed  # this session, and setx for the app
    elif terminal.system == "macos":
        assert parsed["launchd"] == want and not parsed["now"], parsed  # the app is started by launchd
    else:
        assert parsed["now"] == want, parsed


# --- the exact text people see, per shell ------------------------------------------------------------------


def test_ollama_context_and_cache_for_each_os() -> None:
    change = Change(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)
    text = {w: next(s for s in _steps("ollama", change, t, "m.gguf") if s.kind is CopyKind.ENV)
            for w, t in TERMINALS.items()}  # fmt: skip
    assert text["windows-powershell"].command == (
        '$env:OLLAMA_KV_CACHE_TYPE = "q8_0"\n$env:OLLAMA_FLASH_ATTENTION = "1"\n'
        "setx OLLAMA_KV_CACHE_TYPE q8_0\nsetx OLLAMA_FLASH_ATTENTION 1"
    )
    assert text["windows-cmd"].command == (
        'set "OLLAMA_KV_CACHE_TYPE=q8_0"\nset "OLLAMA_FLASH_ATTENTION=1"\n'
        "setx OLLAMA_KV_CACHE_TYPE q8_0\nsetx OLLAMA_FLASH_ATTENTION 1"
    )
    assert (
        text["macos"].command == "launchctl setenv OLLAMA_KV_CACHE_TYPE q8_0\nlaunchctl setenv OLLAMA_FLASH_ATTENTION 1"
    )
    assert text["linux"].command == "OLLAMA_KV_CACHE_TYPE=q8_0\nOLLAMA_FLASH_ATTENTION=1"
    assert "taskbar" in text["windows-powershell"].text and "Ollama app" in text["macos"].text


def test_llama_server_command_with_a_windows_path_in_powershell_and_cmd() -> None:
    model = r"C:\Users\José O'Brien\models\Qwen3 8B.gguf"
    ps = _steps("llama.cpp", Change(n_ctx=8192), TERMINALS["windows-powershell"], model)[0].command
    assert ps == r"llama-server -m 'C:\Users\José O''Brien\models\Qwen3 8B.gguf' -c 8192"
    assert ps_parse(ps) == ["llama-server", "-m", model, "-c", "8192"]
    cmd = _steps("llama.cpp", Change(n_ctx=8192), TERMINALS["windows-cmd"], model)[0].command
    assert cmd == r'llama-server -m "C:\Users\José O' "'" r'Brien\models\Qwen3 8B.gguf" -c 8192'
    assert cmd_parse(cmd) == ["llama-server", "-m", model, "-c", "8192"]


def test_a_command_pasted_on_windows_keeps_its_backslashes_and_comes_back_for_its_shell() -> None:
    pasted = r"& 'C:\Program Files\llama.cpp\llama-server.exe' -m C:\models\q.gguf -c 4096 --port 8080"
    setup = from_command(pasted, Shell.POWERSHELL)
    assert setup.model_path == r"C:\models\q.gguf" and setup.run.n_ctx == 4096
    base = FixBase(command=setup.command, model_path=setup.model_path, terminal=TERMINALS["windows-powershell"])
    [step] = engines.get("llama.cpp").apply(Change(n_ctx=16384), base)
    assert step.command == r"& 'C:\Program Files\llama.cpp\llama-server.exe' -m C:\models\q.gguf -c 16384 --port 8080"
    assert ps_parse(step.command)[0] == r"C:\Program Files\llama.cpp\llama-server.exe"
    # the same person in cmd, pasting cmd's own quoting
    setup = from_command(r'"C:\Program Files\llama.cpp\llama-server.exe" -m "D:\My Models\q.gguf" -c 4096', Shell.CMD)
    assert setup.model_path == r"D:\My Models\q.gguf"
    base = FixBase(command=setup.command, model_path=setup.model_path, terminal=TERMINALS["windows-cmd"])
    [step] = engines.get("llama.cpp").apply(Change(n_ctx=16384), base)
    assert cmd_parse(step.command or "") == [r"C:\Program Files\llama.cpp\llama-server.exe", "-m",
                                             r"D:\My Models\q.gguf", "-c", "16384"]  # fmt: skip


# --- the quoting itself, against each parser ------------------------------------------------------------

AWKWARD = ["plain", "two words", "it's", 'say "hi"', "$HOME", "`tick`", "a;b", "a&b", "a|b", "(x)", "{x}", "@x",
           "#hash", "a,b", "--%", "", "C:\\dir with space\\f.gguf", "ünïcödé", "100%", "x=y", "<|im_end|>",
           "tab\there", "‘curly’"]  # fmt: skip


@pytest.mark.parametrize("arg", AWKWARD)
def test_quote_round_trips_through_each_shells_parser(arg: str) -> None:
    assert ps_parse(join(["prog", arg], Shell.POWERSHELL)) == ["prog", arg] or arg == ""
    assert split(join(["prog", arg], Shell.POWERSHELL), Shell.POWERSHELL) == ["prog", arg]
    if SH is not None:
        assert sh_parse(join(["prog", arg], Shell.POSIX)) == ["prog", arg]
    if not any(c in arg for c in "%!\t"):  # cmd cannot make % literal on a command line in every case
        assert cmd_parse(join(["prog", arg], Shell.CMD)) == ["prog", arg]
    assert split(join(["prog", arg], Shell.CMD), Shell.CMD) == ["prog", arg]


def test_powershell_quotes_curly_quotes_and_a_quoted_program_gets_the_call_operator() -> None:
    assert quote("it’s", Shell.POWERSHELL) == "'it’’s'"  # PowerShell reads ’ as a single quote too
    assert join([r"C:\Program Files\x.exe", "-v"], Shell.POWERSHELL) == r"& 'C:\Program Files\x.exe' -v"
    assert join(["llama-server", "-c", "8192"], Shell.POWERSHELL) == "llama-server -c 8192"


def test_env_lines_refuse_what_a_shell_cannot_hold() -> None:
    with pytest.raises(ValueError):
        env_lines([("BAD NAME", "1")], TERMINALS["linux"])
    with pytest.raises(ValueError):
        env_lines([("OLLAMA_MODELS", "%USERPROFILE%\\m")], TERMINALS["windows-cmd"])
    ps = env_lines([("OLLAMA_MODELS", r"D:\Ollama $models")], TERMINALS["windows-powershell"])
    assert ps.splitlines()[0] == r'$env:OLLAMA_MODELS = "D:\Ollama `$models"'
    assert ps_assign(ps.splitlines()[0]) == ("OLLAMA_MODELS", r"D:\Ollama $models")
    assert ps_parse(ps.splitlines()[1]) == ["setx", "OLLAMA_MODELS", r"D:\Ollama $models"]


@pytest.mark.parametrize(
    ("platform", "system", "shell"),
    [("win32", "windows", Shell.POWERSHELL), ("darwin", "macos", Shell.POSIX), ("linux", "linux", Shell.POSIX)],
)
def test_the_terminal_follows_the_os_unless_the_person_says(platform: str, system: str, shell: Shell) -> None:
    assert Terminal.here(platform, environ={}) == Terminal(system, shell)
    assert Terminal.here(platform, environ={"QUANTDOCTOR_TERMINAL": "windows/cmd"}) == Terminal("windows", Shell.CMD)
    assert Terminal.here(platform, environ={"QUANTDOCTOR_TERMINAL": "linux"}) == Terminal("linux", Shell.POSIX)
    assert Terminal.here(platform, environ={"QUANTDOCTOR_TERMINAL": "beos"}) == Terminal(system, shell)


def test_paste_problems_knows_each_shells_variable_lines() -> None:
    good: dict[Shell, Any] = {
        Shell.POWERSHELL: '$env:OLLAMA_KV_CACHE_TYPE = "q8_0"\nsetx OLLAMA_KV_CACHE_TYPE q8_0',
        Shell.CMD: 'set "OLLAMA_KV_CACHE_TYPE=q8_0"\nsetx OLLAMA_KV_CACHE_TYPE q8_0',
        Shell.POSIX: "OLLAMA_KV_CACHE_TYPE=q8_0\nlaunchctl setenv OLLAMA_FLASH_ATTENTION 1",
    }
    for shell, text in good.items():
        assert paste.problems(FixStep("x", text, CopyKind.ENV, shell=shell)) == []
    # POSIX lines pasted into PowerShell and cmd are what this issue is about: each is flagged
    for shell in (Shell.POWERSHELL, Shell.CMD):
        assert paste.problems(FixStep("x", "OLLAMA_KV_CACHE_TYPE=q8_0", CopyKind.ENV, shell=shell))
    assert paste.problems(FixStep("x", "set OLLAMA_KV_CACHE_TYPE=q8_0 or q4_0", CopyKind.ENV, shell=Shell.CMD))
