"""Shared test helpers. The test process itself imports neither torch nor tensorflow: anything that
needs a framework runs in a worker subprocess (fwbench run, bench.parity)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def fwbench(
    *args: str, timeout: float = 900, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (`python -m bench ...`), capturing output; `env` adds variables."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
