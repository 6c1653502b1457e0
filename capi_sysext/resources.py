"""Locating the data directories shipped with the package (data/, templates/, providers/)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
# Installed name inside the package -> directory name in a source checkout (pyproject maps them).
_CHECKOUT_DIRS = {"templates": "templates", "providerdata": "providers"}


def data_dir(name: str) -> Path:
    # Wheels install the package as plain files; a path beside this module is the cheap lookup
    # (importlib.resources costs the CLI's start-up several milliseconds for the same answer).
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    if name in _CHECKOUT_DIRS:
        # A source checkout on sys.path without an install: the directory sits beside the package.
        return _PACKAGE.parent / _CHECKOUT_DIRS[name]
    raise FileNotFoundError(f"capi_sysext is missing its {name}/ directory: reinstall the package")


@cache
def provider_table(provider: str) -> Any:
    from capi_sysext import yamlio

    return yamlio.load_file(data_dir("providerdata") / f"{provider}.yaml")
