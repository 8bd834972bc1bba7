"""Bad input, everywhere: one line on stderr naming what is wrong and where, exit code 2, no
traceback, and no results file touched. One test per class of bad input:

- out-of-range or malformed numbers (--repeats, --epochs, --threads, --interop-threads,
  --time-limit, --seed) and empty name lists (unknown names: tests/test_cli.py);
- a --data-dir that is missing or holds files of the wrong format (a truncated CIFAR-10 .bin,
  a WAV at the wrong sample rate, an empty aclImdb folder), caught by the parent's preflight;
- a results file that is corrupt or of an unknown schema version, given to `report` or `--resume`,
  and a run document whose plan cannot be resumed ("malformed config": fwbench reads no other);
- `--resume` combined with plan options, `--out` naming a file, a malformed FWBENCH_FAULT hook.

Most call `bench.cli.main` in-process (it imports no framework; the exit code is main's return
value); one case runs the real CLI to show the same from a fresh process.
"""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path

import pytest

from bench import cli
from bench.core import backends, workloads
from bench.core.plan import FAULT_ENV, SuitePlan
from bench.launching import launch
from bench.planning import preflight

from .conftest import fwbench

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"
INSTALLED = [b.name for b in backends.BACKENDS.values() if b.installed()]


@pytest.fixture(autouse=True)
def never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input must stop before any run: a suite starting is a failure of the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a suite started despite bad input")

    monkeypatch.setattr(launch, "run_suite", refuse)


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("fwbench: error: ")
    return lines[0]


def workload_of(dataset: str) -> str:
    name = next((w.name for w in workloads.WORKLOADS.values() if w.dataset == dataset), None)
    if name is None:
        pytest.skip(f"no workload reads {dataset} yet")
    return name


# --- numbers and names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--repeats", "0"], "--repeats: must be >= 1, got 0"),
        (["--repeats", "-1"], "--repeats: must be >= 1, got -1"),
        (["--repeats", "2.5"], "--repeats: '2.5' is not an integer"),
        (["--epochs", "0"], "--epochs: must be >= 1, got 0"),
        (["--epochs", "-3"], "--epochs: must be >= 1, got -3"),
        (["--threads", "0"], "--threads: must be >= 1, got 0"),
        (["--threads", "-2"], "--threads: must be >= 1, got -2"),
        (["--interop-threads", "0"], "--interop-threads: must be >= 1, got 0"),
        (["--time-limit", "0"], "--time-limit: must be a finite number > 0, got 0"),
        (["--time-limit", "-5"], "--time-limit: must be a finite number > 0, got -5"),
        (["--time-limit", "nan"], "--time-limit: must be a finite number > 0, got nan"),
        (["--time-limit", "inf"], "--time-limit: must be a finite number > 0, got inf"),
        (["--time-limit", "soon"], "--time-limit: 'soon' is not a number"),
        (["--seed", "-1"], "--seed must be in 0..4294967295, got -1"),
        (["--seed", str(2**32)], f"--seed must be in 0..4294967295, got {2**32}"),
        (["--seed", str(2**32 - 2), "--seeds", "3"], "--seeds 3 goes past the largest seed, 4294967295"),
        (["--seeds", "0"], "--seeds: must be >= 1, got 0"),
        (["--workloads", ","], "no workload named; valid: mlp-iris"),
        (["--backends", "torch-eager,,keras-xl"], "unknown backend 'keras-xl'"),
        (["--scenario", "serve"], "unknown scenario 'serve'; valid: train, infer, export, distributed"),
        (["--scenario", "export", "--runtimes", "tflite2"], "unknown runtime 'tflite2'; valid: torchscript, "),
        (["--scenario", "distributed", "--workers", "0"], "--workers: must be >= 1, got 0"),
        (["--scenario", "distributed", "--workers", "1", "4096"], "--workers 4096: this host has "),
        (["--scaling", "linear"], "unknown scaling 'linear'; valid: weak, strong"),
        (["--retry-failed"], "--retry-failed redoes the failed runs of an earlier run: give it with --resume RUN_ID"),
    ],
)
def test_out_of_range_numbers_and_empty_names(capsys, tmp_path: Path, args: list[str], expected: str) -> None:
    base = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager"]
    line = one_line_error(capsys, *base, *args, "--out", str(tmp_path))
    assert expected in line, line
    assert not (tmp_path / "runs").exists()


