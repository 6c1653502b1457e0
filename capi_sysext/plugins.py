"""Every registered plug-in, as one table for the stages that take plug-ins as an argument
(`validate`'s contracts and references, apply's feature-gate requirements)."""

from typing import Any, NamedTuple

from capi_sysext import clouds, features
from capi_sysext.clouds.base import Provider
from capi_sysext.features.base import Feature


class Plugins(NamedTuple):
    providers: tuple[Provider[Any], ...]
    features: tuple[Feature[Any], ...]

    @property
    def owners(self) -> dict[str, str]:
        """Infrastructure kind -> the provider whose API defines it."""
        return {kind: p.name for p in self.providers for kind in sorted(p.kinds)}


def registered() -> Plugins:
    return Plugins(
        providers=tuple(clouds.get(name) for name in clouds.NAMES),
        features=features.all_features(),
    )
