"""Crash-safe file writes: write to a temporary sibling, fsync, then rename into place."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import UserError
from .faults import fault_point


class DiskError(UserError):
    """A write the disk refused (full, read-only, no permission): what to fix, and that the old file is intact."""

    REASONS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied"}

    def __init__(self, path: Path, exc: OSError):
        why = self.REASONS[exc.errno]
        super().__init__(f"cannot write {path}: {why}. The previous version of that file (if any) is intact; free space or choose a "
                         "writable run.output_dir, then resume with `python train.py --resume auto`")


def fsync_dir(path: str | Path) -> None:
    """fsync a directory so that a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    with staged_bytes(path, data) as commit:
        commit()


@contextlib.contextmanager
def staged_bytes(path: str | Path, data: bytes) -> Iterator:
    """`data` written and fsynced to a temporary sibling of `path`; `commit()` renames it into place.
    Leaving the block without committing (or on an error) removes the temporary file. A write the
    disk refuses (full, read-only) is a `DiskError` naming the file; the old file stays as it was."""
    path = Path(path)
    tmp = None
    committed = False

    def commit() -> None:
        nonlocal committed
        fault_point("before-rename", path)
        os.replace(tmp, path)
        committed = True
        fault_point("after-rename", path)
        fsync_dir(path.parent)

    try:
        with disk_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                half = len(data) // 2
                handle.write(data[:half])
                fault_point("mid-write", path)
                handle.write(data[half:])
                handle.flush()
                os.fsync(handle.fileno())
        yield commit
    finally:
        if tmp is not None and not committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@contextlib.contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """An OSError of a full, read-only or forbidden disk inside the block becomes a DiskError naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DiskError.REASONS:
            raise DiskError(path, exc) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_directory(final: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to `final` only if the block succeeds.

    On any exception the temporary directory is removed, so a failed build leaves nothing behind.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
