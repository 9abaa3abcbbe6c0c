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
# EOF and exits at once. That lifeline works the same on Linux, macOS and Windows (an anonymous
# pipe's reader gets EOF, or ERROR_BROKEN_PIPE, when the last writer closes). Each OS adds its own:
#
# - Linux: the kernel sends SIGKILL on the parent's death (PR_SET_PDEATHSIG, prctl(2)); Linux only.
# - Windows: every child is put in one job object created with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
#   (Microsoft, "JOBOBJECT_BASIC_LIMIT_INFORMATION"): when the app's process ends, however it ends, the
#   system closes its handle to the job and ends every process in it, even one stuck in native code.
#   Children get no console window of their own (CREATE_NO_WINDOW), since the windowed app has none.
# - macOS: the pipe alone (there is no death signal for a child).
#
# SIGTERM and SIGHUP to the app (and Ctrl+Break, SIGBREAK, on Windows, where there is no SIGHUP) run
# `cleanup`, which kills the children and removes the temporary folders, before the app exits.

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
    if sys.platform == "win32":
        kwargs.setdefault("creationflags", subprocess.CREATE_NO_WINDOW)
    proc: subprocess.Popen[Any] = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env, **kwargs)
    _join_kill_on_close_job(proc)
    with _lock:
        _children.difference_update([p for p in _children if p.poll() is not None])
        _children.add(proc)
    return proc


_job: int | None = None


def _join_kill_on_close_job(proc: subprocess.Popen[Any]) -> None:
    """Windows: put the child in the app's kill-on-close job (created once, its handle never closed, so
    it closes exactly when the app's process ends). Anything failing leaves the pipe lifeline alone."""
    if sys.platform != "win32":
        return
    global _job
    import ctypes
    from ctypes import wintypes

    class BasicLimits(ctypes.Structure):  # JOBOBJECT_BASIC_LIMIT_INFORMATION
        _fields_ = [
            ("PerProcessUserTimeLimit", ctypes.c_int64),
            ("PerJobUserTimeLimit", ctypes.c_int64),
            ("LimitFlags", wintypes.DWORD),
            ("MinimumWorkingSetSize", ctypes.c_size_t),
            ("MaximumWorkingSetSize", ctypes.c_size_t),
            ("ActiveProcessLimit", wintypes.DWORD),
            ("Affinity", ctypes.c_size_t),
            ("PriorityClass", wintypes.DWORD),
            ("SchedulingClass", wintypes.DWORD),
        ]

    class ExtendedLimits(ctypes.Structure):  # JOBOBJECT_EXTENDED_LIMIT_INFORMATION
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", ctypes.c_uint64 * 6),  # IO_COUNTERS: six ULONGLONGs
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    kill_on_job_close, extended_limit_information = 0x2000, 9
    try:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
        kernel32.SetInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD]
        kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
        with _lock:
            if _job is None:
                job = kernel32.CreateJobObjectW(None, None)
                info = ExtendedLimits()
                info.BasicLimitInformation.LimitFlags = kill_on_job_close
                if job and kernel32.SetInformationJobObject(
                    job, extended_limit_information, ctypes.byref(info), ctypes.sizeof(info)
                ):
                    _job = job
            handle = getattr(proc, "_handle", None)
            if _job is not None and handle is not None:
                kernel32.AssignProcessToJobObject(_job, int(handle))
    except (OSError, AttributeError, ValueError):
        pass


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
    elif sys.platform == "win32":  # no nice(): the priority class one step below normal (psutil's name for it)
        with contextlib.suppress(Exception):
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)


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
    """SIGTERM and SIGHUP (SIGBREAK, Ctrl+Break, on Windows): clean up, then `on_signal(signum)` (the window
    quits) or exit 128+signum. Each name is looked up, so a signal an OS lacks is skipped."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        cleanup()
        if on_signal is not None:
            on_signal(signum)
        else:
            raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, handler)
