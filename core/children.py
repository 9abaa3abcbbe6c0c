"""How to start a child process that runs one of our modules — from a checkout and from a bundle.

Anything that runs llama.cpp runs in a child (an abort or an out-of-memory kill must not take the
window down). In a checkout the child is `python -m MODULE`; in a PyInstaller bundle there is no
Python to call, so the bundled `quantdoctor-cli` runs the module for us (`--run-module`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUN_MODULE_FLAG = "--run-module"


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def module_command(module: str, *args: str) -> list[str]:
    if frozen():
        exe = Path(sys.executable).with_name("quantdoctor-cli" + (".exe" if os.name == "nt" else ""))
        return [str(exe), RUN_MODULE_FLAG, module, *args]
    return [sys.executable, "-m", module, *args]


def child_env() -> dict[str, str]:
    """The environment for a child: unbuffered output, and our source folder importable."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not frozen():
        src_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = src_root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_module_from_argv(argv: list[str]) -> None:
    """`quantdoctor-cli --run-module MODULE ARGS...`: what `python -m MODULE ARGS...` would do."""
    module, rest = argv[0], argv[1:]
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


# --- Lifetime: no child outlives the app, no temporary folder outlives a run ----------------------
#
# A child gets a pipe on its stdin that the parent never writes to: when the parent dies, however
# it dies (SIGKILL included), the pipe's write end closes and the child's `watch_parent` thread sees
# EOF and exits at once. On Linux the kernel also sends SIGKILL on the parent's death
# (PR_SET_PDEATHSIG). SIGTERM and SIGHUP to the app run `cleanup`, which kills the children and
# removes the temporary folders, before the app exits.

PARENT_ENV = "QUANTDOCTOR_PARENT_PID"
DEATHSIG_ENV = "QUANTDOCTOR_DEATHSIG"
_PR_SET_PDEATHSIG = 1
_children: set[subprocess.Popen[Any]] = set()
_temp_dirs: set[Path] = set()
_lock = threading.Lock()


def start_child(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Popen with the lifeline on stdin, our environment, and a place in the cleanup list."""
    env = kwargs.pop("env", None) or child_env()
    env[PARENT_ENV] = str(os.getpid())
    # Linux's PR_SET_PDEATHSIG fires when the *thread* that started the child ends, not the process:
    # arm it only for children started by the main thread (the pipe covers the others).
    env[DEATHSIG_ENV] = "1" if threading.current_thread() is threading.main_thread() else "0"
    proc: subprocess.Popen[Any] = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env, **kwargs)
    with _lock:
        _children.difference_update([p for p in _children if p.poll() is not None])
        _children.add(proc)
    return proc


BACKGROUND_NICENESS = 5


def run_in_background() -> None:
    """In a child that computes for minutes (llama.cpp scoring, quantizing the demo): yield the CPU to
    the window. On a machine with few cores llama.cpp's threads take every core, and the window, which
    needs a few milliseconds now and then, waited up to a quarter of a second for one
    (bench_ui_stall.py, "full demo comparison"). A lower priority costs the child almost nothing when
    the machine is otherwise idle."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICENESS)


def watch_parent() -> None:
    """In a child: exit as soon as the parent is gone (call first thing in a child's main)."""
    if sys.platform.startswith("linux") and os.environ.get(DEATHSIG_ENV) == "1":
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit() and hasattr(os, "getppid") and os.getppid() != int(parent):
        os._exit(1)  # the parent died before the death signal was armed

    def lifeline() -> None:
        # The raw fd, not sys.stdin: a daemon thread blocked in a buffered reader holds its lock, and
        # the interpreter aborts at exit when it cannot take that lock ("could not acquire lock").
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        os._exit(1)

    try:
        fd = sys.stdin.fileno() if sys.stdin is not None else -1
    except (OSError, ValueError):  # no real stdin (closed, or replaced by an object without one)
        fd = -1
    if parent and fd >= 0 and not os.isatty(fd):
        threading.Thread(target=lifeline, name="lifeline", daemon=True).start()


def make_temp_dir(prefix: str, dir: Path | None = None) -> Path:
    """tempfile.mkdtemp that `cleanup` removes if the app is stopped before the owner does."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    with _lock:
        _temp_dirs.add(path)
    return path


def remove_temp_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with _lock:
        _temp_dirs.discard(path)


def cleanup() -> None:
    """Kill every child still running and remove every temporary folder still there."""
    with _lock:
        procs, dirs = list(_children), list(_temp_dirs)
        _children.clear()
        _temp_dirs.clear()
    for proc in procs:
        try:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)


def install_signal_cleanup(on_signal: Callable[[int], None] | None = None) -> None:
    """SIGTERM and SIGHUP: clean up, then `on_signal(signum)` (the window quits) or exit 128+signum."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        cleanup()
        if on_signal is not None:
            on_signal(signum)
        else:
            raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, handler)
