"""The environment a suite ran in, gathered without importing torch or tensorflow."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench import REPO

PACKAGES = (
    "torch",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "jax",
    "jaxlib",
    "numpy",
    "scipy",
    "scikit-learn",
    "gymnasium",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_bf16",
    "amx_tile",
    "asimd",
    "sve",
)


def cpu_info() -> dict[str, Any]:
    """The vector instruction sets (of ISA_FLAGS) and the current clock of CPU 0, from /proc/cpuinfo
    (Linux x86 and Arm); the maximum clock from cpufreq where the kernel exposes it."""
    out: dict[str, Any] = {"cpu_isa": None, "cpu_mhz": None, "cpu_max_mhz": None}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("flags", "Features") and out["cpu_isa"] is None:
            flags = set(value.split())
            out["cpu_isa"] = [f for f in ISA_FLAGS if f in flags]
        elif key == "cpu MHz" and out["cpu_mhz"] is None:
            out["cpu_mhz"] = float(value)
    try:
        out["cpu_max_mhz"] = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000
    except (OSError, ValueError):
        pass
    return out


FMA_UNITS_ASSUMED = 2  # per core: true of current server cores (Zen 2-5, Intel Xeon Gold/Platinum); some have 1


def theoretical_peak_gflops(environment: dict[str, Any], threads: int) -> tuple[float, str] | None:
    """float32 peak of `threads` cores: cores x clock x vector lanes x 2 (FMA) x FMA_UNITS_ASSUMED, where the
    instruction sets and the clock are recorded; None otherwise. With the assumption, in words."""
    isa = environment.get("cpu_isa")
    mhz = environment.get("cpu_max_mhz") or environment.get("cpu_mhz")
    if not isa or not mhz or "fma" not in isa:
        return None
    lanes = 16 if "avx512f" in isa else 8 if "avx2" in isa or "avx" in isa else 4
    peak = threads * mhz / 1e3 * lanes * 2 * FMA_UNITS_ASSUMED
    return peak, (
        f"{threads} core(s) x {mhz / 1e3:.2f} GHz x {lanes} fp32 lanes x 2 (FMA) x {FMA_UNITS_ASSUMED} FMA units "
        "assumed"
    )


def git_commit() -> str | None:
    here = REPO
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def gpus() -> list[dict[str, Any]]:
    """GPU model, driver and memory from NVML (nvidia-ml-py), or [] where there is none."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            out.append(
                {
                    "index": i,
                    "name": pynvml.nvmlDeviceGetName(h),
                    "memory_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total / 1024**2,
                    "driver": driver,
                    "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
                }
            )
        return out
    finally:
        pynvml.nvmlShutdown()


def collect() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "hostname": platform.node(),
        **cpu_info(),
        "git_commit": git_commit(),
        "packages": package_versions(),
        "gpus": gpus(),
    }


def device_model(environment: dict[str, Any], device: str) -> str:
    """The hardware a number belongs to: the GPU name for cuda, the CPU model for cpu."""
    if device == "cuda" and environment.get("gpus"):
        return str(environment["gpus"][0]["name"])
    return str(environment.get("cpu_model", "unknown"))
