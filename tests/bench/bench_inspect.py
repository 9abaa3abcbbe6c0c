"""Inspection speed: our bounded reader against gguf.GGUFReader on the same files.

Prints the median time of each reader per file and the ratio (target: >= 50x), and shows that
inspection time does not depend on file size (a sparse 40 GB 70B-shaped file against a small file
with the same header). Run: `.venv/bin/python tests/bench/bench_inspect.py` (or `make bench`).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]

import gguf  # noqa: E402
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf, write_vocab_gguf  # noqa: E402

from core.demo.prepare import prepare_demo  # noqa: E402
from core.model.inspection import inspect_model  # noqa: E402
from core.progress import run_job  # noqa: E402

TARGET_RATIO = 50.0


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(label: str, path: Path, ref_repeat: int) -> float:
    ours = median_time(lambda: inspect_model(path), 15)
    theirs = median_time(lambda: gguf.GGUFReader(path), ref_repeat)
    ratio = theirs / ours
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(
        f"{label:<34} quantdoctor {ours * 1000:8.1f} ms   GGUFReader {theirs * 1000:9.1f} ms   "
        f"ratio {ratio:6.0f}x ({verdict} the {TARGET_RATIO:.0f}x target)"
    )
    return ratio


def main() -> int:
    demo = run_job(prepare_demo())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        vocab = write_vocab_gguf(folder / "vocab256k.gguf", 256_000, 280_000)
        print(f"files: demo {demo.reference.stat().st_size / 2**20:.0f} MiB; "
              f"generated 256K vocab + 280K merges {vocab.stat().st_size / 2**20:.0f} MiB")  # fmt: skip
        ratios = [
            compare("demo SmolLM2-135M Q4_1", demo.reference, 5),
            compare("generated 256K vocab / 280K merges", vocab, 3),
        ]

        big = write_gguf(
            folder / "70b.gguf",
            metadata=llama_metadata(80, 8192, 28672, 64, 8),
            tensors=llama_tensors(80, 8192, 28672, 64, 8, 128256, Q.Q4_K, Q.Q6_K, Q.Q6_K),
        )
        small = write_gguf(
            folder / "70b-header-small.gguf",
            metadata=llama_metadata(80, 256, 512, 4, 2),
            tensors=llama_tensors(80, 256, 512, 4, 2, 1024, Q.Q4_K, Q.Q6_K, Q.Q6_K),
        )
        t_big = median_time(lambda: inspect_model(big), 15)
        t_small = median_time(lambda: inspect_model(small), 15)
        print(
            f"size independence: {big.stat().st_size / 2**30:.1f} GiB sparse 70B-shaped file {t_big * 1000:.1f} ms, "
            f"{small.stat().st_size / 2**20:.1f} MiB file with the same header {t_small * 1000:.1f} ms "
            f"(ratio {t_big / t_small:.2f})"
        )
        print(f"parameters read from the 70B-shaped header: {inspect_model(big).parameters:,}")
    ok = all(r >= TARGET_RATIO for r in ratios)
    print("RESULT:", "all ratios meet the target" if ok else "a ratio misses the target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
