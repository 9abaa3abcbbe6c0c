"""Pictures of the window for the README and for reviewing the layout: every page, light and dark,
on a 1366×768 laptop and in a 900×600 window (`make screenshots`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from gui import style

SIZES = ((1366, 768), (900, 600))
MAIN_SIZE = SIZES[0]


def file_name(page: str, size: tuple[int, int], dark: bool) -> str:
    """The README's main pictures keep their plain names (light, 1366×768); the others say what they are."""
    if size == MAIN_SIZE and not dark:
        return f"{page}.png"
    return f"{page}-{'dark' if dark else 'light'}-{size[0]}x{size[1]}.png"


def set_theme(window: Any, dark: bool) -> None:
    """Switch light/dark and redraw what the pages coloured from the palette."""
    app = QApplication.instance()
    if style.current().dark == dark:
        return
    style.apply(app, dark=dark)  # type: ignore[arg-type]
    if window.state.diagnosis is not None:
        window.state.diagnosis_changed.emit(window.state.diagnosis)
    QApplication.processEvents()


def capture(window: Any, page: str, path: Path, size: tuple[int, int] | None = None, dark: bool | None = None) -> bool:
    if dark is not None:
        set_theme(window, dark)
    if size is not None:
        window.resize(*size)
    window.show_page(page)
    for _ in range(3):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # cards a rebuild replaced
    path.parent.mkdir(parents=True, exist_ok=True)
    return bool(window.grab().save(str(path)))


def capture_all(window: Any, out_dir: Path, pages: list[str]) -> list[Path]:
    saved = []
    for dark in (False, True):
        for size in SIZES:
            for page in pages:
                path = out_dir / file_name(page, size, dark)
                if capture(window, page, path, size, dark):
                    saved.append(path)
    set_theme(window, False)
    return saved
