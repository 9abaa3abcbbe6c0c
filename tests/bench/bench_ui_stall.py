"""Does the window ever freeze? The longest event-loop stall while the app works.

A QTimer heartbeat ticks every 5 ms; the longest gap between ticks is the longest time the window
could not repaint or react. Measured during: inspection of a large file (a generated GGUF with a
256K vocabulary and 280K merges), the demo preparation, and a full demo comparison when the
evaluation engine is installed. Target: < 100 ms (judged on the UI thread's own working time when the
machine is too busy for wall-clock gaps to mean anything: load average at or above the core count). Run: `.venv/bin/python tests/bench/bench_ui_stall.py`.

It also times, in-process and without the window, a full diagnosis (every check, the memory
estimate, its searches, the options and the upgrade's catalog scan) of a 70B-shaped model on a
what-if RTX 4090: first with empty caches (a model just opened), then again (a setting changed).
Target: <= 50 ms for each. `--diagnosis-only` runs just that part.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TARGET_MS = 100.0
DIAGNOSIS_TARGET_MS = 50.0


def write_70b(folder: Path) -> Path:
    from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

    return write_gguf(
        folder / "70b.gguf",
        metadata=llama_metadata(80, 8192, 28672, 64, 8),
        tensors=llama_tensors(80, 8192, 28672, 64, 8, 128256, Q.Q4_K, Q.Q6_K, Q.Q6_K),
    )


def time_diagnosis(repeats: int = 5) -> list[tuple[str, float, float]]:
    """(label, wall ms, CPU ms) for a diagnosis of the 70B-shaped model on a what-if RTX 4090, cold and warm.

    Each figure is the best of `repeats` runs (the least disturbed by whatever else the machine does);
    "first" empties the estimate's caches before every run, as for a model just opened."""
    from core.diagnosis import diagnose
    from core.hardware.catalog import catalog_profile
    from core.memory import parts
    from core.model.inspection import inspect_model
    from core.settings.setup import Setup

    with tempfile.TemporaryDirectory() as tmp:
        profile = inspect_model(str(write_70b(Path(tmp))))
    hardware = catalog_profile("RTX 4090")
    diagnose(profile, Setup.of(ctx=1024), None)  # imports every check once, outside the clock
    out = []
    for label, setup in (
        ("32K tokens, q8_0 cache", Setup.of(ctx=32768, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)),
        ("own context, f16 cache", Setup.of()),
    ):
        for when in ("first", "again"):
            walls, cpus = [], []
            for _ in range(repeats):
                if when == "first":
                    parts.clear_caches()
                t0, c0 = time.perf_counter(), time.process_time()
                result = diagnose(profile, setup, hardware)
                walls.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
                assert any(f.id == "vram" for f in result.findings)
            out.append((f"diagnosis, 70B-shaped on an RTX 4090, {label} ({when})", min(walls), min(cpus)))
    return out


def print_diagnosis(timings: list[tuple[str, float, float]]) -> bool:
    """Print each timing against the target. The verdict is on the wall-clock time when the machine is
    idle enough to measure it (load below its core count), else on the CPU time the diagnosis took."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = load >= cores
    ok = True
    for label, ms, cpu in timings:
        judged = cpu if busy else ms
        ok &= judged <= DIAGNOSIS_TARGET_MS
        verdict = "meets" if judged <= DIAGNOSIS_TARGET_MS else "MISSES"
        print(
            f"{label:<66} {ms:6.1f} ms wall, {cpu:5.1f} ms CPU: {judged / DIAGNOSIS_TARGET_MS:4.2f} x the "
            f"{DIAGNOSIS_TARGET_MS:.0f} ms target ({verdict} it)"
        )
    if busy:
        print(f"(load average {load:.1f} on {cores} cores: judged on CPU time; wall time includes waiting for a core)")
    return ok


class Heartbeat:
    """The longest gap between ticks, and how much of it the UI thread spent working (its own CPU time).

    On an idle machine the two agree. On a busy one the gap also holds the time the process waited for
    a core, which no code in the window can remove; the CPU part is then the figure to judge."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.clock = QElapsedTimer()
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.last = 0.0
        self.last_cpu = 0.0
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        self.worst = self.worst_cpu = 0.0
        self.clock.start()
        self.last = 0.0
        self.last_cpu = time.thread_time()
        self.timer.start()

    def tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        cpu = time.thread_time()
        self.worst = max(self.worst, now - self.last)
        self.worst_cpu = max(self.worst_cpu, (cpu - self.last_cpu) * 1000)
        self.last, self.last_cpu = now, cpu

    def stop(self) -> tuple[float, float]:
        self.timer.stop()
        return self.worst, self.worst_cpu


def wait_until_idle(app: QApplication, state, timeout: float = 600) -> float:
    t0 = time.perf_counter()
    deadline = t0 + timeout
    app.processEvents()
    while state.busy and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - t0


def main() -> int:
    if "--diagnosis-only" in sys.argv:
        return 0 if print_diagnosis(time_diagnosis()) else 1
    from ggufmaker import write_vocab_gguf

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, detect_hardware=False)
        window.show()
        beat = Heartbeat()
        results: list[tuple[str, tuple[float, float], float]] = []

        big = write_vocab_gguf(Path(tmp) / "vocab.gguf", 256_000, 280_000)
        beat.start()
        window.state.open_model(str(big))
        took = wait_until_idle(app, window.state)
        results.append(("inspect a 256K-vocabulary GGUF + diagnosis", beat.stop(), took))

        # the memory check on a 70B-shaped model for a catalog GPU: the heaviest diagnosis there is
        from core.hardware.catalog import catalog_profile
        from core.settings.setup import Setup

        big70 = write_70b(Path(tmp))
        window.state.set_hardware(catalog_profile("RTX 4090"))
        beat.start()
        window.state.open_model(str(big70))
        wait_until_idle(app, window.state)
        window.state.set_setup(Setup.of(ctx=32768, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True))
        took = wait_until_idle(app, window.state)
        results.append(("70B-shaped model on an RTX 4090 + a setup change", beat.stop(), took))
        window.state.set_hardware(None)

        beat.start()
        window.start_demo()
        took = wait_until_idle(app, window.state)
        results.append(("demo preparation + diagnosis", beat.stop(), took))

        compare = getattr(window.compare_page, "run_demo_comparison", None)
        if compare is not None:
            beat.start()
            compare()
            took = wait_until_idle(app, window.state)
            results.append(("full demo comparison", beat.stop(), took))
        else:
            print("(the comparison engine is not wired into the window yet: skipped)")
        window.close()

    ok = print_diagnosis(time_diagnosis())
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = load >= cores
    for label, (worst, cpu), took in results:
        judged = cpu if busy else worst
        verdict = "meets" if judged < TARGET_MS else "MISSES"
        ok &= judged < TARGET_MS
        print(
            f"{label:<46} longest stall {worst:6.1f} ms ({cpu:5.1f} ms of it working) over {took:6.1f} s: "
            f"{judged / TARGET_MS:4.2f} x the {TARGET_MS:.0f} ms target ({verdict} it)"
        )
    if busy:
        print(f"(load average {load:.1f} on {cores} cores: stalls judged on the UI thread's own CPU time)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
