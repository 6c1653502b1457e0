"""Locating the data directories shipped with the package (data/, templates/, providerdata/).

Plain os.path, not pathlib: these run on the start-up path of `generate`, which does not import
pathlib (tests/test_startup.py, bench/).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

_PACKAGE = os.path.dirname(os.path.realpath(__file__))
# Installed name inside the package -> directory name in a source checkout (pyproject maps them).
_CHECKOUT_DIRS = {"templates": "templates", "providerdata": "providers"}


@cache
def data_path(name: str) -> str:
    """The directory `name` as a string path."""
    # Wheels install the package as plain files; a path beside this module is the cheap lookup
    # (importlib.resources costs the CLI's start-up several milliseconds for the same answer).
    installed = os.path.join(_PACKAGE, name)
    if os.path.isdir(installed):
        return installed
    if name in _CHECKOUT_DIRS:
        # A source checkout on sys.path without an install: the directory sits beside the package.
        return os.path.join(os.path.dirname(_PACKAGE), _CHECKOUT_DIRS[name])
    raise FileNotFoundError(f"capi_sysext is missing its {name}/ directory: reinstall the package")


def data_file(name: str, filename: str) -> str:
    return os.path.join(data_path(name), filename)


def read_data(name: str, filename: str) -> str:
    with open(data_file(name, filename), encoding="utf-8") as f:
        return f.read()


@cache
def provider_table(provider: str) -> Any:
    from capi_sysext import yamlio

    return yamlio.load_file(data_file("providerdata", f"{provider}.yaml"))
