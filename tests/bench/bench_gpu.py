"""The GPU scorer on a real GPU (issue 23 item 7): agreement with the CPU path, speed-up, peak VRAM vs the estimate.

Where an NVIDIA GPU is present (nvidia-smi answers), this builds the GPU scorer from the same sources as
the app's own llama.cpp (the llama.cpp vendored in the installed llama-cpp-python's sdist, fetched and
unpacked by tests/bench/build_llama_tools.sh), as llama.cpp's releases build it: shared libraries, CUDA,
backends loaded at run time (GGML_BACKEND_DL). It then scores, on the GPU and on the CPU, with the same
worker (core.evaluation.llama_child, the GPU build given through core.evaluation.scorer.Scorer):

- the demo pair (Q4_0 against its Q4_1 reference): PPL and KLD agreement (bounds: PPL ±0.5%, KLD ±2%),
  and the speed-up;
- a 7B-shaped model (Llama-2-7B's shape, Q4_0, the demo's tokenizer; sparse weights that read as zeros, so
  only time and memory mean anything): the speed-up, and the peak VRAM nvidia-smi saw against the
  memory estimate's GPU total (core.memory) for the same context.

Anchor and ratio are measured in the same run. On a machine without a GPU it prints "no GPU here" and
exits 0. Nothing in CI runs it.

    python tests/bench/bench_gpu.py [--chunks 8] [--skip-7b] [--build-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PPL_TOL = 0.005
KLD_TOL = 0.02


def gpu_present() -> str | None:
    """The first GPU's name from nvidia-smi, or None when there is none to use."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return names[0] if done.returncode == 0 and names else None


def build_cuda(build_dir: Path | None) -> Path:
    """libllama + ggml with CUDA from the app's own llama.cpp sources; returns the folder of the libraries."""
    from importlib import metadata

    from core.paths import cache_dir

    version = metadata.version("llama_cpp_python")
    tools = Path(os.environ.get("LLAMA_TOOLS_DIR") or cache_dir() / "llama-tools") / version
    src = tools / "src" / "vendor" / "llama.cpp"
    if not (src / "CMakeLists.txt").is_file():  # the sdist is fetched and unpacked by the tools script
        subprocess.run(["bash", str(ROOT / "tests/bench/build_llama_tools.sh"), "llama-perplexity"], check=True)
    out = build_dir or tools / "build-cuda"
    lib = out / "bin"
    if not (lib / "libllama.so").is_file():
        started = time.monotonic()
        subprocess.run(["cmake", "-S", str(src), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release", "-DGGML_CUDA=ON",
                        "-DGGML_BACKEND_DL=ON", "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF",
                        "-DCMAKE_INSTALL_RPATH=$ORIGIN", "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DLLAMA_CURL=OFF",
                        "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                        "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_SERVER=OFF"], check=True)  # fmt: skip
        subprocess.run(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 4), "--target", "llama",
                        "ggml-cuda", "ggml-cpu"], check=True)  # fmt: skip
        print(f"built the CUDA scorer in {time.monotonic() - started:.0f} s: {lib}")
    return lib


