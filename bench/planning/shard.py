"""One plan over several machines: `fwbench run --shard K/N` runs a part of it, `fwbench merge` joins the parts.

The part is deterministic and needs no shared state: run i of the plan's interleaved order
(SuitePlan.runs) belongs to shard (i mod N) + 1. Every machine given the same plan computes the same
parts, disjoint and covering the plan, each a mix of the plan's backends and workloads in its seeded
order (so drift of one machine hits them alike) and within one run of the others in size. The cost model is therefore the
stated default, every run alike: a machine's own estimates would give every machine other parts.

Where `--shard` is not given, a scheduler's index variables give it: a Slurm job array's
(SLURM_ARRAY_TASK_ID, counted from SLURM_ARRAY_TASK_MIN, and SLURM_ARRAY_TASK_COUNT; the array's job id is
the shared run id), or a Kubernetes Indexed Job's (JOB_COMPLETION_INDEX, 0-based, which Kubernetes sets in
each pod, and FWBENCH_SHARD_COUNT, which the Job's pod template sets to its `completions`: Kubernetes
gives a pod its index but not the count; the run id is `--run-id`). GitHub Actions' matrix passes
`--shard` itself (.github/workflows/nightly.yml).
Shards that ran on different hardware (device models: a GPU's name, a CPU's model) are merged per device
model, never pooled (`merge_by_device`), and the report compares the devices (bench/report/devices.py).
Only the registries are imported: no framework.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.core.errors import UsageError
from bench.core.spec import RunKey
from bench.machine.env import device_model
from bench.records.results import Result, Suite


@dataclass(frozen=True)
class Shard:
    index: int  # 1..count
    count: int
    source: str = "--shard"  # where it came from: "--shard" or the scheduler's variables

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def part(self, runs: Sequence[RunKey]) -> list[RunKey]:
        """This shard's runs of the plan's runs, in their order."""
        return [k for i, k in enumerate(runs) if i % self.count == self.index - 1]


def parse(text: str, source: str = "--shard") -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise UsageError(f"{source} {text!r}: expected K/N with 1 <= K <= N, e.g. 2/3")
    return Shard(int(m[1]), int(m[2]), source)


K8S_INDEX = "JOB_COMPLETION_INDEX"
K8S_COUNT = "FWBENCH_SHARD_COUNT"


def from_environment(environ: Mapping[str, str]) -> tuple[Shard, str] | None:
    """The shard and the shared run id ("" where the scheduler gives none) that a Slurm job array or a
    Kubernetes Indexed Job gives its task, or None outside both."""
    task, count = environ.get("SLURM_ARRAY_TASK_ID"), environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return from_kubernetes(environ)
    where = f"SLURM_ARRAY_TASK_ID={task} SLURM_ARRAY_TASK_COUNT={count}"
    try:
        index = int(task) - int(environ.get("SLURM_ARRAY_TASK_MIN", "0")) + 1
        shard = parse(f"{index}/{int(count)}", where)
    except ValueError:
        raise UsageError(f"{where}: not a job array's task (integers expected)") from None
    job = environ.get("SLURM_ARRAY_JOB_ID", "")
    run_id = f"slurm-{job}" if re.fullmatch(r"\d+", job) else ""
    return Shard(shard.index, shard.count, "Slurm"), run_id


def from_kubernetes(environ: Mapping[str, str]) -> tuple[Shard, str] | None:
    """The shard of a Kubernetes Indexed Job's pod: JOB_COMPLETION_INDEX (0-based) of FWBENCH_SHARD_COUNT."""
    index = environ.get(K8S_INDEX)
    if index is None:
        return None
    count = environ.get(K8S_COUNT)
    if count is None:
        raise UsageError(
            f"{K8S_INDEX}={index} (a Kubernetes Indexed Job) without {K8S_COUNT}: set it to the Job's completions "
            "in the pod template, or give --shard K/N"
        )
    where = f"{K8S_INDEX}={index} {K8S_COUNT}={count}"
    if not (index.isdigit() and count.isdigit()):
        raise UsageError(f"{where}: not an Indexed Job's pod (integers expected)")
    shard = parse(f"{int(index) + 1}/{int(count)}", where)
    return Shard(shard.index, shard.count, "Kubernetes"), ""


def chosen_shard(
    given: str | None, run_id: str | None, resumed: Suite | None, environ: Mapping[str, str]
) -> tuple[Shard | None, str]:
    """(the shard to run or None, the run id the shards share or ""): a resumed suite's own, else --shard
    (`given`) and --run-id, else a scheduler's variables in `environ` (from_environment; said on stderr), else
    the whole plan under a new id."""
    if resumed is not None:
        return (parse(resumed.shard, resumed.run_id) if resumed.shard else None), resumed.run_id
    run_id = run_id or ""
    if run_id and (Path(run_id).name != run_id or run_id.startswith(".") or not run_id.isprintable()):
        raise UsageError(f"--run-id {run_id!r}: a file name without folders (letters, digits, - and _)")
    part = parse(given) if given else None
    if part is None and (found := from_environment(environ)) is not None:
        part, env_id = found
        run_id = run_id or env_id
        print(f"fwbench: running shard {part} of the plan, from the {part.source} task's index", file=sys.stderr)
    if part is not None and not run_id:
        raise UsageError(f"--shard {part}: give --run-id ID, the same on every shard, so that their files merge")
    return part, run_id


