"""Locating the data directories shipped with the package (templates/, providers/)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# Installed name inside the package -> directory name in a source checkout (pyproject maps them).
_DIRS = {"templates": "templates", "providerdata": "providers"}


def data_dir(name: str) -> Path:
    installed = resources.files("capi_sysext").joinpath(name)
    if installed.is_dir():
        return Path(str(installed))
    # A source checkout on sys.path without an install: the directory sits beside the package.
    return Path(__file__).resolve().parent.parent / _DIRS[name]


@cache
def provider_table(provider: str) -> Any:
    from capi_sysext import yamlio

    return yamlio.load_file(data_dir("providerdata") / f"{provider}.yaml")
