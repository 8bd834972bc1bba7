"""docs/slurm on a real Slurm: the job array runs its shards, the merge after it joins them (opt-in, not in .ci/run).

Runs only with `-m slurm` and a Slurm that answers (sbatch on PATH, sinfo names a node); docs/slurm/README.md
says how a single-node Slurm was started for it. The recipe runs as documented except for its size: the
array's fwbench command gets a tiny plan (4 runs of mlp-iris), and sbatch's own options give 3 tasks of 1 CPU.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import REPO

SLURM = REPO / "docs" / "slurm"
TINY_PLAN = "--workloads mlp-iris --backends torch-eager keras --seeds 1 --repeats 2 --epochs 2 --threads 1"
TASKS = 3  # 4 runs over 3 shards: 2, 1, 1
SIZE = f"--array=0-{TASKS - 1} --cpus-per-task=1 --time=00:20:00"


def slurm_answers() -> str:
    """Why Slurm can't take the test's jobs here, or "" where it can."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no sbatch/sinfo on PATH"
    try:
        nodes = subprocess.run(["sinfo", "-h", "-o", "%N %t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 20 s"
    if nodes.returncode != 0 or not re.search(r"\b(idle|mix|alloc)", nodes.stdout):
        return f"sinfo: no node up: {(nodes.stdout + nodes.stderr).strip()}"
    return ""


def queued(*jobs: str) -> str:
    """The jobs (an array: its tasks) still pending or running, one "id state reason" a line; "" when all ended."""
    squeue = ["squeue", "-h", "-o", "%i %T %r", "-j", ",".join(jobs)]
    return subprocess.run(squeue, capture_output=True, text=True, timeout=20).stdout.strip()


@pytest.mark.slurm
def test_the_slurm_array_runs_the_shards_and_the_merge_joins_them(tmp_path: Path, request) -> None:
    selected = request.config.getoption("-m") or ""
    if "slurm" not in selected or "not slurm" in selected:
        pytest.skip("a real Slurm: run `pytest -m slurm tests/test_slurm.py`")
    if why := slurm_answers():
        pytest.skip(why)
    if not (REPO / ".venv" / "bin" / "fwbench").exists():
        pytest.skip("the scripts run .venv/bin/fwbench: no .venv in the checkout")

    # The submit directory stands for the checkout's root: the scripts cd there and run .venv/bin/fwbench.
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / "results").mkdir()
    array = (SLURM / "fwbench-array.sbatch").read_text()
    tiny, n = re.subn(r"^(\.venv/bin/fwbench run) .*?(--out )", rf"\1 {TINY_PLAN} \2", array, flags=re.M)
    assert n == 1, "the array's fwbench run line"
    (tmp_path / "fwbench-array.sbatch").write_text(tiny)
    shutil.copy(SLURM / "fwbench-merge.sbatch", tmp_path)

    # The two commands of the array script's header, as written there (its own size given on sbatch's line).
    header = [ln.removeprefix("#   ") for ln in array.splitlines() if ln.startswith("#   ") and "sbatch" in ln]
    assert len(header) == 2, header
    submit = "\n".join(header).replace("docs/slurm/", "").replace("sbatch --parsable ", f"sbatch --parsable {SIZE} ", 1)
    submitted = subprocess.run(
        ["bash", "-euc", submit + '\necho "array $jobid"'], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert submitted.returncode == 0, submitted.stderr
    job = re.search(r"^array (\d+)$", submitted.stdout, re.M).group(1)
    merge_job = re.search(r"^Submitted batch job (\d+)$", submitted.stdout, re.M).group(1)
    try:
        deadline = time.monotonic() + 600
        while left := queued(job, merge_job):
            logs = "\n".join(f.read_text() for f in sorted((tmp_path / "results").glob("slurm-*.out")))
            assert "DependencyNeverSatisfied" not in left, f"a task of the array failed: {left}\n{logs}"
            assert time.monotonic() < deadline, f"the jobs did not end in 10 minutes: {left}\n{logs}"
            time.sleep(3)
    finally:
        subprocess.run(["scancel", job, merge_job], capture_output=True)

    out = tmp_path / "results"
    logs = {k: out / f"slurm-{job}_{k}.out" for k in range(TASKS)}
    for k, log in logs.items():
        text = log.read_text()
        assert f"running shard {k + 1}/{TASKS} of the plan, from the Slurm task's index" in text, text
        assert (out / "shards" / str(k) / "runs" / f"slurm-{job}.shard-{k + 1}-of-{TASKS}.json").exists(), text
    merged_log = (out / f"slurm-merge-{merge_job}.out").read_text()
    assert f"merged {TASKS} shard(s), 4 runs: results/runs/slurm-{job}.json" in merged_log, merged_log
    suite = json.loads((out / "runs" / f"slurm-{job}.json").read_text())
    assert suite["run_id"] == f"slurm-{job}" and suite["missing"] == []
    assert sorted((r["backend"], r["repeat"], r["status"]) for r in suite["results"]) == [
        ("keras", 0, "ok"),
        ("keras", 1, "ok"),
        ("torch-eager", 0, "ok"),
        ("torch-eager", 1, "ok"),
    ]
    report = (out / "REPORT.md").read_text()
    assert f"Rendered from `slurm-{job}`" in report and "partial" not in report.lower()
