"""Export: the diagnosis (and the comparison it holds) as HTML, Markdown or JSON, through the one door."""

from __future__ import annotations

from core.report.comparison_html import write_comparison_report
from core.report.diagnosis_report import to_json, to_markdown, write_diagnosis_report

__all__ = ["to_json", "to_markdown", "write_comparison_report", "write_diagnosis_report"]
