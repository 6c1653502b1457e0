"""Reading user-named inputs (files, FIFOs such as <(...), stdin) with a size bound.

`-f /dev/zero` or an endless pipe must end in a message, not in memory exhaustion: at most
MAX_INPUT_BYTES are read, one more byte proves the input too large.
"""

import os
import sys

from capi_sysext.errors import InputError, Problem

# Generated cluster definitions are ~10-200 KiB; 16 MiB leaves room for any real manifest set.
MAX_INPUT_BYTES = 16 << 20


def read_bounded(name: str, flag: str, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of file `name` ('-': stdin); InputError naming `flag` otherwise."""
    label = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(name, "rb") as fh:  # noqa: PTH123 - keeps pathlib off this path
                data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(
            [Problem(f"cannot read {label}: {exc.strerror or exc}", f"check {flag}")]
        ) from None
    if len(data) > limit:
        raise InputError(
            [
                Problem(
                    f"{label} is larger than {limit >> 20} MiB; it is not a cluster definition",
                    f"pass a smaller file to {flag}",
                )
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(f"cannot read {label}: not UTF-8 text (byte {exc.start})", f"check {flag}")]
        ) from None


__all__ = ["MAX_INPUT_BYTES", "read_bounded"]


def check_kubeconfig(path: str | None, flag: str = "--kubeconfig") -> None:
    """Refuse a kubeconfig the client library would read without bound or cannot use.

    The kubernetes client reads the whole file in one call, so `--kubeconfig /dev/zero` would
    exhaust memory there: only regular files up to MAX_INPUT_BYTES (and pipes, for
    `--kubeconfig <(...)`, which end when their writer does) get through.
    """
    import stat

    if path is None:
        return
    try:
        st = os.stat(path)  # noqa: PTH116 - keeps pathlib off the start-up path
    except OSError as exc:
        raise InputError(
            [Problem(f"cannot read {path}: {exc.strerror or exc}", f"check {flag}")]
        ) from None
    if stat.S_ISFIFO(st.st_mode):
        return
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            [Problem(f"{path} is not a regular file", f"pass a kubeconfig file to {flag}")]
        )
    if st.st_size > MAX_INPUT_BYTES:
        raise InputError(
            [
                Problem(
                    f"{path} is larger than {MAX_INPUT_BYTES >> 20} MiB; it is not a kubeconfig",
                    f"check {flag}",
                )
            ]
        )
