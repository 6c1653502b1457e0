"""Output modes of `generate`: format name -> writer. The only place that knows the writers.

A writer turns one generated cluster (capi_sysext.generate.GenerateResult, by role) into
documents. Adding a mode is a module here and one row in _MODULES; nothing upstream changes.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capi_sysext.writers.base import Writer

_MODULES = {
    "cluster": "capi_sysext.writers.cluster",
    "clusterclass": "capi_sysext.writers.clusterclass",
    "clusterctl-template": "capi_sysext.writers.clusterctl_template",
}
NAMES: tuple[str, ...] = tuple(_MODULES)
DEFAULT = "cluster"


@cache
def get(name: str) -> Writer:
    if name not in _MODULES:
        from capi_sysext.errors import InputError, Problem

        raise InputError(
            [Problem(f"--format {name!r} is not known", f"use one of: {', '.join(NAMES)}")]
        )
    writer: Writer = import_module(_MODULES[name]).WRITER
    return writer
