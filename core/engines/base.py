"""What Quant Doctor knows about an engine, as one `Engine` record each engine module fills in.

The checks ask the engine, never compare engine names: which context it really uses when none is
set, what it does with a quantized V cache when flash attention is off, and how each fix is spelt
for it (a fix the person cannot paste is advice, not a fix). docs/ARCHITECTURE.md shows how to add one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from core import display_text, redact, shells
from core.engines.found import LiveApi
from core.settings.run import RunSettings
from core.settings.setup import Setup
from core.shells import Shell, Terminal

CARD_FORMAT = "the model card's"  # a format named by the card, when Quant Doctor cannot name it
LLAMA_CPP_FALLBACK_CTX = 4096  # a model that records no context of its own: llama.cpp's old default


class CopyKind(StrEnum):
    """What a fix's copy field holds, so that it can be pasted as it is (and checked: core.engines.paste)."""

    COMMAND = "command"  # one whole command line, program first (shlex-parsable)
    MODELFILE = "modelfile"  # Ollama Modelfile lines: PARAMETER name value, TEMPLATE """..."""
    ENV = "env"  # KEY=VALUE lines for a server's environment
    SETTING = "setting"  # "Setting Name: value" lines, as the app's own settings panel names them
    CONFIG = "config"  # YAML "key: value" lines (TabbyAPI's config.yml)


COPY_KIND_WORDS = {
    CopyKind.COMMAND: "Command",
    CopyKind.MODELFILE: "Modelfile lines",
    CopyKind.ENV: "Environment variables",
    CopyKind.SETTING: "Settings",
    CopyKind.CONFIG: "config.yml lines",
}


@dataclass(frozen=True)
class FixStep:
    """One thing to do: `text` says it in plain words; `command` is only what can be pasted as it is
    (a whole command, Modelfile lines, KEY=VALUE lines, setting names with values), of `kind`, for the
    engine `engine`; `sets` names the settings it changes and their new values (setting, value), so
    that a fix can be checked against what the person already has."""

    text: str
    command: str | None = None
    kind: CopyKind | None = None  # None with a command: a command line
    engine: str | None = None  # the engine id the copy text is written for; None: any
    sets: tuple[tuple[str, str], ...] = ()
    shell: Shell | None = None  # the shell a command or environment lines are written for (core.shells)

    def __post_init__(self) -> None:
        # The copy door: whatever wrote the step (an engine's spell over the person's own command, a check),
        # what reaches the clipboard neither holds a secret nor a stand-in for one, nor a character a
        # terminal obeys (see _guard_copy).
        if self.command is not None:
            text, command = _guard_copy(self.text, self.command, self.kind or CopyKind.COMMAND, self.shell)
            object.__setattr__(self, "text", text)
            object.__setattr__(self, "command", command)

    @property
    def copy_kind(self) -> CopyKind | None:
        if self.command is None:
            return None
        return self.kind or CopyKind.COMMAND


_ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def _guard_copy(text: str, command: str, kind: CopyKind, shell: Shell | None) -> tuple[str, str | None]:
    """(text, copy field) made safe to paste. A secret setting (core.redact's pattern, or a value that is a
    redacted stand-in) is left out of the field and the text says so: `--api-key '(hidden)'`, pasted, would
    restart the server with that key. A field that would hold a control, bidi or line-separator character
    (from a file's or a server's name) is not offered at all: it is pasted as it is, so it cannot be
    escaped; the text shows it escaped instead. A command is split in its own shell's terms: a step that
    copies the person's command says its shell when it is made (llamacpp.spell does)."""
    shell = shell or Shell.POSIX
    left: list[str] = []
    if kind is CopyKind.COMMAND:
        try:
            tokens = shells.split(command, shell)
        except ValueError:
            tokens = None
        if tokens is not None:
            kept, left = redact.for_copy(tokens)
            if left:
                command = shells.join(kept, shell)
        elif redact.PLACEHOLDER in command or redact.text(command) != command:
            return text + " (Quant Doctor does not copy this command: it holds a secret.)", None
    elif kind is CopyKind.ENV:
        lines = []
        for line in command.splitlines():
            names = [n for n in _ENV_NAME.findall(line) if redact.is_secret_name(n)]
            if names or redact.PLACEHOLDER in line or redact.value(line) != line:
                left += names or ["a variable"]
            else:
                lines.append(line)
        command = "\n".join(lines)
    text += redact.left_out_words(left)
    if not command.strip():
        return text, None
    if display_text.has_unsafe(command, lines=kind is not CopyKind.COMMAND):
        return (text + " (Not offered to copy: it would hold characters a terminal obeys or shows out of order, "
                f"from a file's or a server's text: {display_text.one_line(command)}. Rename that first.)"), None
    return text, command


