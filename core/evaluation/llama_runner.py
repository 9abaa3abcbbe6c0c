"""llama.cpp through llama-cpp-python's low-level API; imported only inside the worker process.

Why not the high-level `llama_cpp.Llama`: llama-perplexity decodes several chunks side by side
(one sequence each, `n_seq_max` > 1) and asks for logits only on the scored half of each chunk.
`Llama` offers neither, and computing logits for every token costs about a sixth more time on a
small model. Matching the tool's batching is what makes our tokens/s and numbers comparable.
"""

from __future__ import annotations

import codecs
import ctypes
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from core.settings.run import RunSettings, cache_type_id


class RunnerError(Exception):
    """Something llama.cpp refused; `kind` tells the parent which typed error to raise ("memory" for a failed
    allocation, with the context it was for in `n_ctx`)."""

    def __init__(self, message: str, kind: str = "setup", n_ctx: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.n_ctx = n_ctx


_GGML_LOG_WARN = 3
_GGML_LOG_CONT = 5
_log_state = {"keep": False}
_recent: deque[str] = deque(maxlen=24)  # the last warnings and errors, to tell a failed allocation apart
# what ggml and llama.cpp log when a buffer cannot be allocated (ggml-backend.cpp, ggml-cuda.cu, llama-context.cpp)
_OUT_OF_MEMORY = ("failed to allocate", "out of memory", "unable to allocate", "cudamalloc failed", "alloc_buffer")


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    """Pass on warnings and errors only: the parent keeps stderr's tail for its error messages."""
    if level != _GGML_LOG_CONT:
        _log_state["keep"] = level >= _GGML_LOG_WARN
    if _log_state["keep"]:
        line = text.decode("utf-8", errors="replace")
        _recent.append(line)
        sys.stderr.write(line)


def _out_of_memory() -> str | None:
    """llama.cpp's own words when its last failure was an allocation, else None."""
    for line in reversed(_recent):
        if any(word in line.lower() for word in _OUT_OF_MEMORY):
            return line.strip()[:300]
    return None


# --- which build, which devices -----------------------------------------------------------------------

_DEVICE_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}  # ggml-backend.h, enum ggml_backend_dev_type


def library_dir() -> str:
    """The folder llama-cpp-python loaded llama.cpp from (LLAMA_CPP_LIB_PATH, or its own lib folder)."""
    return str(Path(llama_cpp.llama_cpp._lib._name).resolve().parent)


def _ggml_libraries() -> list[ctypes.CDLL]:
    """ggml and ggml-base from the same folder as the llama library (already loaded: the same handles).

    llama-cpp-python binds llama.h only; the backend registry is ggml's (ggml-backend.h). On Windows a
    DLL's own exports only are found through it, so both are opened.
    """
    base = Path(library_dir())
    if sys.platform == "win32":
        names = ("ggml.dll", "ggml-base.dll")
    elif sys.platform == "darwin":
        names = ("libggml.dylib", "libggml-base.dylib")
    else:
        names = ("libggml.so", "libggml-base.so")
    return [ctypes.CDLL(str(base / n)) for n in names if (base / n).is_file()]


def _symbol(name: str, restype: Any, argtypes: list[Any]) -> Any:
    for lib in _ggml_libraries():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
            return fn
    raise RunnerError(f"The llama.cpp build in {library_dir()} has no {name}.", "load")


def load_backends() -> None:
    """A build made with GGML_BACKEND_DL (llama.cpp's Linux and Windows releases) registers no backend until
    asked: load every one in its own folder. A build with backends linked in already has them."""
    count = _symbol("ggml_backend_reg_count", ctypes.c_size_t, [])
    if count() == 0:
        _symbol("ggml_backend_load_all_from_path", None, [ctypes.c_char_p])(library_dir().encode())
    if count() == 0:
        raise RunnerError(f"The llama.cpp build in {library_dir()} loaded no backend (not even the CPU's).", "load")


