"""A longer fuzzing run than the suite's (issue 12): mutated GGUF headers and GPTQ / EXL2 / AWQ folders
through inspect, the memory estimate and diagnose, each in a limited child. Prints the counts per
outcome and every failure; keeps failing inputs with --keep DIR.

    python tests/bench/bench_fuzz.py [--seed N] [--cases N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzzing import fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="copy failing inputs here")
    args = parser.parse_args()
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
    return 1 if report.failures or report.huge_shapes_accepted or not landed else 0


if __name__ == "__main__":
    sys.exit(main())
