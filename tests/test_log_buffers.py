"""llama.cpp's buffers as they are (issue 23 item 5): every buffer line it prints at load is read for what it
is, and the estimate-vs-log table counts a repacked copy once and a unified KV cache as the whole context.

Real logs only: llama.cpp itself (the library the app ships, in a child process) on the demo's Q4_0, which
its CPU backend repacks, with four sequences in a split and in a unified cache, mapped and not mapped; and
the real llama-server on a Qwen2-7B-shaped Q4_K_M (tests/fixtures/engines/llamacpp-logs/SOURCES.md says how
it was made), against the same shape rebuilt here without its vocabulary (the estimate reads only the
tensor directory; tests/bench/scale_shapes.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.engines.log_vs_estimate import compare_with_log
from core.engines.logs import LogBuffer, read_log
from core.model.inspection import inspect_model

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from scale_shapes import SHAPES, write_shape

MIB = 1024**2
LOGS = Path(__file__).parent / "fixtures" / "engines" / "llamacpp-logs"

CHILD = r"""
import ctypes, sys, llama_cpp

@llama_cpp.llama_log_callback
def _log(level, text, user_data):
    sys.stderr.write(text.decode("utf-8", "replace"))
    sys.stderr.flush()

llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
path, n_ctx, n_seq, unified, mmap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
mp = llama_cpp.llama_model_default_params()
mp.n_gpu_layers = 0
mp.load_mode = -1 if mmap else 0  # LLAMA_LOAD_MODE_AUTO (mmap here) or LLAMA_LOAD_MODE_NONE (--no-mmap)
model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
cp = llama_cpp.llama_context_default_params()
cp.n_ctx, cp.n_seq_max, cp.kv_unified = n_ctx, n_seq, unified
cp.n_threads = cp.n_threads_batch = 1
assert llama_cpp.llama_init_from_model(model, cp)
"""


def library_log(model: Path, out: Path, n_ctx: int, n_seq: int, unified: bool, mmap: bool) -> Path:
    args = [str(model), str(n_ctx), str(n_seq), str(int(unified)), str(int(mmap))]
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out.write_text(proc.stderr)
    return out


@pytest.mark.parametrize(
    ("unified", "mmap"), [(False, True), (True, False)], ids=["split-cache-mapped", "unified-cache-no-mmap"]
)
def test_the_library_log_agrees_with_the_estimate(demo: Any, tmp_path: Path, unified: bool, mmap: bool) -> None:
    model = demo.candidates["Q4_0"]
    r = read_log(library_log(model, tmp_path / "run.log", 2048, 4, unified, mmap))
    # a unified cache is the whole context in one stream; a split one is a stream of n_ctx / n_seq per slot
    assert (r.kv_cells, r.kv_streams) == ((2048, 1) if unified else (512, 4))
    assert r.buffer_bytes("kv") == 2048 * 30 * 2 * (3 * 64) * 2  # 2048 cells in all, either way: 45 MiB
    assert r.buffer_bytes("output") == round(0.75 * MIB)  # one row of 49,152 logits per sequence
    table = compare_with_log(r, inspect_model(model))
    assert table is not None
    for row in table.rows:
        assert row.difference is not None and abs(row.difference) <= 0.05, table.table()
    kinds = {b.device: b.kind for b in r.buffers if b.component == "weights"}
    assert kinds.get("CPU_Mapped" if mmap else "CPU") == ("mapped" if mmap else "cpu")
    if "CPU_REPACK" in kinds:  # AVX2 or ARM: Q4_0 is repacked (ggml-cpu/repack.cpp)
        listed = sum(b.bytes for b in r.buffers if b.component == "weights")
        weights = next(row for row in table.rows if row.component == "weights")
        if mmap:  # the copy replaces the mapped pages of the same tensors
            assert listed > 1.5 * weights.logged_bytes and any("counted once" in n for n in table.notes)
        else:  # without a mapping each buffer holds its own tensors: they add
            assert listed == weights.logged_bytes and not any("counted once" in n for n in table.notes)
    assert any(("unified" if unified else "split") in n for n in table.notes)


def test_every_buffer_name_is_understood() -> None:
    names = {"CPU_Mapped": "mapped", "CPU_REPACK": "repacked", "AMX": "accel", "CUDA_Host": "host", "CPU": "cpu",
             "CUDA0": "device", "Metal": "device", "Vulkan1": "device", "Metal_Mapped": "mapped"}  # fmt: skip
    assert {n: LogBuffer(n, "weights", 1.0).kind for n in names} == names
    # a mapped file is system RAM, a GPU's own buffers are not (Apple's is one memory: Metal_Mapped is the file)
    assert [n for n in names if not LogBuffer(n, "weights", 1.0).in_system_ram] == ["CUDA0", "Metal", "Vulkan1"]


def test_the_7b_llama_server_log_agrees_within_5_percent(tmp_path: Path) -> None:
    """The case from the issue: llama-server -c 32768 -fa on -lv 4 on a Qwen2-7B-shaped Q4_K_M, CPU build.
    Its weights are listed twice (CPU_Mapped 4460.45 MiB + CPU_REPACK 2976.75 MiB), its 4 auto slots share
    one 32,768-cell cache; added up, the weights read 7,437 MiB against the file's 4,460 (-40%)."""
    r = read_log(LOGS / "llama-server.real.qwen2-7b.lv4.log")
    assert r.engine == "llama-server" and r.file_type == "Q4_K - Medium"
    assert (r.n_ctx, r.n_seq_max, r.kv_unified, r.kv_cells, r.kv_streams) == (32768, 4, True, 32768, 1)
    assert [(b.device, b.kind) for b in r.buffers if b.component == "weights"] == [
        ("CPU_Mapped", "mapped"), ("CPU_REPACK", "repacked")]  # fmt: skip
    model = write_shape(SHAPES["7B"], tmp_path / "qwen2-7b.gguf", None)  # the same tensor directory, no vocabulary
    table = compare_with_log(r, inspect_model(model))
    assert table is not None and table.agrees, table.table()
    rows = {row.component: row for row in table.rows}
    for component in ("weights", "kv", "compute", "total"):
        assert rows[component].difference is not None and abs(rows[component].difference) <= 0.05, table.table()
    assert rows["weights"].logged_bytes == round(4460.45 * MIB)  # the mapped range; the repacked copy replaces
    assert rows["kv"].logged_bytes == 1792 * MIB == 28 * 32768 * 2 * 512 * 2  # the whole context, once
    assert rows["compute"].logged_bytes == round(171.01 * MIB) + round(2.32 * MIB)  # 4 rows of 152,064 logits
    listed = sum(b.bytes for b in r.buffers)
    assert (rows["total"].estimated_bytes - listed) / listed < -0.30  # what adding the buffers up used to compare
    assert "agrees" in table.verdict and any("Q4_K matrices" in n and "counted once" in n for n in table.notes)
