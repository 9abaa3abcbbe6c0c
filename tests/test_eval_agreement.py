"""Our PPL and KLD against llama.cpp's own llama-perplexity, when that tool has been built.

Build it once with `bash tests/bench/build_llama_tools.sh` (about 7 minutes on 2 cores; cached), or
point $LLAMA_PERPLEXITY at a binary. CI does not need it: the test is skipped without the binary.
The full check on longer text (both candidates, with figures) is tests/bench/bench_eval.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from core.evaluation.domains import DOMAINS, eval_text
from core.evaluation.metrics import TokenStats, summarize
from core.evaluation.runners import LocalEngine
from core.paths import cache_dir
from core.progress import run_job
from core.settings.run import RunSettings

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
from bench_eval import parse_llama_kld, parse_llama_ppl

CTX = 128
CHUNKS = 6


def _binary() -> Path | None:
    env = os.environ.get("LLAMA_PERPLEXITY")
    if env:
        return Path(env) if Path(env).is_file() else None
    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return None
    path = cache_dir() / "llama-tools" / version / "bin" / "llama-perplexity"
    return path if path.is_file() else None


LLAMA_PERPLEXITY = _binary()


@pytest.mark.skipif(
    LLAMA_PERPLEXITY is None,
    reason="llama-perplexity is not built: run `bash tests/bench/build_llama_tools.sh` (or set $LLAMA_PERPLEXITY)",
)
def test_ppl_and_kld_agree_with_llama_perplexity_on_the_demo_pair(demo, tmp_path):
    assert LLAMA_PERPLEXITY is not None
    text = eval_text(DOMAINS["general"]) or ""
    text_file = tmp_path / "prose.txt"
    text_file.write_text(text + "\n", encoding="utf-8")
    base = tmp_path / "base.kld"
    common = ["-f", str(text_file), "-c", str(CTX), "--chunks", str(CHUNKS), "-t", "2", "-fa", "off"]

    def tool(*args: str) -> str:
        done = subprocess.run([str(LLAMA_PERPLEXITY), *args, *common], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout + done.stderr

    llama_ref_ppl = parse_llama_ppl(tool("-m", str(demo.reference), "--kl-divergence-base", str(base)))
    theirs = parse_llama_kld(
        tool("-m", str(demo.candidates["Q4_0"]), "--kl-divergence-base", str(base), "--kl-divergence")
    )

    settings = RunSettings(n_ctx=512, n_threads=2, flash_attn="off")

    def task(mode: str) -> dict[str, object]:
        return {"kind": "score", "id": "t", "text": text, "chunk": CTX, "max_chunks": CHUNKS, "n_batch": 2048,
                "n_ubatch": 512, "top_k": 64, "tail_samples": 64, "mode": mode, "reference": str(tmp_path / "ref.npz"),
                "out": str(tmp_path / ("ref.npz" if mode == "reference" else "cand.npz"))}  # fmt: skip

    run_job(LocalEngine(demo.reference, settings, "reference").run([task("reference")], "Reference", tmp_path))
    run_job(LocalEngine(demo.candidates["Q4_0"], settings, "candidate").run([task("candidate")], "C", tmp_path))
    with np.load(tmp_path / "cand.npz") as z:
        ours = summarize(TokenStats.from_arrays(z))

    assert ours.tokens == CHUNKS * (CTX - 1 - CTX // 2)
    assert ours.ppl_reference == pytest.approx(llama_ref_ppl, rel=0.01)
    assert ours.ppl_candidate == pytest.approx(theirs["ppl_candidate"], rel=0.01)
    assert ours.kld_mean == pytest.approx(theirs["kld_mean"], rel=0.05)
    assert ours.top1_agreement == pytest.approx(theirs["top1_agreement"], abs=0.01)
    assert ours.rms_dp == pytest.approx(theirs["rms_dp"], rel=0.01)
