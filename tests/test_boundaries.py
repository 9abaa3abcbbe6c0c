"""core/ is plain Python: it never imports Qt or gui (also enforced by import-linter in `make lint`)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
FORBIDDEN = ("PySide6", "shiboken6", "gui")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_qt_or_gui():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 5
    offenders = {
        str(f.relative_to(CORE)): sorted(m for m in imported_modules(f) if m.split(".")[0] in FORBIDDEN) for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_catches_a_qt_import(tmp_path):
    leak = tmp_path / "leak.py"
    leak.write_text("from PySide6.QtCore import QObject\nimport gui.app\n")
    assert {"PySide6.QtCore", "gui.app"} <= imported_modules(leak)
