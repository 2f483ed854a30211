"""Plots and the self-contained HTML report of a demo run."""

from weightspace.report.html import build_report

__all__ = ["build_report"]
