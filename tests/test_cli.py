"""The CLI as a user meets it: exit codes and one-line messages. No framework is imported here."""

from __future__ import annotations

import pytest

from bench.core import backends, workloads

from .conftest import fwbench


def test_list_shows_workloads_and_backends_without_running_anything() -> None:
    p = fwbench("list", timeout=60)
    assert p.returncode == 0, p.stderr
    for w in workloads.WORKLOADS:
        assert w in p.stdout
    for b in backends.BACKENDS:
        assert b in p.stdout
    assert "installed" in p.stdout
    assert "(cuda only)" in next(ln for ln in p.stdout.splitlines() if "torch-compile-step-autotune" in ln)


@pytest.mark.parametrize(
    ("args", "bad", "valid"),
    [
        (["run", "--workloads", "nope"], "'nope'", "mlp-iris"),
        (["run", "--workloads", "mlp-iris,cnn-digts"], "'cnn-digts'", "mlp-iris"),
        (["run", "--backends", "keras-xl"], "'keras-xl'", "keras-xla"),
        (["run", "--backends", "torch-compile-step-cudagraphs"], "cuda only", "torch-compile-step"),
        (["run", "--device", "tpu"], "'tpu'", "cuda"),
        (["run", "--profile", "huge"], "'huge'", "standard"),
        (["run", "--init", "random"], "'random'", "native"),
        (["run", "--repeats", "0"], "--repeats", ">= 1"),
        (["run", "--repeats", "-3"], "--repeats", ">= 1"),
        (["run", "--epochs", "zero"], "--epochs", "integer"),
        (["run", "--time-limit", "-1"], "--time-limit", "> 0"),
        (["run", "--scale", "huge"], "'huge'", "small, base"),
        (["run", "--scale", "base", "--workloads", "mlp-iris"], "'mlp-iris'", "resnet18-cifar10"),
        (["run", "--precision", "fp8"], "'fp8'", "fp32, tf32, bf16, fp16"),
        (["run", "--precision", "fp32,bf17"], "'bf17'", "bf16"),
        (["run", "--steps", "0"], "--steps", ">= 1"),
        (["run", "--steps", "20", "--epochs", "2"], "--steps", "give one"),
        (["report", "missing.json"], "missing.json", "does not exist"),
        (["run", "--resume", "no-such-run"], "no-such-run", "no such run"),
        (["frobnicate"], "frobnicate", "list"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], bad: str, valid: str, tmp_path) -> None:
    p = fwbench(*args, "--out", str(tmp_path)) if args[0] in ("run", "report") else fwbench(*args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert bad in lines[0] and valid in lines[0], lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cuda_without_a_gpu_exits_2(tmp_path) -> None:
    p = fwbench("run", "--device", "cuda", "--workloads", "mlp-iris", "--out", str(tmp_path), timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "fwbench: error: --device cuda: no CUDA GPU found (NVML sees none); use --device cpu"
    ]


def test_report_of_an_empty_results_folder_exits_2(tmp_path) -> None:
    p = fwbench("report", "--out", str(tmp_path))
    assert p.returncode == 2
    assert "no results under" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_folder_the_machine_refuses_is_one_line_and_exit_1(tmp_path) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "results"  # mkdir fails: a real OSError, as a full disk would give
    p = fwbench("report", "tests/data/suite-mlp-iris.json", "--out", str(out), timeout=120)
    assert p.returncode == 1
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("fwbench: error: [Errno 20] Not a directory:") and "a-file" in line


def test_a_full_disk_mid_suite_names_the_run_to_resume(tmp_path, monkeypatch, capsys) -> None:
    from bench import cli
    from bench.launching import launch
    from bench.records import results

    def full_disk(
        plan, out, command, progress, resumed, run_id, retry_failed, redo_rounds, notify, shard, margin
    ) -> None:
        results.run_path(out, run_id).parent.mkdir(parents=True)
        results.run_path(out, run_id).write_text("{}")  # the file as saved after the runs before the failure
        raise OSError(28, "No space left on device", str(out / "runs" / f".{run_id}.json.tmp"))

    monkeypatch.setattr(launch, "run_suite", full_disk)
    monkeypatch.setattr(launch, "new_run_id", lambda: "RUN1")
    code = cli.main(["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("fwbench: error:")]  # progress and thread notes aside
    assert code == 1 and "Traceback" not in err
    assert line.startswith("fwbench: error: [Errno 28] No space left on device:")
    assert line.endswith(f"finish with `fwbench run --resume RUN1 --out {tmp_path}`")
