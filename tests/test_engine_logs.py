"""Reading an engine's log: real llama.cpp logs from the library itself, recorded-shape logs of the
other engines (tests/fixtures/engines/*/SOURCES.md cite the format strings), and bad input.

The real logs come from llama-cpp-python (the llama.cpp Quant Doctor ships) in a child process with
its log on, as tests/test_memory_agreement.py does: the demo model for the buffer lines, and a copy
of it crafted to trigger the warnings that point away from the quant — no `tokenizer.ggml.pre`, a
BOS token added to a prompt that already starts with one, and a prompt longer than the context.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gguf_edit import copy_gguf

from core.engines.evidence import log_evidence
from core.engines.log_vs_estimate import compare_with_log
from core.engines.logs import read_log, read_log_text, usual_log_files
from core.errors import EngineLogError
from core.model.inspection import inspect_model

FIXTURES = Path(__file__).parent / "fixtures" / "engines"

CHILD = r"""
import ctypes, sys, llama_cpp

@llama_cpp.llama_log_callback
def _log(level, text, user_data):
    sys.stderr.write(text.decode("utf-8", "replace"))
    sys.stderr.flush()

llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
path, n_ctx, cache, prompt_words = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mp = llama_cpp.llama_model_default_params()
mp.n_gpu_layers = 0
mp.use_extra_bufts = False
model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
cp = llama_cpp.llama_context_default_params()
cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx, 256, 256, 1
cp.type_k = cp.type_v = cache
cp.flash_attn_type = 1
cp.n_threads = cp.n_threads_batch = 1
ctx = llama_cpp.llama_init_from_model(model, cp)
if prompt_words:
    vocab = llama_cpp.llama_model_get_vocab(model)
    text = b"<|im_start|>user\nhello, " + b"word " * prompt_words   # starts with the BOS token's text
    buf = (llama_cpp.llama_token * 4096)()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, 4096, True, True)
    for start in range(0, n, 128):   # feed it all: past n_ctx llama.cpp finds no room
        chunk = buf[start:min(n, start + 128)]
        arr = (llama_cpp.llama_token * len(chunk))(*chunk)
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(chunk))) != 0:
            break
