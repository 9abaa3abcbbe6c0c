"""Shared fixtures: Qt offscreen, the real demo models, and generated model files."""

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
