"""Memory figures that do not depend on either framework: process RSS and NVML per-process GPU use.

On CPU the worker's peak RSS (getrusage) is the number; the RSS after imports and after data
loading is recorded too, so that the model's share (peak - after data) is visible. On GPU each
framework's allocator peak is reported by its backend, and NVML's per-process used memory,
sampled in a thread, is the framework-neutral cross-check (it includes the CUDA context and
what the allocator caches, so it is larger than the allocator peak).
"""

from __future__ import annotations

import os
import resource
import threading
from types import TracebackType

import psutil

# What a framework or Python says when an allocation fails: the launcher classifies a dead worker "oom" by them,
# the infer scenario stops growing its batch at them.
OOM_MARKERS = ("MemoryError", "out of memory", "OutOfMemoryError", "OOM when allocating", "ResourceExhaustedError")

MIB = 1024.0**2


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


class NvmlSampler:
    """Samples this process's GPU memory (NVML) every `interval_s` in a daemon thread; keeps the max.

    A no-op where NVML or a GPU is missing (`available` is False, `peak_mib` None)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.available = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self.available = bool(self._handles)
        except Exception:  # no library, no driver, no device: nothing to sample
            self._handles = []

    def sample(self) -> int:
        pid, used = os.getpid(), 0
        for h in self._handles:
            try:
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(h)
            except self._nvml.NVMLError:
                continue
            used += sum(p.usedGpuMemory or 0 for p in procs if p.pid == pid)
        return used

    def energy_mj(self) -> float | None:
        """NVML's total-energy counter (millijoules since the driver loaded, Volta and later) of the GPU
        this process uses (the one where it holds memory; the first otherwise); None without one."""
        if not self.available:
            return None
        pid = os.getpid()
        handle = self._handles[0]
        for h in self._handles:
            try:
                if any(p.pid == pid for p in self._nvml.nvmlDeviceGetComputeRunningProcesses(h)):
                    handle = h
                    break
            except self._nvml.NVMLError:
                continue
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except self._nvml.NVMLError:  # a GPU older than Volta, or a vGPU without the counter
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_bytes = max(self.peak_bytes, self.sample())

    def __enter__(self) -> NvmlSampler:
        self.energy_start_mj = self.energy_mj()
        if self.available:
            self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, self.sample())

    def energy_since_start_j(self) -> float | None:
        """Joules the GPU used since __enter__ (None where the counter is missing)."""
        now = self.energy_mj()
        return (now - self.energy_start_mj) / 1e3 if now is not None and self.energy_start_mj is not None else None

    @property
    def peak_mib(self) -> float | None:
        return self.peak_bytes / MIB if self.available else None
