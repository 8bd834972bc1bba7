"""A user cache of what every run would otherwise remake: generated datasets, the machine's matmul peak and
the torch twins' initial weights (docs/METHODOLOGY.md, "A run's fixed cost").

Each entry is one file named by a hash of its key, and holds that key: an entry is used only when its key
equals the one asked for, so a changed input (a package version, a thread count, the CPU, the source
that makes it) misses and is made afresh. An entry that cannot be read (truncated, corrupt, another
format) is a miss too, and is overwritten. Writes are atomic (a private temporary file, then a rename), so
that parallel workers never read half a file. The cache is optional: a folder that cannot be written costs
the time it would have saved, never a run.

Where: $FWBENCH_CACHE_DIR, else $XDG_CACHE_HOME/fwbench, else ~/.cache/fwbench. FWBENCH_NO_CACHE=1 turns
it off (everything is made afresh and nothing is written).

Bounded: after every write the folder is kept within MAX_MIB (default 2048; $FWBENCH_CACHE_MAX_MIB), the
least recently used entries removed first (an entry read is marked used); base-size initial weights are
hundreds of MiB each, so a bound is what keeps a few runs of them from filling a disk. `fwbench cache list`
shows the entries, `fwbench cache clear` removes them all. Standard library and numpy only: the parent
and every worker import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.errors import UsageError
from bench.core.files import atomic_write

CACHE_ENV = "FWBENCH_CACHE_DIR"
NO_CACHE_ENV = "FWBENCH_NO_CACHE"
KEY_FIELD = "__key__"  # in an .npz entry: its key, as JSON text (a 0-d unicode array)
FORMAT = 1  # part of every key: a change of the entries' layout misses every old entry


def folder() -> Path | None:
    """The cache folder, or None when FWBENCH_NO_CACHE turns the cache off."""
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fwbench"


def canonical(key: Mapping[str, Any]) -> str:
    return json.dumps({"format": FORMAT, **key}, sort_keys=True)


def entry_path(kind: str, key: Mapping[str, Any], suffix: str) -> Path | None:
    """Where the entry of `kind` ("peak", "data", "init") for `key` lives; None with the cache off."""
    base = folder()
    if base is None:
        return None
    digest = hashlib.sha256(canonical(key).encode()).hexdigest()[:24]
    return base / kind / f"{digest}{suffix}"


def sources_sha256(paths: Iterable[Path]) -> str:
    """One hash of the files' names and contents (the source that makes a cached thing)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def version(package: str) -> str | None:
    """An import package's installed version: its distribution may carry a suffix (tensorflow-cpu)."""
    for dist in (package, f"{package}-cpu", f"{package}-gpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stored(path: Path, write: Any) -> Path | None:
    """`path` written atomically through `write(binary_file)` (bench.core.files), then the folder kept within
    its bound; or None (nothing left behind) where the folder cannot be written: the cache is optional."""
    try:
        written = atomic_write(path, write)
    except OSError:
        return None
    evict(max_bytes(), keep=written)
    return written


MAX_ENV = "FWBENCH_CACHE_MAX_MIB"
MAX_MIB = 2048.0  # the default bound


def max_bytes() -> int:
    """The bound: $FWBENCH_CACHE_MAX_MIB (a number of MiB, > 0), else MAX_MIB."""
    given = os.environ.get(MAX_ENV, "")
    try:
        mib = float(given) if given else MAX_MIB
    except ValueError:
        mib = -1.0
    if not mib > 0:
        raise UsageError(f"{MAX_ENV}={given!r}: must be a number of MiB above 0 (default {MAX_MIB:g})")
    return int(mib * 2**20)


def bound_text() -> str:
    return f"{MAX_MIB:g} MiB, ${MAX_ENV}"


def entries() -> list[tuple[Path, int, float]]:
    """Every entry file: (path, bytes, last use as a POSIX time), least recently used first."""
    base = folder()
    if base is None or not base.is_dir():
        return []
    found = []
    for p in base.glob("*/*"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile
            continue
        if p.is_file():
            found.append((p, st.st_size, st.st_mtime))
    return sorted(found, key=lambda e: e[2])


def touch(path: Path) -> None:
    """Mark an entry used (its modification time: what eviction orders by)."""
    try:
        os.utime(path)
    except OSError:
        pass


def evict(limit: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries until the folder holds at most `limit` bytes (never `keep`, the
    entry just written); the paths removed."""
    found = entries()
    total = sum(size for _, size, _ in found)
    removed = []
    for path, size, _ in found:
        if total <= limit:
            break
        if path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed


def command(action: str) -> int:
    """`fwbench cache list | clear`: print the entries (kind, size, last use) and their total, or remove them all."""
    base, found = folder(), entries()
    total_mib = sum(size for _, size, _ in found) / 2**20
    if base is None:
        print(f"the cache is off ({NO_CACHE_ENV})")
    elif action == "clear":
        for path, _, _ in found:
            path.unlink(missing_ok=True)
        print(f"{base}: removed {len(found)} entries, {total_mib:.1f} MiB")
    else:
        for path, size, used in found:
            when = datetime.fromtimestamp(used, UTC).isoformat(timespec="seconds")
            print(f"{path.parent.name:6} {size / 2**20:9.1f} MiB  {when}  {path.name}")
        print(f"{base}: {len(found)} entries, {total_mib:.1f} MiB (bound {max_bytes() / 2**20:g} MiB, ${MAX_ENV})")
    return 0


def read_json(kind: str, key: Mapping[str, Any]) -> tuple[dict[str, Any], Path] | None:
    """The stored document of a JSON entry and its path, or None: no entry, unreadable, or another key."""
    path = entry_path(kind, key, ".json")
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("key") != json.loads(canonical(key))
        or not isinstance(doc.get("value"), dict)
    ):
        return None
    touch(path)
    return doc, path


def write_json(kind: str, key: Mapping[str, Any], value: Mapping[str, Any]) -> Path | None:
    """Store `value` (a JSON object) under `key`, with the time it was made; its path, or None if not stored."""
    path = entry_path(kind, key, ".json")
    if path is None:
        return None
    text = json.dumps({"key": json.loads(canonical(key)), "stored_at": now(), "value": dict(value)}, indent=1)
    return stored(path, lambda f: f.write(text.encode()))


def read_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Every array of an .npz file, or None where it is missing or unreadable (truncated, not a zip, a bad
    member)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def read_npz(kind: str, key: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], Path] | None:
    """The arrays of an .npz entry (without its key) and its path, or None: no entry, unreadable, another key."""
    path = entry_path(kind, key, ".npz")
    arrays = read_arrays(path) if path is not None else None
    if path is None or arrays is None:
        return None
    stored = arrays.pop(KEY_FIELD, None)
    if stored is None or stored.shape != () or str(stored) != canonical(key):
        return None
    touch(path)
    return arrays, path


def write_npz(kind: str, key: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path | None:
    """Store `arrays` under `key` (uncompressed: reading back is the point); its path, or None if not stored."""
    path = entry_path(kind, key, ".npz")
    if path is None:
        return None
    if KEY_FIELD in arrays:
        raise ValueError(f"an array may not be named {KEY_FIELD!r}: the cache keeps the entry's key there")
    payload = {**arrays, KEY_FIELD: np.array(canonical(key))}
    return stored(path, lambda f: np.savez(f, **payload))
