"""Writing several files all-or-nothing: every file is staged first, then all are renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_all(files: dict[Path, tuple[str, int]]) -> None:
    """Stage each file as a temp file beside its target (same filesystem, so the final rename is
    atomic), created with its final mode so a secret is never readable by others, even briefly.
    A failure while staging removes every staged file and leaves all targets untouched."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, (text, mode) in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((Path(name), path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        for staged_file, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                staged_file.unlink()
        raise
    for staged_file, target in staged:
        staged_file.replace(target)
