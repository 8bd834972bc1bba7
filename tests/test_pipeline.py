"""The pipeline scenario (bench/scenarios/pipeline.py) through the CLI: its record, its report section, a dying worker, bad
input. The frameworks' pipelines themselves (each file once, decode equality, augmentation statistics) are
tested in tests/test_pipeline_frameworks.py."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench.core import stats
from bench.core.formatting import fmt
from bench.interfaces.pipeline_spec import FLIP_P, PAD_PX, epoch_plan, shuffled, write_images
from bench.records import results
from bench.report import document
from bench.scenarios import pipeline

from .conftest import REPO, fwbench, prose

FIXTURE = REPO / "tests" / "data" / "suite-pipeline.json"


def only_suite(out: Path) -> results.Suite:
    (path,) = (out / "runs").glob("*.json")
    return results.load(path)


@pytest.mark.slow
def test_pipeline_run_measures_every_setting_of_both_frameworks_and_reports_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", "--scenario", "pipeline", "--workloads", "cnn-cifar10", "--backends", "torch-eager", "keras"]
    p = fwbench(*args, "--seeds", "1", "--threads", "1", "--init", "native", "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    suite = only_suite(out)
    assert sorted((r.backend, r.status) for r in suite.results) == [("keras", "ok"), ("torch-eager", "ok")]
    for r in suite.results:
        rec = r.pipeline
        assert rec is not None and rec.files == 1500 and rec.format == "png"
        assert rec.runs[0].tuned is False and all(s.tuned for s in rec.runs[1:])  # defaults first
        assert all(s.status == "ok" for s in rec.runs), [s.reason for s in rec.runs]
        for s in rec.runs:
            assert s.input_samples_s and s.e2e_samples_s and s.memory_fed_samples_s and s.first_batch_ms
            assert 0 <= s.stall_share <= 1 and s.input_cores > 0 and s.input_peak_pss_mib > 0
            assert len(s.wait_ms) == len(s.step_ms) == 24  # 1500 files in batches of 64: 23 full and a short one
        best = max((s for s in rec.runs if s.tuned), key=lambda s: s.e2e_samples_s)
        assert rec.fastest_tuned == best.setting
        assert r.step_ms == [
            w + s for w, s in zip(best.wait_ms, best.step_ms, strict=True)
        ]  # what the verdict compares
    torch_settings = [s.setting for s in suite.results[0].pipeline.runs]
    tf_settings = [s.setting for s in suite.results[1].pipeline.runs]
    assert torch_settings[0] == "default" and "workers=1" in torch_settings
    assert "autotune" in tf_settings and "autotune+cache" in tf_settings
    text = prose((out / "REPORT.md").read_text())
    assert "## Input pipeline: DataLoader against tf.data, reading image files" in text
    assert "Fed training faster: **no verdict** (1 run: a verdict needs 3 processes per side)" in text
    assert "1500 PNG files from synthetic (seeded 0)." in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| PyTorch DataLoader") or ln.startswith("| tf.data")]
    assert len(rows) == len(torch_settings) + len(tf_settings)
    assert (out / "reports" / suite.run_id / "plots" / "pipeline.png").stat().st_size > 10_000
    assert "## Summary" not in text  # no training cells: the pipeline section answers alone


@pytest.mark.slow
def test_a_dataloader_worker_that_dies_fails_the_cell_with_its_reason(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", "--scenario", "pipeline", "--workloads", "cnn-cifar10", "--backends", "torch-eager", "--seeds", "1"]
    p = fwbench(
        *args,
        "--init",
        "native",
        "--out",
        str(out),
        env={"FWBENCH_FAULT": "cnn-cifar10/torch-eager=crash"},
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]  # a failed cell is recorded; the suite goes on
    (r,) = only_suite(out).results
    assert r.status == "failed"
    by_setting = {s.setting: s for s in r.pipeline.runs}
    worker_settings = [s for name, s in by_setting.items() if name != "default"]
    assert worker_settings and all(s.status == "failed" for s in worker_settings)
    # DataLoader's own words: the pipeline's PipelineError where the death shows in the epoch's iterator, or
    # DataLoader's RuntimeError from its SIGCHLD handler where it lands while a batch is being trained on
    dead = re.compile(
        r"(PipelineError|RuntimeError): DataLoader worker \(pid\(?s?\)? [\d, ]+\) (exited unexpectedly|is killed by signal)"
    )
    assert all(dead.match(s.reason) for s in worker_settings), [s.reason for s in worker_settings]
    assert re.search(r"setting workers=1: (PipelineError|RuntimeError): DataLoader worker", r.reason), r.reason
    assert r.wall_s is not None and r.wall_s < 120  # no setting waited out a hang


def bad(args: list[str], tmp_path: Path) -> str:
    p = fwbench("run", *args, "--out", str(tmp_path / "out"))
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert not (tmp_path / "out" / "runs").exists()  # nothing ran, nothing written
    return lines[0]


def test_bad_pipeline_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    base = ["--scenario", "pipeline", "--workloads", "cnn-cifar10", "--backends", "torch-eager"]
    assert "unknown image format 'gif'; valid: png, jpeg" in bad([*base, "--image-format", "gif"], tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    line = bad([*base, "--image-dir", str(empty)], tmp_path)
    assert f"--image-dir {empty}: no png images in class folders" in line
    (empty / "cat").mkdir()
    (empty / "cat" / "a.gif").write_bytes(b"GIF89a")
    assert "no png images in class folders" in bad([*base, "--image-dir", str(empty)], tmp_path)
    line = bad(["--scenario", "pipeline", "--workloads", "mlp-iris", "--backends", "torch-eager"], tmp_path)
    assert "workload 'mlp-iris' has no image files to read, so no pipeline scenario; valid: cnn-cifar10" in line
    line = bad(["--workloads", "cnn-cifar10", "--backends", "torch-eager", "--image-dir", str(empty)], tmp_path)
    assert "--image-dir is read by the pipeline scenario only" in line


def test_image_dir_is_read_as_it_is(tmp_path: Path) -> None:
    """A user's class folders are listed in sorted order, labels by folder; other files are skipped."""
    x = np.arange(6 * 8 * 8 * 3, dtype=np.uint8).reshape(6, 8, 8, 3)
    files = write_images(x, np.array([1, 0, 1, 0, 1, 0]), tmp_path / "imgs", "jpeg")
    (tmp_path / "imgs" / "00" / "notes.txt").write_text("not an image")
    assert len(files) == 6 and files.labels == (0, 0, 0, 1, 1, 1) and (files.height, files.width) == (8, 8)
    assert [Path(p).stem for p in files.paths] == ["1", "3", "5", "0", "2", "4"]


