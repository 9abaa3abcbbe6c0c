"""Agreement with llama.cpp's llama-perplexity, throughput against it, and peak memory of a comparison.

    .venv/bin/python tests/bench/bench_eval.py                # all three, on the demo pair
    .venv/bin/python tests/bench/bench_eval.py --ctx 256 --quick

1. Agreement (issue 5, step 5): for the demo reference (Q4_1) and each candidate (Q4_0, Q2_0), run
   `llama-perplexity --kl-divergence-base` on the reference and `--kl-divergence` on the candidate,
   then our worker on the same text, context and threads; compare PPL (target within 1%) and mean
   KLD (target within 5%). Also prints top-1 agreement, RMS Δp and KLD p99 side by side.
2. Throughput: tokens/s of each pass, ours against llama-perplexity's, measured in this same run on
   the same machine (target ≥ 0.85×). Wall clock of the whole process for both tools (loading
   included), plus ours for the scoring loop alone.
3. Peak RSS of a full comparison (`compare`, both models local, default domains), sampled every
   20 ms over the parent and its worker, against the larger model's own footprint: the peak RSS
   of llama-perplexity running that model at the same context (target ≤ footprint + 300 MiB).

llama-perplexity comes from tests/bench/build_llama_tools.sh (built once, cached), or from
$LLAMA_PERPLEXITY. Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from core.demo.prepare import prepare_demo  # noqa: E402
from core.evaluation.metrics import DomainMetrics, TokenStats, summarize  # noqa: E402
from core.evaluation.runners import LocalEngine  # noqa: E402
from core.evaluation.scoring import EvalSettings  # noqa: E402
from core.progress import run_job  # noqa: E402
from core.settings.run import RunSettings  # noqa: E402

PPL_TOL = 0.01
KLD_TOL = 0.05
SPEED_TARGET = 0.85
RSS_MARGIN = 300 * 2**20
BENCH_FILES = ("prose.txt", "code.txt", "math.txt")


def find_llama_perplexity() -> Path:
    env = os.environ.get("LLAMA_PERPLEXITY")
    if env:
        return Path(env)
    script = ROOT / "tests" / "bench" / "build_llama_tools.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def bench_text(files: tuple[str, ...] = BENCH_FILES) -> str:
    parts = [(ROOT / "resources" / "eval" / f).read_text(encoding="utf-8").strip() for f in files]
    return "\n\n".join(parts)


class PeakRSS:
    """Samples the RSS of a process and all its descendants every 20 ms; keeps the maximum of the sum."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class ToolRun:
    seconds: float
    peak_rss: int
    output: str


def run_tool(cmd: list[str]) -> ToolRun:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakRSS(proc.pid) as rss:
        out, _ = proc.communicate()
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{out[-2000:]}")
    return ToolRun(elapsed, rss.peak, out)


def parse_llama_kld(out: str) -> dict[str, float]:
    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        if not m:
            raise RuntimeError(f"llama-perplexity output lacks {pattern!r}:\n{out[-3000:]}")
        return float(m.group(1))

    return {
        "ppl_candidate": grab(r"Mean PPL\(Q\)\s*:\s*([\d.]+)"),
        "ppl_reference_q16": grab(r"Mean PPL\(base\)\s*:\s*([\d.]+)"),
        "kld_mean": grab(r"Mean\s+KLD:\s*([-\d.]+)"),
        "kld_p99": grab(r"99\.0%\s+KLD:\s*([-\d.]+)"),
        "rms_dp": grab(r"RMS Δp\s*:\s*([-\d.]+)") / 100,
        "top1_agreement": grab(r"Same top p:\s*([-\d.]+)") / 100,
    }


def parse_llama_ppl(out: str) -> float:
    m = re.search(r"Final estimate: PPL = ([\d.]+)", out)
    if not m:
        raise RuntimeError(f"llama-perplexity printed no final PPL:\n{out[-3000:]}")
    return float(m.group(1))


def our_pass(model: Path, text: str, ctx: int, threads: int, mode: str, ref_file: Path, out: Path,
             ev: EvalSettings) -> tuple[float, float, int]:  # fmt: skip
    """One worker run (reference or candidate mode): (wall s, scoring-loop s, tokens processed)."""
    engine = LocalEngine(model, RunSettings(n_ctx=ctx, n_threads=threads, flash_attn="off"), mode)
    task = {"kind": "score", "id": "bench", "text": text, "chunk": ctx, "max_chunks": 0, "n_batch": ev.n_batch,
            "n_ubatch": ev.n_ubatch, "top_k": ev.top_k, "tail_samples": ev.tail_samples, "mode": mode,
            "out": str(out if mode == "candidate" else ref_file), "reference": str(ref_file)}  # fmt: skip
    t0 = time.perf_counter()
    results = run_job(engine.run([task], mode, out.parent))
    wall = time.perf_counter() - t0
    r = results["bench"]
    if not r.ok:
        raise RuntimeError(r.message)
    return wall, float(r.fields["seconds"]), int(r.fields["n_chunk"]) * ctx


