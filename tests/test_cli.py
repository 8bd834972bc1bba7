"""The CLI as a user meets it: exit codes and one-line messages. No framework is imported here."""

from __future__ import annotations

import pytest

from bench import backends, workloads

from .conftest import fwbench


def test_list_shows_workloads_and_backends_without_running_anything() -> None:
    p = fwbench("list", timeout=60)
    assert p.returncode == 0, p.stderr
    for w in workloads.WORKLOADS:
        assert w in p.stdout
    for b in backends.BACKENDS:
        assert b in p.stdout
    assert "installed" in p.stdout


@pytest.mark.parametrize(
    ("args", "bad", "valid"),
    [
        (["run", "--workloads", "nope"], "'nope'", "mlp-iris"),
        (["run", "--workloads", "mlp-iris,cnn-digts"], "'cnn-digts'", "mlp-iris"),
        (["run", "--backends", "keras-xl"], "'keras-xl'", "keras-xla"),
        (["run", "--device", "tpu"], "'tpu'", "cuda"),
        (["run", "--profile", "huge"], "'huge'", "standard"),
        (["run", "--init", "random"], "'random'", "native"),
        (["run", "--repeats", "0"], "--repeats", ">= 1"),
        (["run", "--repeats", "-3"], "--repeats", ">= 1"),
        (["run", "--epochs", "zero"], "--epochs", "integer"),
        (["run", "--time-limit", "-1"], "--time-limit", "> 0"),
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