def test_check_once_finds_a_missing_and_a_repeated_file() -> None:
    pipeline.check_once([np.array([0, 1]), np.array([2, 3])], 4, 0)
    with pytest.raises(RuntimeError, match="epoch 1 delivered 4 rows for 4 files: 1 missing, 1 twice"):
        pipeline.check_once([np.array([0, 1]), np.array([1, 3])], 4, 1)
    with pytest.raises(RuntimeError, match="3 rows for 4 files: 1 missing"):
        pipeline.check_once([np.array([0, 1, 2])], 4, 2)


def test_the_epoch_plan_draws_per_file_whatever_the_order() -> None:
    """File i's crop and flip are the same whether the epoch is shuffled or not (only its position moves), differ
    between epochs and seeds, and follow the stated distributions."""
    n = 2000
    plan, unshuffled = epoch_plan(n, 3, 1), epoch_plan(n, 3, 1, shuffle=False)
    assert np.array_equal(plan.index, shuffled(n, 3, 1)) and np.array_equal(unshuffled.index, np.arange(n))
    assert plan.table().dtype == np.int64 and plan.table().shape == (n, 4)
    by_file = np.zeros((n, 3), np.int64)
    by_file[plan.index] = plan.table()[:, 1:]
    assert np.array_equal(by_file, unshuffled.table()[:, 1:])
    for other in (epoch_plan(n, 3, 2, shuffle=False), epoch_plan(n, 4, 1, shuffle=False)):
        assert (other.table()[:, 1:] != unshuffled.table()[:, 1:]).any(axis=1).mean() > 0.8
    offsets = np.concatenate([plan.dy, plan.dx])
    shares = np.bincount(offsets, minlength=2 * PAD_PX + 1) / len(offsets)
    assert offsets.min() == 0 and offsets.max() == 2 * PAD_PX and np.abs(shares - 1 / 9).max() < 0.03, shares
    assert abs(plan.flip.mean() - FLIP_P) < 0.05 and plan.flip.dtype == bool


