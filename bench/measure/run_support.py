"""What every measured run does around its measurement, whichever scenario or rank runs it: the shared
initial weights loaded, the framework's import and the model's build without the cyclic collector, the
isolation tests' fault injected, and the warnings a run met as record lines. Framework-neutral."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Initial weights from an .npz (canonical layout, as the "export-init" job writes them), no pickles."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def inject(
    fault: str | None, who: str = "fwbench worker", crash_signal: int = signal.SIGSEGV, hang_forever: bool = False
) -> None:
    """Fault injection for the isolation tests (RunConfig.fault; "diverge" is the harness's poison_step):
    "crash" sends `crash_signal` to this process (a worker: SIGSEGV, as a native crash; a rank: SIGKILL),
    "hang" sleeps an hour (for ever with `hang_forever`), "raise" raises, "oom" fails a real allocation.
    `who` names the process in the line written to stderr first."""
    if fault:
        print(f"{who}: injecting fault {fault!r}", file=sys.stderr, flush=True)
    if fault == "crash":
        os.kill(os.getpid(), crash_signal)
    elif fault == "hang":
        time.sleep(3600)
        while hang_forever:
            time.sleep(3600)
    elif fault == "raise":
        raise RuntimeError("injected failure")
    elif fault == "oom":  # a real failed allocation: address space capped just above what is in use
        import resource

        import psutil

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + 2**28, hard))
        np.empty(2**33, dtype=np.uint8)  # 8 GiB, never touched: fails at the mapping, takes no memory


@contextlib.contextmanager
def collected_after() -> Iterator[None]:
    """The framework's import and the model's build without Python's cyclic collector, then one full
    collection: during an import the collector walks the framework's fresh objects again and again (about
    0.5 s of torch's 3 s start, 1 s of TensorFlow's); after the one collection the timed steps start as
    after an ordinary start, every survivor in the oldest generation."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def warning_lines(caught: Sequence[warnings.WarningMessage], most: int = 20) -> list[str]:
    """The distinct warnings a run met, in order, one line each ("Category: first line of the message")."""
    seen = dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}" for w in caught)
    return list(seen)[:most]
