"""Shared fixtures: Qt offscreen, the real demo models, and generated model files.

Under CI (`CI=true`, as `.ci/run` sets) a skipped test is a failed test: every precondition a test
can name (llama-server and llama-perplexity built by `make test`, llama.cpp's sources, chromium,
the server extra, the RAM for a KV cache) is something CI has, so a skip there would only hide that
a claim went unchecked. The skips that remain are for platforms CI is not (README, "Skipped tests").
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite's expected copy text is written for a Linux terminal; on Windows and macOS runners it is the
# same text, and each OS's own text is tested with the terminal passed in (tests/test_shells.py).
os.environ.setdefault("QUANTDOCTOR_TERMINAL", "linux")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from dropins import register_dropins

from core.demo.prepare import DemoModels, prepare_demo
from core.progress import run_job

register_dropins()  # tests/test_dropin.py's child run: its engines and checks join the registries first

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def demo() -> DemoModels:
    """The real demo pair, made by the same code path as `quantdoctor-cli demo` (cached between runs)."""
    return run_job(prepare_demo())


def fingerprint(path: Path) -> tuple[int, int, str]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def unchanged():
    """Assert that files are left exactly as they were (size, mtime, hash)."""
    seen: dict[Path, tuple[int, int, str]] = {}

    def remember(*paths: Path) -> None:
        for p in paths:
            seen[p] = fingerprint(p)

    yield remember
    for p, before in seen.items():
        assert fingerprint(p) == before, f"{p} was modified"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI a skip is a failure, with the skip's own reason (which says how to provide what was missing)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be skipped: {reason}"