@dataclass(frozen=True)
class Change:
    """Settings a fix changes, in llama.cpp's terms; None: left as the person has it."""

    n_ctx: int | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    flash_attn: bool | None = None
    n_gpu_layers: int | None = None
    temperature: float | None = None
    repeat_penalty: float | None = None
    rope_none: bool = False  # no RoPE scaling: the model's own positions
    chat_template: str | None = None  # a built-in template name (llama.cpp's --chat-template)
    jinja: bool = False  # use the model's own Jinja template
    stop: str | None = None  # a stop string

    def sets(self) -> tuple[tuple[str, str], ...]:
        """(setting, new value) for each setting this change touches."""
        out = []
        for name in ("n_ctx", "cache_type_k", "cache_type_v", "flash_attn", "n_gpu_layers", "temperature",
                     "repeat_penalty", "chat_template", "stop"):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                out.append((name, ("on" if value else "off") if isinstance(value, bool) else f"{value:g}"
                            if isinstance(value, float) else str(value)))  # fmt: skip
        if self.rope_none:
            out.append(("rope_scaling", "none"))
        if self.jinja:
            out.append(("jinja", "on"))
        return tuple(out)

    def words(self) -> str:
        """The change in plain words: "a context of 8,192 tokens, a q8_0 KV cache"."""
        parts = []
        if self.n_ctx is not None:
            parts.append(f"a context of {self.n_ctx:,} tokens")
        k, v = self.cache_type_k, self.cache_type_v
        if k is not None and k == v:
            parts.append(f"a {k} KV cache")
        else:
            parts += [f"a {k} K cache"] if k else []
            parts += [f"a {v} V cache"] if v else []
        if self.flash_attn is not None:
            parts.append(f"flash attention {'on' if self.flash_attn else 'off'}")
        if self.n_gpu_layers is not None:
            parts.append(f"{self.n_gpu_layers} layers on the GPU")
        if self.temperature is not None:
            parts.append(f"temperature {self.temperature:g}")
        if self.repeat_penalty is not None:
            parts.append(f"repeat penalty {self.repeat_penalty:g}")
        if self.rope_none:
            parts.append("no context extension")
        if self.chat_template or self.jinja:
            name = self.chat_template or ""
            if not name:
                parts.append("the model's own template")
            else:
                parts.append(f"{name} chat template" if name.startswith("the ") else f"the {name} chat template")
        if self.stop is not None:
            parts.append(f"a stop at {self.stop}")
        return ", ".join(parts)


@dataclass(frozen=True)
class FixBase:
    """What a fix is written over: the person's own command line (if they pasted or imported one) and
    the model file, so that a copied command is theirs with only the changed flags."""

    command: str | None = None
    model_path: str | None = None
    # The person's settings that differ from the engine's defaults, for an engine whose fix is a whole
    # command and who pasted none: the command written for them must keep these too.
    current: Change | None = None
    # Where the person pastes: commands and environment variables are written for this OS and shell
    # (core.shells); by default the OS Quant Doctor runs on.
    terminal: Terminal = field(default_factory=Terminal.here)


