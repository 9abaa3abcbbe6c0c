"""Refresh a page when the person can see it.

A new diagnosis reaches every page at once. Rebuilding the ones nobody is looking at (a dozen finding
cards, the advice, the report preview) on the UI thread is what made the window stall for more than
100 ms after a setting changed (tests/bench/bench_ui_stall.py). A page that is not the current one in
the window's stack only remembers the latest update, and applies it when it is shown. A page that is
not in a stack (a test building one on its own) is updated at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, SignalInstance
from PySide6.QtWidgets import QStackedWidget, QWidget


class WhenShown(QObject):
    def __init__(self, page: QWidget, slot: Callable[..., Any]) -> None:
        super().__init__(page)
        self.page = page
        self.slot = slot
        self.pending: tuple[Any, ...] | None = None
        self._stack: QStackedWidget | None = None

    def stack(self) -> QStackedWidget | None:
        """The window's stack, found lazily: a page is put into it after it connects its signals."""
        if self._stack is None:
            parent = self.page.parentWidget()
            while parent is not None and not isinstance(parent, QStackedWidget):
                parent = parent.parentWidget()
            if parent is not None:
                self._stack = parent
                parent.currentChanged.connect(self._current_changed)
        return self._stack

    def is_current(self) -> bool:
        stack = self.stack()
        if stack is None:
            return True
        current = stack.currentWidget()
        return current is not None and (current is self.page or current.isAncestorOf(self.page))

    def __call__(self, *args: Any) -> None:
        if self.is_current():
            self.pending = None
            self.slot(*args)
        else:
            self.pending = args

    def flush(self) -> None:
        """Apply the remembered update, if any (the page has just become the current one)."""
        if self.pending is not None:
            args, self.pending = self.pending, None
            self.slot(*args)

    def _current_changed(self, _index: int) -> None:
        if self.is_current():
            self.flush()


def when_shown(page: QWidget, signal: SignalInstance, slot: Callable[..., Any]) -> WhenShown:
    """Connect `signal` to `slot` so that the slot runs only while `page` is the one on screen."""
    deferred = WhenShown(page, slot)
    signal.connect(deferred)
    return deferred
