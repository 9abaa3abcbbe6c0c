"""Every figure the READMEs state that a quick command can measure, measured now and printed beside its
claim, with the bound it must stay within; the exit code is 1 when one leaves its bound.

    .venv/bin/python tests/bench/figures.py            # all of them (`make figures`; CI runs it); prints its run time
    .venv/bin/python tests/bench/figures.py memory scan   # some of them, by name

Every input is fixed and ships in the repository (the demo model is made from a pinned upload by the
same code as `quantdoctor-cli demo`; the shaped models are generated), so each figure reproduces. The
long figures (minutes to an hour each) are not run here; the list at the end names the command that
prints each of them. Needs llama-perplexity (`make test` builds it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT), str(HERE.parents[1]), str(HERE.parent)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@dataclass
class Figure:
    claim: str  # the claim's words, as the README states them
    where: str  # which README
    measured: str  # what was measured now
    bound: str  # the bound the measured figure must stay within
    ok: bool


def _demo() -> Any:
    from core.demo.prepare import prepare_demo
    from core.progress import run_job

    return run_job(prepare_demo())


def memory() -> list[Figure]:
    """README, "How right, how fast": the memory estimate against llama.cpp's own buffer sizes."""
    from test_memory_agreement import CASES, TOLERANCE, agreement, load_all

    with tempfile.TemporaryDirectory() as tmp:
        runs = load_all(_demo().reference, Path(tmp))
        n, worst = agreement(runs)  # the estimate reads the generated files: inside the folder's life
    skipped = [s for run in runs.values() for s in run.skipped]
    return [Figure(
        "weights, KV cache and compute buffers agree with what llama.cpp itself reports on the CPU backend "
        "within 0.03% in 36 cases", "README.md",
        f"{n} cases, the furthest {worst.deviation:.4%} ({worst})" + (f"; not loaded (RAM): {skipped}" if skipped else ""),
        f"36 cases, none past {TOLERANCE:.2%}", n == len(CASES) * len(runs) == 36 and worst.deviation <= TOLERANCE,
    )]  # fmt: skip


