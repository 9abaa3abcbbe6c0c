"""Qt item models: plain lists of core objects, shown by views and tested without a window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from core import display_text
from gui.widgets import plain_tip

PathRole = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ModelEntry:
    title: str
    path: str
    detail: str = ""


class ModelListModel(QAbstractListModel):
    """Recent models or models found on disk: title to show, path to open, detail as tooltip."""

    def __init__(self, empty_text: str = "") -> None:
        super().__init__()
        self.entries: list[ModelEntry] = []
        self.empty_text = empty_text

    def set_entries(self, entries: list[ModelEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        if parent.isValid():
            return 0
        return len(self.entries) or (1 if self.empty_text else 0)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if not self.entries:
            return self.empty_text if role == Qt.ItemDataRole.DisplayRole else None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text.one_line(entry.title)  # a name from the disk: shown, never obeyed
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(entry.detail or entry.path)  # tooltips guess rich text: escaped
        if role == PathRole:
            return entry.path
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not self.entries:
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