def devices() -> list[dict[str, Any]]:
    """Every device the build's backends see: backend, name, description, type, free and total bytes."""
    ptr = ctypes.c_void_p
    dev_count = _symbol("ggml_backend_dev_count", ctypes.c_size_t, [])
    dev_get = _symbol("ggml_backend_dev_get", ptr, [ctypes.c_size_t])
    name = _symbol("ggml_backend_dev_name", ctypes.c_char_p, [ptr])
    description = _symbol("ggml_backend_dev_description", ctypes.c_char_p, [ptr])
    kind = _symbol("ggml_backend_dev_type", ctypes.c_int, [ptr])
    memory = _symbol(
        "ggml_backend_dev_memory", None, [ptr, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    )
    reg_of = _symbol("ggml_backend_dev_backend_reg", ptr, [ptr])
    reg_name = _symbol("ggml_backend_reg_name", ctypes.c_char_p, [ptr])
    out = []
    for i in range(int(dev_count())):
        dev = dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        memory(dev, ctypes.byref(free), ctypes.byref(total))
        out.append({
            "backend": (reg_name(reg_of(dev)) or b"").decode("utf-8", "replace"),
            "name": (name(dev) or b"").decode("utf-8", "replace"),
            "description": (description(dev) or b"").decode("utf-8", "replace"),
            "type": _DEVICE_TYPES.get(int(kind(dev)), "other"),
            "free_bytes": int(free.value), "total_bytes": int(total.value),
        })  # fmt: skip
    return out


def ran_on(devs: list[dict[str, Any]], n_gpu_layers: int | None) -> dict[str, str]:
    """The backend and device a model loaded with `n_gpu_layers` runs on: llama.cpp offloads to every GPU
    device it sees (the first named here), and to none with 0 layers."""
    gpus = [d for d in devs if d["type"] in ("gpu", "igpu")]
    if gpus and n_gpu_layers != 0:
        first = gpus[0]
        more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
        return {"backend": first["backend"], "device": f"{first['description'] or first['name']}{more}"}
    cpu = next((d for d in devs if d["type"] == "cpu"), None)
    return {"backend": "CPU", "device": (cpu["description"] if cpu else "") or "CPU"}


@dataclass
class Chunked:
    """Logits of one decoded batch: `rows(seq)` gives the scored rows of each sequence."""

    ctx: Any
    chunk: int
    first: int
    n_vocab: int
    n_seqs: int

    def rows(self, seq: int) -> npt.NDArray[np.float32]:
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, seq * self.chunk + self.first)
        n = self.chunk - 1 - self.first
        return np.ctypeslib.as_array(ptr, shape=(n, self.n_vocab))


