"""Cells into REPORT.md: one module per section, the figures, the document."""