def file_name(run_id: str, shard: Shard | None) -> str:
    """The results file of a run id, or of one shard of it (runs/<run id>.shard-K-of-N.json)."""
    return f"{run_id}.json" if shard is None else f"{run_id}.shard-{shard.index}-of-{shard.count}.json"


def describe_missing(keys: Sequence[RunKey], limit: int = 12) -> str:
    shown = ", ".join(f"{k.workload}/{k.backend} seed {k.seed} #{k.repeat}" for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


# What may differ between shards of one plan: each machine measures its own idle CPUs.
PER_MACHINE_PLAN_FIELDS = ("threads", "threads_source", "worker_cpus")


def device_of(s: Suite) -> str:
    """The hardware a shard's numbers belong to (bench.machine.env.device_model: the GPU's name, or the CPU's model)."""
    return device_model(s.environment, s.plan.device if s.plan else "cpu")


def merge_by_device(files: Sequence[tuple[Path, Suite]]) -> list[Suite]:
    """The shards of one plan joined per device model: shards that ran on the same hardware make one suite
    (`merge`), and each device model its own, so that numbers of different hardware are never pooled. With
    more than one device model each suite's run id gains the device's slug (ID.<slug>), and each is checked
    for the whole plan: a device that ran some of the shards only is partial, and says which runs it lacks."""
    if not files:
        raise UsageError("fwbench merge: no results files given")
    by_device: dict[str, list[tuple[Path, Suite]]] = {}
    for path, s in files:
        by_device.setdefault(device_of(s), []).append((path, s))
    if len(by_device) == 1:
        return [merge(files)]
    first_path, first = files[0]
    for path, s in files:  # one plan and run id across every device too
        if s.run_id != first.run_id:
            raise UsageError(f"{path}: run id {s.run_id!r}, not {first.run_id!r} of {first_path}: not one plan")
    return [replace(merge(group), run_id=f"{first.run_id}.{slug(model)}") for model, group in by_device.items()]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def merge(files: Sequence[tuple[Path, Suite]]) -> Suite:
    """The shards of one plan as one suite. Refuses (UsageError) files of other run ids or plans, a file that
    is not a shard, two shards of one index, and a run key in two files (naming both); a lost shard or run
    is allowed, and its keys are listed in `missing` (the report calls the suite partial). The environment
    is the first shard's; every shard's is kept under environment["shards"]."""
    if not files:
        raise UsageError("fwbench merge: no results files given")
    first_path, first = files[0]
    if first.plan is None:
        raise UsageError(f"{first_path}: converted from another tool: it has no plan to merge on")
    common = {k: v for k, v in first.plan.to_dict().items() if k not in PER_MACHINE_PLAN_FIELDS}
    seen_index: dict[str, Path] = {}
    owner: dict[RunKey, Path] = {}
    merged: list[Result] = []
    for path, s in files:
        if s.shard is None:
            raise UsageError(f"{path}: not a shard (no 'shard'): merge joins the files of `fwbench run --shard K/N`")
        if s.run_id != first.run_id:
            raise UsageError(f"{path}: run id {s.run_id!r}, not {first.run_id!r} of {first_path}: not one plan")
        plan = {k: v for k, v in s.plan.to_dict().items() if k not in PER_MACHINE_PLAN_FIELDS} if s.plan else None
        if plan != common:
            differ = sorted(k for k in common if plan is None or plan.get(k) != common[k])
            raise UsageError(f"{path}: its plan differs from {first_path}'s in {', '.join(differ)}")
        if s.shard in seen_index:
            raise UsageError(f"{path} and {seen_index[s.shard]} are both shard {s.shard}")
        seen_index[s.shard] = path
        for r in s.results:
            key = r.key(first.plan.seed)
            if key in owner and owner[key] != path:
                raise UsageError(
                    f"run {describe_missing([key])} is in both {owner[key]} and {path}: a run is merged once"
                )
            owner[key] = path
            merged.append(r)
    missing = [k for k in first.plan.runs() if k not in owner]
    counts = {int(s.shard.split("/")[1]) for _, s in files if s.shard}
    lost = sorted({f"{i}/{n}" for n in counts for i in range(1, n + 1)} - set(seen_index))
    return Suite(
        run_id=first.run_id,
        created_at=min(s.created_at for _, s in files),
        command=first.command,
        plan=first.plan,
        environment={**first.environment, "shards": {s.shard: s.environment for _, s in files}},
        results=merged,
        finished_at=max((s.finished_at for _, s in files if s.finished_at), default=None),
        redone=[r for _, s in files for r in s.redone],
        missing=[describe_missing([k]) for k in missing] + [f"shard {x}: no file" for x in lost],
    )
