"""A longer fuzzing run than the suite's (issue 12): mutated GGUF headers and GPTQ / EXL2 / AWQ folders
through inspect, the memory estimate and diagnose, each in a limited child. Prints the counts per
outcome and every failure; keeps failing inputs with --keep DIR. With --links N and --compare N it also
runs issue 24's model folders with hostile links (outcome "leak": a file outside the folder opened or
shown) and hostile `compare --text / --prompts` inputs.

    python tests/bench/bench_fuzz.py [--seed N] [--cases N] [--keep DIR] [--links N] [--compare N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzzing import Report, fuzz, fuzz_compare_inputs, fuzz_links


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="copy failing inputs here")
    parser.add_argument("--links", type=int, default=0, help="also this many model folders with hostile links")
    parser.add_argument("--compare", type=int, default=0, help="also this many hostile compare inputs")
    args = parser.parse_args()
    extra_failed = False
    for title, n, run in (("model folders with hostile links", args.links, fuzz_links),
                          ("hostile compare inputs", args.compare, fuzz_compare_inputs)):  # fmt: skip
        if n:
            extra_failed |= _extra(title, n, args.seed, run)
    t0 = time.monotonic()
    report, landed = fuzz(args.seed, args.cases, keep=args.keep)
    seconds = time.monotonic() - t0
    print(f"{len(report.results)} cases in {seconds:.0f} s (seed {args.seed}; huge shape values included, "
          f"{sum(c.huge_shape for c in report.cases)} cases; a 3-billion-layer header "
          f"{'refused' if landed else 'ACCEPTED: the shape validation regressed'})")  # fmt: skip
    for outcome, n in sorted(report.counts.items()):
        print(f"  {outcome:12} {n}")
    if report.results:
        worst = max(report.results, key=lambda r: r["seconds"])
        print(f"  slowest case {worst['seconds']:.2f} s ({worst['what']}); "
              f"largest child {max(r['max_rss'] for r in report.results) / 2**20:.0f} MiB")  # fmt: skip
    for f in report.failures:
        print(f"\n{f['outcome']}: {f['what']}\n{f.get('detail', '')}")
    for r in report.huge_shapes_accepted:
        print(f"\nhuge shape accepted: {r['what']}")
    return 1 if report.failures or report.huge_shapes_accepted or not landed or extra_failed else 0


def _extra(title: str, n: int, seed: int, run: Callable[[int, int], Report]) -> bool:
    """One of issue 24's runs: prints its counts, its slowest case and its failures; True when any failed."""
    t0 = time.monotonic()
    report = run(seed, n)
    print(f"{len(report.results)} {title} in {time.monotonic() - t0:.0f} s (seed {seed})")
    for outcome, count in sorted(report.counts.items()):
        print(f"  {outcome:12} {count}")
    if report.results:
        worst = max(report.results, key=lambda r: r["seconds"])
        print(f"  slowest case {worst['seconds']:.2f} s ({worst['what']}); "
              f"largest child {max(r['max_rss'] for r in report.results) / 2**20:.0f} MiB")  # fmt: skip
    for f in report.failures:
        print(f"\n{f['outcome']}: {f['what']}\n{f.get('detail', '')}")
    return bool(report.failures)


if __name__ == "__main__":
    sys.exit(main())
