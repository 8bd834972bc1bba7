"""Contention: a run that did not get the cores it asked for is flagged, and never starred."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench import contention, results

from .conftest import fwbench

HOG_S = 240  # the hog stops by itself even if the test is killed


@contextmanager
def cpu_hog() -> Iterator[subprocess.Popen[bytes]]:
    """One process spinning on one core, bounded in time, killed on exit."""
    code = f"import time\nend = time.monotonic() + {HOG_S}\nwhile time.monotonic() < end:\n    pass\n"
    hog = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()


def test_the_rule_in_numbers() -> None:
    start = contention.Snapshot(process_cpu_s=10.0, busy_s=100.0, steal_s=1.0)

    def usage(own_s: float, busy_s: float, steal_s: float, threads: int, cpus: int) -> contention.CpuUsage:
        end = contention.Snapshot(10.0 + own_s, 100.0 + busy_s, 1.0 + steal_s)
        return contention.usage(start, end, wall_s=10.0, threads=threads, cpus=cpus)

    idle = usage(own_s=19.0, busy_s=19.5, steal_s=0.0, threads=2, cpus=2)  # 0.05 cores of others
    assert idle.contended is False and idle.others_cores == pytest.approx(0.05) and idle.received_share == 0.95
    hogged = usage(own_s=10.0, busy_s=20.0, steal_s=0.0, threads=2, cpus=2)  # another process took a core
    assert hogged.contended is True and hogged.others_cores == pytest.approx(1.0)
    assert "other processes used 1.00 cores" in hogged.reason
    spare = usage(own_s=10.0, busy_s=20.0, steal_s=0.0, threads=1, cpus=2)  # ...but not one this run asked for
    assert spare.contended is False
    stolen = usage(own_s=15.0, busy_s=15.0, steal_s=5.0, threads=2, cpus=2)  # the hypervisor took half a core
    assert stolen.contended is True and stolen.steal_cores == pytest.approx(0.5)
    unknown = contention.usage(start, contention.Snapshot(20.0, None, None), wall_s=10.0, threads=2, cpus=2)
    assert unknown.contended is None and unknown.received_share == 0.5  # never "not contended" without evidence


@pytest.mark.slow
@pytest.mark.alone  # it measures contention: the hog must be the only other load
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_a_cell_beside_a_cpu_hog_is_flagged_contended_and_unstarred(tmp_path) -> None:
    cpus = len(os.sched_getaffinity(0))
    out = tmp_path / "out"
    with cpu_hog():
        p = fwbench(
            "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "torchscript", "--repeats", "3",
            "--epochs", "10", "--threads", str(cpus), "--out", str(out), timeout=600,
        )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    suite = results.load(next((out / "runs").glob("*.json")))
    assert len(suite.results) == 6 and all(r.ok for r in suite.results)
    for r in suite.results:
        assert r.contended, r.cpu
        assert r.cpu["others_cores"] > 0.5 and "other processes used" in r.cpu["reason"]
    assert re.search(r"warning: 6 of 6 run\(s\) were contended", p.stderr), p.stderr[-2000:]
    text = (out / "REPORT.md").read_text()
    assert "**Warning: 6 of 6 runs were contended**" in text
    section = text.split("### mlp-iris\n", 1)[1]
    row = next(ln for ln in section.splitlines() if ln.startswith("| torchscript "))
    ratio = row.split("|")[6].strip()
    assert re.fullmatch(r"\d+\.\d\d", ratio), row  # a number, no star: 3 runs a side, but contended
    assert "(3 contended)" in row


def test_the_advice_is_one_rule_and_always_possible() -> None:
    """Fewer threads only where a run has more than one; a busy-time sample above the CPUs never reads as a
    negative idle count (it once printed "-0.0 of 2 usable CPUs")."""
    assert "--threads 1 " in contention.advice(2) and "--threads 3 " in contention.advice(4)
    assert "--threads" not in contention.advice(1) and "idle" in contention.advice(1)
    described = contention.IdleCpus(cpus=2, busy_cores=2.04, threads=1).describe()
    assert "0.0 of 2 usable CPUs were idle" in described and "-0.0" not in described
