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


def layers_step(command: str, n: int) -> FixStep:
    """The common shape of a GPU-layers fix: the sentence, then the engine's own text."""
    return FixStep(f"Put {n} layers on the GPU and the rest on the CPU:", command)