"""


def library_log(model: Path, out: Path, n_ctx: int, cache: int, prompt_words: int = 0) -> Path:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(n_ctx), str(cache), str(prompt_words)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out.write_text(proc.stderr)
    return out


@pytest.fixture(scope="module")
def real_logs(demo: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("logs")
    crafted = copy_gguf(
        demo.reference, tmp / "no-pre-adds-bos.gguf",
        drop=("tokenizer.ggml.pre",), set_values={"tokenizer.ggml.add_bos_token": True},
    )  # fmt: skip
    return {
        "plain": library_log(demo.reference, tmp / "plain.log", 4096, 2),  # q4_0 cache
        "crafted": library_log(crafted, tmp / "crafted.log", 256, 8, prompt_words=300),  # q8_0, 300+ tokens
    }


def test_real_library_log_gives_settings_and_buffers(real_logs: dict[str, Path], demo: Any) -> None:
    r = read_log(real_logs["plain"])
    assert r.engine == "llama.cpp"
    assert Path(r.model_path or "") == demo.reference
    assert (r.n_ctx, r.n_ctx_seq, r.n_ctx_train, r.n_seq_max) == (4096, 4096, 8192, 1)
    assert (r.cache_type_k, r.cache_type_v, r.flash_attn) == ("q4_0", "q4_0", "on")
    assert r.file_type == "Q4_1"
    components = {b.component for b in r.buffers}
    assert components == {"weights", "kv", "compute", "output"}
    assert r.buffer_bytes("kv") == pytest.approx(25.31 * 1024**2, abs=0.01 * 1024**2)  # 30 layers x 4096 x q4_0
    assert r.warnings == []  # a healthy load warns about nothing that points away from the quant
    s = r.setup()
    assert (s.run.n_ctx, s.run.cache_type_k, s.engine) == (4096, "q4_0", "llama.cpp")


def test_estimate_vs_reality_on_the_cpu_backend(real_logs: dict[str, Path], demo: Any) -> None:
    r = read_log(real_logs["plain"])
    table = compare_with_log(r, inspect_model(demo.reference))
    assert table is not None
    rows = {(row.device, row.component): row for row in table.rows}
    assert set(rows) == {("host", c) for c in ("weights", "kv", "compute", "total")}
    for row in table.rows:
        assert row.difference is not None and abs(row.difference) <= 0.05, table.table()
    assert table.agrees and "agrees" in table.verdict


def test_disagreement_is_said_plainly(real_logs: dict[str, Path], demo: Any) -> None:
    r = read_log(real_logs["plain"])
    kv = next(b for b in r.buffers if b.component == "kv")
    kv.mib *= 2  # as if llama.cpp had allocated twice the cache
    table = compare_with_log(r, inspect_model(demo.reference))
    assert table is not None and not table.agrees
    assert "host kv by -50%" in table.verdict and "trust the log" in table.verdict


def test_real_warnings_from_a_crafted_model(real_logs: dict[str, Path]) -> None:
    r = read_log(real_logs["crafted"])
    kinds = {w.kind for w in r.warnings}
    assert {"pre-tokenizer", "double-bos", "context-full"} <= kinds, r.warnings
    bos = r.warning("double-bos")
    assert bos is not None and "2 BOS tokens" in bos.lines[0]
    assert "no quant or setting fixes this" in (r.warning("pre-tokenizer") or bos).meaning
    assert (r.n_ctx, r.cache_type_k) == (256, "q8_0")
    lines = log_evidence(r, None).lines()
    assert any("double-bos" in line for line in lines)


def test_llama_server_log_recorded_shape() -> None:
    r = read_log(FIXTURES / "llamacpp-logs" / "llama-server.sample.log")
    assert r.engine == "llama-server"
    assert (r.n_ctx, r.n_ctx_seq, r.n_seq_max, r.n_ctx_train) == (32768, 8192, 4, 131072)
    assert (r.cache_type_k, r.cache_type_v, r.flash_attn, r.offloaded) == ("q8_0", "q4_0", "on", (20, 29))
    assert r.buffer_bytes("weights", "CUDA0") == round(1226.88 * 1024**2)
    assert r.buffer_bytes("kv") == (1040 * 1024**2) + (416 * 1024**2)
    assert [w.kind for w in r.warnings] == ["double-bos", "context-shift"]
    s = r.setup()
    assert (s.run.n_ctx, s.run.n_gpu_layers, s.run.cache_type_v) == (8192, 20, "q4_0")  # per slot, not -c


def test_real_llama_server_logs_of_this_build() -> None:
    """Real logs of the llama-server built from the installed llama-cpp-python (SOURCES.md there)."""
    default = read_log(FIXTURES / "llamacpp-logs" / "llama-server.real.default.log")
    assert default.engine == "llama-server" and default.cache_type_k is None
    assert (default.n_ctx_seq, default.n_seq_max) == (8192, 4)  # the server's slot context, capped
    assert {"context-overflow", "context-clamped"} <= {w.kind for w in default.warnings}
    assert any("-lv 4" in n for n in default.notes)  # says how to get a log with the settings
    lv4 = read_log(FIXTURES / "llamacpp-logs" / "llama-server.real.lv4.log")
    assert (lv4.n_ctx, lv4.n_ctx_seq, lv4.n_seq_max, lv4.kv_unified) == (16384, 8192, 4, True)
    assert (lv4.cache_type_k, lv4.cache_type_v, lv4.flash_attn, lv4.file_type) == ("q4_0", "q4_0", "on", "Q4_1")
    assert lv4.buffer_bytes("kv") == round(101.25 * 1024**2) and lv4.buffer_bytes("compute") == round(28.42 * 1024**2)
    assert lv4.setup().run.n_ctx == 8192


def test_ollama_server_log() -> None:
    r = read_log(FIXTURES / "ollama" / "server.log")
    assert (r.engine, r.version) == ("ollama", "0.12.6")
    assert r.ollama_env["OLLAMA_CONTEXT_LENGTH"] == "16384"
    assert r.offloaded == (17, 29)
    # the env asked for q8_0, but without flash attention Ollama ran f16 and said so
    assert {"kv-cache-ignored", "truncated"} <= {w.kind for w in r.warnings}
    assert (r.cache_type_k, r.flash_attn, r.n_ctx_seq) == ("f16", "off", 16384)
    assert r.setup().engine == "ollama"


def test_koboldcpp_console() -> None:
    r = read_log(FIXTURES / "koboldcpp" / "console.v1.76.txt")
    assert r.engine == "koboldcpp" and r.version == "1.76"
    assert (r.n_ctx_seq, r.cache_type_k, r.flash_attn) == (8192, "q8_0", "on")  # the Namespace(...) line
    assert r.engine_args["gpulayers"] == "20"
    assert r.setup().engine == "koboldcpp"


def test_older_llama_cpp_formats() -> None:
    text = "\n".join([
        "llm_load_print_meta: n_ctx_train      = 4096",
        "llm_load_vocab: missing pre-tokenizer type, using: 'default'",
        "llm_load_vocab: GENERATION QUALITY WILL BE DEGRADED!        ",
        "llm_load_tensors: offloaded 33/33 layers to GPU",
        "llm_load_tensors:      CUDA0 buffer size =  3820.93 MiB",
        "llama_new_context_with_model: n_ctx      = 8192",
        "llama_new_context_with_model: flash_attn = 1",
        "llama_kv_cache_init:      CUDA0 KV buffer size =  1024.00 MiB",
        "llama_new_context_with_model: KV self size  = 1024.00 MiB, K (f16):  512.00 MiB, V (f16):  512.00 MiB",
        "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 1188.00 MiB on device 0: cudaMalloc failed: out of memory",
        "INFO [update_slots] input truncated | n_ctx=2048 n_erase=1 n_keep=4",
    ])  # fmt: skip
    r = read_log_text(text)
    assert (r.n_ctx, r.n_ctx_train, r.flash_attn, r.offloaded) == (8192, 4096, "on", (33, 33))
    assert r.buffer_bytes("weights", "CUDA0") == round(3820.93 * 1024**2)
    assert {"pre-tokenizer", "alloc-failure", "truncated"} <= {w.kind for w in r.warnings}
    assert r.warning("pre-tokenizer").count == 2  # type: ignore[union-attr]


def test_unrecognised_log_is_a_plain_message(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("dear diary\nthe model said hello\n" * 100)
    with pytest.raises(EngineLogError, match=r"does not look like a log from llama\.cpp"):
        read_log(p)
    with pytest.raises(EngineLogError, match="does not exist"):
        read_log(tmp_path / "missing.log")
    with pytest.raises(EngineLogError, match="empty"):
        (tmp_path / "empty.log").write_bytes(b"")
        read_log(tmp_path / "empty.log")


def test_binary_junk_is_refused_quickly(tmp_path: Path) -> None:
    p = tmp_path / "junk.bin"
    p.write_bytes(os.urandom(4 * 1024 * 1024))
    start = time.monotonic()
    with pytest.raises(EngineLogError, match="not a text log"):
        read_log(p)
    assert time.monotonic() - start < 2


def test_a_500_mb_log_is_read_in_bounded_time_and_memory(tmp_path: Path) -> None:
    sample = (FIXTURES / "llamacpp-logs" / "llama-server.sample.log").read_bytes()
    p = tmp_path / "big.log"
    filler = b"srv  log_server_r: request: GET /health 127.0.0.1 200\n" * 200_000  # ~11 MiB of ordinary lines
    with open(p, "wb") as f:  # real text at the start and the end (more than is read); a sparse hole between
        f.write(sample + filler)
        f.seek(500 * 1024 * 1024 - 3 * len(filler))
        f.write(filler * 3 + sample)
    # in a child, so its peak memory is its own
    child = (
        "import json, resource, sys\n"
        "from core.engines.logs import read_log\n"
        "u = resource.getrusage(resource.RUSAGE_SELF); r = read_log(sys.argv[1])\n"
        "v = resource.getrusage(resource.RUSAGE_SELF)\n"
        "t = v.ru_utime + v.ru_stime - u.ru_utime - u.ru_stime\n"
        # VmHWM is this process's own peak; ru_maxrss survives exec and can report the forking pytest's size
        "hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')]\n"
        "print(json.dumps({'cpu_seconds': t, 'peak_kib': hwm[0] if hwm else v.ru_maxrss,"
        " 'engine': r.engine, 'k': r.cache_type_k, 'skipped': r.bytes_skipped, 'notes': r.notes}))\n"
    )
    out = subprocess.run([sys.executable, "-c", child, str(p)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["engine"] == "llama-server" and r["k"] == "q8_0"
    assert r["skipped"] > 400 * 1024 * 1024 and any("first 4 MiB" in n for n in r["notes"])
    assert r["cpu_seconds"] < 20, r  # CPU time, not wall time: the same bound on a busy machine
    assert r["peak_kib"] < 400 * 1024, r  # the interpreter and its imports included


def test_usual_log_places(tmp_path: Path) -> None:
    (tmp_path / ".ollama" / "logs").mkdir(parents=True)
    (tmp_path / ".ollama" / "logs" / "server.log").write_text("x")
    local = tmp_path / "AppData"
    (local / "Ollama").mkdir(parents=True)
    (local / "Ollama" / "server.log").write_text("x")
    found = usual_log_files(home=tmp_path, env={"LOCALAPPDATA": str(local)})
    assert found["ollama"] == [tmp_path / ".ollama/logs/server.log", local / "Ollama/server.log"]
    assert found["lm-studio"] == []
