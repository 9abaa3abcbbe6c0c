"""Run the bundle the way a person would, on Linux, Windows or macOS: no virtual environment, no Python
on PATH, a fresh cache (so the bundle prepares the demo itself, quantizing in a child through
quantdoctor-cli). The release workflow runs it after `packaging/build.py` on each OS; packaging/smoke.sh
is the same check in shell for Linux (`make smoke`).

    python packaging/smoke.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import bundle_path, executables

# What a Windows program needs from the environment to start at all (the C runtime, temporary files,
# the user's profile); everything else, PATH and PYTHON* included, is left out.
_WINDOWS_KEEP = ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA",
                 "HOMEDRIVE", "HOMEPATH", "COMSPEC", "PATHEXT", "PROCESSOR_ARCHITECTURE", "NUMBER_OF_PROCESSORS")  # fmt: skip


def clean_env(cache: Path) -> dict[str, str]:
    env = {"QT_QPA_PLATFORM": "offscreen", "QUANTDOCTOR_CACHE_DIR": str(cache), "LANG": "C.UTF-8"}
    if sys.platform == "win32":
        env.update({k: v for k, v in os.environ.items() if k.upper() in _WINDOWS_KEEP})
        env["PATH"] = os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32")
    else:
        env.update({"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"})
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace",
                          timeout=timeout, check=False)  # fmt: skip
    print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"smoke: {cmd[0]} exited with {done.returncode}")
    return done


def main() -> int:
    window, cli = executables()
    for exe in (window, cli):
        if not exe.is_file():
            raise SystemExit(f"smoke: {exe} is missing; build the bundle first (python packaging/build.py)")
    with tempfile.TemporaryDirectory(prefix="qd-smoke-") as tmp:
        cache = Path(tmp)
        env = clean_env(cache)
        # the window, offscreen: the demo diagnosis end to end (its exit code says; a windowed .exe on
        # Windows may have no stdout to print to)
        run([str(window), "--self-test"], env)
        demo = next(bundle_path().rglob("SmolLM2-135M-Instruct.Q4_1.gguf"))
        inspected = json.loads(run([str(cli), "inspect", str(demo), "--json"], env).stdout)
        assert json.dumps(inspected).count('"nominal_type": "Q4_1"') >= 1, "the demo model did not read as Q4_1"
        quantized = cache / "demo" / "SmolLM2-135M-Instruct.Q2_0.gguf"
        out = run([str(cli), "inspect", str(quantized)], env).stdout
        assert "Q2_0 (type 42)" in out, "the demo's quantized copy (made by a llama.cpp child) is not there"
        run([str(cli), "gpus"], env, timeout=120)
    print("smoke: both executables ran outside the virtual environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
