"""Consistency between remote files' sha256 and the pinned-sums guard file.

CLC (Ignition 2.3) can only verify sha512, so for CLC the guard file is the only carrier of a
remote file's sha256. Every renderer checks the model agrees with it, so a hash is never silently
dropped from one format and kept in another.
"""

from __future__ import annotations

from capi_sysext.errors import RenderError
from capi_sysext.model import PINNED_SUMS_PATH, NodeConfig, parse_pinned_sums


def pinned_sums(cfg: NodeConfig) -> dict[str, str]:
    """The guard file's entries (empty without one); raise if a remote sha256 is not pinned."""
    guard = next((f for f in cfg.files if f.path == PINNED_SUMS_PATH), None)
    sums: dict[str, str] = {}
    if guard is not None:
        if guard.inline is None:
            raise RenderError(f"{PINNED_SUMS_PATH} must have inline contents")
        try:
            sums = parse_pinned_sums(guard.inline)
        except ValueError as exc:
            raise RenderError(str(exc)) from None
    for f in cfg.files:
        if f.remote is None:
            continue
        pinned = sums.get(f.path)
        if f.remote.sha256 is None:
            # Would come back from a CLC parse as pinned: the formats would disagree.
            if pinned is not None:
                raise RenderError(f"{f.path}: pinned in {PINNED_SUMS_PATH} but has no sha256")
            continue
        if pinned is None:
            raise RenderError(
                f"{f.path}: sha256 is not listed in {PINNED_SUMS_PATH}; CLC cannot carry it"
            )
        if pinned != f.remote.sha256:
            raise RenderError(f"{f.path}: sha256 differs from the one in {PINNED_SUMS_PATH}")
    return sums
