"""Issue 25's done-when figures: time to a final verdict with the stop rule, against the full run, same run.

    .venv/bin/python tests/bench/bench_early_verdict.py                 # Q2_0, Q4_0, a Q8_0 requant vs Q4_1
    .venv/bin/python tests/bench/bench_early_verdict.py --only Q2_0 --samples 0
    .venv/bin/python tests/bench/bench_early_verdict.py --samples 0 --again Q2_0   # the README's figures

For each candidate against the demo reference (Q4_1), on the default domains (general, code,
multilingual, math; chunk 512; one sample prompt per domain), two comparisons, each with an empty
reference-logit cache so neither reuses the other's work:

1. the default (`compare`, the stop rule on): the time until its overall verdict is final (the
   `Provisional` event with `final` set), and its whole time (the samples included);
2. `full=True` (every chunk, `--full` in the CLI): the time until its last domain's numbers are in
   (what a full run waits for before it can say anything final without the stop rule), and its
   whole time.

Prints both times, their ratio, and both verdicts, which must be equal: the overall verdict, and each
domain's that the stop rule called final (a domain it never scored has no verdict of its own).
Target: the Q2_0 verdict final in under 15% of the full run's whole time. Exit status 0 when every
verdict pair is equal and the target is met, 1 otherwise. CPU heavy: run it once, not in a loop.

The machine may be shared: beside each wall time the bench prints the CPU time this process and its
llama.cpp workers spent until then (a worker still running is read where it stands), and the load
average (1 min) at the start and the end of each comparison. Other jobs stretch wall time far more
than CPU time, so on a loaded machine the CPU-time ratio is the steadier of the two. For the
candidates named in --again (Q2_0 by default) the stop-rule run is made a second time after the full
run, closed at its final verdict: the two bracket the full run in time, and the ratio uses their mean,
so a load that rises or falls during the bench does not favour either side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.demo.prepare import _quantize, prepare_demo  # noqa: E402
from core.evaluation.compare import Comparison, DomainResult, Provisional, compare  # noqa: E402
from core.paths import CACHE_ENV  # noqa: E402
from core.progress import Progress, run_job  # noqa: E402

TARGET = 0.15


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, its finished workers, and any worker still running."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.NoSuchProcess:  # ended between the listing and the reading: counted once reaped
            continue
        total += c.user + c.system
    return float(total)


@dataclass
class Timing:
    """One comparison's figures: wall and CPU seconds until its verdict was final and in all, load at both ends."""

    verdict_s: float
    whole_s: float
    verdict_cpu: float
    whole_cpu: float
    load_start: float
    load_end: float


def timed(
    reference: Path, candidate: Path, full: bool, samples: int, cache: Path, to_verdict: bool = False
) -> tuple[Comparison | Provisional, Timing]:
    """The comparison and its timing, with its own empty logit cache.

    The final verdict: the first final `Provisional` event with the stop rule on; for a full run, its
    last `DomainResult` (every chunk of every domain scored). `to_verdict`: the stop-rule run is
    closed at its final verdict (which is then returned instead of the comparison).
    """
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    final_at: list[tuple[float, float]] = []
    load_start = os.getloadavg()[0]
    cpu0 = cpu_seconds()
    started = time.monotonic()

    def seen(event: Progress) -> None:
        if (full and isinstance(event, DomainResult)) or (
            not full and isinstance(event, Provisional) and event.final and not final_at
        ):
            final_at.append((time.monotonic() - started, cpu_seconds() - cpu0))

    job = compare(str(reference), str(candidate), samples_per_domain=samples, full=full)
    c: Comparison | Provisional
    try:
        if to_verdict:
            for event in job:
                seen(event)
                if isinstance(event, Provisional) and event.final:
                    c = event
                    break
            else:
                raise SystemExit("the stop-rule run ended without a final verdict")
        else:
            c = run_job(job, seen)
    finally:
        job.close()
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before
    whole, whole_cpu = time.monotonic() - started, cpu_seconds() - cpu0
    at = (final_at[-1] if full else final_at[0]) if final_at else (whole, whole_cpu)
    return c, Timing(at[0], whole, at[1], whole_cpu, load_start, os.getloadavg()[0])


def verdicts(c: Comparison | Provisional) -> tuple[str, dict[str, str]]:
    """The overall verdict, and each domain's whose verdict is final (scored to the end, or certain)."""
    if isinstance(c, Provisional):  # a run closed at its final verdict: what that event says
        words = c.verdict.words if c.verdict else "none"
        return words, {d: str(s["words"]) for d, s in sorted(c.domains.items()) if s.get("final")}
    whole = c.overall()
    final = {d for d in c.metrics if c.early_stop.get(d, {}).get("final", True)}
    return (whole.verdict.words if whole else "none"), {d: c.verdict(d).words for d in sorted(final)}


