"""Feature registry: optional capabilities (updates, add-ons, health checks) as modules.

Each feature declares its inputs and contributes node pieces and/or cluster documents through the
Feature interface; shared code iterates the registry and knows no feature by name.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capi_sysext.features.base import Feature

# Order matters for output order of documents; keep it stable. A feature comes after the
# features it depends on (Feature.depends_on; checked below).
_MODULES: tuple[str, ...] = (
    "capi_sysext.features.updates",
    "capi_sysext.features.kured",
    "capi_sysext.features.healthchecks",
    "capi_sysext.features.addons",
)


@cache
def all_features() -> tuple[Feature[Any], ...]:
    found: list[Feature[Any]] = []
    for module in _MODULES:
        feature: Feature[Any] = import_module(module).FEATURE
        for dep in feature.depends_on:
            if dep not in found:
                raise LookupError(f"feature {feature.name} depends on {dep.name}, listed later")
            if feature.node_scope and not dep.node_scope:
                raise LookupError(
                    f"node-scope feature {feature.name} depends on cluster-only {dep.name}"
                )
        found.append(feature)
    return tuple(found)


def node_features() -> tuple[Feature[Any], ...]:
    """The features that shape the node config: their settings are NodeSpec.features."""
    return tuple(f for f in all_features() if f.node_scope)
