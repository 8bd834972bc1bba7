"""The report is rendered from results files only: a fixed results file gives a fixed markdown.

To accept an intended change of the report's layout: FWBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py
(then read the diff of tests/data/REPORT-suite-mlp-iris.md before committing it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bench import report, results

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "suite-mlp-iris.json"
GOLDEN = DATA / "REPORT-suite-mlp-iris.md"


def test_report_from_a_fixed_results_file_matches_the_expected_markdown() -> None:
    text = report.render([results.load(FIXTURE)])
    if os.environ.get("FWBENCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_every_number_in_the_headline_comes_from_the_results_file() -> None:
    suite = results.load(FIXTURE)
    text = report.render([suite])
    for r in suite.results:
        row = next(ln for ln in text.splitlines() if re.match(rf"\|\s*{r.workload}\s*\|\s*{r.backend}\s*\|", ln))
        assert report.fmt(r.median_step_ms) in row
        assert report.fmt(r.metric) in row
        assert report.fmt(r.first_step_ms) in row
        assert report.fmt(r.memory["peak_mib"]) in row


def test_failed_and_unsupported_cells_show_their_reason() -> None:
    import dataclasses

    suite = results.load(FIXTURE)
    broken = [
        dataclasses.replace(r, status="failed", reason="worker died with SIGSEGV") if r.backend == "keras" else r
        for r in suite.results
    ]
    text = report.render([dataclasses.replace(suite, results=broken)])
    row = next(ln for ln in text.splitlines() if "| keras " in ln)
    assert "failed: worker died with SIGSEGV" in row
