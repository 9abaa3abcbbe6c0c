"""Bundle size and start-up time to a shown window, as packaging/README.md reports them.

Run after `make package`: `.venv/bin/python packaging/measure.py`. The first start is the coldest
this machine allows without dropping the page cache (files not yet read since the build); the
median of the next starts is the warm figure. Target: < 3 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "QuantDoctor"
TARGET_S = 3.0


def start_once() -> float:
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(BUNDLE / "QuantDoctor"), "--quit-when-shown"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "shown":
            took = time.perf_counter() - t0
            break
    else:
        raise SystemExit("the window never showed")
    proc.wait(timeout=30)
    return took


def main() -> int:
    if not (BUNDLE / "QuantDoctor").exists():
        raise SystemExit("no bundle: run `make package` first")
    size = sum(f.stat().st_size for f in BUNDLE.rglob("*") if f.is_file() and not f.is_symlink())
    files = sum(1 for f in BUNDLE.rglob("*") if f.is_file())
    first = start_once()
    warm = [start_once() for _ in range(5)]
    med = statistics.median(warm)
    print(f"bundle size: {size / 2**20:.0f} MiB in {files} files ({BUNDLE})")
    print(f"start to shown window: first {first:.2f} s, warm median {med:.2f} s over {len(warm)} "
          f"({'meets' if max(first, med) < TARGET_S else 'MISSES'} the {TARGET_S:.0f} s target)")  # fmt: skip
    return 0 if max(first, med) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
