"""Process helpers shared by the launcher (bench/launching), the worker and the distributed coordinator:
the tail of a process's stderr, how it exited, killing its session, dying with its parent, and Ctrl-C or
`kill` as a KeyboardInterrupt. Standard library only."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

PR_SET_PDEATHSIG = 1  # prctl(2): the signal the kernel sends this process when its parent dies


def last_lines(text: str, n: int, keep: Callable[[str], bool] = lambda line: True) -> str:
    """The last `n` non-blank lines of `text` that `keep` accepts, joined by newlines."""
    kept = [ln for ln in text.strip().splitlines() if ln.strip() and keep(ln)]
    return "\n".join(kept[-n:])


def exit_description(returncode: int) -> str:
    """ "killed by SIGKILL" for a negative return code (a signal), else "exit code N"."""
    return f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit code {returncode}"


def kill_session(pid: int) -> None:
    """SIGKILL the process group led by `pid` (a process started with start_new_session=True and whatever it
    started); a group already gone, or not ours, is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def die_with_parent() -> bool:
    """Linux: have the kernel SIGKILL this process when its parent dies, even by SIGKILL, so that no orphan
    keeps a core, a port or a GPU. Survives exec, so it also serves as a Popen `preexec_fn` (in a parent with
    one thread). False (nothing done) elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return True


def raise_interrupt(signum: int, frame: object) -> NoReturn:
    """A signal handler: the signal as a KeyboardInterrupt carrying its number."""
    raise KeyboardInterrupt(signum)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Inside: SIGTERM and SIGINT raise KeyboardInterrupt (so that `kill` cleans up like Ctrl-C); the handlers
    before are restored after."""
    previous = signal.signal(signal.SIGTERM, raise_interrupt)  # `kill`: clean up like Ctrl-C
    # Ctrl-C stops the suite even where SIGINT came in ignored (a shell's background job, a CI runner, a test
    # process): Python leaves an inherited SIG_IGN as it is, and the run would go on to the end.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
