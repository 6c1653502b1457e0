"""Writing results: atomically, never over an existing file unless asked, and only over files.

Rules (README, "Bounds: time, size, files"): only a regular file is ever replaced (--force over
a FIFO, a device, a directory or a symlink is refused: renaming over a symlink would silently
turn the user's link into a file, and a FIFO or device is not ours to replace); new files get
the mode the user's umask gives (mkstemp alone would make them 0600); and a write that fails
(read-only directory, name too long, full disk) is an error message, with the temporary file
removed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from capi_sysext.errors import CapiSysextError, InputError, Problem


class OutputError(CapiSysextError):
    """The file system refused a write (exit 1: the environment, not the input, is at fault)."""


def output_path(target: str, default_name: str) -> Path:
    """-o FILE or -o DIR (existing directory, or a path ending in '/'): DIR/<default_name>.

    Takes the raw string: Path() drops a trailing '/', which would turn a missing DIR/ into FILE.
    """
    path = Path(target)
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # e.g. ENAMETOOLONG, which is_dir() does not swallow
        raise InputError(
            [Problem(f"cannot use {target}: {exc.strerror or exc}", "choose another -o/--output")]
        ) from None
    if target.endswith(os.sep) or is_dir:
        return path / default_name
    return path


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_all_writable(paths: Iterable[Path], force: Callable[[Path], bool]) -> None:
    """check_writable for every path, raising one InputError with every refusal at once."""
    refused: list[Problem] = []
    for path in paths:
        try:
            check_writable(path, force(path))
        except InputError as exc:
            refused += exc.problems
    if refused:
        raise InputError(refused)


def check_writable(path: Path, force: bool) -> None:
    try:
        st = path.lstat()  # lstat: a symlink is judged as itself, not by its target
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(
            [Problem(f"cannot use {path}: {exc.strerror or exc}", "choose another -o/--output")]
        ) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(
            [
                Problem(
                    f"{path} is {_kind(st.st_mode)}; only a regular file is ever replaced",
                    "choose another -o/--output (or write to stdout and redirect)",
                )
            ]
        )
    if st is not None and not force:
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


def _umask_mode() -> int:
    """0666 minus the umask: what open(..., 'w') would have created."""
    # os.umask can only be read by setting it; set it straight back (single-threaded here).
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Readers see the old file or the whole new one, never a half-written one.

    Raises OSError (callers with a fallback, like the cache, catch it); see write_output.
    """
    import tempfile  # only when something is written

    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), _umask_mode() if mode is None else mode)
            os.fsync(fh.fileno())
        # rename() replaces the directory entry itself: a symlink planted at `path` since
        # check_writable is replaced, never followed.
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def write_output(path: Path, data: str | bytes, force: bool = True) -> None:
    """write_atomic for a user-chosen -o target: re-checks it and turns OSError into a message."""
    check_writable(path, force)
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise OutputError(
            [
                Problem(
                    f"cannot write {path}: {exc.strerror or exc}; nothing was written",
                    "choose another -o/--output, or free space / fix permissions there",
                )
            ]
        ) from None


def write_files(files: dict[Path, str]) -> None:
    """Several -o targets all or nothing (writeset.write_all), each already check_writable'd;
    new files get the umask's mode, and a failure is a message with nothing written."""
    from capi_sysext.writeset import write_all

    mode = _umask_mode()
    try:
        write_all({path: (text, mode) for path, text in files.items()})
    except OSError as exc:
        raise OutputError(
            [
                Problem(
                    f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}; "
                    "nothing was written",
                    "choose another -o/--output, or free space / fix permissions there",
                )
            ]
        ) from None