def agreement() -> list[Figure]:
    """README "Measurements" and tests/bench/README.md: PPL and KLD against llama-perplexity on the demo pair."""
    from bench_eval import KLD_TOL, PPL_TOL
    from test_eval_agreement import CHUNKS, CTX, LLAMA_PERPLEXITY, measure

    if LLAMA_PERPLEXITY is None:
        return [Figure("perplexity and KL divergence agree with llama-perplexity --kl-divergence on the demo pair",
                       "README.md", "llama-perplexity is not built (bash tests/bench/build_llama_tools.sh)",
                       "built", False)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ours, ref_ppl, theirs = measure(_demo(), Path(tmp))
    d_ref = ours.ppl_reference / ref_ppl - 1
    d_ppl = ours.ppl_candidate / theirs["ppl_candidate"] - 1
    d_kld = ours.kld_mean / theirs["kld_mean"] - 1
    where = f"demo Q4_0 vs Q4_1, {CHUNKS} chunks of {CTX}, {ours.tokens} tokens scored"
    return [
        Figure("perplexity agrees with llama-perplexity on the demo pair (PPL within 1%)",
               "README.md, tests/bench/README.md",
               f"{where}: reference PPL {ours.ppl_reference:.4f} vs {ref_ppl:.4f} ({d_ref:+.3%}), "
               f"candidate PPL {ours.ppl_candidate:.4f} vs {theirs['ppl_candidate']:.4f} ({d_ppl:+.3%})",
               f"within {PPL_TOL:.0%}", abs(d_ref) <= PPL_TOL and abs(d_ppl) <= PPL_TOL),
        Figure("KL divergence agrees with llama-perplexity --kl-divergence (mean KLD within 5%)",
               "README.md, tests/bench/README.md",
               f"{where}: mean KLD {ours.kld_mean:.5f} vs {theirs['kld_mean']:.5f} ({d_kld:+.2%}); same top "
               f"{ours.top1_agreement:.2%} vs {theirs['top1_agreement']:.2%}",
               f"within {KLD_TOL:.0%}", abs(d_kld) <= KLD_TOL),
    ]  # fmt: skip


def scan() -> list[Figure]:
    """README, "From the terminal": the scan's budget, with seven engines and three bad servers about."""
    from engine_fakes import fake_engine_process
    from test_engines_live import ENGINES

    from core.engines.live import PROBE_SECONDS, SCAN_SECONDS
    from core.engines.live import scan as run_scan

    with ExitStack() as stack:
        good = {name: stack.enter_context(fake_engine_process(name)) for name in ENGINES}
        bad = [stack.enter_context(fake_engine_process(k)) for k in ("huge", "slow", "hang")]
        t0 = time.monotonic()
        result = run_scan(ports=[*good.values(), *bad], defaults=False)
        took = time.monotonic() - t0
    found = {e.key for e in result.found}
    said = sum(any(p.startswith(f"port {port}:") for p in result.problems) for port in bad)
    missing = [
        f"{name} ({next((p for p in result.problems if p.startswith(f'port {port}:')), 'nothing said')})"
        for name, port in good.items()
        if ENGINES[name] not in found
    ]
    return [Figure(
        "one second a request and two seconds for the whole scan", "README.md",
        f"{took:.2f} s for {len(good)} engines ({len(found & set(ENGINES.values()))} found) and 3 bad servers "
        f"({said} said); budgets {SCAN_SECONDS:g} s and {PROBE_SECONDS:g} s a request"
        + (f"; not found: {'; '.join(missing)}" if missing else ""),
        "every engine found and every bad server said within 2 s (+0.1 s to collect the threads)",
        took <= SCAN_SECONDS + 0.1 and found == set(ENGINES.values()) and said == 3
        and (SCAN_SECONDS, PROBE_SECONDS) == (2.0, 1.0),
    )]  # fmt: skip


def catalog() -> list[Figure]:
    """README, "The window": the what-if catalog's size."""
    from core.hardware.catalog import load_catalog

    n = len(load_catalog())
    return [
        Figure(
            '"what if I had…" any of 70 GPUs from the catalog', "README.md", f"{n} GPUs in the catalog", "70", n == 70
        )
    ]


def inspection() -> list[Figure]:
    """README, "How right, how fast": tests/bench/bench_inspect.py, parsed."""
    out = subprocess.run([sys.executable, str(HERE.parent / "bench_inspect.py")], capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    ratios = [float(x) for x in re.findall(r"ratio\s+(\d+)x", out.stdout)]
    size = re.search(r"\(ratio ([\d.]+)\)", out.stdout)
    lines = [line for line in out.stdout.splitlines() if "ratio" in line]
    if len(ratios) != 2 or size is None:
        return [Figure("inspection", "README.md", "bench_inspect.py printed no ratios:\n" + out.stdout[-1500:]
                       + out.stderr[-1500:], "", False)]  # fmt: skip
    return [
        Figure("our bounded GGUF reader is more than 50× faster than the gguf package's GGUFReader on the demo "
               "model and on a generated model with a 256K vocabulary and 280K merges", "README.md",
               "; ".join(" ".join(line.split()) for line in lines[:2]), "more than 50× each",
               min(ratios) > 50),
        Figure("a sparse 37.5 GiB 70B-shaped file inspects in about the time of a 26 MiB file with the same header",
               "README.md", " ".join(lines[2].split()), "ratio within 1.5", float(size.group(1)) <= 1.5),
    ]  # fmt: skip


def diagnosis() -> list[Figure]:
    """tests/bench/README.md: the 70B diagnosis on a what-if RTX 4090 (bench_ui_stall.py --diagnosis-only)."""
    from bench_ui_stall import DIAGNOSIS_TARGET_MS, time_diagnosis

    timings = time_diagnosis()
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = load >= cores
    judged = [cpu if busy else ms for _, ms, cpu in timings]
    shown = "; ".join(f"{label}: {ms:.1f} ms wall, {cpu:.1f} ms CPU" for label, ms, cpu in timings)
    return [Figure(
        "the diagnosis (every check, the estimate, its searches and the upgrade's catalog scan) of a 70B-shaped "
        "model on a what-if RTX 4090: <= 50 ms", "tests/bench/README.md",
        shown + (f" (load {load:.1f} on {cores} cores: judged on CPU time)" if busy else ""),
        f"<= {DIAGNOSIS_TARGET_MS:.0f} ms each", max(judged) <= DIAGNOSIS_TARGET_MS,
    )]  # fmt: skip


def settings_trial() -> list[Figure]:
    """tests/bench/README.md, the issue-15 table: file or settings at -c 512, the test suite's size."""
    from test_settings_trial import THEIRS

    from core.checks import registry as checks
    from core.checks.base import CheckInput
    from core.checks.measurements import Measurements
    from core.evaluation import EvalSettings, verdicts
    from core.evaluation.settings_trial import file_or_settings
    from core.model.inspection import inspect_model
    from core.paths import CACHE_ENV
    from core.progress import run_job
    from core.settings.setup import Setup

    demo = _demo()
    with tempfile.TemporaryDirectory() as tmp:
        before = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = tmp
        try:
            ev = EvalSettings(chunk=128, max_chunks=1, sample_tokens=4)
            trial = run_job(file_or_settings(str(demo.reference), THEIRS, None, ev, ["long"]))
        finally:
            os.environ.pop(CACHE_ENV) if before is None else os.environ.__setitem__(CACHE_ENV, before)
    m = trial.theirs.metrics["long"]
    verdict = verdicts.judge(m.kld_mean, m.top1_agreement).words
    setup = Setup.of(ctx=512, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    given = CheckInput(inspect_model(demo.reference), setup, measurements=Measurements.from_trial(trial))
    finding = checks.get("kv-cache").run(given)
    shown = (
        f"mean KLD {m.kld_mean:.4f}, same top {m.top1_agreement:.1%} ({m.tokens} tokens); {verdict}; answer "
        f'"{trial.answer}"; the kv-cache finding {finding.confidence}'
    )
    return [Figure(
        "the demo Q4_1, q4_0 cache + flash attention vs f16 cache at -c 512: mean KLD 0.0285, same top 89.8% "
        "(255 tokens); small loss; answer \"settings\"; the kv-cache finding confirmed by measurement",
        "tests/bench/README.md", shown, "the same figures at the digits shown (the run is deterministic)",
        (f"{m.kld_mean:.4f}", f"{m.top1_agreement:.1%}", m.tokens, verdict, trial.answer, finding.confidence)
        == ("0.0285", "89.8%", 255, "small loss", "settings", "confirmed-by-measurement"),
    )]  # fmt: skip


def fuzz_limits() -> list[Figure]:
    """README, "What bad input gets": the fuzzer's child limits as stated."""
    from fuzzing import CASE_SECONDS, MEMORY_LIMIT

    return [Figure("bench_fuzz.py runs each case in a child limited to 1.5 GB of address space and 5 s per case",
                   "README.md", f"{MEMORY_LIMIT / 2**30:.1f} GiB, {CASE_SECONDS:g} s", "1.5 GiB, 5 s",
                   (MEMORY_LIMIT, CASE_SECONDS) == (1536 * 2**20, 5.0))]  # fmt: skip


def limits() -> list[Figure]:
    """README, "What bad input gets": the limits it names, read from the product (their tests are named there)."""
    import importlib

    from core import jsonfile
    from core.model import gguf_reader as g

    download = importlib.import_module("core.hub.download")  # the package exports a function of that name

    got = {"tensor name (bytes, with its end)": g.MAX_TENSOR_NAME, "string array items": g.MAX_STRING_ARRAY,
           "display-only string kept (bytes)": g.MAX_KEPT_STRING, "JSON depth": jsonfile.MAX_DEPTH,
           "stall: bytes": download.STALL_MIN_BYTES, "stall: seconds": download.STALL_S}  # fmt: skip
    want = {"tensor name (bytes, with its end)": 64, "string array items": 4 * 2**20,
            "display-only string kept (bytes)": 64 * 2**10, "JSON depth": 64, "stall: bytes": 64 * 2**10,
            "stall: seconds": 30.0}  # fmt: skip
    return [Figure("tensor names over 63 bytes and string arrays over 4M items refused; display-only strings kept "
                   "truncated (64 KiB); JSON depth <= 64; a download under 64 KB in 30 s has stalled", "README.md",
                   ", ".join(f"{k} {v:,}" for k, v in got.items()), ", ".join(f"{k} {v:,}" for k, v in want.items()),
                   got == want)]  # fmt: skip


FIGURES: dict[str, Callable[[], list[Figure]]] = {
    "catalog": catalog, "limits": limits, "fuzz": fuzz_limits, "scan": scan, "diagnosis": diagnosis, "inspection": inspection,
    "settings-trial": settings_trial, "agreement": agreement, "memory": memory,
}  # fmt: skip

# Figures whose run takes minutes to an hour: the command that prints each, and how long it takes.
LONG = [
    ("tests/bench/README.md: agreement on 11 chunks of 512, throughput (>= 0.85x) and peak RSS (+300 MiB)",
     "tests/bench/bench_eval.py", "~15 min"),
    ("tests/bench/README.md: your own text against llama-perplexity -f (shipped text tests/bench/own-text.md)",
     "tests/bench/bench_verdicts.py --agreement", "~10 min idle, ~30 min on a loaded machine"),
    ("tests/bench/README.md: the demo verdicts (Q2_0, Q4_0, Q8_0 requant), four domains",
     "tests/bench/bench_verdicts.py --verdicts", "~50 min"),
    ("tests/bench/README.md: file or settings at 4K and 16K", "tests/bench/bench_verdicts.py --trial --ctx 16384",
     "~100 min"),
    ("README.md and tests/bench/README.md: the window never freezes (< 100 ms)", "tests/bench/bench_ui_stall.py",
     "~4 min"),
    ("tests/bench/README.md: the early verdict against the full run (Q2_0: time to final, ratio, verdicts)",
     "tests/bench/bench_early_verdict.py --only Q2_0 --samples 0", "~25 min idle"),
    ("README.md: the first build of llama.cpp's tools (`built ... in N s`)",
     "bash tests/bench/build_llama_tools.sh llama-server llama-perplexity", "~10 min"),
]  # fmt: skip


def main(argv: list[str]) -> int:
    names = argv or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}", file=sys.stderr)
        return 2
    out_of_bounds = 0
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        try:
            figures = FIGURES[name]()
        except Exception as exc:  # a figure that cannot be measured is out of its bound, said plainly
            figures = [Figure(name, "", f"could not be measured: {type(exc).__name__}: {exc}", "", False)]
        for f in figures:
            out_of_bounds += not f.ok
            print(f"[{'ok' if f.ok else 'OUT'}] {name} ({time.monotonic() - t0:.0f} s) -- {f.where}\n"
                  f"    claim:    {f.claim}\n    measured: {f.measured}\n    bound:    {f.bound}", flush=True)  # fmt: skip
    if not argv:
        print("\nNot run here (each prints its own figures against its target):")
        for claim, command, took in LONG:
            print(f"    {claim}\n        {command}   ({took})")
    verdict = "every figure within its bound" if not out_of_bounds else f"{out_of_bounds} figure(s) OUT of bound"
    print(f"\n{verdict} ({time.monotonic() - started:,.0f} s)")
    return 1 if out_of_bounds else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