class NoFlashAttnCache(StrEnum):
    """What an engine does with a quantized V cache when flash attention is off."""

    REFUSES = "refuses"  # llama.cpp: the model does not load
    F16_FALLBACK = "f16-fallback"  # Ollama: the cache setting is silently ignored, both halves stay f16
    K_ONLY = "k-only"  # koboldcpp: K is quantized, V stays f16
    # TabbyAPI/ExLlama and vLLM: the quantized cache works either way. ExLlama dequantizes its Q4/Q6/Q8
    # cache to FP16 before attention (exllamav2/attn.py, cache.get_kv_state) and runs SDPA or matmul
    # attention without flash-attn (turboderp-org/exllamav2#493); vLLM picks an attention backend that
    # reads its fp8 cache (FlashInfer, vllm-project/vllm#7798).
    UNAFFECTED = "unaffected"


class ReadsFrom(StrEnum):
    """Where a settings reader takes its input from, so that each front end can ask for it."""

    TEXT = "text"  # a pasted text (a command line): the CLI's option value, the window's paste dialog
    FILE = "file"  # a settings file: a path (the window opens a file dialog)
    ENVIRONMENT = "environment"  # this process's environment, with an optional file (a Modelfile)


@dataclass(frozen=True)
class SettingsReader:
    """One way an engine's settings can be read. The CLI's `--from-<option>` and the Setup page's
    "Import from…" menu are made from these declarations, so a new reader needs no front-end edit.
    `read(value, **given)`: value is the text, the path, or the optional file (None when skipped);
    `given` are the settings the person typed, which win over what is read."""

    option: str  # the CLI option's name after --from-: "command", "ollama", "kcpps", "lmstudio"
    source: ReadsFrom
    menu: str  # the window's menu entry: "A llama.cpp command…"
    help: str  # the CLI's help line
    read: Callable[..., Setup]
    file_filter: str = ""  # FILE / ENVIRONMENT: the file dialog's filter ("koboldcpp (*.kcpps *.json)")
    file_title: str = ""  # FILE / ENVIRONMENT: the file dialog's title
    file_option: str = ""  # ENVIRONMENT: the CLI option that names the optional file ("modelfile")
    placeholder: str = ""  # TEXT: an example of what to paste


