"""Read what an engine really did from its log: llama.cpp (llama-server, llama-cli, the library),
Ollama's server log, LM Studio's developer log and koboldcpp's console.

A log is the truth the settings only promise: the cache types llama.cpp allocated, how many layers
it offloaded, each device's buffers, and the warnings that point away from the quant (a doubled BOS
token, a missing pre-tokenizer, a truncated prompt, a context shift, an allocation failure). The
line formats are quoted from llama.cpp's and Ollama's sources in tests/fixtures/engines/*/SOURCES.md;
llama.cpp prefixes every line with the function that printed it, and those names change when code
moves (`llm_load_tensors:` became `load_tensors:`), so lines are matched on the text after the
prefix. Unknown lines are ignored.

Reading is bounded: a log of any size costs at most `HEAD_BYTES + TAIL_BYTES` of reading (the
start, where an engine prints its settings, and the end, the latest run), lines are cut at
`MAX_LINE` characters, and a file that is not text is refused with a plain message.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import redact, textnum
from core.errors import EngineLogError, SetupError
from core.files import open_regular, read_at, user_path
from core.settings.run import FlashAttn, normalise_cache_type
from core.settings.setup import Setup
from core.textnum import BATCH, CONTEXT, COUNT, LAYERS, SLOTS, Quantity, read_decimal, read_whole, shown

MIB = 1024 * 1024
HEAD_BYTES = 4 * MIB
TAIL_BYTES = 16 * MIB
MAX_LINE = 4096
MAX_WARNING_LINES = 3  # kept per kind; the rest are counted

# --- what a warning means, in the person's words ------------------------------------------------------

WARNING_MEANINGS: dict[str, str] = {
    "double-bos": (
        "The prompt started with a BOS token and llama.cpp added another: the model sees two. The chat "
        "template or the front end adds its own BOS; this degrades answers whatever the quant."
    ),
    "double-eos": "The prompt ends with two EOS tokens: the front end adds one the model also adds.",
    "pre-tokenizer": (
        "The GGUF has no (or an unknown) pre-tokenizer, so llama.cpp splits text with a default that may "
        "not match the model's training: the file was converted by an old or broken tool. Get another "
        "upload of the model; no quant or setting fixes this."
    ),
    "eog-mismatch": "The tokenizer's end-of-sequence tokens disagree: answers may not stop where they should.",
    "truncated": (
        "A prompt was longer than the context and was cut: the model never saw part of the conversation. "
        "Raise the context, or send less."
    ),
    "context-full": "The context filled up: the request could not continue. Raise the context, or send less.",
    "context-shift": (
        "The context filled up and llama.cpp dropped the oldest half of the conversation to go on: the "
        "model forgets what was said earlier. Raise the context."
    ),
    "context-overflow": (
        "The context is longer than the model was trained for: quality drops past the training context."
    ),
    "alloc-failure": (
        "Memory ran out while loading or running: the engine failed or fell back. Lower the context, "
        "quantize the KV cache to q8_0, or offload fewer layers."
    ),
    "cpu-fallback": ("The model (or part of it) ran on the CPU instead of the GPU: slow, but not less accurate."),
    "kv-cache-ignored": (
        "Ollama ignored the quantized KV cache you asked for (it needs flash attention) and used f16."
    ),
    "flash-attn-off": "Flash attention was asked for but is not supported here: it was turned off.",
    "context-clamped": "The requested context was larger than the model's training context and was cut to it.",
    "v-cache-needs-fa": "A quantized V cache needs flash attention: llama.cpp refused to create the context.",
}

# (kind, lower-case phrases) in the order they are tried; plain substring tests keep a long log fast.
_WARNINGS: list[tuple[str, tuple[str, ...]]] = [
    ("double-bos", ("starts with 2 bos tokens", "also starts with a bos token")),
    ("double-eos", ("ends with 2 eos tokens", "also ends with a eos token")),
    ("pre-tokenizer", ("pre-tokenizer type", "generation quality will be degraded")),
    ("eog-mismatch", ("special_eos_id is not in special_eog_ids",)),
    ("v-cache-needs-fa", ("v cache quantization requires flash_attn", "quantized v cache was requested")),
    ("kv-cache-ignored", ("quantized kv cache requested but flash attention disabled", "kv cache type not supported")),
    ("flash-attn-off", ("flash attention enabled but not supported", "flash attention was auto, set to disabled",
                        "flash attention not supported, set to disabled", "flash_attn is not compatible")),
    ("truncated", ("input truncated", "truncating input prompt", "exceeds the available context size",
                   "is larger than the max context size", "exceed context window")),
    ("context-shift", ("context shift",)),
    ("context-full", ("failed to find available cells", "failed to find a memory slot", "not enough cells in kv cache",
                      "context is full", "context size exceeded")),
    ("context-overflow", ("possible training context overflow",)),
    ("context-clamped", ("requested context size too large", "exceeds the training context of the model")),
    ("alloc-failure", ("cudamalloc failed", "failed to allocate", "unable to allocate", "out of memory",
                       "try reducing --n-gpu-layers", "erroroutofdevicememory", "insufficient memory")),
    ("cpu-fallback", ("no usable gpu found", "layers option will be ignored", "falling back to cpu", "cpu-only mode",
                      "not compiled with gpu offload support")),
]  # fmt: skip


# --- what a line says -----------------------------------------------------------------------------------

_NUM = r"(\d+)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    k: re.compile(p)
    for k, p in {
        "n_ctx": r":\s*n_ctx\s+=\s*" + _NUM + r"\s*$",
        "n_ctx_seq": r":\s*n_ctx_(?:per_)?seq\s+=\s*" + _NUM + r"\s*$",
        "n_seq_max": r":\s*n_seq_max\s+=\s*" + _NUM,
        "n_outputs_max": r":\s*n_outputs_max\s+=\s*" + _NUM,
        "n_batch": r":\s*n_batch\s+=\s*" + _NUM,
        "n_ubatch": r":\s*n_ubatch\s+=\s*" + _NUM,
        "kv_unified": r":\s*kv_unified\s+=\s*(true|false)",
        "n_ctx_train": r"n_ctx_train\s+=\s*" + _NUM,
        "n_layer": r":\s*n_layer\s+=\s*" + _NUM,
        "flash_attn": r":\s*flash_attn\s+=\s*(\w+)",
        "fa_resolved": r"Flash Attention (?:was auto, set to )?(enabled|disabled)|Flash Attention not supported",
        "kv_summary": r"K \((\w+)\):\s*[\d.]+ MiB, V \((\w+)\):\s*[\d.]+ MiB",
        "kv_cells": r"size\s*=\s*[\d.]+ MiB \(\s*(\d+) cells,\s*\d+ layers,\s*\d+/(\d+) seqs\)",
        "offloaded": r"offloaded (\d+)/(\d+) layers to GPU",
        "buffer": r"^\S*:?\s+(\S+?)\s+(model |KV |compute |output |)buffer size\s*=\s*([\d.]+) MiB",
        "file_type": r":\s*file type\s+=\s*(.+?)\s*$",
        "model_loader": r"llama_model_loader: loaded meta data .* from (.+?) \(version",
        "loading_model": r"loading model '(.+)'",
        "build": r"^build: (\S+ \(\w+\))",
        "context_start": r"constructing llama_context|llama_new_context_with_model: n_ctx\s+=|llama_init_from_model: n_ctx",
        "ollama_env": r'msg="server config" env="map\[(.*)\]"|INFO server config env="map\[(.*)\]"',
        "ollama_version": r"Listening on \S+ \(version ([^)]+)\)",
        "ollama_load": r'msg=load request="\{(.*)\}"',
        "ollama_kv_size": r"\bKvSize:(\d+)",
        "ollama_kv_type": r"\bKvCacheType:(\S*)",
        "ollama_fa": r"\bFlashAttention:(\S+)",
        "ollama_parallel": r"\bParallel:(\d+)",
        "ollama_model": r"msg=\"?starting (?:llama server|runner)\"? .*--model (\S+)",
        "kobold_welcome": r"Welcome to KoboldCpp - Version (\S+)",
        "kobold_args": r"^Namespace\((.*)\)\s*$",
        "lmstudio": r"\[LM STUDIO SERVER\]|LM Studio|lmstudio",
        "llama_server": r"^(?:srv |slot |main: server is listening|main: HTTP server is listening)",
        "llama_cpp": r"^(?:llama_model_loader|print_info|load_tensors|llm_load_|llama_context|llama_kv_cache|"
                     r"llama_new_context_with_model|load:|llama_model_load)",
    }.items()
}  # fmt: skip

# One cheap test per line first: a long log is mostly request lines that say nothing we read.
_ANY_WARNING = re.compile("|".join(re.escape(p) for _, phrases in _WARNINGS for p in phrases))
_ANY_SETTING = re.compile(
    r"n_ctx|n_seq|n_batch|n_ubatch|kv_unified|n_layer|flash_attn|Flash Attention|K \(|offloaded|buffer size|"
    r"file type|loaded meta|loading model|^build:|constructing|llama_new_context|llama_init_from_model|"
    r"server config|Listening on|msg=load|starting (?:llama server|runner)|KoboldCpp|^Namespace\(|"
    r"LM STUDIO|LM Studio|lmstudio|^srv |^slot |^main: |^llama_|^print_info|^load_tensors|^llm_load|^load:"
)
_KOBOLD_ARG = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\[[^\]]*\]|[^,()]+)")
_OLLAMA_ENV_ITEM = re.compile(r"(OLLAMA_[A-Z_]+):(\S*)")
_KOBOLD_QUANTKV = {0: "f16", 1: "q8_0", 2: "q4_0"}
# what each number a setting line holds counts (core.textnum: its plain range)
_QUANTITIES: dict[str, Quantity] = {"n_seq_max": SLOTS, "n_outputs_max": COUNT, "n_batch": BATCH, "n_ubatch": BATCH,
                                   "n_ctx_train": CONTEXT, "n_layer": LAYERS}  # fmt: skip
MAX_NUMBER_NOTES = 3  # numbers a log held that could not be read: the first few are named, the rest counted


# What each buffer name llama.cpp prints means (ggml_backend_buffer_name: the buffer type's name, or for a
# buffer made from a host pointer the device's "<name>_Mapped"). Read in the llama.cpp that llama-cpp-python
# 0.3.36 vendors (commit 0c1e570):
# - mapped: `CPU_Mapped` (ggml/src/ggml-backend.cpp, the CPU device's buffer_from_host_ptr), `Metal_Mapped`...
#   src/llama-model.cpp `load_tensors` maps the model file in place for a device's *default* buffer type: the
#   buffer is the file range from the first to the last tensor of that buffer type (`get_mapping_range`,
#   src/llama-model-loader.cpp), so it can span tensors that live in another buffer.
# - repacked: `CPU_REPACK` (ggml/src/ggml-cpu/repack.cpp): matrix weights the CPU backend reorders for its
#   kernels (Q4_0, Q4_K, IQ4_NL, MXFP4 on AVX2; Q2_K too with AVX-512; more types on ARM), allocated at
#   ggml_nbytes each and filled from the mapped file at load. These tensors are inside the mapped range: the
#   copy replaces their mapped pages (read once at load, clean file pages the kernel may drop), it does not add.
# - accel: `AMX` (ggml/src/ggml-cpu/amx): the same idea for Intel AMX.
# - host: `CUDA_Host`, `ROCm_Host`, `Vulkan_Host`...: pinned system RAM a GPU backend lends for weights left
#   on the CPU (make_cpu_buft_list puts the GPU's host buffer type first) and for the graph's inputs.
# - cpu: `CPU`, plain system RAM: weights without mmap (--no-mmap), the KV cache, the compute and output buffers.
# - device: `CUDA0`, `ROCm0`, `Vulkan0`, `Metal`, `SYCL0`...: the GPU's own memory.
BUFFER_KINDS = {
    "mapped": "the model file mapped in place",
    "repacked": "a repacked copy of weights inside the mapped range, replacing their mapped pages",
    "accel": "weights converted for an accelerator (AMX)",
    "host": "pinned system RAM lent by the GPU backend",
    "cpu": "system RAM",
    "device": "GPU memory",
}
_HOST_NAMES = re.compile(r"^(?:CPU|AMX|\w+_Host|\w+_Mapped|CPU_\w+)$")


@dataclass
class LogBuffer:
    """One buffer llama.cpp reported: `load_tensors: CPU_Mapped model buffer size = 1918.35 MiB`."""

    device: str  # as llama.cpp names the buffer: CPU, CPU_Mapped, CPU_REPACK, CUDA0, CUDA_Host, Metal...
    component: str  # "weights", "kv", "compute", "output"
    mib: float

    @property
    def bytes(self) -> int:
        return round(self.mib * MIB)

    @property
    def kind(self) -> str:
        """What the buffer is (BUFFER_KINDS): mapped, repacked, accel, host, cpu or device."""
        name = self.device
        if name.endswith("_Mapped"):
            return "mapped"
        if name == "CPU_REPACK":
            return "repacked"
        if name == "AMX":
            return "accel"
        if name.endswith("_Host"):
            return "host"
        return "cpu" if _HOST_NAMES.match(name) else "device"

    @property
    def in_system_ram(self) -> bool:
        return self.kind != "device"


@dataclass
class LogWarning:
    kind: str
    count: int
    first_line: int
    lines: list[str]

    @property
    def meaning(self) -> str:
        return WARNING_MEANINGS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "meaning": self.meaning}


@dataclass
class LogReading:
    """Everything a log said about one run (the latest one when the log holds several)."""

    name: str
    engine: str | None = None  # "llama-server", "llama.cpp", "ollama", "koboldcpp", "lm-studio"
    version: str | None = None
    model_path: str | None = None
    file_type: str | None = None
    n_ctx: int | None = None  # the KV cache's cells (llama-server: all slots together)
    n_ctx_seq: int | None = None  # what one conversation gets
    kv_cells: int | None = None  # the KV cache's cells per stream (llama_kv_cache: "size = ... (N cells, ...")
    kv_streams: int | None = None  # 1 when the cache is unified (shared by the slots), else one per slot
    n_seq_max: int | None = None
    n_outputs_max: int | None = None  # logits rows a prompt batch reserves (llama-server: its slots)
    n_ctx_train: int | None = None
    n_layer: int | None = None
    kv_unified: bool | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    flash_attn: str | None = None  # "on", "off", "auto" (llama.cpp's own words mapped)
    offloaded: tuple[int, int] | None = None  # (layers on the GPU, layers in all)
    buffers: list[LogBuffer] = field(default_factory=list)
    warnings: list[LogWarning] = field(default_factory=list)
    ollama_env: dict[str, str] = field(default_factory=dict)
    engine_args: dict[str, str] = field(default_factory=dict)  # koboldcpp's Namespace(...) line
    lines_read: int = 0
    bytes_skipped: int = 0  # the middle of a very large log, not read
    notes: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        return self.engine is not None

    def buffer_bytes(self, component: str, device: str | None = None) -> int:
        return sum(b.bytes for b in self.buffers if b.component == component and device in (None, b.device))

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(b.device for b in self.buffers))

    def warning(self, kind: str) -> LogWarning | None:
        return next((w for w in self.warnings if w.kind == kind), None)

    def setup(self, **overrides: Any) -> Setup:
        """The settings the engine ran with, as a Setup (what the log does not say stays at the default)."""
        from core.engines.registry import engine_of_log

        owner = engine_of_log(self.engine)
        values: dict[str, Any] = {"source": f"log {self.name}", "engine": owner.id if owner else "llama.cpp"}
        ctx = self.n_ctx_seq or self.n_ctx
        if ctx:
            values["n_ctx"] = ctx
        for key in ("cache_type_k", "cache_type_v", "n_batch", "n_ubatch"):
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        if self.flash_attn is not None:
            values["flash_attn"] = self.flash_attn
        if self.offloaded is not None:
            values["n_gpu_layers"] = self.offloaded[0]
        if self.model_path:
            values["model_path"] = self.model_path
        values["unknown"] = []
        values.update(overrides)
        try:
            return Setup.of(**values)
        except SetupError as err:
            raise EngineLogError(f"The log {self.name} has a setting Quant Doctor cannot use: {err.message}") from err

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["buffers"] = [asdict(b) for b in self.buffers]
        d["warnings"] = [w.to_dict() for w in self.warnings]
        d["offloaded"] = list(self.offloaded) if self.offloaded else None
        return d

    def describe(self) -> list[str]:
        """Plain lines: what the log says, for the CLI and the window."""
        from core.engines.registry import log_kind_name

        out = [f"{self.name}: a {log_kind_name(self.engine)} log"]
        if self.model_path:
            out.append(f"model: {self.model_path}" + (f" ({self.file_type})" if self.file_type else ""))
        if self.n_ctx_seq or self.n_ctx:
            ctx = f"context: {self.n_ctx_seq or self.n_ctx:,} tokens per conversation"
            if self.n_ctx_seq and self.n_ctx and self.n_seq_max and self.n_seq_max > 1:
                ctx += f" ({self.n_ctx:,} in all, {self.n_seq_max} slots)"
            if self.n_ctx_train:
                ctx += f"; the model was trained for {self.n_ctx_train:,}"
            out.append(ctx)
        if self.cache_type_k:
            out.append(f"KV cache: K {self.cache_type_k}, V {self.cache_type_v}")
        if self.flash_attn:
            out.append(f"flash attention: {self.flash_attn}")
        if self.offloaded:
            out.append(f"offloaded {self.offloaded[0]}/{self.offloaded[1]} layers to the GPU")
        if self.kv_unified and self.n_seq_max and self.n_seq_max > 1:
            out.append(f"KV cache: one cache of {self.n_ctx or 0:,} cells shared by the {self.n_seq_max} slots "
                       "(kv_unified): the slots do not each get their own")  # fmt: skip
        for b in self.buffers:
            out.append(f"{b.device} {b.component} buffer: {b.mib:,.2f} MiB ({BUFFER_KINDS[b.kind]})")
        for w in self.warnings:
            out.append(f"warning ({w.kind}, {w.count}x, first at line {w.first_line}): {w.meaning}")
        out.extend(self.notes)
        return out


# --- reading ------------------------------------------------------------------------------------------


def read_log(path: str | Path) -> LogReading:
    """Read a log file, bounded in time and memory whatever its size; plain error if it is no log."""
    p = user_path(path, EngineLogError)
    # A regular file only, opened non-blocking (a FIFO named like a log would wait forever): core.files.
    with open_regular(p, "a log file", EngineLogError) as fd:
        size = os.fstat(fd).st_size
        try:
            if size <= HEAD_BYTES + TAIL_BYTES:
                chunks = [read_at(fd, HEAD_BYTES + TAIL_BYTES, 0)]
                skipped = 0
            else:
                head = read_at(fd, HEAD_BYTES, 0)
                tail = read_at(fd, TAIL_BYTES, size - TAIL_BYTES)
                chunks, skipped = [head, tail], size - HEAD_BYTES - TAIL_BYTES
        except OSError as exc:
            raise EngineLogError(f"{p} could not be read ({exc.strerror}).", "Pick the log file again.") from exc
    reading = parse_log_bytes(chunks, p.name)
    reading.bytes_skipped = skipped
    if skipped:
        reading.notes.append(
            f"The log is {size / MIB:,.0f} MiB: its first {HEAD_BYTES // MIB} MiB and last {TAIL_BYTES // MIB} MiB "
            "were read (settings are printed at the start, the latest run is at the end)."
        )
    return reading


def read_log_text(text: str, name: str = "pasted log") -> LogReading:
    """A log the person pasted (bounded like a file)."""
    data = text.encode("utf-8", "replace")
    if len(data) > HEAD_BYTES + TAIL_BYTES:
        data = data[: HEAD_BYTES // 2] + b"\n" + data[-TAIL_BYTES:]
    return parse_log_bytes([data], name)


def parse_log_bytes(chunks: list[bytes], name: str) -> LogReading:
    if not any(chunks):
        raise EngineLogError(f"{name} is empty.")
    if _looks_binary(chunks[0]):
        raise EngineLogError(f"{name} is not a text log (it holds binary data).")
    reading = LogReading(name=name)
    state = _State(reading)
    line_no = 0
    for i, chunk in enumerate(chunks):
        text = chunk.decode("utf-8", "replace")
        if i > 0:  # the tail starts mid-line
            text = text.partition("\n")[2]
            line_no += 1_000_000  # line numbers past a skipped middle are not exact; mark the jump
        for raw in text.splitlines():
            line_no += 1
            state.feed(raw[:MAX_LINE], line_no)
    reading.lines_read = state.lines
    state.finish()
    if not reading.recognised:
        raise EngineLogError(
            f"{name} does not look like a log from llama.cpp, llama-server, Ollama, LM Studio or koboldcpp: "
            "none of their startup lines is in it.",
        )
    return reading


def _looks_binary(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", "replace")
    bad = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\t\r\n\x1b"))
    return bad > max(8, len(text) // 20)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# llama.cpp's own log prefix since 2026: elapsed time and a level letter ("0.01.054.944 I llama_context: ...")
_TIME_PREFIX = re.compile(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ")
_SLOTS = re.compile(r"n_slots = (\d+), n_ctx_slot = (\d+)")
_OLLAMA_PREFIX = re.compile(r"^(?:time=\S+ level=\w+ source=\S+ |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S+ )")


class _State:
    """Feeds lines into a LogReading; keeps only the latest model load and the latest context."""

    def __init__(self, reading: LogReading) -> None:
        from core.engines.registry import declared_log_marks

        self.r = reading
        self.lines = 0
        self.marks = declared_log_marks()  # (kind, phrases) of the engines that declare their own
        self.seen: dict[str, int] = {}
        self.warnings: dict[str, LogWarning] = {}
        self.fa_resolved: str | None = None
        self.line_no = 0
        self.unread_numbers = 0

    def _whole(self, text: str, quantity: Quantity) -> int | None:
        """A number a line holds, through the one door (core.textnum); one that is not a number of that
        kind (`1.2.3`, 400 digits, Unicode digits, a context of 10^21) is left out with a note, never guessed."""
        parsed = read_whole(text, quantity)
        if parsed.value is None:
            self._unread(text, quantity, parsed.reason)
        return parsed.value

    def _decimal(self, text: str, quantity: Quantity) -> float | None:
        parsed = read_decimal(text, quantity)
        if parsed.value is None:
            self._unread(text, quantity, parsed.reason)
        return parsed.value

    def _unread(self, text: str, quantity: Quantity, reason: str | None) -> None:
        self.unread_numbers += 1
        if self.unread_numbers <= MAX_NUMBER_NOTES:
            self.r.notes.append(f"Line {self.line_no}: '{shown(text)}' was not read as {quantity.name} (it {reason}).")

    def _mark(self, engine: str) -> None:
        self.seen[engine] = self.seen.get(engine, 0) + 1

    def feed(self, raw: str, line_no: int) -> None:
        self.lines += 1
        self.line_no = line_no
        line = _ANSI.sub("", raw).rstrip()
        if not line:
            return
        if line[:1].isdigit():
            line = _TIME_PREFIX.sub("", line)
        body = _OLLAMA_PREFIX.sub("", line) if line[:5] in ("time=", "2024/", "2025/", "2026/", "2027/") else line
        if body != line:
            self._mark("ollama")
        self._warn(line, line_no)
        if self.marks:
            lower = body.lower()
            for kind, phrases in self.marks:
                if any(p in lower for p in phrases):
                    self._mark(kind)
        if body.startswith(("srv ", "slot ")):  # llama-server's request lines: many, and only the model name matters
            self._mark("llama-server")
            if m := _PATTERNS["loading_model"].search(body):
                self._new_model(m.group(1))
            elif m := _SLOTS.search(body):  # the server's own slot context (capped at the training context)
                self.r.n_seq_max, self.r.n_ctx_seq = self._whole(m.group(1), SLOTS), self._whole(m.group(2), CONTEXT)
            return
        if not _ANY_SETTING.search(body):
            return
        r, P = self.r, _PATTERNS
        if P["llama_server"].search(body):
            self._mark("llama-server")
        if P["llama_cpp"].search(body):
            self._mark("llama.cpp")
        if m := P["kobold_welcome"].search(body):
            self._mark("koboldcpp")
            r.version = m.group(1)
        if P["lmstudio"].search(body):
            self._mark("lm-studio")
        if m := P["build"].search(body):
            r.version = m.group(1)
        if (m := P["model_loader"].search(body)) or (m := P["loading_model"].search(body)):
            self._new_model(m.group(1))
        if P["context_start"].search(body):
            self._new_context()
        if m := P["n_ctx_seq"].search(body):
            r.n_ctx_seq = self._whole(m.group(1), CONTEXT)
        elif m := P["n_ctx"].search(body):
            r.n_ctx = self._whole(m.group(1), CONTEXT)
        for key in ("n_seq_max", "n_outputs_max", "n_batch", "n_ubatch", "n_ctx_train", "n_layer"):
            if m := P[key].search(body):
                setattr(r, key, self._whole(m.group(1), _QUANTITIES[key]))
        if m := P["kv_unified"].search(body):
            r.kv_unified = m.group(1) == "true"
        if m := P["flash_attn"].search(body):
            r.flash_attn = _fa_word(m.group(1))
        if m := P["fa_resolved"].search(body):
            self.fa_resolved = "on" if m.group(1) == "enabled" else "off"
        if m := P["kv_summary"].search(body):
            r.cache_type_k, r.cache_type_v = _cache(m.group(1)), _cache(m.group(2))
        if m := P["kv_cells"].search(body):
            r.kv_cells, r.kv_streams = self._whole(m.group(1), CONTEXT), self._whole(m.group(2), SLOTS)
        if m := P["offloaded"].search(body):
            on, of = self._whole(m.group(1), LAYERS), self._whole(m.group(2), LAYERS)
            r.offloaded = (on, of) if on is not None and of is not None else None
        if (m := P["buffer"].search(body)) and (mib := self._decimal(m.group(3), textnum.MIB)) is not None:
            self._buffer(m.group(1), m.group(2).strip(), mib)
        if m := P["file_type"].search(body):
            r.file_type = m.group(1)
        if m := P["ollama_version"].search(body):
            self._mark("ollama")
            r.version = m.group(1)
        if m := P["ollama_env"].search(body):
            self._mark("ollama")
            r.ollama_env = redact.environment(dict(_OLLAMA_ENV_ITEM.findall(m.group(1) or m.group(2) or "")))
        if m := P["ollama_load"].search(body):
            self._ollama_load(m.group(1))
        if m := P["ollama_model"].search(body):
            self._new_model(m.group(1))
        if m := P["kobold_args"].search(body):
            self._kobold(m.group(1))

    def _new_model(self, path: str) -> None:
        self.r.model_path = redact.value(path.strip().strip("'\""))
        self.r.buffers = []  # a new load: the buffers of an earlier one are gone
        self.r.offloaded = None

    def _new_context(self) -> None:
        self.r.buffers = [b for b in self.r.buffers if b.component == "weights"]
        self.fa_resolved = None

    def _buffer(self, device: str, kind: str, mib: float) -> None:
        component = {"model": "weights", "KV": "kv", "compute": "compute", "output": "output", "": "weights"}[kind]
        if component == "kv" and any(b.component == "kv" and b.device == device for b in self.r.buffers):
            self._new_context()  # a second context on the same model (llama.cpp libraries make several)
        self.r.buffers.append(LogBuffer(device, component, mib))

    def _ollama_load(self, text: str) -> None:
        r, P = self.r, _PATTERNS
        self._mark("ollama")
        size = P["ollama_kv_size"].search(text)
        parallel = P["ollama_parallel"].search(text)
        if size:
            r.n_ctx = self._whole(size.group(1), CONTEXT)
            r.n_seq_max = (self._whole(parallel.group(1), SLOTS) if parallel else 1) or 1
            r.n_ctx_seq = r.n_ctx // max(1, r.n_seq_max) if r.n_ctx is not None else None
        if (kv := P["ollama_kv_type"].search(text)) is not None:
            r.cache_type_k = r.cache_type_v = _cache(kv.group(1) or "f16")
        if fa := P["ollama_fa"].search(text):
            r.flash_attn = _fa_word(fa.group(1))

    def _kobold(self, text: str) -> None:
        args = {k: v.strip().strip("'\"") for k, v in _KOBOLD_ARG.findall(text)}
        if "contextsize" not in args and "model_param" not in args:
            return
        self._mark("koboldcpp")
        r = self.r
        r.engine_args = redact.environment(args)  # --adminpassword, --password... never shown
        if "contextsize" in args:
            r.n_ctx = r.n_ctx_seq = self._whole(args["contextsize"], CONTEXT)
        if args.get("model_param") not in (None, "", "None"):
            r.model_path = redact.value(args["model_param"])
        if "quantkv" in args:
            n = self._whole(args["quantkv"], COUNT)
            q = _KOBOLD_QUANTKV.get(n) if n is not None else None
            if q:
                r.cache_type_k = r.cache_type_v = q
        if "flashattention" in args:
            r.flash_attn = _fa_word(args["flashattention"])

    def _warn(self, line: str, line_no: int) -> None:
        lower = line.lower()
        if not _ANY_WARNING.search(lower):
            return
        for kind, phrases in _WARNINGS:
            if any(p in lower for p in phrases):
                w = self.warnings.get(kind)
                if w is None:
                    w = self.warnings[kind] = LogWarning(kind, 0, line_no, [])
                w.count += 1
                if len(w.lines) < MAX_WARNING_LINES:
                    w.lines.append(redact.text(line.strip()[:300]))
                return

    def finish(self) -> None:
        r = self.r
        if self.fa_resolved is not None and r.flash_attn in (None, "auto"):
            r.flash_attn = self.fa_resolved
        # an engine that declares its own marks is more specific than the llama.cpp lines its log also holds
        order = [k for k, _ in self.marks] + ["koboldcpp", "ollama", "lm-studio", "llama-server", "llama.cpp"]
        r.engine = next((e for e in order if self.seen.get(e)), None)
        if r.engine == "lm-studio" and not self.seen.get("llama.cpp"):
            r.engine = None if self.seen["lm-studio"] < 2 else r.engine  # one stray mention is not a log
        if r.engine == "ollama" and r.cache_type_k is None and r.ollama_env:
            kv = r.ollama_env.get("OLLAMA_KV_CACHE_TYPE")
            r.cache_type_k = r.cache_type_v = _cache(kv or "f16")
            fa = r.ollama_env.get("OLLAMA_FLASH_ATTENTION")
            if r.flash_attn is None and fa:
                r.flash_attn = _fa_word(fa)
            if r.n_ctx is None and r.ollama_env.get("OLLAMA_CONTEXT_LENGTH"):
                r.n_ctx = self._whole(r.ollama_env["OLLAMA_CONTEXT_LENGTH"], CONTEXT) or None
        if r.engine == "llama-server" and r.cache_type_k is None and not r.buffers:
            r.notes.append(
                "This llama-server log has no settings or buffer lines: newer llama-server prints them only at a "
                "higher log level. Start it with -lv 4 (or --verbose), then import its log again."
            )
        if r.engine == "ollama" and r.warning("kv-cache-ignored") and r.cache_type_k not in (None, "f16"):
            r.notes.append("Ollama logged that it ignored the quantized KV cache: the cache really used was f16.")
            r.cache_type_k = r.cache_type_v = "f16"
        r.warnings = sorted(self.warnings.values(), key=lambda w: w.first_line)
        if self.unread_numbers > MAX_NUMBER_NOTES:
            r.notes.append(f"{self.unread_numbers - MAX_NUMBER_NOTES} more numbers in the log were not read.")


def _fa_word(word: str) -> str:
    try:
        return FlashAttn.parse(word.strip().lower()).value
    except SetupError:
        return FlashAttn.AUTO.value


def _cache(name: str) -> str | None:
    try:
        return normalise_cache_type(name)
    except SetupError:
        return None


# --- where the logs usually are ---------------------------------------------------------------------------


def usual_log_files(home: Path | None = None, env: dict[str, str] | None = None) -> dict[str, list[Path]]:
    """The places Ollama and LM Studio keep their logs on Linux, macOS and Windows (only those that exist).

    Ollama (docs/troubleshooting.md): macOS ~/.ollama/logs/server.log, Windows %LOCALAPPDATA%\\Ollama\\server.log;
    on Linux it logs to the systemd journal (`journalctl -u ollama`), not a file. LM Studio: `lms log stream`
    is the documented way; its log folder (~/.lmstudio/server-logs) is not documented, so it is only offered when present.
    """
    home = home or Path.home()
    env = dict(os.environ) if env is None else env
    candidates: dict[str, list[Path]] = {
        "ollama": [home / ".ollama" / "logs" / "server.log"],
        "lm-studio": [],
    }
    if env.get("LOCALAPPDATA"):
        candidates["ollama"].append(Path(env["LOCALAPPDATA"]) / "Ollama" / "server.log")
    lms = home / ".lmstudio" / "server-logs"
    try:  # a folder we may not read, or a log that goes while listed, costs that place only
        logs = [(t, p) for p in itertools.islice(lms.rglob("*.log"), 1000) if (t := _mtime(p)) is not None]
        candidates["lm-studio"] = [p for _, p in sorted(logs, reverse=True)[:5]]
    except OSError:
        pass
    return {k: [p for p in v if _mtime(p) is not None] for k, v in candidates.items()}


def _mtime(p: Path) -> float | None:
    """A regular file's modification time; None for anything else or anything unreadable."""
    try:
        st = p.stat()
    except (OSError, ValueError):
        return None
    return st.st_mtime if stat.S_ISREG(st.st_mode) else None