def agreement(
    ppl_bin: Path, ctx: int, threads: int, work: Path, quick: bool, repeat: int = 1
) -> tuple[list[dict[str, Any]], bool]:
    demo = run_job(prepare_demo())
    text = bench_text(("prose.txt", "code.txt") if quick else BENCH_FILES)
    text_file = work / "bench.txt"
    text_file.write_text(text + "\n", encoding="utf-8")  # llama-perplexity drops one trailing newline
    ev = EvalSettings(chunk=ctx)
    base = work / "base.kld"
    common = ["-f", str(text_file), "-c", str(ctx), "-t", str(threads), "-b", str(ev.n_batch), "-fa", "off"]
    ref_cmd = [str(ppl_bin), "-m", str(demo.reference), *common, "--kl-divergence-base", str(base)]
    ref_tool = run_tool(ref_cmd)
    llama_ref_ppl = parse_llama_ppl(ref_tool.output)
    ref_cache = work / "ours-ref.npz"
    unused = work / "unused.npz"
    ref_wall, ref_loop, n_tok = our_pass(demo.reference, text, ctx, threads, "reference", ref_cache, unused, ev)
    llama_ref_s = ref_tool.seconds
    for _ in range(repeat - 1):  # the machine may be shared: alternate the two tools, keep each one's best
        llama_ref_s = min(llama_ref_s, run_tool(ref_cmd).seconds)
        again = our_pass(demo.reference, text, ctx, threads, "reference", ref_cache, unused, ev)
        ref_wall, ref_loop = min(ref_wall, again[0]), min(ref_loop, again[1])
    rows: list[dict[str, Any]] = [{
        "pass": "reference Q4_1", "tokens": n_tok, "llama_s": llama_ref_s, "ours_s": ref_wall,
        "ours_loop_s": ref_loop, "llama_ppl": llama_ref_ppl,
    }]  # fmt: skip
    ok = True
    for quant, path in sorted(demo.candidates.items()):
        cmd = [str(ppl_bin), "-m", str(path), *common, "--kl-divergence-base", str(base), "--kl-divergence"]
        tool = run_tool(cmd)
        theirs = parse_llama_kld(tool.output)
        out = work / f"ours-{quant}.npz"
        wall, loop, n_tok = our_pass(path, text, ctx, threads, "candidate", ref_cache, out, ev)
        llama_s = tool.seconds
        for _ in range(repeat - 1):
            llama_s = min(llama_s, run_tool(cmd).seconds)
            again = our_pass(path, text, ctx, threads, "candidate", ref_cache, out, ev)
            wall, loop = min(wall, again[0]), min(loop, again[1])
        with np.load(out) as z:
            ours: DomainMetrics = summarize(TokenStats.from_arrays(z))
        ppl_err = ours.ppl_candidate / theirs["ppl_candidate"] - 1
        ref_err = ours.ppl_reference / llama_ref_ppl - 1
        kld_err = ours.kld_mean / theirs["kld_mean"] - 1
        good = abs(ppl_err) <= PPL_TOL and abs(ref_err) <= PPL_TOL and abs(kld_err) <= KLD_TOL
        ok &= good
        rows.append({
            "pass": f"candidate {quant}", "tokens": n_tok, "llama_s": llama_s, "ours_s": wall, "ours_loop_s": loop,
            "llama": theirs, "ours": ours.to_dict(), "ppl_err": ppl_err, "ref_ppl_err": ref_err, "kld_err": kld_err,
            "agrees": good,
        })  # fmt: skip
    rows[0]["ours_ppl"] = rows[1]["ours"]["ppl_reference"] if len(rows) > 1 else float("nan")
    return rows, ok