@dataclass(frozen=True)
class Engine:
    """One engine, complete: everything the rest of Quant Doctor asks about it is a field here, so adding
    an engine is this record in one module plus one line in core/engines/registry.py."""

    id: str  # the value of Setup.engine and of --engine
    name: str  # how the engine calls itself, for people
    default_ctx: int | None  # the context it uses when none is set; None: the model's own context
    without_flash_attn: NoFlashAttnCache
    without_flash_attn_note: str  # the evidence line that says so, in the engine's own terms
    # Every settings fix in the engine's own words, pasteable as it is (core.engines.paste checks it):
    # (change, what it is written over) -> steps; [] for a change it has no setting for.
    spell: Callable[[Change, FixBase], list[FixStep]]
    readers: tuple[SettingsReader, ...] = ()  # where its settings can be read from (none: the person types them)
    live: tuple[LiveApi, ...] = ()  # the servers it runs and how to recognise and ask them (core.engines.live)
    log_kinds: tuple[str, ...] = ()  # the kinds of log core.engines.logs recognises as this engine's
    # Lower-case phrases that mark a log line as this engine's (its banner, its logger's name): the log
    # reader counts them as the kind `log_kinds[0]` (else the engine id), before llama.cpp's own kinds.
    log_marks: tuple[str, ...] = ()

    # Fallback words for a cause `spell` has no setting for (issue 14). None: the generic wording below,
    # which names the setting without a text to paste.
    template_fix: Callable[[str | None], list[FixStep]] | None = None  # (format name or None)
    stop_text: Callable[[str], str] | None = None  # (end-of-turn token) -> where to add the stop string
    rope_text: Callable[[int], str] | None = None  # (native context) -> how to turn the extension off
    bos_text: str | None = None  # how to send the BOS token once

    # What the checks ask the engine (core.checks never compares engine names: it reads these)
    # The context it uses when nothing sets one, when that depends on its version and the VRAM:
    # (engine version or None, VRAM in GiB or None) -> (context, how that was decided). None: the
    # fixed `default_ctx` (else the model's own), as `effective_ctx` says.
    default_ctx_for: Callable[[str | None, float | None], tuple[int, str]] | None = None
    overflow_words: str = ""  # what it does with a prompt longer than the context, said in the finding
    strips_template_bos: bool = False  # removes the template's own BOS when the model adds one: sends one
    stops_at_end_of_turn_names: bool = False  # stops at <|im_end|>, <|eot_id|>... even when not the file's EOS

    def effective_ctx(self, run: RunSettings, model_ctx: int | None) -> int:
        """The context the engine will really use: the setting, else the engine's default."""
        if run.n_ctx:
            return run.n_ctx
        if self.default_ctx:
            return self.default_ctx
        return model_ctx or LLAMA_CPP_FALLBACK_CTX

    def apply(self, change: Change, base: FixBase | None = None) -> list[FixStep]:
        """The steps that make `change`, in this engine's words, over the person's own command."""
        base = base or FixBase()
        steps = self.spell(change, base)
        return [replace(s, engine=s.engine or self.id, sets=s.sets or change.sets(), shell=_shell_of(s, base))
                for s in steps]  # fmt: skip

    def _one(self, change: Change, base: FixBase | None) -> list[FixStep]:
        """The steps, or, for a setting the engine has no text for, the change in plain words."""
        return self.apply(change, base) or [FixStep(f"In {self.name}'s settings, use {change.words()}.", engine=self.id)]

    def kv_cache(self, cache: str = "q8_0", flash_attn: bool = True, base: FixBase | None = None) -> list[FixStep]:
        return self._one(Change(cache_type_k=cache, cache_type_v=cache, flash_attn=True if flash_attn else None), base)

    def context(self, ctx: int, base: FixBase | None = None) -> FixStep:
        return self._one(Change(n_ctx=ctx), base)[0]

    def gpu_layers(self, n: int, base: FixBase | None = None) -> FixStep:
        return self._one(Change(n_gpu_layers=n), base)[0]

    def chat_template(self, format_name: str | None, base: FixBase | None = None) -> list[FixStep]:
        steps = self.apply(Change(chat_template=format_name or CARD_FORMAT, jinja=True), base)
        if steps:
            return steps
        if self.template_fix is not None:
            return self.template_fix(format_name)
        fmt = format_name or "the model's own"
        return [FixStep(f"In {self.name}'s settings, use the {fmt} chat template (the model card shows it).")]

    def stop_token(self, token: str, base: FixBase | None = None) -> FixStep:
        steps = self.apply(Change(stop=token), base)
        if steps:
            return steps[0]
        text = self.stop_text(token) if self.stop_text else f'add "{token}" to the stop strings'
        return FixStep(f"Stop generating at {token}: {text}.")

    def sampling(
        self, temperature: float | None = None, repeat_penalty: float | None = None, base: FixBase | None = None
    ) -> FixStep:
        steps = self.apply(Change(temperature=temperature, repeat_penalty=repeat_penalty), base)
        if steps:
            return steps[0]
        parts = ([f"temperature {temperature:g}"] if temperature is not None else []) + (
            [f"repetition penalty {repeat_penalty:g}"] if repeat_penalty is not None else []
        )
        return FixStep(f"In {self.name}'s sampling settings (or each request): {', '.join(parts)}.")

    def rope_default(self, native_ctx: int, base: FixBase | None = None) -> FixStep:
        steps = self.apply(Change(rope_none=True), base)
        if steps:
            return steps[0]
        text = self.rope_text(native_ctx) if self.rope_text else None
        return FixStep(
            "Run without the context extension" + (f": {text}." if text else f" in {self.name}'s model settings.")
        )

    def bos_once(self, base: FixBase | None = None) -> FixStep:
        steps = self.apply(Change(jinja=True), base)
        if steps:
            return steps[0]
        return FixStep("Send the BOS token once" + (f": {self.bos_text}" if self.bos_text else "."))


def _shell_of(step: FixStep, base: FixBase) -> Shell | None:
    """The shell a step's copy text is written in: its own, or the terminal's for commands and variables."""
    if step.shell is not None or step.copy_kind not in (CopyKind.COMMAND, CopyKind.ENV):
        return step.shell
    return base.terminal.shell