class LlamaModel:
    """One model loaded with the person's settings, and at most one context at a time."""

    def __init__(self, path: str, settings: RunSettings) -> None:
        llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        load_backends()
        self.settings = settings
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if settings.n_gpu_layers is None else settings.n_gpu_layers
        _recent.clear()
        model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not model:
            oom = _out_of_memory()
            if oom:
                raise RunnerError(oom, "memory", settings.n_ctx)
            raise RunnerError(f"llama.cpp could not load {path} (see its last messages above).", "load")
        self.model = model
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self.ctx: Any = None
        self.ctx_shape: tuple[int, int, int, int] | None = None

    def close(self) -> None:
        self._free_ctx()
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None

    # --- tokens ---

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> npt.NDArray[np.int32]:
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, cap, add_special, parse_special)
        if n < 0:
            raise RunnerError("llama.cpp could not tokenize the text.", "setup")
        return np.array(buf[:n], dtype=np.int32)

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return bytes(buf.raw[: max(n, 0)])

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def chat_prompt(self, user: str, system: str | None = None) -> tuple[str, bool]:
        """The prompt as the model's chat template formats it; (text, templated?)."""
        tmpl = llama_cpp.llama_model_chat_template(self.model, None)
        if not tmpl:
            return user, False
        messages = ([("system", system)] if system else []) + [("user", user)]
        keep = [(r.encode(), c.encode()) for r, c in messages]
        arr = (llama_cpp.llama_chat_message * len(keep))()
        for i, (role, content) in enumerate(keep):
            arr[i].role = role
            arr[i].content = content
        size = sum(len(c) for _, c in keep) * 2 + 1024
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_chat_apply_template(tmpl, arr, len(keep), True, buf, size)
        if n > size:
            size = n + 1
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_chat_apply_template(tmpl, arr, len(keep), True, buf, size)
        if n < 0:
            return user, False
        return buf.raw[:n].decode("utf-8", errors="replace"), True

    # --- contexts ---

    def _free_ctx(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
        self.ctx = None
        self.ctx_shape = None

    def context(self, n_ctx: int, n_seq: int, n_batch: int, n_ubatch: int) -> Any:
        shape = (n_ctx, n_seq, n_batch, n_ubatch)
        if self.ctx and self.ctx_shape == shape:
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
            return self.ctx
        self._free_ctx()
        s = self.settings
        p = llama_cpp.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = n_batch
        p.n_ubatch = min(n_ubatch, n_batch)
        p.n_seq_max = n_seq
        p.n_threads = s.threads
        p.n_threads_batch = s.threads
        p.type_k = cache_type_id(s.cache_type_k)
        p.type_v = cache_type_id(s.cache_type_v)
        p.flash_attn_type = s.flash_attn.llama_value
        p.no_perf = True
        _recent.clear()
        ctx = llama_cpp.llama_init_from_model(self.model, p)
        if not ctx:
            oom = _out_of_memory()
            if oom:
                raise RunnerError(oom, "memory", n_ctx)
            raise RunnerError(
                f"llama.cpp could not set up a {n_ctx}-token context with these settings ({s.describe()}).", "setup"
            )
        self.ctx = ctx
        self.ctx_shape = shape
        return ctx

    # --- scoring: llama-perplexity's chunk loop ---

    def score_chunks(
        self, tokens: npt.NDArray[np.int32], chunk: int, n_chunk: int, n_batch: int, n_ubatch: int
    ) -> Iterator[tuple[int, Chunked]]:
        """Decode chunk after chunk, n_seq at a time; yields (first chunk index, logits view) per batch.

        Exactly llama-perplexity's loop: the KV cache cleared per batch, the first token of each
        chunk replaced by BOS when the vocabulary adds one, logits requested for positions >= chunk/2.
        """
        n_seq = max(1, min(n_batch // chunk, n_chunk))
        ctx = self.context(n_seq * chunk, n_seq, n_seq * chunk, n_ubatch)
        first = chunk // 2
        batch = llama_cpp.llama_batch_init(n_seq * chunk, 0, 1)
        try:
            tok_view = np.ctypeslib.as_array(batch.token, shape=(n_seq * chunk,))
            pos_view = np.ctypeslib.as_array(batch.pos, shape=(n_seq * chunk,))
            nseq_view = np.ctypeslib.as_array(batch.n_seq_id, shape=(n_seq * chunk,))
            out_view = np.ctypeslib.as_array(batch.logits, shape=(n_seq * chunk,))
            positions = np.arange(chunk, dtype=np.int32)
            wants = (positions >= first).astype(np.int8)
            for i in range(0, n_chunk, n_seq):
                nb = min(n_seq, n_chunk - i)
                llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
                for seq in range(nb):
                    lo = seq * chunk
                    start = (i + seq) * chunk
                    tok_view[lo : lo + chunk] = tokens[start : start + chunk]
                    if self.add_bos:
                        tok_view[lo] = self.bos
                    pos_view[lo : lo + chunk] = positions
                    nseq_view[lo : lo + chunk] = 1
                    out_view[lo : lo + chunk] = wants
                    for j in range(lo, lo + chunk):
                        batch.seq_id[j][0] = seq
                batch.n_tokens = nb * chunk
                rc = llama_cpp.llama_decode(ctx, batch)
                if rc != 0:
                    raise RunnerError(f"llama.cpp failed to evaluate a chunk (llama_decode returned {rc}).", "runtime")
                yield i, Chunked(ctx, chunk, first, self.n_vocab, nb)
        finally:
            llama_cpp.llama_batch_free(batch)

    def window_logits(self, tokens: npt.NDArray[np.int32], n_ctx: int) -> npt.NDArray[np.float32]:
        """All rows of logits for one sequence (used for the remote-comparable window scoring)."""
        n = len(tokens)
        ctx = self.context(max(n_ctx, n), 1, max(n, 8), 512)
        batch = llama_cpp.llama_batch_init(n, 0, 1)
        try:
            for j in range(n):
                batch.token[j] = int(tokens[j])
                batch.pos[j] = j
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = 1
            batch.n_tokens = n
            rc = llama_cpp.llama_decode(ctx, batch)
            if rc != 0:
                raise RunnerError(f"llama.cpp failed to evaluate a window (llama_decode returned {rc}).", "runtime")
            ptr = llama_cpp.llama_get_logits(ctx)
            return np.array(np.ctypeslib.as_array(ptr, shape=(n, self.n_vocab)), dtype=np.float32)
        finally:
            llama_cpp.llama_batch_free(batch)

    # --- generation ---

    def generate(self, prompt: str, max_tokens: int, n_ctx: int) -> Iterator[tuple[int, str]]:
        """Greedy decoding, token by token: yields (token id, the text it completes).

        Greedy (argmax of the logits) needs no sampler and no seed, so the same model gives the same
        text on every run; two models' texts differ only because their logits do.
        """
        tokens = self.tokenize(prompt, add_special=True, parse_special=True)
        if len(tokens) + max_tokens > n_ctx:
            raise RunnerError(
                f"The prompt is {len(tokens)} tokens; with {max_tokens} to generate it does not fit a context of "
                f"{n_ctx}.",
                "too_long",
            )
        n_batch = 512
        ctx = self.context(n_ctx, 1, n_batch, n_batch)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            pos = 0

            def feed(toks: list[int], last_logits: bool) -> None:
                nonlocal pos
                for s in range(0, len(toks), n_batch):
                    part = toks[s : s + n_batch]
                    for j, t in enumerate(part):
                        batch.token[j] = t
                        batch.pos[j] = pos + j
                        batch.n_seq_id[j] = 1
                        batch.seq_id[j][0] = 0
                        batch.logits[j] = 1 if (last_logits and s + j == len(toks) - 1) else 0
                    batch.n_tokens = len(part)
                    rc = llama_cpp.llama_decode(ctx, batch)
                    if rc != 0:
                        raise RunnerError(f"llama.cpp failed while generating (llama_decode returned {rc}).", "runtime")
                    pos += len(part)

            feed([int(t) for t in tokens], True)
            for _ in range(max_tokens):
                row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(self.n_vocab,))
                tok = int(row.argmax())
                if self.is_eog(tok):
                    break
                yield tok, decoder.decode(self.piece(tok))
                feed([tok], True)
        finally:
            llama_cpp.llama_batch_free(batch)
