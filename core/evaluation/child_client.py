"""The parent's side of the worker process: start it, read its events, end it, explain how it ended.

Generalises core.demo.prepare's `_Child` (lines arriving while the parent keeps control, the child killed when
iteration stops) to a JSON event protocol on stdout and a separate stderr whose tail explains a
crash. `events()` yields None every 0.1 s of silence, so the job built on it can yield progress and
be cancelled (closed) at any moment: closing kills the child at once, well within a second.
"""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from core.children import child_env, module_command, start_child
from core.errors import EvaluationSetupError, OutOfSpaceError, QuantDoctorError, RunnerCrashedError
from core.files import disk_full_error

POLL_S = 0.1
LIBRARY_ENV = "LLAMA_CPP_LIB_PATH"  # llama-cpp-python loads llama.cpp from this folder when it is set
STDERR_LINES = 40


class WorkerProcess:
    """One run of `python -m core.evaluation.llama_child` on a job file."""

    module = "core.evaluation.llama_child"

    def __init__(self, job_file: Path | None, what: str, library: str | None = None) -> None:
        self.job_file = job_file  # None: `--probe` (core.evaluation.llama_child.probe)
        self.what = what  # "the reference model", used in error messages
        self.library = library  # a llama.cpp build's folder (LLAMA_CPP_LIB_PATH); None: llama-cpp-python's own
        self.pid: int | None = None
        self.returncode: int | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._proc: subprocess.Popen[bytes] | None = None

    def events(self) -> Iterator[dict[str, Any] | None]:
        env = child_env()
        if self.library is not None:
            env[LIBRARY_ENV] = self.library
        args = [str(self.job_file)] if self.job_file is not None else ["--probe"]
        proc = start_child(module_command(self.module, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self._proc = proc
        self.pid = proc.pid
        queue: Queue[dict[str, Any] | None] = Queue()

        def pump_out() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    self.stderr_tail.append(line)
                    continue
                if isinstance(event, dict):
                    queue.put(event)
            queue.put(None)

        def pump_err() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                text = raw.decode("utf-8", errors="replace").rstrip()
                if text:
                    self.stderr_tail.append(text)

        readers = [threading.Thread(target=f, daemon=True) for f in (pump_out, pump_err)]
        for t in readers:
            t.start()
        try:
            while True:
                try:
                    item = queue.get(timeout=POLL_S)
                except Empty:
                    yield None
                    continue
                if item is None:
                    break
                yield item
            self.returncode = proc.wait()
            for t in readers:
                t.join(timeout=1)
        finally:
            if self.returncode is None:
                self.kill()
            for t in readers:
                t.join(timeout=1)

    def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            self.returncode = proc.returncode

    def crash_error(self) -> QuantDoctorError:
        """The typed error for a child that ended without saying it finished."""
        rc = self.returncode
        last = _last_words(self.stderr_tail)
        said = f" Its last words: {last}" if last else ""
        if rc is not None and rc < 0:
            sig = -rc
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            if sig == getattr(signal, "SIGKILL", 9):
                return RunnerCrashedError(
                    f"The llama.cpp runner for {self.what} was killed ({name}). When nobody stopped it by hand, "
                    "the system ran out of memory." + said,
                    "Close other programs, use a smaller context, or offload fewer layers; the app itself is fine.",
                )
            if sig == getattr(signal, "SIGABRT", 6):
                return RunnerCrashedError(f"llama.cpp aborted while running {self.what} ({name}).{said}")
            return RunnerCrashedError(f"The llama.cpp runner for {self.what} crashed ({name}).{said}")
        return RunnerCrashedError(f"The llama.cpp runner for {self.what} stopped with exit code {rc}.{said}")


def _last_words(lines: deque[str]) -> str:
    for line in reversed(lines):
        s = line.strip()
        if s and not s.startswith(("File ", "^", "~")):
            return s[:300]
    return ""


def fatal_error(event: dict[str, Any], what: str) -> QuantDoctorError:
    """Turn the worker's own 'fatal' report into a typed error."""
    message = str(event.get("message", "unknown error"))
    kind = event.get("kind")
    if kind == "disk_full":  # the worker's cache or result file found no room (llama_child.savez_whole)
        code = event.get("errno")
        err = OSError(code if isinstance(code, int) else errno.ENOSPC, message)
        return disk_full_error(str(event.get("path") or "the cache folder"), err, OutOfSpaceError)
    if kind in ("load", "setup"):
        return EvaluationSetupError(
            f"{what[0].upper()}{what[1:]} could not be started: {message}",
            "Check that the file is a complete GGUF that llama.cpp can run, and that the settings "
            "(context, cache types, flash attention) are ones it accepts.",
        )
    return RunnerCrashedError(f"llama.cpp failed while running {what}: {message}")