def test_report_section_on_a_fixed_results_file() -> None:
    """The default run's pipeline section on a committed results file (3 seeds a side, measured here)."""
    suite = results.load(FIXTURE)
    text = prose(document.render([suite]))
    section = text[text.index("## Input pipeline") :]
    section = section[: section.index("\n## ", 5)]
    # each row holds the median over the three runs of its setting
    for r0 in (r for r in suite.results if r.seed == 0):
        for s in r0.pipeline.runs:
            runs = [
                next(x for x in r.pipeline.runs if x.setting == s.setting)
                for r in suite.results
                if r.backend == r0.backend
            ]
            row = next(ln for ln in section.splitlines() if f"({r0.backend})" in ln and f"| {s.setting} " in ln)
            assert f"| {fmt(float(np.median([x.e2e_samples_s for x in runs])))} " in row
            assert f"| {float(np.median([x.stall_share for x in runs])):.0%} " in row
    # the verdict: TF / PT on the end-to-end steps of each side's fastest tuned setting, with its CI and star
    assert "Fed training faster: **TensorFlow**. End-to-end step, tf.data's fastest tuned setting" in section
    assert re.search(r"over DataLoader's \(workers=\d, torch-eager\): 0\.\d\d \[0\.\d\d, 0\.\d\d\]\*", section)
    # PyTorch's num_workers=0 fed training faster than its workers on this 2-vCPU machine: the report says so
    assert "PyTorch DataLoader's defaults fed training faster than any tuned setting here" in section
    assert "tf.data's defaults fed training faster" not in section
    assert json.loads(FIXTURE.read_text())["schema_version"] == results.SCHEMA_VERSION


def test_the_official_cifar10_files_become_image_files_with_their_exact_pixels(tmp_path: Path, monkeypatch) -> None:
    """--data-dir with the CIFAR-10 binary files: the training split's bytes are what the PNG files hold."""
    from bench.core.spec import RunConfig

    from .test_datasets_images_audio import write_cifar_bins

    written = write_cifar_bins(tmp_path / "cifar")
    monkeypatch.setenv("FWBENCH_CACHE_DIR", str(tmp_path / "cache"))
    cfg = RunConfig(
        "r", "cnn-cifar10", "torch-eager", "cpu", "quick", 0, 0, "native", None, 1, 1, False,
        data_dir=str(tmp_path / "cifar"), scenario="pipeline",
    )  # fmt: skip
    images, temp = pipeline.image_files(cfg)
    assert temp is None and images.source.endswith("cifar") and images.written_s is not None
    expected = [
        (label, img) for name in sorted(written) if name.startswith("data_batch") for label, img in written[name]
    ]
    assert len(images.files) == len(expected) == 15  # the five training files, not the test file
    pixels = pipeline.decoded(images.files)
    for path, label, px in zip(images.files.paths, images.files.labels, pixels, strict=True):
        src_label, src = expected[int(Path(path).stem)]
        assert label == sorted(set(lab for lab, _ in expected)).index(src_label)  # class folders in sorted order
        assert np.array_equal(px, src.astype(np.uint8))
    again, _ = pipeline.image_files(cfg)  # written once: the second run finds them
    assert again.written_s is None and again.files == images.files


AA_FILE = REPO / "docs" / "measurements" / "aa-pipeline-cpu-2026-12-03.json"


def test_the_pipeline_verdict_is_rarely_called_between_runs_of_one_backend() -> None:
    """The real A/A file: 8 pipeline runs of each backend, one seed, separate processes. Over every 3-vs-3 split
    of one backend's runs, the verdict rule on the cell's step times (each run's fastest tuned setting, end to
    end) names a faster side in at most 5% of the splits, as it does for training cells."""
    suite = results.load(AA_FILE)
    assert not any(r.contended for r in suite.results) and all(r.ok for r in suite.results)
    for backend in ("torch-eager", "keras"):
        medians = [r.median_step_ms for r in suite.results if r.backend == backend]
        assert len(medians) == 8
        called = total = 0
        for a in itertools.combinations(range(8), 3):
            rest = [i for i in range(8) if i not in a]
            for b in itertools.combinations(rest, 3):
                r = stats.ratio_of_run_medians([medians[i] for i in a], [medians[i] for i in b])
                called += stats.significant(r)
                total += 1
        assert total == 560 and called / total <= 0.05, (backend, called / total)
