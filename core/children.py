"""How to start a child process that runs one of our modules — from a checkout and from a bundle.

Anything that runs llama.cpp runs in a child (an abort or an out-of-memory kill must not take the
window down). In a checkout the child is `python -m MODULE`; in a PyInstaller bundle there is no
Python to call, so the bundled `quantdoctor-cli` runs the module for us (`--run-module`).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

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