def test_infer_of_a_workload_without_a_forward_model_names_those_with_one(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from bench.core import workloads

    trainer_only = dataclasses.replace(workloads.get("mlp-iris"), name="trainer-only", inference=False)
    monkeypatch.setitem(workloads.WORKLOADS, "trainer-only", trainer_only)
    for scenario in ("infer", "export"):
        line = one_line_error(
            capsys, "run", "--scenario", scenario, "--workloads", "trainer-only", "--backends", "torch-eager",
            "--out", str(tmp_path),
        )  # fmt: skip
        assert (
            f"workload 'trainer-only' has no forward model to serve, so no {scenario} scenario; valid: mlp-iris, "
            in line
        )
        assert "trainer-only," not in line
    assert not (tmp_path / "runs").exists()


def test_out_naming_a_file(capsys, tmp_path: Path) -> None:
    f = tmp_path / "results"
    f.write_text("mine")
    for cmd in (["run", "--workloads", "mlp-iris"], ["report"]):
        assert f"--out '{f}' is a file, not a folder" in one_line_error(capsys, *cmd, "--out", str(f))
    assert f.read_text() == "mine"


def test_a_malformed_fault_hook(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "mlp-iris/torch-eager:crash")
    line = one_line_error(capsys, "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "--out", str(tmp_path))
    assert "FWBENCH_FAULT: 'mlp-iris/torch-eager:crash' is not WORKLOAD/BACKEND[#REPEAT]=FAULT" in line


# --- the data folder ------------------------------------------------------------------------------


def data_dir_error(capsys, tmp_path: Path, dataset: str, data_dir: Path) -> str:
    if not INSTALLED:
        pytest.skip("no backend installed: preflight stops there first")
    out = tmp_path / "out"
    args = ["run", "--workloads", workload_of(dataset), "--backends", INSTALLED[0], "--data-dir", str(data_dir)]
    line = one_line_error(capsys, *args, "--out", str(out))
    assert not out.exists()
    return line


def test_data_dir_missing_or_a_file(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert f"--data-dir '{missing}' is not a folder" in data_dir_error(capsys, tmp_path, "cifar10", missing)
    a_file = tmp_path / "data.bin"
    a_file.write_bytes(b"\0" * 10)
    assert f"--data-dir '{a_file}' is not a folder" in data_dir_error(capsys, tmp_path, "cifar10", a_file)


def write_cifar(folder: Path, truncate_test_by: int) -> Path:
    """The six CIFAR-10 binary files, two records each; test_batch.bin cut short."""
    record = bytes([3]) + bytes(range(256)) * 12  # label 3, 3072 pixel bytes
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(record * 2)
    test = folder / "test_batch.bin"
    test.write_bytes((record * 2)[:-truncate_test_by])
    return test


def test_a_truncated_cifar10_file(capsys, tmp_path: Path) -> None:
    test = write_cifar(tmp_path / "cifar-10-batches-bin", truncate_test_by=100)
    line = data_dir_error(capsys, tmp_path, "cifar10", tmp_path)
    assert str(test) in line and "6046 bytes is not a whole number of 3073-byte records" in line, line
    assert "truncated" in line


def test_a_wav_at_the_wrong_sample_rate(capsys, tmp_path: Path) -> None:
    clip = tmp_path / "clips" / "yes" / "a.wav"
    clip.parent.mkdir(parents=True)
    with wave.open(str(clip), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 1600)
    line = data_dir_error(capsys, tmp_path, "audio", tmp_path / "clips")
    assert str(clip) in line and "sample rate 16000 Hz, expected 8000 Hz" in line, line


def test_an_empty_aclimdb_folder(capsys, tmp_path: Path) -> None:
    (tmp_path / "aclImdb").mkdir()
    line = data_dir_error(capsys, tmp_path, "text", tmp_path)
    assert str(tmp_path / "aclImdb" / "train" / "neg") in line and "no *.txt reviews" in line, line


def test_bad_data_from_a_fresh_process(tmp_path: Path) -> None:
    """The same as a user meets it: `python -m bench run --data-dir ...` on a truncated CIFAR-10 file."""
    if not INSTALLED:
        pytest.skip("no backend installed")
    test = write_cifar(tmp_path / "data", truncate_test_by=1)
    wl = workload_of("cifar10")
    p = fwbench("run", "--workloads", wl, "--backends", INSTALLED[0], "--data-dir", str(tmp_path / "data"), "--out",
                str(tmp_path / "out"), timeout=120)  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert str(test) in p.stderr and not (tmp_path / "out").exists()


# --- results files --------------------------------------------------------------------------------


def corrupt(doc_text: str, kind: str) -> str:
    if kind == "truncated":
        return doc_text[: len(doc_text) // 2]
    doc = json.loads(doc_text)
    if kind == "schema_version 9":
        doc["schema_version"] = 9
    elif kind == "a string for a number":
        doc["results"][1]["median_step_ms"] = "fast"
    elif kind == "not fwbench":
        doc = {"hello": "world"}
    return json.dumps(doc)


CORRUPTIONS = {
    "truncated": "not valid JSON",
    "schema_version 9": "schema_version 9 is not supported (this fwbench reads 1, 2, 3, 4, 5, 6, 7, 8)",
    "a string for a number": "results[1].median_step_ms: expected float | None, got string 'fast'",
    "not fwbench": "an fwbench results",  # report also reads pytest-benchmark JSON: "neither an fwbench results file nor ..."
}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_results_file_given_to_report(capsys, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "runs" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(corrupt(FIXTURE.read_text(), kind))
    good = tmp_path / "runs" / "good.json"
    good.write_text(FIXTURE.read_text())
    before = snapshot(tmp_path)
    for target in (bad, bad.parent):  # the file itself, or the folder holding it
        line = one_line_error(capsys, "report", str(target), "--out", str(tmp_path))
        assert line.startswith(f"fwbench: error: {bad}: ") and CORRUPTIONS[kind] in line, line
    assert snapshot(tmp_path) == before  # nothing written, nothing touched (no REPORT.md either)


def test_a_binary_or_missing_results_file(capsys, tmp_path: Path) -> None:
    blob = tmp_path / "blob.json"
    blob.write_bytes(bytes(range(256)))
    assert f"{blob}: not a text (UTF-8) file" in one_line_error(capsys, "report", str(blob), "--out", str(tmp_path))
    assert "does not exist" in one_line_error(capsys, "report", str(tmp_path / "nope.json"), "--out", str(tmp_path))


def write_run(out: Path, text: str) -> tuple[str, Path]:
    run_id = json.loads(FIXTURE.read_text())["run_id"]
    path = out / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return run_id, path


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_results_file_given_to_resume(capsys, tmp_path: Path, kind: str) -> None:
    run_id, path = write_run(tmp_path, corrupt(FIXTURE.read_text(), kind))
    before = snapshot(tmp_path)
    line = one_line_error(capsys, "run", "--resume", run_id, "--out", str(tmp_path))
    assert line.startswith(f"fwbench: error: {path}: ") and CORRUPTIONS[kind] in line, line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"repeats": "three"}, "plan.repeats: expected int, got string 'three'"),
        ({"workloads": ["mlp-iris", "nope"]}, "unknown workload 'nope'"),
        ({"repeats": 0}, "--repeats must be >= 1, got 0"),
        ({"time_limit_s": None}, "plan.time_limit_s: expected float, got null"),
        ({"fault": {"mlp-iris/keras": "explode"}}, "fault mlp-iris/keras=explode"),
        ({"colour": "blue"}, "plan has unknown fields ['colour']"),
        ({"backends": ["keras", "keras"]}, "a workload or backend is named twice"),
    ],
)
def test_a_run_whose_plan_cannot_be_resumed(capsys, tmp_path: Path, change: dict, expected: str) -> None:
    doc = json.loads(FIXTURE.read_text())
    doc["plan"].update(change)
    run_id, path = write_run(tmp_path, json.dumps(doc))
    before = snapshot(tmp_path)
    line = one_line_error(capsys, "run", "--resume", run_id, "--out", str(tmp_path))
    assert line.startswith(f"fwbench: error: {path}: ") and expected in line, line
    assert snapshot(tmp_path) == before


def test_resume_refuses_plan_options_and_unknown_runs(capsys, tmp_path: Path) -> None:
    run_id, _ = write_run(tmp_path, FIXTURE.read_text())
    before = snapshot(tmp_path)
    line = one_line_error(capsys, "run", "--resume", run_id, "--repeats", "3", "--seed", "1", "--out", str(tmp_path))
    assert "--resume continues the run's own plan: drop --repeats, --seed" in line
    line = one_line_error(capsys, "run", "--resume", "20990101T000000Z-000000", "--out", str(tmp_path))
    assert "no such run under" in line
    for not_an_id in (f"runs/{run_id}", f"{run_id}.json", "../../etc/passwd", ".."):
        line = one_line_error(capsys, "run", "--resume", not_an_id, "--out", str(tmp_path))
        assert f"--resume {not_an_id!r}: expected a run id" in line, line
    assert snapshot(tmp_path) == before


def test_data_dir_runs_the_workloads_whose_files_it_finds_and_names_the_others(capsys, tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-bin", truncate_test_by=0)  # CIFAR-10 only: no aclImdb, no clips
    plan = SuitePlan(
        workloads=("mlp-iris", "lstm-sentiment", "cnn-cifar10", "conv1d-audio"), backends=("torch-eager",),
        device="cpu", profile="quick", repeats=1, seed=0, init="shared", threads=1, interop_threads=1,
        deterministic=False, time_limit_s=60.0, data_dir=str(tmp_path),
    )  # fmt: skip
    kept = preflight.with_data_found(plan)
    assert kept.workloads == ("mlp-iris", "cnn-cifar10")  # iris is embedded; CIFAR-10 is there
    err = capsys.readouterr().err.strip()
    assert err == (
        f"fwbench: --data-dir {tmp_path}: no text files, so not lstm-sentiment; no audio files, so not "
        "conv1d-audio; running mlp-iris, cnn-cifar10"
    )
    nothing = dataclasses.replace(plan, workloads=("lstm-sentiment",))
    with pytest.raises(cli.UsageError, match="no text files, so not lstm-sentiment: nothing left to run"):
        preflight.with_data_found(nothing)
