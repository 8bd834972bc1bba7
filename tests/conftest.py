"""Shared test helpers. The test process itself imports neither torch nor tensorflow: anything that
needs a framework runs in a worker subprocess (fwbench run, bench.measure.parity).

Under pytest-xdist (`pytest -n 2`, the README's command) two test processes share the machine. A test
that measures timing or contention is marked `alone`: it waits until the other worker's current test
has ended and holds the machine to itself while it runs (a readers-writer lock on two files, taken in
`pytest_runtest_protocol`: every other test holds it shared). `--dist loadfile` keeps each test file on one
worker, so a module fixture runs once; a run that tests in several files read is a session fixture that
runs once across the workers (`shared_run`)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.core import backends
from bench.core.plan import SuitePlan
from bench.records import results

REPO = Path(__file__).resolve().parent.parent


def small_plan(**kw: object) -> SuitePlan:
    """A one-workload CPU plan of torch-eager and keras (mlp-iris, quick profile, one thread), with `kw` changed."""
    base = dict(
        workloads=("mlp-iris",), backends=("torch-eager", "keras"), device="cpu", profile="quick", repeats=1,
        seed=0, init="shared", threads=1, interop_threads=1, deterministic=False, time_limit_s=60.0,
    )  # fmt: skip
    return SuitePlan(**{**base, **kw})  # type: ignore[arg-type]


# No redo of contended runs unless a test asks for it (--redo-contended N): under xdist the contention is the
# other test worker, and waiting for it to be quiet would only stretch the suite (bench/cli.py, REDO_ENV).
os.environ["FWBENCH_REDO_CONTENDED"] = "0"
# A cache of the test session's own (bench/core/cache.py): tests never read or fill the user's ~/.cache/fwbench.
os.environ.setdefault("FWBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="fwbench-test-cache-"))


# pyproject.toml's extra that brings each backend's missing packages
EXTRA_OF_PACKAGE = {"jax": "jax", "torch": "cpu", "tensorflow": "cpu", "keras": "cpu"}


def install_hint(*names: str) -> str | None:
    """Why tests of these backends cannot run here, naming the install that enables them; None when they
    can. A test that needs an optional extra skips with this reason (and `.ci/run` installs every extra)."""
    missing = sorted({p for n in names for p in backends.get(n).missing()})
    if not missing:
        return None
    extras = ",".join(sorted({EXTRA_OF_PACKAGE.get(p, "cpu") for p in missing}))
    return f"needs {', '.join(missing)} ({', '.join(names)}): pip install -e '.[{extras}]'"


def cpu_backends_installed() -> list[str]:
    return [b.name for b in backends.BACKENDS.values() if b.runs_on("cpu") and b.installed()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Each test, its fixtures' setup and teardown included, under the machine lock (xdist only)."""
    run_uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_uid is None:  # one test process: nothing to share the machine with
        yield
        return
    alone = item.get_closest_marker("alone") is not None
    base = Path(tempfile.gettempdir()) / f"fwbench-pytest-{run_uid}"
    with open(f"{base}.turnstile", "a") as turnstile, open(f"{base}.lock", "a") as machine:
        # A writer ("alone") holds the turnstile until it is done, so no new shared holder can start
        # while it waits for the current one to end: it cannot be starved.
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(machine, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


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


# Session fixtures: one real run serves every test that reads it, instead of each test training its own.
# Each is a `fwbench run` as a user types it; the tests that read them say what they check.


def shared_run(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str) -> tuple[Path, results.Suite]:
    """`fwbench run ARGS --out FOLDER` once per test session, xdist workers included: the first worker to
    ask runs it holding a file lock, the others wait for it and read the same folder (xdist's recipe for
    session fixtures). A failed run fails every reader with its stderr; it is not run again."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the folder the workers share
    out, outcome = root / name, root / f"{name}.outcome.json"
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            p = fwbench("run", *args, "--out", str(out))
            outcome.write_text(json.dumps({"returncode": p.returncode, "stderr": p.stderr[-3000:]}))
    done = json.loads(outcome.read_text())
    assert done["returncode"] == 0, done["stderr"]
    (path,) = sorted((out / "runs").glob("*.json"))
    return out, results.load(path)


@pytest.fixture(scope="session")
def iris_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, results.Suite]:
    """`fwbench run --workloads mlp-iris` on every backend that runs on this CPU (and is installed), quick
    profile (mlp-iris: its full 100 epochs), one seed. Read by tests/test_end_to_end.py (every backend
    reaches the target), tests/test_tiers.py (default beside tuned) and tests/test_keras_backends.py (Keras
    on JAX and PyTorch). Its folder is shared: a test that writes there works on a copy."""
    return shared_run(
        tmp_path_factory,
        "iris-suite",
        "--workloads",
        "mlp-iris",
        "--backends",
        *cpu_backends_installed(),
        "--seeds",
        "1",
    )


@pytest.fixture(scope="session")
def keras_rl_gan_suite(tmp_path_factory: pytest.TempPathFactory) -> results.Suite:
    """The DQN and the GAN, one epoch, on every Keras path: TensorFlow's compiled step, Keras on JAX and on
    PyTorch, `fit`'s train_on_batch and TensorFlow's eager mode. The DQN's step is backend-neutral; the
    GAN's is written in TensorFlow (unsupported elsewhere, in words). Read by test_keras_backends.py and
    test_tiers.py."""
    keras_paths = [b for b in ("keras", "keras-jax", "keras-torch", "keras-fit", "keras-eager") if not install_hint(b)]
    _, suite = shared_run(
        tmp_path_factory, "keras-rl-gan", "--workloads", "dqn-cartpole", "dcgan-digits", "--backends", *keras_paths,
        "--epochs", "1", "--threads", "1", "--seeds", "1",
    )  # fmt: skip
    return suite


def prose(text: str) -> str:
    """A report's text with its folded prose lines joined again (bench.report.document.wrap_prose folds them at 100
    columns): a phrase can be looked for whole. Table rows, headings and blank lines stay as they are."""
    return re.sub(r"(?<=[^\n])\n {0,2}(?=[^\n|#! ])", " ", text)