class VramPeak:
    """The highest memory.used nvidia-smi reports while a run goes on (polled every 0.2 s)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True)  # fmt: skip
            for line in done.stdout.splitlines():
                if line.strip().isdigit():
                    self.peak = max(self.peak, int(line.strip()) << 20)
            self._stop.wait(0.2)

    def __enter__(self) -> VramPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def score_pair(reference: Path, candidate: Path, chosen: Any, folder: Path, chunks: int, ctx: int) -> dict[str, Any]:
    """Reference then candidate through LocalEngine on `chosen` (None: the CPU path); numbers and seconds."""
    import numpy as np

    from core.evaluation.domains import DOMAINS, eval_text
    from core.evaluation.metrics import TokenStats, summarize
    from core.evaluation.runners import LocalEngine
    from core.progress import run_job
    from core.settings.run import RunSettings

    folder.mkdir(parents=True, exist_ok=True)
    text = (eval_text(DOMAINS["general"]) or "") * 4
    settings = RunSettings(n_ctx=ctx, flash_attn="off")
    seconds = {}
    ran = {}
    for path, mode in ((reference, "reference"), (candidate, "candidate")):
        task = {"kind": "score", "id": "t", "text": text, "chunk": ctx, "max_chunks": chunks, "n_batch": 2048,
                "n_ubatch": 512, "top_k": 64, "tail_samples": 64, "mode": mode, "reference": str(folder / "ref.npz"),
                "out": str(folder / ("ref.npz" if mode == "reference" else "cand.npz"))}  # fmt: skip
        engine = LocalEngine(path, settings, mode, scorer=chosen)
        started = time.monotonic()
        run_job(engine.run([task], mode, folder))
        seconds[mode] = time.monotonic() - started
        ran[mode] = f"{engine.ran_on.get('backend')} ({engine.ran_on.get('device')})"
    with np.load(folder / "cand.npz") as z:
        m = summarize(TokenStats.from_arrays(z))
    return {"ppl_ref": m.ppl_reference, "ppl": m.ppl_candidate, "kld": m.kld_mean, "tokens": m.tokens,
            "seconds": seconds, "ran": ran}  # fmt: skip


def seven_b(path: Path, tokenizer_from: Path) -> Path:
    """Llama-2-7B's shape (32 layers, 4096 wide, 11008 ffn, 32 heads), Q4_0, the demo's tokenizer; sparse."""
    import gguf
    from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

    if path.is_file():
        return path
    reader = gguf.GGUFReader(tokenizer_from)
    fields = {k: f for k, f in reader.fields.items() if k.startswith("tokenizer.")}
    n_vocab = len(fields["tokenizer.ggml.tokens"].contents())

    def tokenizer(w: gguf.GGUFWriter) -> None:
        for key, field in fields.items():
            value = field.contents()
            if isinstance(value, list):
                w.add_array(key, value)
            elif isinstance(value, str):
                w.add_string(key, value)
            elif isinstance(value, bool):
                w.add_bool(key, value)
            else:
                w.add_uint32(key, int(value))

    md = {**llama_metadata(32, 4096, 11008, 32, 32, n_ctx=4096, file_type=gguf.LlamaFileType.MOSTLY_Q4_0),
          "llama.vocab_size": n_vocab, "llama.rope.dimension_count": 128}  # fmt: skip
    return write_gguf(path, metadata=md, tensors=llama_tensors(32, 4096, 11008, 32, 32, n_vocab, Q.Q4_0, Q.Q4_0, Q.Q6_K),
                      extra=tokenizer)  # fmt: skip


def estimate_gpu_bytes(path: Path, ctx: int) -> int | None:
    """The memory estimate's GPU total for this file at `ctx` on this machine (core.memory), all layers offloaded."""
    from core.hardware import detect_hardware
    from core.memory.estimate import estimate
    from core.memory.shape import model_shape
    from core.model.inspection import inspect_model
    from core.settings.run import RunSettings

    est = estimate(model_shape(inspect_model(path)), RunSettings(n_ctx=ctx, flash_attn="off"), detect_hardware())
    return sum(d.total_bytes for d in est.gpus) or None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--skip-7b", action="store_true")
    ap.add_argument("--build-dir", type=Path)
    args = ap.parse_args()
    name = gpu_present()
    if name is None:
        print("no GPU here: nvidia-smi finds no NVIDIA GPU, so the GPU scorer cannot be measured on this machine.")
        return 0
    from core.demo.prepare import prepare_demo
    from core.evaluation import scorer
    from core.progress import run_job

    print(f"GPU: {name}")
    lib = build_cuda(args.build_dir)
    seen = scorer.probe(lib)
    gpus = [d for d in seen["devices"] if d["type"] in ("gpu", "igpu")]
    if not gpus:
        print(f"the CUDA build sees no GPU: {seen['devices']}")
        return 1
    gpu = scorer.Scorer(gpus[0]["backend"], gpus[0]["description"], "llama.cpp (CUDA, same sources)", str(lib))
    print(gpu.words())
    demo = run_job(prepare_demo())
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "qd-bench-gpu"
    shutil.rmtree(work, ignore_errors=True)

    print("\n== demo pair (Q4_0 against Q4_1), 512-token chunks ==")
    on_gpu = score_pair(demo.reference, demo.candidates["Q4_0"], gpu, work / "demo-gpu", args.chunks, 512)
    on_cpu = score_pair(demo.reference, demo.candidates["Q4_0"], None, work / "demo-cpu", args.chunks, 512)
    ok = True
    for key, tol in (("ppl_ref", PPL_TOL), ("ppl", PPL_TOL), ("kld", KLD_TOL)):
        err = on_gpu[key] / on_cpu[key] - 1 if on_cpu[key] else 0.0
        good = abs(err) <= tol and on_gpu["tokens"] == on_cpu["tokens"]
        ok &= good
        print(f"{key:8} GPU {on_gpu[key]:.5f}  CPU {on_cpu[key]:.5f}  {100 * err:+.3f}% (bound ±{100 * tol:.1f}%) "
              f"{'ok' if good else 'OUTSIDE'}")  # fmt: skip
    g, c = sum(on_gpu["seconds"].values()), sum(on_cpu["seconds"].values())
    print(f"ran on: GPU side {on_gpu['ran']}, CPU side {on_cpu['ran']}")
    print(f"time: GPU {g:.1f} s, CPU {c:.1f} s: {c / g:.1f}× faster on the GPU")

    if not args.skip_7b:
        print("\n== 7B-shaped (Llama-2-7B shape, Q4_0, sparse: time and memory only), 512-token chunks ==")
        big = seven_b(work / "llama7b-shape-Q4_0.gguf", demo.reference)
        with VramPeak() as vram:
            big_gpu = score_pair(big, big, gpu, work / "7b-gpu", 2, 512)
        big_cpu = score_pair(big, big, None, work / "7b-cpu", 2, 512)
        g, c = sum(big_gpu["seconds"].values()), sum(big_cpu["seconds"].values())
        print(f"time: GPU {g:.1f} s, CPU {c:.1f} s: {c / g:.1f}× faster on the GPU")
        est = estimate_gpu_bytes(big, 512)
        line = f"peak VRAM (nvidia-smi, whole GPU): {vram.peak / 2**30:.2f} GiB"
        if est:
            line += f"; estimate {est / 2**30:.2f} GiB ({100 * (vram.peak / est - 1):+.1f}%)"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
