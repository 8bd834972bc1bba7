"""Results IO: atomic, never overwriting, strict on reading, loadable into pandas."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.core import typedjson
from bench.core.errors import UsageError
from bench.records import frames, results

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    suite = results.load(FIXTURE)
    s2 = dataclasses.replace(suite, run_id="copy")
    path = results.create(tmp_path, s2)
    assert results.load(path) == s2


def test_a_run_is_never_overwritten(tmp_path: Path) -> None:
    suite = results.load(FIXTURE)
    results.create(tmp_path, suite)
    with pytest.raises(UsageError, match="never overwritten"):
        results.create(tmp_path, suite)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    typedjson.atomic_write_json(tmp_path / "a.json", {"x": [1.0, float("nan")]})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1.0, "nan"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not an fwbench results document"),
        ('{"schema": "fwbench.results", "schema_version": 99}', "schema_version 99 is not supported"),
        ('{"schema": "fwbench.results", "schema_version": 1, "results": 3}', "'results' is not a list"),
    ],
)
def test_bad_files_are_one_clear_usage_error(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UsageError, match=message):
        results.load(p)


def test_unknown_field_or_status_is_rejected(tmp_path: Path) -> None:
    doc = json.loads(FIXTURE.read_text())
    doc["results"][0]["status"] = "great"
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="status 'great'"):
        results.load(p)


def test_frame_has_a_row_per_result() -> None:
    suite = results.load(FIXTURE)
    df = frames.to_frame([suite])
    assert len(df) == len(suite.results)
    assert set(df["backend"]) == {r.backend for r in suite.results}
    assert (df["median_step_ms"] > 0).all()
    assert "mem_peak_rss_mib" in df.columns
