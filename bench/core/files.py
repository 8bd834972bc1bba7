"""The one atomic write: a private temporary file in the target's folder, flushed and fsynced, then renamed
over the target, so that a reader (a resumed suite, a parallel worker, a crash) never sees half a file.
Standard library only: the parent and every worker import it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through `write(binary_file)`, then rename into `path` (folders made as needed); on any error the
    temporary file is removed and the error raised, and `path` is as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would outlive the rename: the mode a plain open() gives
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def umask() -> int:
    """The process's umask (read by setting it, and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_npz(path: Path, arrays: Mapping[str, Any]) -> Path:
    """numpy arrays as an uncompressed .npz (np.savez on the open file: no ".npz" appended to a temporary name)."""
    import numpy as np

    return atomic_write(path, lambda f: np.savez(f, **arrays))
