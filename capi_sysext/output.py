"""Writing results: atomically, never over an existing file unless asked."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from capi_sysext.errors import InputError, Problem


def output_path(target: str, default_name: str) -> Path:
    """-o FILE or -o DIR (existing directory, or a path ending in '/'): DIR/<default_name>.

    Takes the raw string: Path() drops a trailing '/', which would turn a missing DIR/ into FILE.
    """
    path = Path(target)
    if target.endswith(os.sep) or path.is_dir():
        return path / default_name
    return path


def check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise InputError([Problem(f"{path} exists; refusing to overwrite it", "add --force")])
    if not path.parent.is_dir():
        raise InputError(
            [
                Problem(
                    f"directory {path.parent} does not exist",
                    "create it or choose another -o/--output",
                )
            ]
        )


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Readers see the old file or the whole new one, never a half-written one."""
    import tempfile  # only when something is written

    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
