"""Feature registry: optional capabilities (updates, add-ons, health checks) as modules.

Each feature declares its inputs and contributes node pieces and/or cluster documents through the
Feature interface; shared code iterates the registry and knows no feature by name.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capi_sysext.features.base import Feature

# Order matters only for output order of documents; keep it stable.
_MODULES: tuple[str, ...] = (
    "capi_sysext.features.updates",
    "capi_sysext.features.kured",
    "capi_sysext.features.healthchecks",
    "capi_sysext.features.addons",
)


@cache
def all_features() -> tuple[Feature, ...]:
    return tuple(import_module(m).FEATURE for m in _MODULES)