def peak_rss_of_comparison(ctx: int, threads: int, ppl_bin: Path, work: Path) -> tuple[int, int, bool]:
    """(our peak, the larger model's llama-perplexity footprint, within target?)."""
    demo = run_job(prepare_demo())
    larger = max([demo.reference, *demo.candidates.values()], key=lambda p: p.stat().st_size)
    text_file = work / "rss.txt"
    text_file.write_text(bench_text(("prose.txt",)) + "\n", encoding="utf-8")
    footprint = run_tool([str(ppl_bin), "-m", str(larger), "-f", str(text_file), "-c", str(ctx), "-t", str(threads),
                          "-fa", "off"]).peak_rss  # fmt: skip
    script = (
        "import sys; from core.evaluation import compare, RunSettings, EvalSettings; from core.progress import run_job;"
        f"s = RunSettings(n_ctx=4096, n_threads={threads}, flash_attn='off');"
        f"c = run_job(compare(sys.argv[1], sys.argv[2], s, s, eval_settings=EvalSettings(chunk={ctx}, sample_tokens=32)));"
        "print(len(c.metrics))"
    )
    env = {**os.environ, "QUANTDOCTOR_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(demo.reference), str(demo.candidates["Q4_0"])],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    with PeakRSS(proc.pid) as rss:
        _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the comparison failed:\n{err[-2000:]}")
    return rss.peak, footprint, rss.peak <= footprint + RSS_MARGIN


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ctx", type=int, default=512, help="context / chunk size for both tools (default 512)")
    ap.add_argument("--threads", type=int, default=psutil.cpu_count(logical=False) or 1)
    ap.add_argument("--quick", action="store_true", help="a shorter text (prose + code) and no RSS run")
    ap.add_argument("--repeat", type=int, default=2, help="time each pass N times (tools alternating), keep the best")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    ppl_bin = find_llama_perplexity()
    print(f"llama-perplexity: {ppl_bin}\nctx {args.ctx}, {args.threads} threads, flash attention off\n")
    with tempfile.TemporaryDirectory(prefix="qd-bench-") as tmp:
        work = Path(tmp)
        rows, agree_ok = agreement(ppl_bin, args.ctx, args.threads, work, args.quick, args.repeat)
        print("== Agreement with llama-perplexity (targets: PPL within 1%, mean KLD within 5%) ==")
        ref = rows[0]
        print(f"reference Q4_1 PPL: ours {ref['ours_ppl']:.4f}  llama {ref['llama_ppl']:.4f}  "
              f"({100 * (ref['ours_ppl'] / ref['llama_ppl'] - 1):+.3f}%)")  # fmt: skip
        for r in rows[1:]:
            o, t = r["ours"], r["llama"]
            print(f"{r['pass']}: PPL ours {o['ppl_candidate']:.4f} llama {t['ppl_candidate']:.4f} ({100 * r['ppl_err']:+.3f}%)"
                  f" | mean KLD ours {o['kld_mean']:.5f} llama {t['kld_mean']:.5f} ({100 * r['kld_err']:+.2f}%)"
                  f" | KLD p99 {o['kld_p99']:.4f}/{t['kld_p99']:.4f} | same top {100 * o['top1_agreement']:.2f}%/"
                  f"{100 * t['top1_agreement']:.2f}% | RMS Δp {100 * o['rms_dp']:.3f}%/{100 * t['rms_dp']:.3f}%"
                  f"  -> {'OK' if r['agrees'] else 'FAIL'}")  # fmt: skip
        print("\n== Throughput, same text/ctx/threads (target ours ≥ 0.85× llama-perplexity) ==")
        speed_ok = True
        for r in rows:
            ours_tps = r["tokens"] / r["ours_s"]
            llama_tps = r["tokens"] / r["llama_s"]
            ratio = ours_tps / llama_tps
            speed_ok &= ratio >= SPEED_TARGET
            print(f"{r['pass']:<16} {r['tokens']:>6} tokens: llama {llama_tps:8.1f} tok/s, ours {ours_tps:8.1f} tok/s "
                  f"(scoring loop alone {r['tokens'] / r['ours_loop_s']:8.1f}) -> {ratio:.2f}× "
                  f"{'OK' if ratio >= SPEED_TARGET else 'BELOW TARGET'}")  # fmt: skip
        rss_ok = True
        figures: dict[str, Any] = {"ctx": args.ctx, "threads": args.threads, "rows": rows}
        if not args.quick:
            peak, footprint, rss_ok = peak_rss_of_comparison(args.ctx, args.threads, ppl_bin, work)
            print("\n== Peak RSS of a full comparison (target ≤ larger model's footprint + 300 MiB) ==")
            print(f"ours {peak / 2**20:.0f} MiB; llama-perplexity on the larger model {footprint / 2**20:.0f} MiB; "
                  f"margin {(peak - footprint) / 2**20:+.0f} MiB -> {'OK' if rss_ok else 'ABOVE TARGET'}")  # fmt: skip
            figures.update(peak_rss=peak, footprint=footprint)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2, default=float))
    return 0 if (agree_ok and speed_ok and rss_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
