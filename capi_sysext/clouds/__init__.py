"""Provider registry: provider name -> module. Shared code asks the registry, never `if azure`."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capi_sysext.clouds.base import Provider

_MODULES = {
    "azure": "capi_sysext.clouds.azure",
    "aws": "capi_sysext.clouds.aws",
    "gcp": "capi_sysext.clouds.gcp",
}
NAMES: tuple[str, ...] = tuple(_MODULES)


@cache
def get(name: str) -> Provider[Any]:
    if name not in _MODULES:
        from capi_sysext.errors import InputError, Problem

        raise InputError(
            [Problem(f"--provider {name!r} is not known", f"use one of: {', '.join(NAMES)}")]
        )
    provider: Provider[Any] = import_module(_MODULES[name]).PROVIDER
    return provider
