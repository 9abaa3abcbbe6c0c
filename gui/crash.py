"""The last line of defence: anything unexpected becomes a dialog with details and versions, and
the app keeps running. (Vorta's exception dialog is the model.)"""

from __future__ import annotations

import platform
import sys
import traceback
from types import TracebackType

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from core import __version__
from gui.widgets import Label


def versions() -> dict[str, str]:
    info = {
        "Quant Doctor": __version__,
        "Python": platform.python_version(),
        "Qt": qVersion(),
        "PySide6": pyside_version,
        "OS": platform.platform(),
    }
    try:
        from importlib.metadata import version

        info["llama-cpp-python"] = version("llama-cpp-python")
    except Exception:  # not installed in this build: say so rather than fail
        info["llama-cpp-python"] = "not installed"
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            driver = pynvml.nvmlSystemGetDriverVersion()
            info["NVIDIA driver"] = driver.decode() if isinstance(driver, bytes) else str(driver)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVIDIA driver here: that is a fact to report, not an error
        info["NVIDIA driver"] = "none"
    return info


def report_text(exc: BaseException) -> str:
    lines = [f"{k}: {v}" for k, v in versions().items()]
    lines.append("")
    lines += traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "\n".join(lines)


class CrashDialog(QDialog):
    def __init__(self, exc: BaseException, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quant Doctor hit a problem")
        self.details = QPlainTextEdit(report_text(exc))
        self.details.setReadOnly(True)
        copy = QPushButton("Copy details")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.details.toPlainText()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(
            Label(
                "Something unexpected went wrong. Your files are untouched and the app is still running.\n"
                "If you report this, please include the details below."
            )
        )
        lay.addWidget(self.details)
        lay.addWidget(buttons)
        self.resize(700, 420)


class CrashHook:
    """sys.excepthook replacement: show the dialog instead of dying (Qt would abort otherwise)."""

    def __init__(self) -> None:
        self.dialogs: list[CrashDialog] = []
        self.previous = sys.excepthook

    def __call__(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self.previous(kind, exc, tb)
            return
        traceback.print_exception(kind, exc, tb)
        dialog = CrashDialog(exc)
        self.dialogs.append(dialog)
        dialog.show()

    def install(self) -> None:
        sys.excepthook = self
