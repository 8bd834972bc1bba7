"""One plan over several machines: shards that cover it, Slurm's variables, and the merge of their files."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli
from bench.core.errors import UsageError
from bench.launching import launch
from bench.planning import shard
from bench.records import results
from bench.report import document

from .conftest import REPO, prose

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"


def test_the_shards_of_a_plan_are_disjoint_cover_it_and_are_balanced() -> None:
    plan = dataclasses.replace(results.load(FIXTURE).plan, seeds=3, workloads=("mlp-iris", "cnn-digits"))
    runs = plan.runs()
    for n in (1, 2, 3, 7):
        parts = [shard.Shard(k, n).part(runs) for k in range(1, n + 1)]
        assert sorted(k for p in parts for k in p) == sorted(runs)  # covering
        assert sum(len(p) for p in parts) == len(runs)  # disjoint
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced (every run costs the same)
        assert parts == [shard.Shard(k, n).part(list(runs)) for k in range(1, n + 1)]  # the same on every machine
    backends_of = {k.backend for k in shard.Shard(2, 3).part(runs)}
    assert backends_of == set(plan.backends)  # each shard has every backend: drift hits them alike
    # as many shards as backends: a fixed order in every block gave each shard all the runs of one backend and
    # none of the others; the plan's seeded order (SuitePlan.runs) mixes them
    n = len(plan.backends)
    assert all(len({k.backend for k in shard.Shard(i, n).part(runs)}) > 1 for i in range(1, n + 1))


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "2/0"])
def test_a_bad_shard_is_refused_with_the_form_it_needs(text: str) -> None:
    with pytest.raises(UsageError, match=rf"--shard '{text}': expected K/N with 1 <= K <= N, e.g. 2/3"):
        shard.parse(text)


def test_a_slurm_array_task_gives_the_shard_and_the_run_id() -> None:
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_JOB_ID": "4242"}
    part, run_id = shard.from_environment(env)
    assert (str(part), part.source, run_id) == ("2/3", "Slurm", "slurm-4242")  # task ids from 0: the second
    part, _ = shard.from_environment({**env, "SLURM_ARRAY_TASK_MIN": "1"})  # --array=1-3
    assert str(part) == "1/3"
    assert shard.from_environment({}) is None


def test_a_kubernetes_indexed_job_gives_the_shard_and_needs_the_count() -> None:
    part, run_id = shard.from_environment({"JOB_COMPLETION_INDEX": "0", "FWBENCH_SHARD_COUNT": "4"})
    assert (part.index, part.count, part.source, run_id) == (1, 4, "Kubernetes", "")
    part, _ = shard.from_environment({"JOB_COMPLETION_INDEX": "3", "FWBENCH_SHARD_COUNT": "4"})
    assert str(part) == "4/4"
    with pytest.raises(UsageError, match="without FWBENCH_SHARD_COUNT: set it to the Job's completions"):
        shard.from_environment({"JOB_COMPLETION_INDEX": "0"})
    with pytest.raises(UsageError, match=r"JOB_COMPLETION_INDEX=4 FWBENCH_SHARD_COUNT=4 '5/4': expected K/N"):
        shard.from_environment({"JOB_COMPLETION_INDEX": "4", "FWBENCH_SHARD_COUNT": "4"})
    with pytest.raises(UsageError, match="integers expected"):
        shard.from_environment({"JOB_COMPLETION_INDEX": "a", "FWBENCH_SHARD_COUNT": "4"})


def test_a_shard_with_no_runs_writes_its_empty_file_and_exits_0(tmp_path, capsys) -> None:
    """More array tasks than runs: the empty shard must not fail (a Slurm `afterok` merge would never start)."""
    args = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--seeds", "1", "--threads", "1"]
    assert cli.main([*args, "--shard", "3/3", "--run-id", "t", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fwbench: shard 3/3 holds none of the plan's 2 runs (more shards than runs)" in out
    empty = results.load(tmp_path / "runs" / "t.shard-3-of-3.json")
    assert empty.results == [] and empty.shard == "3/3" and not (tmp_path / "REPORT.md").exists()


def test_run_reads_slurm_and_says_which_shard(tmp_path, monkeypatch, capsys) -> None:
    seen = {}

    def stop(plan, out, command, **kwargs):
        seen.update(kwargs, plan=plan)
        raise KeyboardInterrupt

    monkeypatch.setattr(launch, "run_suite", stop)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    args = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--threads", "1"]
    assert cli.main([*args, "--out", str(tmp_path)]) == 2  # no job id and no --run-id: the shards could not merge
    assert "give --run-id ID, the same on every shard" in capsys.readouterr().err
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    assert cli.main([*args, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "fwbench: running shard 2/3 of the plan, from the Slurm task's index" in err
    assert "fwbench: plan: 2 of 6 runs to do (1 workload x 2 backends x 3 seeds) (shard 2/3 from Slurm)" in err
    assert str(seen["shard"]) == "2/3" and seen["run_id"] == "slurm-77"


def shards_of(suite: results.Suite, n: int) -> list[results.Suite]:
    keys = suite.plan.runs()
    return [
        dataclasses.replace(
            suite,
            shard=f"{k}/{n}",
            results=[r for r in suite.results if r.key(suite.plan.seed) in shard.Shard(k, n).part(keys)],
        )
        for k in range(1, n + 1)
    ]


def test_merge_joins_shards_names_what_is_missing_and_refuses_conflicts(tmp_path, capsys) -> None:
    whole = results.load(FIXTURE)
    parts = shards_of(whole, 2)
    files = []
    for i, p in enumerate(parts, 1):
        results.save(tmp_path / f"s{i}.json", p)
        files.append(str(tmp_path / f"s{i}.json"))
    # all shards: the same runs as the whole, and the same report sections
    assert cli.main(["merge", str(tmp_path / "all"), *files]) == 0
    merged = results.load(tmp_path / "all" / "runs" / f"{whole.run_id}.json")
    assert sorted(r.key(0) for r in merged.results) == sorted(r.key(0) for r in whole.results)
    assert merged.missing == [] and set(merged.environment["shards"]) == {"1/2", "2/2"}
    heads = [ln for ln in document.render([merged]).splitlines() if ln.startswith("#")]
    assert heads == [ln for ln in document.render([whole]).splitlines() if ln.startswith("#")]
    # a lost shard: its runs named, the report partial
    assert cli.main(["merge", str(tmp_path / "half"), files[0]]) == 0
    err = capsys.readouterr().err
    half = results.load(tmp_path / "half" / "runs" / f"{whole.run_id}.json")
    lost = {f"{r.workload}/{r.backend} seed {r.key(0).seed} #{r.repeat}" for r in parts[1].results}
    assert set(half.missing) == lost | {"shard 2/2: no file"}
    assert f"fwbench merge: partial: {len(lost) + 1} planned run(s) or shard(s) missing" in err
    assert f"**Warning: `{whole.run_id}` is partial**" in prose((tmp_path / "half" / "REPORT.md").read_text())
    # conflicts: one line, exit 2, nothing written
    twice = dataclasses.replace(parts[1], results=[*parts[1].results, parts[0].results[0]])
    results.save(tmp_path / "twice.json", twice)
    for bad, message in (
        ([files[0], str(tmp_path / "twice.json")], "is in both"),
        ([files[0], files[0]], "are both shard 1/2"),
        ([str(FIXTURE)], "not a shard"),
    ):
        assert cli.main(["merge", str(tmp_path / "bad"), *bad]) == 2
        line = capsys.readouterr().err.strip()
        assert len(line.splitlines()) == 1 and message in line, line
        assert not (tmp_path / "bad").exists()
    other = dataclasses.replace(parts[1], plan=dataclasses.replace(parts[1].plan, seeds=5))
    results.save(tmp_path / "other.json", other)
    assert cli.main(["merge", str(tmp_path / "bad"), files[0], str(tmp_path / "other.json")]) == 2
    err = capsys.readouterr().err
    assert "its plan differs from" in err and err.strip().endswith("in seeds"), err


@pytest.mark.slow
def test_two_shards_in_parallel_merge_into_the_single_runs_suite(tmp_path) -> None:
    """One small plan as one run, and as 2 shards run side by side into separate folders, then merged: the
    same run keys, statuses and report sections."""
    args = ["--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--seeds", "1", "--repeats", "2"]
    args += ["--epochs", "5", "--threads", "1", "--init", "native"]
    cmd = [sys.executable, "-m", "bench", "run", *args]
    single = subprocess.run([*cmd, "--out", str(tmp_path / "single")], cwd=REPO, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-2000:]
    procs = [
        subprocess.Popen(
            [*cmd, "--shard", f"{k}/2", "--run-id", "nightly-1", "--out", str(tmp_path / f"shard{k}")],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (1, 2)
    ]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()[-2000:] if p.stderr else ""
    files = [str(next((tmp_path / f"shard{k}" / "runs").glob("nightly-1.shard-*.json"))) for k in (1, 2)]
    merged = subprocess.run(
        [sys.executable, "-m", "bench", "merge", str(tmp_path / "merged"), *files], cwd=REPO, capture_output=True
    )
    assert merged.returncode == 0, merged.stderr[-2000:]
    one = results.load(next((tmp_path / "single" / "runs").glob("*.json")))
    both = results.load(tmp_path / "merged" / "runs" / "nightly-1.json")
    assert sorted((r.key(0), r.status) for r in both.results) == sorted((r.key(0), r.status) for r in one.results)
    assert both.missing == []

    def sections(folder: Path) -> list[str]:
        return [ln for ln in (folder / "REPORT.md").read_text().splitlines() if ln.startswith("#")]

    assert sections(tmp_path / "merged") == sections(tmp_path / "single")


def test_the_slurm_recipe_runs_shards_then_merges_them() -> None:
    """docs/slurm: the array's command is one the CLI accepts with no --shard (Slurm's variables give it),
    and the merge job's command names the run id the array's tasks write."""
    import shlex

    folder = REPO / "docs" / "slurm"
    array, merge_job = (folder / "fwbench-array.sbatch").read_text(), (folder / "fwbench-merge.sbatch").read_text()
    assert "#SBATCH --array=0-3" in array and "--dependency=afterok" in array
    (run_line,) = [ln for ln in array.splitlines() if ln.startswith(".venv/bin/fwbench ")]
    a = cli.build_parser().parse_args(shlex.split(run_line.replace("${SLURM_ARRAY_TASK_ID}", "0"))[1:])
    assert a.command == "run" and a.shard is None and a.run_id is None and a.backends == ["all"]
    part, run_id = shard.from_environment(
        {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_JOB_ID": "9"}
    )
    assert str(part) == "4/4" and run_id == "slurm-9"
    (merge_line,) = [ln for ln in merge_job.splitlines() if ln.startswith(".venv/bin/fwbench ")]
    m = cli.build_parser().parse_args(shlex.split(merge_line.replace("${FWBENCH_RUN_ID}", run_id))[1:])
    assert m.command == "merge" and m.files == [f"results/shards/*/runs/{run_id}.shard-*.json"]
    assert shard.file_name(run_id, part) == f"{run_id}.shard-4-of-4.json"  # what the merge's glob finds
