"""Scale: a comparison of 7B-, 32B- and 70B-shaped models against llama-perplexity's two runs, same machine, same run.

    nice -n 10 .venv/bin/python tests/bench/bench_scale.py                      # 7B at 512
    nice -n 10 .venv/bin/python tests/bench/bench_scale.py --sizes 7B 32B 70B --ctx 512 8192 16384

For each size and context: two sparse Q4_K_M files of the model's real shape and vocabulary
(tests/bench/scale_shapes.py; every weight reads as zero, so only time and memory mean anything), a text
of at least two chunks, then

- ours: `quantdoctor-cli compare --reference A --candidate B --text bench=TEXT --chunk C --max-chunks 1
  --samples 0 --full -c C -t T` (one chunk scored on each side, every model loaded once: `--full`, so the
  work is llama-perplexity's; the default early stop would load each model twice for one chunk);
- llama-perplexity: `-m A -f TEXT -c C --chunks 1 -t T --kl-divergence-base BASE`, then
  `-m B ... --kl-divergence-base BASE --kl-divergence` (its two runs, one after the other),

and prints, side by side: the whole job's wall time, its CPU time (user + system of the process and every
process it waited for, from wait4) and its peak RSS (the process and its children, summed, sampled every
20 ms), with the ratio ours / llama-perplexity. `--repeat 2` runs each side twice, alternating which goes
first, and keeps the best times (the machine is shared: its load only ever adds) and the larger peak.

Memory first: before anything runs, the memory estimate (core.app.compare_plan.preflight, the one the
app uses) says what the larger side needs at that context; on the CPU, llama.cpp also keeps the mapped
pages of the weights it repacks (core.engines.log_vs_estimate: clean file pages, counted in RSS until the
kernel drops them), so the row runs only if the estimate plus that copy fits the memory available now.
Otherwise it prints "does not fit this machine: needs X GB, has Y GB" and goes on: nothing swaps, nothing
is OOM-killed. `--max-minutes` skips a row whose estimated time (from the 7B-at-512 row's measured speed,
scaled by size and context) would not end in time.

llama-perplexity and the vocabularies come from tests/bench/build_llama_tools.sh (its sdist's
vendor/llama.cpp/models), or $LLAMA_PERPLEXITY and --models-dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from bench_eval import PeakRSS, find_llama_perplexity  # noqa: E402
from scale_shapes import SHAPES, write_shape  # noqa: E402

from core.app.compare import EvalSettings  # noqa: E402
from core.app.compare_plan import preflight  # noqa: E402
from core.hardware import detect_hardware  # noqa: E402
from core.memory.shape import model_shape  # noqa: E402
from core.model.inspection import inspect_model  # noqa: E402
from core.settings.run import RunSettings  # noqa: E402

GB = 1e9
REPACKED_ON_CPU = ("Q4_0", "Q4_K", "IQ4_NL", "MXFP4")  # ggml-cpu/repack.cpp on AVX2 (the build's portable flags)
TEXTS = ("prose.txt", "code.txt", "math.txt", "multilingual.txt", "long_document.txt")


@dataclass
class JobRun:
    wall_s: float
    cpu_s: float
    peak_rss: int


def run_job(cmd: list[str], env: dict[str, str] | None = None) -> tuple[JobRun, str]:
    """One process and what it waits for: wall, CPU (wait4's rusage includes reaped children), peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = b""
    with PeakRSS(proc.pid) as rss:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{text[-3000:]}")
    return JobRun(wall, usage.ru_utime + usage.ru_stime, rss.peak), text


def text_file(path: Path, ctx: int) -> Path:
    """The shipped texts, repeated until there are surely two chunks of `ctx` tokens (~4 characters a token)."""
    base = "\n\n".join((ROOT / "resources" / "eval" / f).read_text(encoding="utf-8").strip() for f in TEXTS)
    need = 2 * ctx * 6
    path.write_text((base + "\n\n") * (need // len(base) + 1), encoding="utf-8")
    return path


def repacked_bytes(path: Path) -> int:
    """The weights llama.cpp's CPU backend copies into CPU_REPACK here (their mapped pages stay resident)."""
    profile = inspect_model(path)
    return sum(t.bytes for t in profile.tensors if t.type in REPACKED_ON_CPU and t.role not in ("embeddings", "norms"))


def memory_check(model: Path, ctx: int, threads: int) -> tuple[bool, str, int]:
    """(fits, words, bytes needed): the app's own estimate, plus the repacked copy's mapped pages."""
    plan = preflight(str(model), str(model), RunSettings(n_ctx=ctx, n_threads=threads), [], ev=EvalSettings(chunk=ctx),
                     hardware=detect_hardware())  # fmt: skip
    estimate = plan.peak_bytes or 0
    needs = estimate + repacked_bytes(model)
    has = psutil.virtual_memory().available
    words = (f"needs {needs / GB:.1f} GB (estimate {estimate / GB:.1f} GB + {(needs - estimate) / GB:.1f} GB of "
             f"mapped pages the CPU repack reads), has {has / GB:.1f} GB")  # fmt: skip
    return needs <= has, words, needs


def best(kept: JobRun | None, new: JobRun) -> JobRun:
    """The best of the runs so far: the shortest wall and CPU time (a busy machine only adds), the largest peak."""
    if kept is None:
        return new
    return JobRun(min(kept.wall_s, new.wall_s), min(kept.cpu_s, new.cpu_s), max(kept.peak_rss, new.peak_rss))


def ours(a: Path, b: Path, text: Path, ctx: int, threads: int, cache: Path) -> JobRun:
    env = {**os.environ, "QUANTDOCTOR_CACHE_DIR": str(cache)}  # an empty reference cache: the reference is scored
    cmd = [sys.executable, "-m", "core.cli.main", "compare", "--reference", str(a), "--candidate", str(b),
           "--text", f"bench={text}", "--chunk", str(ctx), "--max-chunks", "1", "--samples", "0", "--full",
           "-c", str(ctx), "-t", str(threads), "--quiet", "--json"]  # fmt: skip
    run, _out = run_job(cmd, env)
    return run


def theirs(ppl: Path, a: Path, b: Path, text: Path, ctx: int, threads: int, work: Path) -> JobRun:
    base = work / "base.kld"
    common = ["-f", str(text), "-c", str(ctx), "--chunks", "1", "-t", str(threads), "--kl-divergence-base", str(base)]
    first, _ = run_job([str(ppl), "-m", str(a), *common])
    second, _ = run_job([str(ppl), "-m", str(b), *common, "--kl-divergence"])
    base.unlink(missing_ok=True)
    return JobRun(first.wall_s + second.wall_s, first.cpu_s + second.cpu_s, max(first.peak_rss, second.peak_rss))


def models_dir(ppl: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    return ppl.parents[1] / "src" / "vendor" / "llama.cpp" / "models"  # build_llama_tools.sh's unpacked sdist


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["7B"], choices=list(SHAPES))
    ap.add_argument("--ctx", nargs="+", type=int, default=[512])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=None, help="folder for the sparse models (default: a temporary one, removed)")
    ap.add_argument("--models-dir", default=None, help="llama.cpp's models/ folder (the vocabularies)")
    ap.add_argument(
        "--max-minutes", type=float, default=0, help="skip a row that would not end in this time (0: no limit)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side, alternating which goes first; best kept")
    ap.add_argument("--only", choices=["ours", "theirs"], default=None, help="time one side only (debugging)")
    args = ap.parse_args(argv)

    ppl = find_llama_perplexity()
    vocab = models_dir(ppl, args.models_dir)
    work = Path(args.work) if args.work else Path(os.environ.get("TMPDIR", "/tmp")) / f"qd-scale-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"llama-perplexity: {ppl}\nthreads {args.threads}; load average at start {load()}; "
          f"{psutil.virtual_memory().available / GB:.1f} GB available of {psutil.virtual_memory().total / GB:.1f} GB\n")  # fmt: skip
    header = (f"{'model':<12} {'ctx':>6} | {'wall ours':>9} {'theirs':>8} {'ratio':>6} | {'CPU ours':>9} {'theirs':>8} "
              f"{'ratio':>6} | {'peak RSS ours':>13} {'theirs':>8} {'ratio':>6} | load")  # fmt: skip
    rows: list[str] = []
    per_token_s: float | None = None  # measured: wall seconds per (GB of model x token), from the first row run
    try:
        for size in args.sizes:
            shape = SHAPES[size]
            a = work / f"{shape.name}.A.Q4_K_M.gguf"
            if not a.exists():
                write_shape(shape, a, vocab)
            b = work / f"{shape.name}.B.Q4_K_M.gguf"  # a second file (a copy would not stay sparse)
            if not b.exists():
                write_shape(shape, b, vocab)
            gb = model_shape(inspect_model(a)).weights_bytes / GB
            for ctx in args.ctx:
                fits, words, _needs = memory_check(a, ctx, args.threads)
                name = f"{shape.name}"
                if not fits:
                    rows.append(f"{name:<12} {ctx:>6} | does not fit this machine: {words}")
                    print(rows[-1], flush=True)
                    continue
                if per_token_s is not None and args.max_minutes:
                    guess = per_token_s * gb * ctx * 4  # four runs: two models, two tools
                    left = args.max_minutes * 60 - (time.monotonic() - started)
                    if guess > left:
                        rows.append(f"{name:<12} {ctx:>6} | not run: about {guess / 60:.0f} min at the measured speed, "
                                    f"{max(left, 0) / 60:.0f} min left ({words})")  # fmt: skip
                        print(rows[-1], flush=True)
                        continue
                text = text_file(work / f"text-{ctx}.txt", ctx)
                cache = work / f"cache-{size}-{ctx}"
                shutil.rmtree(cache, ignore_errors=True)
                print(f"{name} at {ctx}: {words}; running (load {load()})", flush=True)
                mine: JobRun | None = None
                other: JobRun | None = None
                for i in range(args.repeat):  # alternating which goes first: the machine's load drifts
                    sides = ["ours", "theirs"] if i % 2 == 0 else ["theirs", "ours"]
                    for side in sides:
                        if side == "ours" and args.only != "theirs":
                            shutil.rmtree(cache, ignore_errors=True)
                            mine = best(mine, ours(a, b, text, ctx, args.threads, cache))
                        elif side == "theirs" and args.only != "ours":
                            other = best(other, theirs(ppl, a, b, text, ctx, args.threads, work))
                    print(f"  round {i + 1}: {_row(name, ctx, mine, other)}", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
                if per_token_s is None and other is not None:
                    per_token_s = other.wall_s / 2 / (gb * ctx)
                rows.append(_row(name, ctx, mine, other))
                print(header + "\n" + rows[-1], flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + header)
    print("\n".join(rows))
    print(f"\nload average at the end {load()}; whole run {time.monotonic() - started:.0f} s")
    return 0


def _row(name: str, ctx: int, mine: JobRun | None, other: JobRun | None) -> str:
    def pair(x: float | None, y: float | None, fmt: str) -> str:
        ratio = f"{x / y:.2f}x" if x is not None and y else "-"
        xs = format(x, fmt) if x is not None else "-"
        ys = format(y, fmt) if y is not None else "-"
        return f"{xs:>9} {ys:>8} {ratio:>6}"

    wall = pair(mine.wall_s if mine else None, other.wall_s if other else None, ".1f")
    cpu = pair(mine.cpu_s if mine else None, other.cpu_s if other else None, ".1f")
    rss = pair(mine.peak_rss / GB if mine else None, other.peak_rss / GB if other else None, ".2f")
    return f"{name:<12} {ctx:>6} | {wall} | {cpu} | {'':>4}{rss} | {load()}"


if __name__ == "__main__":
    raise SystemExit(main())
