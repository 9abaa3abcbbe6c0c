"""Build the one-folder bundle: dist/QuantDoctor/ with the window, the CLI, resources and the demo.

Run by `make package` (on Windows and macOS: `python packaging/build.py`). Steps: make sure the demo
model exists (so the bundle works offline from its first start), render the icon, run PyInstaller on
packaging/quantdoctor.spec, add the Linux desktop entry on Linux, and print the bundle's size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRA = ROOT / "build" / "bundle-extra"
DIST = ROOT / "dist" / "QuantDoctor"


def render_icon(out: Path, size: int = 256) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QIcon

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QIcon needs an application
    pixmap = QIcon(str(ROOT / "resources" / "icons" / "app.svg")).pixmap(size, size)
    if not pixmap.save(str(out)):
        raise SystemExit(f"could not render the icon to {out}")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from core.demo.prepare import REFERENCE_NAME, prepare_demo
    from core.progress import run_job

    EXTRA.mkdir(parents=True, exist_ok=True)
    demo = run_job(prepare_demo())
    (EXTRA / "demo").mkdir(exist_ok=True)
    shutil.copy2(demo.reference, EXTRA / "demo" / REFERENCE_NAME)
    render_icon(EXTRA / "quantdoctor.png")

    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / "pyinstaller"),
         str(ROOT / "packaging" / "quantdoctor.spec")],
        check=True, cwd=ROOT,
    )  # fmt: skip
    if sys.platform.startswith("linux"):
        share = DIST / "share"
        (share / "applications").mkdir(parents=True, exist_ok=True)
        (share / "icons").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "packaging" / "linux" / "quantdoctor.desktop", share / "applications")
        shutil.copy2(EXTRA / "quantdoctor.png", share / "icons" / "quantdoctor.png")
    bundle = bundle_path()
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
    print(f"bundle: {bundle} ({size / 2**20:.0f} MiB)")
    return 0


def bundle_path(platform: str = sys.platform) -> Path:
    """What a person gets: `Quant Doctor.app` on macOS, the QuantDoctor folder elsewhere."""
    return ROOT / "dist" / "Quant Doctor.app" if platform == "darwin" else DIST


def executables(platform: str = sys.platform) -> tuple[Path, Path]:
    """(the window, the command line) inside the bundle: QuantDoctor.exe and quantdoctor-cli.exe on
    Windows, Contents/MacOS in the .app."""
    folder = bundle_path(platform) / "Contents" / "MacOS" if platform == "darwin" else DIST
    ext = ".exe" if platform == "win32" else ""
    return folder / f"QuantDoctor{ext}", folder / f"quantdoctor-cli{ext}"


if __name__ == "__main__":
    sys.exit(main())
