"""Issue 15's done-when figures: your own text against llama-perplexity, the demo verdicts, file-or-settings at 16K.

    .venv/bin/python tests/bench/bench_verdicts.py --agreement   # compare --text vs llama-perplexity -f (same -c)
    .venv/bin/python tests/bench/bench_verdicts.py --verdicts    # Q2_0 / Q4_0 / a Q8_0 requant of the reference
    .venv/bin/python tests/bench/bench_verdicts.py --trial [--ctx 16384]   # the demo Q4_1 with a q4_0 cache

Prints the figures tests/bench/README.md quotes; exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_eval import KLD_TOL, PPL_TOL, find_llama_perplexity, parse_llama_kld, parse_llama_ppl, run_tool  # noqa: E402

from core.cli.main import main as cli  # noqa: E402
from core.demo.prepare import _quantize, prepare_demo  # noqa: E402
from core.evaluation.verdicts import judge  # noqa: E402
from core.progress import run_job  # noqa: E402

PROMPT = "In two sentences: what does a quantized model lose?"


OWN_TEXT = ROOT / "tests" / "bench" / "own-text.md"


def own_text(work: Path) -> Path:
    """The person's text: a frozen copy of the project's README and verdict notes as they were at commit
    7f3fb93 (tests/bench/own-text.md, not among the shipped evaluation texts), so the figures reproduce
    whatever the README says today."""
    path = work / "mine.md"
    path.write_bytes(OWN_TEXT.read_bytes())
    return path


def run_cli(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli(args)
    if rc != 0:
        raise RuntimeError(f"compare exited {rc}")
    return json.loads(out.getvalue())


def agreement(work: Path, ctx: int, threads: int) -> bool:
    demo = run_job(prepare_demo())
    ppl_bin = find_llama_perplexity()
    text = own_text(work)
    base = work / "base.kld"
    common = ["-f", str(text), "-c", str(ctx), "-t", str(threads), "-b", "2048", "-fa", "off"]
    llama_ref = parse_llama_ppl(run_tool([str(ppl_bin), "-m", str(demo.reference), *common,
                                          "--kl-divergence-base", str(base)]).output)  # fmt: skip
    ok = True
    print(f"== compare --text mine={text.name} vs llama-perplexity -f {text.name} -c {ctx} (PPL ±1%, KLD ±5%) ==")
    print(f"{'candidate':<10} {'':<6} {'PPL ref':>10} {'PPL cand':>14} {'mean KLD':>10} {'same top':>9}  verdict")
    for quant in ("Q4_0", "Q2_0"):
        cand = demo.candidates[quant]
        theirs = parse_llama_kld(run_tool([str(ppl_bin), "-m", str(cand), *common, "--kl-divergence-base", str(base),
                                           "--kl-divergence"]).output)  # fmt: skip
        t0 = time.perf_counter()
        data = run_cli(["compare", "--reference", str(demo.reference), "--candidate", str(cand), "--text",
                        f"mine={text}", "--prompt", PROMPT, "--chunk", str(ctx), "-c", str(max(ctx, 2048)),
                        "-t", str(threads), "-fa", "off", "--sample-tokens", "24", "--quiet", "--json"])  # fmt: skip
        m = data["metrics"]["mine"]
        errs = (m["ppl_reference"] / llama_ref - 1, m["ppl_candidate"] / theirs["ppl_candidate"] - 1,
                m["kld_mean"] / theirs["kld_mean"] - 1)  # fmt: skip
        good = abs(errs[0]) <= PPL_TOL and abs(errs[1]) <= PPL_TOL and abs(errs[2]) <= KLD_TOL
        ok &= good
        v = data["verdicts"]["mine"]["words"]
        print(f"{quant:<10} {'ours':<6} {m['ppl_reference']:>10.4f} {m['ppl_candidate']:>14.4f} {m['kld_mean']:>10.5f} "
              f"{100 * m['top1_agreement']:>8.2f}%  {v}  ({m['tokens']} tokens scored, {time.perf_counter() - t0:.0f} s)")  # fmt: skip
        print(f"{'':<10} {'llama':<6} {llama_ref:>10.4f} {theirs['ppl_candidate']:>14.4f} {theirs['kld_mean']:>10.5f} "
              f"{100 * theirs['top1_agreement']:>8.2f}%")  # fmt: skip
        print(f"{'':<10} {'diff':<6} {100 * errs[0]:>+9.3f}% {100 * errs[1]:>+13.3f}% {100 * errs[2]:>+9.2f}%  "
              f"{'agrees' if good else 'DOES NOT AGREE'}; own prompt answered: {bool(data['samples'])}")  # fmt: skip
    return ok


def verdicts(work: Path, threads: int, chunk: int) -> bool:
    demo = run_job(prepare_demo())
    q8 = work / "SmolLM2-135M-Instruct.Q8_0-from-Q4_1.gguf"
    run_job(_quantize(demo.reference, q8, 7, "Q8_0"))  # LLAMA_FTYPE_MOSTLY_Q8_0
    want = {"Q2_0": "badly damaged", "Q4_0": "noticeable loss", "Q8_0 requant": "practically identical"}
    ok = True
    print(f"== demo verdicts: general, code, multilingual, math; chunk {chunk}; reference Q4_1 ==")
    for name, path in (("Q2_0", demo.candidates["Q2_0"]), ("Q4_0", demo.candidates["Q4_0"]), ("Q8_0 requant", q8)):
        data = run_cli(["compare", "--reference", str(demo.reference), "--candidate", str(path), "--chunk", str(chunk),
                        "-t", str(threads), "--samples", "0", "--quiet", "--json"])  # fmt: skip
        whole = data["verdict"]
        overall = whole["words"]
        ok &= overall == want[name]
        ms = data["metrics"]
        per = ", ".join(f"{d} {v['words']} (KLD {ms[d]['kld_mean']:.4f}, top-1 {100 * ms[d]['top1_agreement']:.1f}%, "
                        f"{ms[d]['tokens']} tokens)" for d, v in data["verdicts"].items())  # fmt: skip
        n = sum(m["tokens"] for m in ms.values())
        pooled_kld = sum(m["kld_mean"] * m["tokens"] for m in ms.values()) / n
        pooled_top = sum(m["top1_agreement"] * m["tokens"] for m in ms.values()) / n
        worse = ", ".join(f"{d} {v['words']}" for d, v in whole["worse"].items()) or "none"
        print(f"{name:<13} overall: {overall:<22} (want {want[name]}; {100 * whole['share']:.0f}% of the tokens read "
              f"this or better; worse: {worse}) — {per}")  # fmt: skip
        print(f"{'':<13} pooled over all {n} tokens (not the rule): mean KLD {pooled_kld:.4f}, top-1 "
              f"{100 * pooled_top:.1f}% → {judge(pooled_kld, pooled_top).words}")  # fmt: skip
    return ok


def trial(ctx: int, threads: int) -> bool:
    from core.checks import kv_cache
    from core.checks.base import CheckInput
    from core.checks.measurements import Measurements
    from core.evaluation import EvalSettings, RunSettings
    from core.evaluation.settings_trial import file_or_settings
    from core.model.inspection import inspect_model
    from core.settings.setup import Setup

    demo = run_job(prepare_demo())
    theirs = RunSettings(n_ctx=ctx, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn="on", n_threads=threads)
    t0 = time.perf_counter()
    t = run_job(file_or_settings(str(demo.reference), theirs, None, EvalSettings(max_chunks=1), ["long"]))
    m = t.theirs.metrics["long"]
    print(f"== Is it the file or my settings? demo Q4_1, q4_0 cache, flash attention on, context {ctx:,} ==")
    print(f"scored at {t.context:,} tokens ({m.tokens:,} scored){'; ' + t.capped if t.capped else ''}; "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    print(f"q4_0 cache vs f16 cache: PPL {m.ppl_reference:.4f} → {m.ppl_candidate:.4f}, mean KLD {m.kld_mean:.5f}, "
          f"same top {100 * m.top1_agreement:.2f}%")  # fmt: skip
    print(f"answer: {t.answer} — {t.explanation}")
    setup = Setup.of(ctx=ctx, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    f = kv_cache.run(CheckInput(inspect_model(demo.reference), setup, measurements=Measurements.from_trial(t)))
    print(f"kv-cache finding: {f.severity}, {f.confidence}: {f.title}")
    return t.answer == "settings" and f.confidence == "confirmed-by-measurement"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agreement", action="store_true")
    ap.add_argument("--verdicts", action="store_true")
    ap.add_argument("--trial", action="store_true")
    ap.add_argument("--ctx", type=int, default=16384, help="the context for --trial")
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    ok = True
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qd-bench-verdicts-") as tmp:
        work = Path(tmp)
        if args.agreement:
            ok &= agreement(work, args.chunk, args.threads)
        if args.verdicts:
            ok &= verdicts(work, args.threads, args.chunk)
        if args.trial:
            ok &= trial(args.ctx, args.threads)
    print(f"done in {time.perf_counter() - started:,.0f} s; {'every target met' if ok else 'a target MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
