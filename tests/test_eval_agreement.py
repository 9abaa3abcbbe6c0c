"""Our PPL and KLD against llama.cpp's own llama-perplexity on the demo pair (the README's "perplexity and
KL divergence agree with llama-perplexity").

`make test` builds llama-perplexity beside llama-server (`bash tests/bench/build_llama_tools.sh llama-server
llama-perplexity`: one configure, both targets, cached), so this runs on a fresh clone; $LLAMA_PERPLEXITY
points at another binary. Without the binary the test is skipped on a developer's machine and fails under
CI=true (tests/conftest.py). The full check on longer text (both candidates, with figures) is
tests/bench/bench_eval.py; `make figures` prints this one's numbers beside the claim.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.evaluation.domains import DOMAINS, eval_text
from core.evaluation.metrics import DomainMetrics, TokenStats, summarize
from core.evaluation.runners import LocalEngine
from core.paths import cache_dir
from core.progress import run_job
from core.settings.run import RunSettings

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
from bench_eval import KLD_TOL, PPL_TOL, parse_llama_kld, parse_llama_ppl

CTX = 128
CHUNKS = 6
BUILD = "bash tests/bench/build_llama_tools.sh llama-perplexity"


def _binary() -> Path | None:
    env = os.environ.get("LLAMA_PERPLEXITY")
    if env:
        return Path(env) if Path(env).is_file() else None
    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return None
    tools = Path(os.environ.get("LLAMA_TOOLS_DIR") or cache_dir() / "llama-tools")
    path = tools / version / "bin" / "llama-perplexity"
    return path if path.is_file() else None


LLAMA_PERPLEXITY = _binary()


def measure(demo: Any, tmp_path: Path) -> tuple[DomainMetrics, float, dict[str, float]]:
    """(ours, llama-perplexity's reference PPL, its KLD run) for the demo Q4_0 against its Q4_1 reference,
    `CHUNKS` chunks of `CTX` tokens of the general text, 2 threads, flash attention off on both sides."""
    assert LLAMA_PERPLEXITY is not None, f"llama-perplexity is not built: run `{BUILD}`"
    text = eval_text(DOMAINS["general"]) or ""
    text_file = tmp_path / "prose.txt"
    text_file.write_text(text + "\n", encoding="utf-8")
    base = tmp_path / "base.kld"
    common = ["-f", str(text_file), "-c", str(CTX), "--chunks", str(CHUNKS), "-t", "2", "-fa", "off"]

    def tool(*args: str) -> str:
        done = subprocess.run([str(LLAMA_PERPLEXITY), *args, *common], capture_output=True, text=True, timeout=300)
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
    return ours, llama_ref_ppl, theirs


@pytest.mark.skipif(
    LLAMA_PERPLEXITY is None, reason=f"llama-perplexity is not built: run `{BUILD}` (or set $LLAMA_PERPLEXITY)"
)
def test_ppl_and_kld_agree_with_llama_perplexity_on_the_demo_pair(demo, tmp_path):
    ours, llama_ref_ppl, theirs = measure(demo, tmp_path)
    assert ours.tokens == CHUNKS * (CTX - 1 - CTX // 2)
    # the bounds tests/bench/README.md states: PPL within 1%, mean KLD within 5%
    assert (PPL_TOL, KLD_TOL) == (0.01, 0.05)
    assert ours.ppl_reference == pytest.approx(llama_ref_ppl, rel=PPL_TOL)
    assert ours.ppl_candidate == pytest.approx(theirs["ppl_candidate"], rel=PPL_TOL)
    assert ours.kld_mean == pytest.approx(theirs["kld_mean"], rel=KLD_TOL)
    assert ours.top1_agreement == pytest.approx(theirs["top1_agreement"], abs=0.01)
    assert ours.rms_dp == pytest.approx(theirs["rms_dp"], rel=0.01)
