"""What Quant Doctor knows about an engine, as one `Engine` record each engine module fills in.

The checks ask the engine, never compare engine names: which context it really uses when none is
set, what it does with a quantized V cache when flash attention is off, and how each fix is spelt
for it (a fix the person cannot paste is advice, not a fix). docs/ARCHITECTURE.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from core.engines.found import LiveApi
from core.settings.run import RunSettings
from core.settings.setup import Setup

CARD_FORMAT = "the model card's"  # a format named by the card, when Quant Doctor cannot name it
LLAMA_CPP_FALLBACK_CTX = 4096  # a model that records no context of its own: llama.cpp's old default


@dataclass(frozen=True)
class FixStep:
    """One thing to do; `command` is the exact text to paste (a flag, a variable, a setting)."""

    text: str
    command: str | None = None


class NoFlashAttnCache(StrEnum):
    """What an engine does with a quantized V cache when flash attention is off."""

    REFUSES = "refuses"  # llama.cpp: the model does not load
    F16_FALLBACK = "f16-fallback"  # Ollama: the cache setting is silently ignored, both halves stay f16
    K_ONLY = "k-only"  # koboldcpp: K is quantized, V stays f16


@dataclass(frozen=True)
class Engine:
    """One engine. Every field is a hook the rest of Quant Doctor uses; `read_settings` may be None
    when the engine keeps its settings nowhere we can read (then the person types them)."""

    id: str  # the value of Setup.engine and of --engine
    name: str  # how the engine calls itself, for people
    default_ctx: int | None  # the context it uses when none is set; None: the model's own context
    without_flash_attn: NoFlashAttnCache
    without_flash_attn_note: str  # the evidence line that says so, in the engine's own terms
    kv_cache_fix: Callable[[str, bool], list[FixStep]]  # (cache type, with flash attention) -> steps
    context_command: Callable[[int], str]  # the text that sets the context to n tokens
    gpu_layers_fix: Callable[[int], FixStep]  # put n layers on the GPU
    read_settings: Callable[..., Setup] | None = None  # the engine's own settings as a Setup
    reads_from: str = ""  # what read_settings reads, for people ("a llama-server command line")
    live: tuple[LiveApi, ...] = ()  # the servers it runs and how to ask them what they run (core.engines.live)

    # The fixes for causes that are not the quant (issue 14), in the engine's own words. None: the
    # generic wording below, which names the setting without a text to paste.
    template_fix: Callable[[str | None], list[FixStep]] | None = None  # (format name or None)
    stop_text: Callable[[str], str] | None = None  # (end-of-turn token) -> where to add the stop string
    sampling_text: Callable[[float | None, float | None], str] | None = None  # (temperature, repeat penalty)
    rope_text: Callable[[int], str] | None = None  # (native context) -> how to turn the extension off
    bos_text: str | None = None  # how to send the BOS token once

    def effective_ctx(self, run: RunSettings, model_ctx: int | None) -> int:
        """The context the engine will really use: the setting, else the engine's default."""
        if run.n_ctx:
            return run.n_ctx
        if self.default_ctx:
            return self.default_ctx
        return model_ctx or LLAMA_CPP_FALLBACK_CTX

    def kv_cache(self, cache: str = "q8_0", flash_attn: bool = True) -> list[FixStep]:
        return self.kv_cache_fix(cache, flash_attn)

    def context(self, ctx: int) -> FixStep:
        return FixStep(f"Use a context of {ctx:,} tokens:", self.context_command(ctx))

    def gpu_layers(self, n: int) -> FixStep:
        return self.gpu_layers_fix(n)

    def chat_template(self, format_name: str | None) -> list[FixStep]:
        if self.template_fix is not None:
            return self.template_fix(format_name)
        fmt = format_name or "the model's own"
        return [FixStep(f"In {self.name}'s settings, use the {fmt} chat template (the model card shows it).")]

    def stop_token(self, token: str) -> FixStep:
        text = self.stop_text(token) if self.stop_text else f'Add "{token}" to the stop strings'
        return FixStep(f"Stop generating at {token}:", text)

    def sampling(self, temperature: float | None = None, repeat_penalty: float | None = None) -> FixStep:
        if self.sampling_text is not None:
            return FixStep("Set the sampler:", self.sampling_text(temperature, repeat_penalty))
        parts = ([f"temperature {temperature:g}"] if temperature is not None else []) + (
            [f"repetition penalty {repeat_penalty:g}"] if repeat_penalty is not None else []
        )
        return FixStep(f"In {self.name}'s sampling settings (or each request): {', '.join(parts)}.")

    def rope_default(self, native_ctx: int) -> FixStep:
        text = self.rope_text(native_ctx) if self.rope_text else None
        return FixStep(
            "Run without the context extension" + ("" if text else f" in {self.name}'s model settings") + ":", text
        )

    def bos_once(self) -> FixStep:
        return FixStep("Send the BOS token once:", self.bos_text)


def layers_step(command: str, n: int) -> FixStep:
    """The common shape of a GPU-layers fix: the sentence, then the engine's own text."""
    return FixStep(f"Put {n} layers on the GPU and the rest on the CPU:", command)
