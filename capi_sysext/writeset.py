"""Writing several files all-or-nothing: every file is staged first, then all are renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

_BATCH = 128  # files staged (open) at once before their fsyncs


def write_all(files: dict[Path, tuple[str, int]]) -> None:
    """Stage each file as a temp file beside its target (same filesystem, so the final rename is
    atomic), created with its final mode so a secret is never readable by others, even briefly.
    A failure while staging removes every staged file and leaves all targets untouched.

    Files are written in batches before any of them is synced, so a journaling filesystem can
    commit a batch together rather than one file per commit. Each file is still synced before
    the renames (else a crash could leave a renamed, empty file), and each directory once after
    them, so the renames themselves are durable."""
    staged: list[tuple[Path, Path]] = []
    unsynced: list[int] = []
    try:
        for path, (text, mode) in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            unsynced.append(fd)
            staged.append((Path(name), path))
            os.fchmod(fd, mode)
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data) :]
            # In batches: a fleet of thousands must not run out of file descriptors.
            if len(unsynced) >= _BATCH:
                _sync_and_close(unsynced)
        _sync_and_close(unsynced)
    except BaseException:
        for fd in unsynced:
            os.close(fd)
        for staged_file, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                staged_file.unlink()
        raise
    for staged_file, target in staged:
        staged_file.replace(target)
    for directory in dict.fromkeys(target.parent for _, target in staged):
        _sync_directory(directory)


def _sync_and_close(fds: list[int]) -> None:
    """fsync then close each descriptor, taking each off the list once it is closed."""
    while fds:
        fd = fds[-1]
        try:
            os.fsync(fd)
        finally:
            fds.pop()
            os.close(fd)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. no read permission on the directory: the files are in place anyway
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot sync a directory
            os.fsync(fd)
    finally:
        os.close(fd)