def agree(early: Comparison | Provisional, full: Comparison | Provisional) -> bool:
    """The same overall verdict, and every domain the stop rule called final reads as the full run has it."""
    (e_all, e_dom), (f_all, f_dom) = verdicts(early), verdicts(full)
    return e_all == f_all and all(f_dom.get(d) == v for d, v in e_dom.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=["Q2_0", "Q4_0", "Q8_0"], default=["Q2_0", "Q4_0", "Q8_0"])
    ap.add_argument("--samples", type=int, default=1, help="sample prompts per domain (default 1, as the app)")
    ap.add_argument("--again", nargs="*", choices=["Q2_0", "Q4_0", "Q8_0"], default=["Q2_0"],
                    help="candidates whose stop-rule run is repeated after the full run (closed at its verdict), "
                         "so the two bracket the full run in time and the ratio uses their mean (default Q2_0)")  # fmt: skip
    args = ap.parse_args()
    demo = run_job(prepare_demo())
    print(f"{time.strftime('%H:%M:%S')} load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs", flush=True)  # fmt: skip
    ok = True
    rows = []
    with tempfile.TemporaryDirectory(prefix="qd-bench-early-") as tmp:
        work = Path(tmp)
        candidates = {"Q2_0": demo.candidates["Q2_0"], "Q4_0": demo.candidates["Q4_0"]}
        if "Q8_0" in args.only:
            q8 = work / "SmolLM2-135M-Instruct.Q8_0-from-Q4_1.gguf"
            run_job(_quantize(demo.reference, q8, 7, "Q8_0"))  # LLAMA_FTYPE_MOSTLY_Q8_0
            candidates["Q8_0"] = q8
        for name in args.only:
            early, e = timed(demo.reference, candidates[name], False, args.samples, work / f"cache-{name}-early")
            assert isinstance(early, Comparison)
            print(f"{name}: stop rule on: final verdict after {e.verdict_s:.1f} s ({e.verdict_cpu:.1f} CPU s), "
                  f"whole run {e.whole_s:.1f} s ({e.whole_cpu:.1f} CPU s), load {e.load_start:.1f} → {e.load_end:.1f} "
                  f"({verdicts(early)})", flush=True)  # fmt: skip
            full, f = timed(demo.reference, candidates[name], True, args.samples, work / f"cache-{name}-full")
            same = agree(early, full)
            runs = [e]
            if name in args.again:
                again, a = timed(demo.reference, candidates[name], False, args.samples, work / f"cache-{name}-again",
                                 to_verdict=True)  # fmt: skip
                same &= agree(again, full)
                runs.append(a)
                print(f"{name}: stop rule on, again after the full run: final verdict after {a.verdict_s:.1f} s "
                      f"({a.verdict_cpu:.1f} CPU s), load {a.load_start:.1f} → {a.load_end:.1f} ({verdicts(again)})",
                      flush=True)  # fmt: skip
            ok &= same
            verdict_s = sum(r.verdict_s for r in runs) / len(runs)
            verdict_cpu = sum(r.verdict_cpu for r in runs) / len(runs)
            ratio, cpu_ratio = verdict_s / f.whole_s, verdict_cpu / f.whole_cpu
            if name == "Q2_0":
                ok &= ratio < TARGET
            rests = ", ".join(f"{d} {s['tokens']}/{s['planned_tokens']}" for d, s in early.early_stop.items())
            rows.append((name, runs, f, ratio, cpu_ratio, verdicts(early)[0], verdicts(full)[0], same, rests))
            print(f"{name}: early verdict {' and '.join(f'{r.verdict_s:.1f} s' for r in runs)} / "
                  f"{' and '.join(f'{r.verdict_cpu:.1f}' for r in runs)} CPU s (whole {e.whole_s:.1f} s), "
                  f"full run's numbers all in {f.verdict_s:.1f} s (whole {f.whole_s:.1f} s / {f.whole_cpu:.1f} CPU s, "
                  f"load {f.load_start:.1f} → {f.load_end:.1f}): {100 * ratio:.1f}% of the full run "
                  f"({100 * cpu_ratio:.1f}% in CPU time); {verdicts(early)} vs {verdicts(full)}; "
                  f"tokens scored {rests}", flush=True)  # fmt: skip
    print()
    print(
        "| candidate | final verdict, stop rule | whole run, stop rule | full run: all numbers in | whole full run "
        "| verdict time ÷ full run (wall / CPU; mean of the stop-rule runs) | load (1 min) stop rule; full | verdict (stop rule) | verdict (full run) "
        "| equal | tokens scored / planned |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, runs, f, ratio, cpu_ratio, v_early, v_full, same, rests in rows:
        times = " and ".join(f"{r.verdict_s:.1f} s ({r.verdict_cpu:.1f} CPU s)" for r in runs)
        loads = " and ".join(f"{r.load_start:.1f}-{r.load_end:.1f}" for r in runs)
        print(f"| {name} | {times} | {runs[0].whole_s:.1f} s | {f.verdict_s:.1f} s "
              f"| {f.whole_s:.1f} s ({f.whole_cpu:.1f} CPU s) | {100 * ratio:.1f}% / {100 * cpu_ratio:.1f}% "
              f"| {loads}; {f.load_start:.1f}-{f.load_end:.1f} | {v_early} | {v_full} "
              f"| {'yes' if same else 'NO'} | {rests} |")  # fmt: skip
    print(f"\nTarget: Q2_0 final in under {100 * TARGET:.0f}% of the full run's time; verdicts equal: "
          f"{'met' if ok else 'NOT met'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
